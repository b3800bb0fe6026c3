"""Autorisation d'inhumer (R2213-31, R2213-33 CGCT) and autorisation d'exhumer (R2213-40, R2213-42).

Both are requested by the ``authorise`` transition, before the operation is recorded in the
registry: they read the request (the case payload: ``InhumationRequest``/``ExhumationRequest`` of
``workflows.procedures.cemeteries.schemas``), the transition's data (``planned_at``, ``place_id``
in the params) and the registry (place, concession; for an exhumation, the deceased by
``deceased_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents import _cemeteries_common as fmt
from documents._cemeteries_common import APPEAL_ROUTES as DECISION_APPEAL_ROUTES
from documents.french import calendar_of as _calendar
from documents.french import french_date, submitter_name
from workflows.cases.models import Case
from workflows.engine.definitions import Definition
from workflows.procedures.cemeteries import rules
from workflows.procedures.cemeteries._rules_operations import RELATIONSHIP_FR
from workflows.procedures.cemeteries.models import Concession, Deceased

CGCT = fmt.CGCT
EXHUMATION_WORDING = {
    "exhumation": ("Exhumation", "L'exhumation du corps"),
    "urn_removal": (
        "Retrait d'une urne (article R2223-23-3 du CGCT)",
        "Le retrait de l'urne contenant les cendres",
    ),
    "reduction": ("Réduction de corps", "L'exhumation, en vue d'une réduction, du corps"),
    "transfer": (
        "Exhumation en vue d'un transfert",
        "L'exhumation, en vue de son transfert, du corps",
    ),
}


TITLES = {
    "inhumation": "Autorisation d'inhumer",
    "urn_deposit": "Autorisation de dépôt d'une urne",
    "dispersion": "Autorisation de dispersion des cendres",
}
OPERATION_SENTENCE = {
    "inhumation": "L'inhumation",
    "urn_deposit": "Le dépôt",
    "dispersion": "La dispersion",
}
ASHES_DESTINATION = {
    "inhumation": "inhumées dans la sépulture désignée",
    "urn_deposit": "déposées, dans leur urne, à l'emplacement désigné",
    "dispersion": "dispersées dans l'espace aménagé à cet effet du site cinéraire (jardin du "
    "souvenir), le nom du défunt étant inscrit sur le dispositif prévu",
}
CAPACITY_FR = {
    "concessionnaire": "concessionnaire",
    "ayant_droit": "ayant droit de la concession",
    "plus_proche_parent": "plus proche parent du défunt",
    "organisateur_obseques": "personne ayant qualité pour pourvoir aux funérailles",
    "operateur_funeraire": "opérateur funéraire",
    "entreprise": "entreprise",
    "autre": "demandeur",
}
DESTINATION_FR = {
    "ossuary": "dépôt à l'ossuaire communal",
    "cremation": "crémation",
    "other_commune": "transfert dans une autre commune",
    "other_place": "réinhumation",
}


def _request(case: Case) -> Mapping[str, Any]:
    return case.payload if isinstance(case.payload, Mapping) else {}


async def _registry_deceased(
    session: AsyncSession, case: Case, deceased_id: Any, document: str
) -> Deceased:
    found = None
    try:
        found = await session.get(Deceased, uuid.UUID(str(deceased_id)))
    except ValueError:
        found = None
    if found is None or found.tenant_id != case.tenant_id:
        raise fmt.MissingCemeteryData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établie : le défunt n'est "
            "pas inscrit au registre des cimetières de la commune."
        )
    return found


def _instant(value: Any, what: str, document: str) -> datetime:
    fmt.require(value, what, document)
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise fmt.MissingCemeteryData(f"{what} est invalide : {value!r}.") from None
    if instant.tzinfo is None:
        raise fmt.MissingCemeteryData(f"{what} doit indiquer son fuseau horaire : {value!r}.")
    return instant


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise fmt.MissingCemeteryData(f"Date invalide dans l'opération : {value!r}.") from None


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class DeceasedView:
    """The deceased as printed, from the request (burial) or the registry (exhumation)."""

    civility: str | None
    family_name: str
    usage_name: str | None
    given_names: str
    birth_date: date | None
    birth_place: str | None
    death_at: datetime | None
    death_date: date | None
    death_place: str | None
    last_domicile: str | None
    container: str

    @classmethod
    def of_request(cls, data: Mapping[str, Any], document: str) -> DeceasedView:
        family = fmt.require(data.get("family_name"), "le nom du défunt", document)
        given = fmt.require(data.get("given_names"), "les prénoms du défunt", document)
        death_at = _instant(
            data.get("death_at"), "la date et l'heure du décès (R2213-33)", document
        )
        return cls(
            civility=str(data.get("title") or "") or None,
            family_name=str(family),
            usage_name=data.get("usage_name") or None,
            given_names=str(given),
            birth_date=_date(data.get("birth_date")),
            birth_place=data.get("birth_place") or None,
            death_at=death_at,
            death_date=None,
            death_place=data.get("death_place") or None,
            last_domicile=data.get("last_domicile") or None,
            container=str(data.get("container") or "coffin"),
        )

    @classmethod
    def of_registry(cls, row: Deceased) -> DeceasedView:
        return cls(
            civility=row.civility,
            family_name=row.family_name,
            usage_name=row.usage_name,
            given_names=row.given_names,
            birth_date=row.birth_date,
            birth_place=row.birth_place,
            death_at=row.death_at,
            death_date=row.death_date,
            death_place=row.death_place,
            last_domicile=row.last_domicile,
            container=row.container,
        )

    def facts(self, tz: Any) -> dict[str, Any]:
        where = f" à {self.death_place}" if self.death_place else ""
        if self.death_at is not None:
            on, time = fmt.paris_date_time(self.death_at, tz)
            death = f"décédé(e) le {on} à {time}{where}"
        elif self.death_date is not None:
            death = f"décédé(e) le {french_date(self.death_date)}{where}"
        else:
            raise fmt.MissingCemeteryData("La date du décès manque au registre des cimetières.")
        birth = None
        if self.birth_date is not None:
            birth = f"né(e) le {french_date(self.birth_date)}" + (
                f" à {self.birth_place}" if self.birth_place else ""
            )
        return {
            "name": fmt.person_name(self),
            "birth": birth,
            "death": death,
            "domicile": self.last_domicile,
        }


async def _concession(session: AsyncSession, case: Case, concession_id: Any) -> Concession | None:
    if not concession_id:
        return None
    try:
        found = await session.get(Concession, uuid.UUID(str(concession_id)))
    except ValueError:
        return None
    return found if found is not None and found.tenant_id == case.tenant_id else None


def _requester(case: Case, request: Mapping[str, Any]) -> dict[str, str]:
    requester = _mapping(request, "requester")
    capacity = CAPACITY_FR.get(str(requester.get("capacity") or ""), "demandeur")
    relationship = requester.get("relationship")
    if relationship and relationship != "holder":
        capacity += f" ({RELATIONSHIP_FR.get(str(relationship), str(relationship))})"
    return {"name": submitter_name(case.submitter), "capacity": capacity}


# ----- autorisation d'inhumer ----------------------------------------------------------------------


async def burial_authorisation_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """R2213-31 (the maire of the place of burial authorises), R2213-33 (24 hours to 14 calendar
    days since décret 2024-790; 6 days, Sundays and holidays excluded, for deaths before 12 July
    2024; a préfet's derogation recorded), the deceased, date and time, place, coffin or urn, and
    the pieces the request rests on (the death act, the coffin-closing authorisation of R2213-17,
    the transport or entry of the body, the préfet's derogation, any piece listed)."""
    document = "l'autorisation d'inhumer"
    tz = _calendar(case).tz
    tenant = await fmt.load_tenant(session, case)
    request = _request(case)
    deceased = DeceasedView.of_request(_mapping(request, "deceased"), document)
    assert deceased.death_at is not None
    derogation_data = _mapping(request, "prefect_derogation")
    derogation = None
    if derogation_data:
        until = fmt.require(
            _date(derogation_data.get("until")), "la date limite de la dérogation", document
        )
        derogation = rules.PrefectDerogation(
            until=until,
            kind="local" if derogation_data.get("kind") == "local" else "individual",
            reference=str(derogation_data.get("reference") or ""),
        )
    start_event_on = _date(request.get("start_event_on"))
    window = rules.burial_window(
        deceased.death_at, start_event_on=start_event_on, derogation=derogation
    )
    planned = _instant(
        params.get("planned_at") or request.get("planned_at"),
        "la date et l'heure de l'inhumation",
        document,
    )
    concession = await _concession(session, case, request.get("concession_id"))
    place_id = params.get("place_id") or request.get("place_id")
    place_id = place_id or (concession.place_id if concession is not None else None)
    fmt.require(place_id, "l'emplacement de l'inhumation", document)
    location = fmt.location(await fmt.load_place(session, case.tenant_id, uuid.UUID(str(place_id))))
    label, of = fmt.CONTAINER_FR.get(deceased.container, (deceased.container, ""))
    pieces = [f"Acte de décès de {fmt.person_name(deceased)}"]
    closing = _mapping(request, "deceased").get("coffin_closing_ref")
    if deceased.container == "coffin":
        fmt.require(
            closing, "la référence de l'autorisation de fermeture du cercueil (R2213-17)", document
        )
    if closing:
        pieces.append(
            f"Autorisation de fermeture du cercueil n° {closing} (article R2213-17 du {CGCT})"
        )
    if start_event_on is not None:
        pieces.append(
            "Autorisation de transport du corps (entrée sur le territoire ou autorisation du "
            f"procureur de la République du {french_date(start_event_on)})"
        )
    if derogation is not None:
        pieces.append(f"Dérogation préfectorale {derogation.reference}".strip())
    extra = params.get("pieces") or request.get("pieces")
    if isinstance(extra, list):
        pieces.extend(str(p).strip() for p in extra if str(p).strip())
    operation = str(params.get("operation") or "inhumation")
    if operation == "dispersion":
        of = "des cendres"
    window_facts: dict[str, Any] | None = None
    if deceased.container == "coffin":
        earliest_on, earliest_time = fmt.paris_date_time(window.earliest, tz)
        window_facts = {
            "rule": (
                "l'inhumation a lieu vingt-quatre heures au moins après le décès et, au plus "
                "tard, le quatorzième jour calendaire suivant le décès (dimanches et jours fériés "
                "compris)."
                if window.regime == "since_2024_07_12"
                else "pour un décès antérieur au 12 juillet 2024, l'inhumation a lieu "
                "vingt-quatre heures au moins après le décès et six jours au plus tard après "
                "celui-ci, dimanches et jours fériés non compris."
            ),
            "earliest": f"{earliest_on} à {earliest_time}",
            "latest": french_date(window.latest_day),
            "derogation": (
                f"Dérogation préfectorale {derogation.reference} : inhumation possible "
                f"jusqu'au {french_date(derogation.until)}."
                if derogation is not None
                else None
            ),
        }
    resting = (
        f"l'emplacement n° {location['number']} ({location['place_type']}, {location['zone']})"
    )
    if concession is not None:
        resting = f"la concession n° {concession.number}, {resting}"
    operator = str(request.get("funeral_operator") or "").strip()
    requester = _mapping(request, "requester")
    if requester.get("capacity") == "operateur_funeraire":
        operator = operator or str(requester.get("company_name") or submitter_name(case.submitter))
        operator += f" (habilitation n° {requester.get('habilitation_number')})"
    on, time = fmt.paris_date_time(planned, tz)
    name, title = fmt.signatory(params, document)
    return {
        "title": "Autorisation d'inhumer",
        "authority": fmt.authority(tenant),
        "visas": [
            f"Vu le {CGCT}, notamment ses articles L2213-8, L2213-9, L2223-3, R2213-31 et R2213-33",
            "Vu la demande présentée le "
            f"{french_date(_calendar(case).local_date(case.received_at))} (dossier n° "
            f"{case.reference})",
            f"Vu le règlement du cimetière ({fmt.rules_reference(params)})",
        ],
        "deceased": deceased.facts(tz),
        "container": {"label": label, "of": of},
        "operation": {
            "on": on,
            "time": time,
            "sentence": OPERATION_SENTENCE.get(operation, OPERATION_SENTENCE["inhumation"]),
            "place_heading": "Lieu de dispersion"
            if operation == "dispersion"
            else "Lieu d'inhumation",
        },
        "location": location,
        "concession": fmt.concession_facts(concession) if concession is not None else None,
        "resting_place": resting,
        "window": window_facts,
        "ashes_destination": ASHES_DESTINATION.get(operation, ASHES_DESTINATION["inhumation"]),
        "pieces": pieces,
        "requester": _requester(case, request),
        "operator": operator or None,
        "rules_reference": fmt.rules_reference(params),
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
        "appeal_routes": DECISION_APPEAL_ROUTES,
    }


# ----- autorisation d'exhumer ----------------------------------------------------------------------


async def exhumation_authorisation_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """R2213-40: asked by the plus proche parent (proof and sworn statement), date and hour,
    destination of the remains, presence of a relative or mandatary (without whom the operation
    does not take place); R2213-42: outside opening hours, an intact coffin opened only after 5
    years. Also urn removal (R2223-23-3), réduction, réunion and transfer."""
    document = "l'autorisation d'exhumer"
    tz = _calendar(case).tz
    tenant = await fmt.load_tenant(session, case)
    request = _request(case)
    row = await _registry_deceased(session, case, request.get("deceased_id"), document)
    fmt.require(row.place_id, "la sépulture où repose le défunt", document)
    assert row.place_id is not None
    relationship = fmt.require(
        request.get("requester_relationship"),
        "le lien de parenté du demandeur avec le défunt",
        document,
    )
    if not request.get("sworn_statement"):
        raise fmt.MissingCemeteryData(
            "L'autorisation d'exhumer ne peut pas être établie : la déclaration sur l'honneur du "
            "plus proche parent manque (article R2213-40)."
        )
    destination = DESTINATION_FR.get(str(request.get("destination")), "")
    fmt.require(destination or None, "la destination des restes", document)
    if request.get("destination_place_id"):
        target = fmt.location(
            await fmt.load_place(
                session, case.tenant_id, uuid.UUID(str(request["destination_place_id"]))
            )
        )
        destination += (
            f" au {target['cemetery']}, emplacement n° {target['number']} ({target['place_type']}, "
            f"{target['zone']}, allée {target['alley']})"
        )
    if request.get("destination_text"):
        destination += f" — {request['destination_text']}"
    planned = _instant(
        params.get("planned_at") or request.get("planned_at"),
        "la date et l'heure de l'exhumation",
        document,
    )
    attending = str(request.get("attending_relative") or "").strip()
    attendant = (
        f"{attending}, parent ou mandataire de la famille"
        if attending
        else "un parent ou un mandataire de la famille"
    )
    kind = str(request.get("operation") or "exhumation")
    heading, sentence = EXHUMATION_WORDING.get(kind, EXHUMATION_WORDING["exhumation"])
    concession = await _concession(session, case, row.concession_id)
    on, time = fmt.paris_date_time(planned, tz)
    requester = submitter_name(case.submitter)
    name, title = fmt.signatory(params, document)
    return {
        "title": "Autorisation d'exhumer",
        "authority": fmt.authority(tenant),
        "visas": [
            f"Vu le {CGCT}, notamment ses articles L2213-8, L2213-9, R2213-40 à R2213-42"
            + (" et R2223-23-3" if kind == "urn_removal" else ""),
            "Vu la demande présentée le "
            f"{french_date(_calendar(case).local_date(case.received_at))} par {requester}, plus "
            f"proche parent du défunt (dossier n° {case.reference})",
            f"Vu le règlement du cimetière ({fmt.rules_reference(params)})",
        ],
        "operation": {"title": heading, "sentence": sentence, "on": on, "time": time},
        "deceased": DeceasedView.of_registry(row).facts(tz),
        "location": fmt.location(await fmt.load_place(session, case.tenant_id, row.place_id)),
        "concession": fmt.concession_facts(concession) if concession is not None else None,
        "requester": {
            "name": requester,
            "relationship": RELATIONSHIP_FR.get(str(relationship), str(relationship)),
            "address": case.submitter.get("postal_address"),
        },
        "reason": str(request.get("reason") or ""),
        "destination": destination,
        "attendant": attendant,
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
        "appeal_routes": DECISION_APPEAL_ROUTES,
    }
