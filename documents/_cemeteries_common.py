"""Shared pieces of the cemetery documents: French wording of the registry's values, the place as
printed (cemetery > zone or carré > allée > number, plan, type), names, money, signatories, and the
one error a context raises when the registry lacks something a document must state.

A document is never printed with a hole: a missing value the document must state raises
``MissingCemeteryData`` (a ``ValueError``, the render job's failure path: retried, then visible in
the case's history as ``document.failed`` with this French message).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.french import french_date
from identity.models import Tenant
from workflows.cases.models import Case
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryAlley,
    CemeteryPlace,
    CemeteryZone,
    Concession,
    ConcessionParty,
)

CGCT = "code général des collectivités territoriales"

CATEGORY_FR = {"individual": "individuelle", "collective": "collective", "family": "familiale"}
PLACE_TYPE_FR = {
    "pleine_terre": "pleine terre",
    "caveau": "caveau",
    "cavurne": "cavurne",
    "columbarium": "case de columbarium",
    "enfeu": "enfeu",
    "terrain_commun": "terrain commun",
    "ossuaire": "ossuaire",
}
CONTAINER_FR = {
    "coffin": ("en cercueil", "du corps, en cercueil,"),
    "urn": ("urne cinéraire", "de l'urne cinéraire contenant les cendres"),
    "box": ("boîte à ossements (reliquaire)", "de la boîte à ossements contenant les restes"),
}
"""container → (label, phrase after « L'inhumation »)."""


# ----- French dates, the case's calendar, the requester -------------------------------------
# (from documents.french: contexts imports this package's builders)

APPEAL_ROUTES = (
    "La présente décision peut faire l'objet, dans un délai de deux mois à compter de sa "
    "notification ou de sa publication, d'un recours gracieux auprès de son auteur ou d'un recours "
    "contentieux devant le tribunal administratif territorialement compétent, y compris par "
    "l'application Télérecours citoyens (www.telerecours.fr). Le recours gracieux prolonge le "
    "délai du recours contentieux."
)


class MissingCemeteryData(ValueError):
    """The registry lacks a value the document must state: the document is not produced."""


def require(value: Any, what: str, document: str) -> Any:
    """``value``, or MissingCemeteryData naming what is missing and which document needs it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MissingCemeteryData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établi(e) : {what} manque "
            "au registre des cimetières. Complétez le registre puis relancez le document."
        )
    return value


# ----- values ----------------------------------------------------------------------------------


def money(amount: Decimal) -> str:
    """``1 200,00 €`` (French grouping and decimal comma)."""
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    units, _, decimals = f"{abs(cents):.2f}".partition(".")
    groups: list[str] = []
    while units:
        groups.insert(0, units[-3:])
        units = units[:-3]
    sign = "-" if cents < 0 else ""
    return f"{sign}{' '.join(groups)},{decimals} €"


def number(value: Decimal) -> str:
    """``4``, ``2,5``, ``2,75`` — no trailing zeros, decimal comma."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def area(value: Decimal) -> str:
    return f"{number(value)} m²"


def duration(kind: str, years: int | None) -> str:
    """L2223-14 CGCT wording: temporaire (15 ans au plus), trentenaire, cinquantenaire,
    perpétuelle."""
    if kind == "perpetual":
        return "perpétuelle"
    if kind == "30":
        return "trentenaire (30 ans)"
    if kind == "50":
        return "cinquantenaire (50 ans)"
    if years is None:
        raise MissingCemeteryData(
            "La durée de la concession temporaire manque au registre des cimetières."
        )
    return f"temporaire ({years} ans)"


def category(value: str) -> str:
    return CATEGORY_FR.get(value, value)


class Named(Protocol):
    @property
    def civility(self) -> str | None: ...
    @property
    def family_name(self) -> str: ...
    @property
    def usage_name(self) -> str | None: ...
    @property
    def given_names(self) -> str: ...


def person_name(row: Named) -> str:
    """``Mme Jeanne DURAND (née MARTIN)``: civility, first names, usage name, birth name."""
    usage = (row.usage_name or "").strip()
    family = row.family_name.strip().upper()
    main = usage.upper() if usage and usage.upper() != family else family
    parts = [p for p in (row.civility, row.given_names.strip(), main) if p]
    text = " ".join(parts)
    if main != family:
        text += f" (nom de naissance : {family})"
    return text


def party_address(party: ConcessionParty) -> str | None:
    parts = [
        p for p in (party.address, " ".join(filter(None, (party.postal_code, party.city)))) if p
    ]
    return ", ".join(parts) or None


def date_or(value: date | None, missing: str) -> str:
    return french_date(value) if value is not None else missing


def paris_date_time(instant: datetime, tz: Any) -> tuple[str, str]:
    """(``2 mars 2026``, ``10 h 00``) in the legal time zone."""
    local = instant.astimezone(tz)
    return french_date(local.date()), f"{local.hour} h {local.minute:02d}"


# ----- registry reads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceRows:
    place: CemeteryPlace
    cemetery: Cemetery
    zone: CemeteryZone
    alley: CemeteryAlley


async def load_place(session: AsyncSession, tenant_id: uuid.UUID, place_id: uuid.UUID) -> PlaceRows:
    """The place with its cemetery, zone and alley — of this tenant only."""
    row = (
        await session.execute(
            select(CemeteryPlace, Cemetery, CemeteryZone, CemeteryAlley)
            .join(Cemetery, Cemetery.id == CemeteryPlace.cemetery_id)
            .join(CemeteryZone, CemeteryZone.id == CemeteryPlace.zone_id)
            .join(CemeteryAlley, CemeteryAlley.id == CemeteryPlace.alley_id)
            .where(CemeteryPlace.id == place_id, CemeteryPlace.tenant_id == tenant_id)
        )
    ).first()
    if row is None:
        raise MissingCemeteryData(
            f"L'emplacement {place_id} n'existe pas au registre des cimetières de la commune."
        )
    return PlaceRows(place=row[0], cemetery=row[1], zone=row[2], alley=row[3])


def _label(code: str, name: str | None) -> str:
    return f"{code} ({name})" if name and name.strip() and name.strip() != code else code


def location(rows: PlaceRows, *, plan_required: bool = False, document: str = "") -> dict[str, Any]:
    """The place as printed. The plan reference is required on a titre de concession."""
    place = rows.place
    if plan_required:
        require(
            place.plan_ref, f"la référence au plan de l'emplacement n° {place.number}", document
        )
    return {
        "cemetery": rows.cemetery.name,
        "zone": _label(rows.zone.code, rows.zone.name),
        "alley": _label(rows.alley.code, rows.alley.name),
        "number": place.number,
        "plan_ref": place.plan_ref,
        "place_type": place.grave_type or PLACE_TYPE_FR.get(place.place_type, place.place_type),
        "area": place.area_m2,
        "capacity": place.capacity,
    }


async def parties(
    session: AsyncSession, concession: Concession, roles: Iterable[str] = ("holder",)
) -> list[ConcessionParty]:
    """The concession's parties of ``roles`` who still hold their right, oldest first."""
    found = await session.scalars(
        select(ConcessionParty)
        .where(
            ConcessionParty.concession_id == concession.id,
            ConcessionParty.role.in_(list(roles)),
            ConcessionParty.ended_on.is_(None),
        )
        .order_by(ConcessionParty.created_at, ConcessionParty.family_name)
    )
    return list(found)


def concession_facts(concession: Concession) -> dict[str, Any]:
    return {
        "number": concession.number,
        "category": category(concession.category),
        "duration": duration(concession.duration_kind, concession.duration_years),
        "starts_on": french_date(concession.starts_on),
        "ends_on": (
            french_date(concession.ends_on)
            if concession.ends_on is not None
            else "sans échéance (concession perpétuelle)"
        ),
        "act_date": french_date(concession.granted_on),
    }


# ----- who signs -------------------------------------------------------------------------------


def _of(name: str) -> str:
    return f"d'{name}" if name[:1].lower() in "aeiouyhàâäéèêëîïôöûüÿ" else f"de {name}"


def authority(tenant: Tenant) -> str:
    return f"Le Maire {_of(tenant.city)}"


MAYORAL_TITLES = ("maire", "le maire", "adjoint", "l'adjoint", "adjointe", "l'adjointe")


def signatory(params: Mapping[str, Any], document: str) -> tuple[str, str]:
    """(name, title) of who signs: ``signatory_name``/``signatory_title`` given with the request,
    else the agent whose transition asked for the document. The maire signs these acts, or an
    agent by delegation (L2122-19 CGCT): a title that is not the maire's or an adjoint's is printed
    « Pour le Maire et par délégation, <title> »."""
    requester = params.get("requested_by")
    requester = requester if isinstance(requester, Mapping) else {}
    name = params.get("signatory_name") or requester.get("name")
    title = params.get("signatory_title") or requester.get("title")
    require(name, "le nom du signataire (le maire ou son délégué)", document)
    require(title, "la qualité du signataire (le maire ou son délégué)", document)
    title_text = str(title).strip()
    if not title_text.lower().startswith(MAYORAL_TITLES):
        title_text = f"Pour le Maire et par délégation, {title_text}"
    return str(name).strip(), title_text


# ----- settings, tenant, the concession of a case ----------------------------------------------


class CemeteryDocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUICHET_CEMETERY_DOCUMENT_", extra="ignore", env_file=None
    )

    rules_reference: str = Field(
        default="règlement municipal des cimetières en vigueur",
        max_length=300,
        description="How the titles and authorisations cite the cemetery rules (e.g. « arrêté "
        "municipal du 3 mars 2020 portant règlement des cimetières »). A document request may "
        "give its own ``rules_reference``.",
    )


@lru_cache
def document_settings() -> CemeteryDocumentSettings:
    return CemeteryDocumentSettings()


def rules_reference(params: Mapping[str, Any]) -> str:
    return str(params.get("rules_reference") or document_settings().rules_reference)


async def load_tenant(session: AsyncSession, case: Case) -> Tenant:
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    return tenant


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def case_concession(
    session: AsyncSession, case: Case, params: Mapping[str, Any], document: str, *, own: bool
) -> Concession:
    """The concession a document is about. ``own``: the one the case produced (a titre) — never
    the one the request names, which for a renewal is the old one."""
    query = select(Concession).where(Concession.tenant_id == case.tenant_id)
    named: Any = params.get("concession_id")
    if not own:
        named = named or case.payload.get("concession_id")
    if named is not None and _uuid(named) is not None:
        found = await session.scalar(query.where(Concession.id == _uuid(named)))
        if found is not None:
            return found
    number = None if own else case.payload.get("concession_number")
    if number:
        found = await session.scalar(query.where(Concession.number == str(number)))
        if found is not None:
            return found
    found = await session.scalar(
        query.where(Concession.case_id == case.id).order_by(Concession.created_at.desc())
    )
    if found is None:
        raise MissingCemeteryData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établi(e) : aucune "
            f"concession du registre n'est liée au dossier {case.reference}."
        )
    return found
