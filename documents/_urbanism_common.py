"""Shared pieces of the urbanism documents: the file a document is about (``urbanism_file``), its
A423 number as printed, the JSON of its facts and timeline read tolerantly, the CERFA payload's
blocks (applicant, land, project), piece titles, signatories, and the French wording of the types
and tacit outcomes.

A document is never printed with a hole: what a mention the law requires needs and the data lacks
raises ``MissingUrbanismData`` (a ``ValueError``: the render job's failure path, visible to agents
as ``document.failed`` with this French message).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.french import french_date
from identity.models import Tenant
from workflows.cases.models import Case
from workflows.procedures.urbanism.facts import PermitType, TacitOutcome
from workflows.procedures.urbanism.intake import WORK_NATURE_LABELS, address_label
from workflows.procedures.urbanism.models import UrbanismFile

CU = "code de l'urbanisme"
CRPA = "code des relations entre le public et l'administration"


class MissingUrbanismData(ValueError):
    """The file lacks a value the document must state: the document is not produced."""


def require(value: Any, what: str, document: str) -> Any:
    if value is None or (isinstance(value, str | list | tuple | dict) and not value):
        raise MissingUrbanismData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établi(e) : {what} manque "
            "au dossier. Complétez le dossier puis relancez le document."
        )
    if isinstance(value, str) and not value.strip():
        raise MissingUrbanismData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établi(e) : {what} manque "
            "au dossier. Complétez le dossier puis relancez le document."
        )
    return value


# ----- types, outcomes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeWords:
    request: str
    """« la demande de permis de construire »."""
    act: str
    """« le permis de construire » (what an accord grants)."""
    short: str
    """« permis de construire »."""


TYPE_WORDS: dict[PermitType, TypeWords] = {
    PermitType.DP: TypeWords(
        "la déclaration préalable", "la décision de non-opposition", "déclaration préalable"
    ),
    PermitType.PCMI: TypeWords(
        "la demande de permis de construire une maison individuelle",
        "le permis de construire",
        "permis de construire (maison individuelle)",
    ),
    PermitType.PC: TypeWords(
        "la demande de permis de construire", "le permis de construire", "permis de construire"
    ),
    PermitType.PA: TypeWords(
        "la demande de permis d'aménager", "le permis d'aménager", "permis d'aménager"
    ),
    PermitType.PD: TypeWords(
        "la demande de permis de démolir", "le permis de démolir", "permis de démolir"
    ),
    PermitType.CUA: TypeWords(
        "la demande de certificat d'urbanisme d'information",
        "le certificat d'urbanisme",
        "certificat d'urbanisme d'information",
    ),
    PermitType.CUB: TypeWords(
        "la demande de certificat d'urbanisme opérationnel",
        "le certificat d'urbanisme",
        "certificat d'urbanisme opérationnel",
    ),
}

FAVOURABLE_OUTCOMES = frozenset(
    {TacitOutcome.GRANTED, TacitOutcome.NON_OPPOSITION, TacitOutcome.CU}
)
OUTCOME_WORDS: dict[TacitOutcome, str] = {
    TacitOutcome.GRANTED: "permis tacite",
    TacitOutcome.NON_OPPOSITION: "décision tacite de non-opposition",
    TacitOutcome.CU: "certificat d'urbanisme tacite",
    TacitOutcome.REJECTION: "décision implicite de rejet",
    TacitOutcome.OPPOSITION: "décision tacite d'opposition",
}
OUTCOME_BORN: dict[TacitOutcome, str] = {
    TacitOutcome.GRANTED: "un permis tacite est né",
    TacitOutcome.NON_OPPOSITION: "une décision tacite de non-opposition est née",
    TacitOutcome.CU: "un certificat d'urbanisme tacite est né",
    TacitOutcome.REJECTION: "une décision implicite de rejet est née",
    TacitOutcome.OPPOSITION: "une décision tacite d'opposition est née",
}
WORKS_TYPES = frozenset({PermitType.PC, PermitType.PCMI, PermitType.PA})
"""Types whose works start with a déclaration d'ouverture de chantier (R424-16)."""
CU_TYPES = frozenset({PermitType.CUA, PermitType.CUB})


def permit_type_of(file: UrbanismFile) -> PermitType:
    try:
        return PermitType(file.permit_type)
    except ValueError:
        raise MissingUrbanismData(
            f"Le type d'autorisation « {file.permit_type} » du dossier {file.number} est inconnu."
        ) from None


def is_declaration(permit_type: PermitType) -> bool:
    return permit_type is PermitType.DP


# ----- the file, its number ---------------------------------------------------------------------


async def load_file(session: AsyncSession, case: Case, document: str) -> UrbanismFile:
    found: UrbanismFile | None = await session.scalar(
        select(UrbanismFile).where(
            UrbanismFile.case_id == case.id, UrbanismFile.tenant_id == case.tenant_id
        )
    )
    if found is None:
        raise MissingUrbanismData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établi(e) : le dossier "
            f"{case.reference} n'a pas encore de numéro d'urbanisme ni de calendrier légal "
            "(enregistrement en cours). Relancez le document dans quelques instants."
        )
    return found


async def load_tenant(session: AsyncSession, case: Case) -> Tenant:
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    return tenant


_NUMBER = re.compile(r"([A-Z]{2})(\d{3}|0?2[AB])(\d{3})(\d{2})([0-9A-Z]{5})((?:[MT])\d{2})?")


def _helper(module: str, name: str) -> Callable[..., Any] | None:
    """A function of a sibling urbanism module (numbering, pieces) when it is there."""
    try:
        found = getattr(importlib.import_module(f"workflows.procedures.urbanism.{module}"), name)
    except (ImportError, AttributeError):
        return None
    return found if callable(found) else None


def display_number(stored: str) -> str:
    """``PC0690012600012`` → ``PC 069 001 26 00012`` (A423-3); ``…M01`` keeps its suffix."""
    helper = _helper("numbering", "display_number")
    if helper is not None:
        try:
            return str(helper(stored))
        except ValueError:
            pass
    compact = stored.replace(" ", "").upper()
    match = _NUMBER.fullmatch(compact)
    if match is None:
        return stored
    parts = [p for p in match.groups() if p]
    return " ".join(parts)


def piece_title(code: str) -> str:
    """The CERFA piece's French title (U2's catalogue), or the code itself when unknown."""
    helper = _helper("pieces", "piece_title")
    if helper is None:
        return code
    try:
        title = str(helper(code))
    except (KeyError, ValueError):
        return code
    return title or code


def pieces_with_titles(codes: Sequence[str]) -> list[dict[str, str]]:
    out = []
    for code in codes:
        title = piece_title(code)
        out.append({"code": code, "title": "" if title == code else title})
    return out


# ----- facts and timeline JSON ------------------------------------------------------------------


def as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MissingUrbanismData(
            f"Paramètre « {name} » invalide : une date AAAA-MM-JJ est attendue, reçu {value!r}."
        ) from None


def optional_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return as_date(value, "date")
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LegalDate:
    key: str
    on: date
    label: str
    rule: str
    reference: str


class TimelineView:
    """Read-only view of ``urbanism_file.timeline`` (U1's codec shape), tolerant of gaps."""

    def __init__(self, raw: Mapping[str, Any] | None) -> None:
        self.raw: Mapping[str, Any] = raw or {}
        dates: dict[str, LegalDate] = {}
        for item in self.raw.get("dates") or ():
            if not isinstance(item, Mapping):
                continue
            on = optional_date(item.get("on"))
            key = str(item.get("key") or "")
            if on is None or not key:
                continue
            dates[key] = LegalDate(
                key=key,
                on=on,
                label=str(item.get("label") or ""),
                rule=str(item.get("rule") or ""),
                reference=str(item.get("reference") or ""),
            )
        self.dates = dates

    def get(self, key: str) -> LegalDate | None:
        return self.dates.get(key)

    def on(self, key: str) -> date | None:
        found = self.dates.get(key)
        return found.on if found is not None else None

    @property
    def instruction_deadline(self) -> date | None:
        return optional_date(self.raw.get("instruction_deadline")) or self.on(
            "instruction_deadline"
        )

    @property
    def tacit_outcome(self) -> TacitOutcome | None:
        value = self.raw.get("tacit_outcome")
        try:
            return TacitOutcome(value) if value else None
        except ValueError:
            return None

    @property
    def tacit_on(self) -> date | None:
        """Day the tacit decision is born: the timeline's date, else the day after the
        instruction deadline (R424-1: silence « à l'expiration du délai »)."""
        found = self.on("tacit_decision")
        if found is not None:
            return found
        deadline = self.instruction_deadline
        return date.fromordinal(deadline.toordinal() + 1) if deadline is not None else None

    @property
    def missing_pieces(self) -> list[str]:
        return [str(p) for p in self.raw.get("missing_pieces") or () if p]


def facts_of(file: UrbanismFile) -> Mapping[str, Any]:
    return file.facts if isinstance(file.facts, Mapping) else {}


# ----- the CERFA payload --------------------------------------------------------------------------


def block(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = payload.get(name)
    return found if isinstance(found, Mapping) else {}


def first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


_ADDRESS_KEYS = (
    "line",
    "number",
    "numero_voie",
    "street",
    "voie",
    "street_address",
    "lieu_dit",
    "locality",
    "complement",
    "postal_code",
    "code_postal",
    "city",
    "commune",
    "localite",
)


def address_text(value: Any) -> str | None:
    """A postal address given as text or as a block of fields."""
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, Mapping):
        return None
    label = address_label(value)
    if label:
        return label
    parts = [str(value[k]).strip() for k in _ADDRESS_KEYS if value.get(k) not in (None, "")]
    text = " ".join(p for p in parts if p)
    return text or None


def applicants(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = payload.get("applicants")
    if isinstance(found, Mapping):
        return [found]
    if isinstance(found, list):
        return [a for a in found if isinstance(a, Mapping)]
    return []


def applicant_name(applicant: Mapping[str, Any]) -> str | None:
    company = first(applicant, "denomination", "company_name", "organisation_name", "name")
    if company and not first(applicant, "nom", "family_name", "last_name"):
        return str(company)
    civility = first(applicant, "civilite", "civility")
    given = first(applicant, "prenom", "given_name", "first_name")
    family = first(applicant, "nom", "family_name", "last_name")
    text = " ".join(str(p) for p in (civility, given, family) if p)
    return text or (str(company) if company else None)


def recipient_address(case: Case, payload: Mapping[str, Any]) -> str | None:
    submitter = case.submitter or {}
    found = address_text(submitter.get("postal_address"))
    if found:
        return found
    for applicant in applicants(payload):
        found = address_text(first(applicant, "address", "adresse"))
        if found:
            return found
    return None


def number_value(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() else None


def _sum(values: Any) -> Decimal | None:
    """A number, a {destination: number} block or a list of numbers or of rows."""
    direct = number_value(values)
    if direct is not None:
        return direct
    items: list[Any]
    if isinstance(values, Mapping):
        items = list(values.values())
    elif isinstance(values, list):
        items = values
    else:
        return None
    total: Decimal | None = None
    for item in items:
        if isinstance(item, Mapping):
            found = number_value(first(item, "created", "creee", "area", "surface"))
        else:
            found = number_value(item)
        if found is not None:
            total = (total or Decimal(0)) + found
    return total


def created_floor_area(project: Mapping[str, Any]) -> Decimal | None:
    """Surface de plancher créée (m²), summed over the destinations when given by destination."""
    direct = first(project, "floor_area_created", "created_floor_area", "surface_plancher_creee")
    if direct is not None:
        return _sum(direct)
    areas = first(project, "floor_areas", "surfaces_plancher", "surfaces")
    if isinstance(areas, Mapping):
        created = first(areas, "created", "creee", "creees")
        if created is not None:
            return _sum(created)
        return None
    if isinstance(areas, list):
        # U2's schema: one row per destination (R151-27); no row = no floor area created
        rows = [a for a in areas if isinstance(a, Mapping) and "created" in a]
        return _sum([r["created"] for r in rows]) if rows else Decimal(0)
    # Works that cannot create floor area (tree felling, fence, demolition, division…) need no
    # floor-area block: none is created. Any other nature must say how much.
    natures = project.get("nature_of_works")
    if isinstance(natures, list) and natures and set(natures) <= NO_FLOOR_AREA_WORKS:
        return Decimal(0)
    return None


NO_FLOOR_AREA_WORKS = frozenset(
    {"abattage_arbres", "cloture", "demolition", "division", "piscine", "amenagement"}
)
"""Natures of works (``intake.WorkNature``) that create no surface de plancher."""


def area_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')} m²"


def project_nature(payload: Mapping[str, Any]) -> str | None:
    """Nature of the works (labels of the CERFA's codes) and the description; a PD's extent; a
    CUb's projected operation."""
    project = block(payload, "project") or block(payload, "operation")
    nature = first(project, "nature", "nature_of_works", "works_nature", "nature_travaux")
    description = first(project, "description", "short_description")
    if isinstance(nature, list):
        nature = ", ".join(WORK_NATURE_LABELS.get(str(n), str(n)) for n in nature if n)
    elif isinstance(nature, str):
        nature = WORK_NATURE_LABELS.get(nature, nature)
    extent = project.get("extent")
    if not nature and extent in ("totale", "partielle"):
        nature = f"Démolition {extent}"
    parts = [str(p).strip() for p in (nature, description) if p and str(p).strip()]
    if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
        parts = parts[1:]
    return " — ".join(parts) or None


def land_area(payload: Mapping[str, Any]) -> Decimal | None:
    land = block(payload, "land")
    total = number_value(first(land, "total_area", "area", "superficie"))
    if total is not None:
        return total
    parcels = land.get("parcels")
    if isinstance(parcels, list):
        return _sum([p for p in parcels if isinstance(p, Mapping)])
    return None


def parcels_text(file: UrbanismFile, payload: Mapping[str, Any]) -> str | None:
    if file.parcels.strip():
        return file.parcels.strip()
    parcels = block(payload, "land").get("parcels")
    if not isinstance(parcels, list):
        return None
    out = []
    for p in parcels:
        if isinstance(p, Mapping) and p.get("section") and p.get("numero"):
            prefix = f"{p['prefixe']} " if p.get("prefixe") else ""
            out.append(f"{prefix}{p['section']} {p['numero']}")
    return ", ".join(out) or None


def land_address(file: UrbanismFile, payload: Mapping[str, Any]) -> str | None:
    if file.address.strip():
        return file.address.strip()
    return address_text(first(block(payload, "land"), "address", "adresse"))


# ----- signatories ---------------------------------------------------------------------------


def signatory(params: Mapping[str, Any], document: str, article: str) -> tuple[str, str]:
    """(name, title) given with the request, else the agent whose transition asked for it."""
    requester = params.get("requested_by")
    requester = requester if isinstance(requester, Mapping) else {}
    name = params.get("signatory_name") or requester.get("name")
    title = params.get("signatory_title") or requester.get("title")
    require(name, f"le nom du signataire ({article})", document)
    require(title, f"la qualité du signataire ({article})", document)
    return str(name).strip(), str(title).strip()


def of(name: str) -> str:
    """French elision: ``de Lyon``, ``d'Anse``."""
    return f"d'{name}" if name[:1].lower() in "aeiouyhàâäéèêëîïôöûüÿ" else f"de {name}"


def date_text(value: date | None) -> str | None:
    return french_date(value) if value is not None else None
