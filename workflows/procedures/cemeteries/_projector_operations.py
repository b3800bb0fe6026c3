"""Projector handlers of the funeral operations: the maire's authorisation checks the rules
(burial window, right to burial, capacity; plus proche parent), the operation done is written
into the registry through ``registry.record_operation`` / ``move_to_ossuary``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict
from workflows.cases.models import Case
from workflows.engine.calendar import calendar_for
from workflows.procedures.cemeteries import registry, rules
from workflows.procedures.cemeteries._projector_common import (
    Handler,
    day,
    instant,
    invalid,
    last_input,
    today,
    uid,
)
from workflows.procedures.cemeteries._registry_schemas import DeceasedIn, OperationIn
from workflows.procedures.cemeteries.models import (
    CemeteryPlace,
    ConcessionStatus,
    OperationKind,
    PlaceType,
)

URN_PLACES = {PlaceType.COLUMBARIUM, PlaceType.CAVURNE}


def _calendar(case: Case) -> Any:
    return calendar_for(alsace_moselle=bool(case.calendar_options.get("alsace_moselle", False)))


async def _target_place(
    session: AsyncSession, case: Case, data: Mapping[str, Any]
) -> CemeteryPlace:
    """The place of an inhumation: the concession's, or the terrain commun grave given."""
    p = case.payload
    place_id = data.get("place_id") or p.get("place_id")
    if p.get("concession_id"):
        c = await registry.get_concession(session, case.tenant_id, uid(p["concession_id"]))
        if c.status not in {ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE}:
            raise Conflict(
                f"La concession n° {c.number} n'est plus en cours ({c.status}) : aucune "
                "inhumation n'y est possible."
            )
        return await registry.get_place(session, case.tenant_id, c.place_id)
    if not place_id:
        raise invalid("place_id", "Indiquez l'emplacement (tombe en terrain commun, case…).")
    return await registry.get_place(session, case.tenant_id, uid(place_id))


async def operation_opened(session: AsyncSession, case: Case) -> None:
    """The references given at intake exist in this commune (404 otherwise, never revealed)."""
    p = case.payload
    if p.get("concession_id"):
        await registry.get_concession(session, case.tenant_id, uid(p["concession_id"]))
    for key in ("place_id", "destination_place_id"):
        if p.get(key):
            await registry.get_place(session, case.tenant_id, uid(p[key]))
    if p.get("deceased_id"):
        await registry.get_deceased(session, case.tenant_id, uid(p["deceased_id"]))
    if p.get("cemetery_id"):
        await registry.get_cemetery(session, case.tenant_id, uid(p["cemetery_id"]))


async def authorise_inhumation(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """R2213-31, R2213-33, L2223-3 and the concession's category; the place can take it."""
    p = case.payload
    deceased = p["deceased"]
    derogation = p.get("prefect_derogation")
    cal = _calendar(case)
    try:
        window = rules.burial_window(
            instant(deceased["death_at"]),
            start_event_on=day(p["start_event_on"]) if p.get("start_event_on") else None,
            derogation=rules.PrefectDerogation(
                until=day(derogation["until"]),
                kind=derogation["kind"],
                reference=derogation["reference"],
            )
            if derogation
            else None,
            calendar=cal,
        )
    except ValueError as exc:
        raise invalid("prefect_derogation", str(exc)) from None
    planned = instant(data.get("planned_at") or p["planned_at"])
    rules.check_burial_time(planned, window, calendar=cal).require("planned_at")
    place = await _target_place(session, case, data)
    if not p.get("concession_id"):
        rules.right_to_burial_in_commune(
            died_in_commune=bool(deceased.get("died_in_commune")),
            domiciled_in_commune=bool(deceased.get("domiciled_in_commune")),
            family_grave_in_commune=False,
            french_abroad_on_electoral_roll=bool(deceased.get("french_abroad_on_electoral_roll")),
        ).require("deceased")
    else:
        c = await registry.get_concession(session, case.tenant_id, uid(p["concession_id"]))
        rules.right_to_burial_in_concession(
            category=c.category,  # type: ignore[arg-type]
            relationship_to_holder=deceased.get("relationship_to_holder") or "other",
            named_beneficiary=bool(deceased.get("named_beneficiary")),
        ).require("deceased.relationship_to_holder")
    container = deceased.get("container", "coffin")
    if place.place_type in URN_PLACES and container != "urn":
        raise Conflict("Une case de columbarium ou une cavurne ne reçoit que des urnes.")
    if place.capacity is not None:
        taken = await registry.occupancy(session, place.id)
        if taken + registry.container_weight(container) > place.capacity:
            raise Conflict(
                f"L'emplacement n° {place.number} est complet ({taken} place(s) occupée(s) sur "
                f"{place.capacity}) : l'inhumation est impossible sans réduction ou autre "
                "emplacement."
            )


async def inhumation_performed(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    p = case.payload
    authorisation = await last_input(session, case.id, "authorise")
    place = await _target_place(session, case, authorisation)
    d = p["deceased"]
    kind = (
        OperationKind.URN_DEPOSIT
        if case.procedure_key.endswith("urn_deposit")
        else OperationKind.INHUMATION
    )
    await registry.record_operation(
        session,
        case.tenant_id,
        OperationIn(
            kind=kind,
            place_id=place.id,
            at=instant(data["performed_at"]),
            deceased=_deceased_in(d),
            details={
                "case_reference": case.reference,
                "coffin_closing_ref": d.get("coffin_closing_ref"),
            },
        ),
        now=case.updated_at,
        case_id=case.id,
    )


def _deceased_in(d: Mapping[str, Any]) -> DeceasedIn:
    return DeceasedIn(
        civility=d.get("title") or None,
        family_name=d["family_name"],
        usage_name=d.get("usage_name"),
        given_names=d["given_names"],
        birth_date=day(d["birth_date"]) if d.get("birth_date") else None,
        birth_place=d.get("birth_place"),
        death_at=instant(d["death_at"]),
        death_place=d.get("death_place"),
        last_domicile=d.get("last_domicile"),
        container=d.get("container", "coffin"),
        refused_cremation=bool(d.get("refused_cremation")),
    )


async def authorise_exhumation(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """R2213-40: the plus proche parent, sworn statement, no known conflict (else: the judge)."""
    p = case.payload
    verdict = rules.check_exhumation_request(
        requester_relationship=p["requester_relationship"],
        living_relatives=p.get("living_relatives") or [],
        sworn_statement=bool(p["sworn_statement"]),
        known_objection=bool(p.get("known_objection")),
    )
    if verdict.details.get("send_to_judge"):
        raise invalid(
            "known_objection",
            f"{verdict.reason} Utilisez « Refuser pour conflit familial (renvoi au juge) ».",
        )
    verdict.require("requester_relationship")
    deceased = await registry.get_deceased(session, case.tenant_id, uid(p["deceased_id"]))
    if deceased.place_id is None or deceased.status != "in_place":
        raise Conflict("Ce défunt ne repose dans aucun emplacement de la commune.")
    if p.get("operation") == "urn_removal" and deceased.container != "urn":
        raise Conflict("Ce défunt ne repose pas dans une urne.")
    if p["destination"] == "cremation" and deceased.refused_cremation:
        raise Conflict(
            "Ce défunt s'était opposé à la crémation : ses restes ne peuvent pas être incinérés "
            "(article L2223-4 du CGCT)."
        )


async def exhumation_performed(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """R2213-40 attendance (the form requires the attending relative; absent: « Annuler »),
    R2213-42 intact coffin under 5 years not opened; then the registry moves the remains."""
    p = case.payload
    deceased = await registry.get_deceased(session, case.tenant_id, uid(p["deceased_id"]))
    performed_at = instant(data["performed_at"])
    if data.get("coffin_opened") and deceased.death_date is not None:
        rules.may_open_coffin(
            coffin_intact=bool(data.get("coffin_intact")),
            death_on=deceased.death_date,
            on=registry.local_date(performed_at),
        ).require("coffin_opened")
    if deceased.place_id is None:
        raise Conflict("Ce défunt ne repose dans aucun emplacement de la commune.")
    details = {
        "case_reference": case.reference,
        "reason": p["reason"],
        "attending": data["attending_relative"],
    }
    operation = p.get("operation", "exhumation")
    if p["destination"] in {"ossuary", "cremation"}:
        await registry.move_to_ossuary(
            session,
            case.tenant_id,
            deceased.id,
            on=registry.local_date(performed_at),
            now=case.updated_at,
            cremate=p["destination"] == "cremation",
            case_id=case.id,
            at=performed_at,
            kind=OperationKind.EXHUMATION,
        )
        return
    kind = {
        "exhumation": OperationKind.EXHUMATION,
        "reduction": OperationKind.REDUCTION,
        "reunion": OperationKind.REDUCTION,
        "transfer": OperationKind.TRANSFER,
        "urn_removal": OperationKind.URN_REMOVAL,
    }[operation]
    target = p.get("destination_place_id") if p["destination"] == "other_place" else None
    if kind is OperationKind.EXHUMATION and target:
        kind = OperationKind.TRANSFER
    await registry.record_operation(
        session,
        case.tenant_id,
        OperationIn(
            kind=kind,
            place_id=deceased.place_id,
            at=performed_at,
            deceased_id=deceased.id,
            target_place_id=uid(target) if target and kind is not OperationKind.REDUCTION else None,
            details=details,
        ),
        now=case.updated_at,
        case_id=case.id,
    )


async def authorise_dispersion(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    deceased = case.payload["deceased"]
    rules.right_to_burial_in_commune(
        died_in_commune=bool(deceased.get("died_in_commune")),
        domiciled_in_commune=bool(deceased.get("domiciled_in_commune")),
        family_grave_in_commune=False,
        french_abroad_on_electoral_roll=bool(deceased.get("french_abroad_on_electoral_roll")),
    ).require("deceased")
    if not data.get("place_id"):
        raise invalid("place_id", "Indiquez l'espace de dispersion (jardin du souvenir).")
    await registry.get_place(session, case.tenant_id, uid(data["place_id"]))


async def dispersion_performed(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    place_id = (await last_input(session, case.id, "authorise"))["place_id"]
    d = dict(case.payload["deceased"])
    d["container"] = "urn"
    await registry.record_operation(
        session,
        case.tenant_id,
        OperationIn(
            kind=OperationKind.DISPERSION,
            place_id=uid(place_id),
            at=instant(data["performed_at"]),
            deceased=_deceased_in(d),
            details={"case_reference": case.reference},
        ),
        now=case.updated_at,
        case_id=case.id,
    )


async def works_performed(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    p = case.payload
    await registry.record_operation(
        session,
        case.tenant_id,
        OperationIn(
            kind=OperationKind.WORKS,
            place_id=uid(p["place_id"]),
            at=instant(data["performed_at"]),
            details={
                "case_reference": case.reference,
                "company": p["company_name"],
                "nature": p["nature"],
                "starts_on": p["starts_on"],
                "ends_on": p["ends_on"],
            },
        ),
        now=case.updated_at,
        case_id=case.id,
    )


async def _works_place(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    await registry.get_place(session, case.tenant_id, uid(case.payload["place_id"]))
    if day(case.payload["ends_on"]) < today(case):
        raise invalid("ends_on", "Les dates des travaux sont déjà passées.")


HANDLERS: dict[tuple[str, str], Handler] = {
    ("cemeteries.inhumation", "authorise"): authorise_inhumation,
    ("cemeteries.inhumation", "record_performed"): inhumation_performed,
    ("cemeteries.urn_deposit", "authorise"): authorise_inhumation,
    ("cemeteries.urn_deposit", "record_performed"): inhumation_performed,
    ("cemeteries.exhumation", "authorise"): authorise_exhumation,
    ("cemeteries.exhumation", "record_performed"): exhumation_performed,
    ("cemeteries.dispersion", "authorise"): authorise_dispersion,
    ("cemeteries.dispersion", "record_performed"): dispersion_performed,
    ("cemeteries.works", "authorise"): _works_place,
    ("cemeteries.works", "record_performed"): works_performed,
}
