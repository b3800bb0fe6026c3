"""Read side of the urbanism files: the files of a commune by legal date (mayor's office and the
métropole's instructors), the per-case legal timeline, the monthly register of filings and
decisions, and what an applicant sees of their own files.

Everything is read from ``urbanism_file`` (kept by the projector in the transaction of every case
change): its columns for ordering and filtering, its ``timeline`` JSON for the dates with their
rules. The JSON is read tolerantly (a missing or malformed entry is skipped, never a 500).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, column, func, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.errors import Forbidden, HiddenDenial, NotFound, ValidationFailed
from workflows.cases.models import Case
from workflows.engine.definitions import Definition
from workflows.engine.runner import Engine
from workflows.procedures.urbanism.definitions import build_definitions
from workflows.procedures.urbanism.facts import RuleSet
from workflows.procedures.urbanism.models import UrbanismFile
from workflows.procedures.urbanism.pieces import piece_title

READ_ROLES: tuple[str, ...] = (
    Role.INSTRUCTOR.value,
    Role.SUPERVISOR.value,
    Role.MAYOR_OFFICE.value,
    Role.ADMIN.value,
    Role.COUNTER_AGENT.value,
)
"""Who follows a commune's files: the instructors (of the commune or of the métropole, whose
roles cover its communes), the mayor's office, supervisors, administrators, the counter."""

TENANT_NOT_FOUND = "Commune introuvable (ou hors de vos collectivités)."
DEFAULT_ALERT_DAYS = RuleSet(key="defaut").tacit_alert_days
MAX_ALERT_DAYS = 365
SUSPENDED = "suspendu : pièces demandées"

_tenant = table("tenant", column("id"), column("insee_code"), column("name"), column("parent_id"))

TYPE_TITLES: dict[str, str] = {
    "DP": "Déclaration préalable",
    "PCMI": "Permis de construire une maison individuelle",
    "PC": "Permis de construire",
    "PA": "Permis d'aménager",
    "PD": "Permis de démolir",
    "CUa": "Certificat d'urbanisme d'information",
    "CUb": "Certificat d'urbanisme opérationnel",
}
KIND_TITLES: dict[str, str] = {
    "initial": "Demande initiale",
    "modificatif": "Permis modificatif",
    "transfert": "Transfert",
}
DECISION_TITLES: dict[str, str] = {
    "accord": "Accord",
    "accord_avec_prescriptions": "Accord avec prescriptions",
    "refus": "Refus",
    "sursis_a_statuer": "Sursis à statuer",
    "opposition": "Opposition",
    "non_opposition": "Non-opposition",
    "cu_delivre": "Certificat d'urbanisme délivré",
    "accord_tacite": "Permis tacite",
    "non_opposition_tacite": "Non-opposition tacite",
    "cu_tacite": "Certificat d'urbanisme tacite",
    "rejet_tacite": "Rejet tacite",
    "opposition_tacite": "Opposition tacite",
}
"""Explicit decisions (``facts.DecisionKind``) and tacit outcomes (``facts.TacitOutcome``)."""

STATE_NAMES: frozenset[str] = frozenset(s.name for d in build_definitions() for s in d.states)
"""Every engine state of the urbanism procedures (the ``etat`` filter)."""


# ----- small helpers ----------------------------------------------------------------------------

_NUMBER = re.compile(
    r"^(?P<nature>[A-Z]{2})(?P<dep>[0-9]{2}[0-9AB])(?P<commune>[0-9]{3})(?P<year>[0-9]{2})"
    r"(?P<seq>[A-Z0-9][0-9]{4})(?P<suffix>[MT][0-9]{2})?$"
)


def display_number(number: str) -> str:
    """A423 number for people: ``PC0690012600012`` → ``PC 069 001 26 00012`` (nature, département,
    commune, year, sequence — the older form with a service letter, ``A0012``, the same way); a
    modificatif or transfert suffix is kept (``… 00012 M01``). Anything else is shown as stored."""
    compact = re.sub(r"\s+", "", number or "").upper()
    found = _NUMBER.match(compact)
    if found is None:
        return number
    parts = [found["nature"], found["dep"], found["commune"], found["year"], found["seq"]]
    if found["suffix"]:
        parts.append(found["suffix"])
    return " ".join(parts)


def french_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else ""


def parse_day(value: Any) -> date | None:
    """An ISO date from the JSON, or None (tolerant: bad data is skipped, not an error)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def alert_days(facts: Mapping[str, Any] | None) -> int:
    """N of "tacit date within N days": the file's rule set ``tacit_alert_days`` (default 15)."""
    rule_set = (facts or {}).get("rule_set") if isinstance(facts, Mapping) else None
    if isinstance(rule_set, Mapping):
        value = rule_set.get("tacit_alert_days")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ALERT_DAYS:
            return value
    return DEFAULT_ALERT_DAYS


def days_to_tacit(row: UrbanismFile, today: date) -> int | None:
    """Days from today to the birth of the tacit decision (None when none is running)."""
    return None if row.tacit_on is None else (row.tacit_on - today).days


def tacit_alert(row: UrbanismFile, today: date) -> bool:
    """The tacit decision is born within N days and may still be prevented (a decision notified
    until the day before it counts, R424-1)."""
    days = days_to_tacit(row, today)
    return days is not None and 0 < days <= alert_days(row.facts)


def _text(value: Any, limit: int = 2000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def legal_dates(timeline: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The timeline's dates, in date order, with their rule and reference (malformed skipped)."""
    raw = (timeline or {}).get("dates") if isinstance(timeline, Mapping) else None
    out: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        on = parse_day(item.get("on"))
        key = _text(item.get("key"), 120)
        if on is None or not key:
            continue
        out.append(
            {
                "cle": key,
                "date": on.isoformat(),
                "libelle": _text(item.get("label")) or key,
                "regle": _text(item.get("rule")),
                "reference": _text(item.get("reference")),
                "jeu_de_regles": _text(item.get("rule_set"), 120),
                "note": _text(item.get("note")),
            }
        )
    out.sort(key=lambda d: (d["date"], d["cle"]))
    return out


def next_legal(row: UrbanismFile) -> dict[str, Any] | None:
    """The file's next legal date with its label, rule and reference."""
    if row.next_legal_on is None:
        return None
    on = row.next_legal_on.isoformat()
    candidates = legal_dates(row.timeline)
    chosen = next(
        (d for d in candidates if d["cle"] == row.next_legal_key and d["date"] == on), None
    ) or next((d for d in candidates if d["date"] == on), None)
    nxt = row.timeline.get("next_legal_date") if isinstance(row.timeline, Mapping) else None
    if chosen is None and isinstance(nxt, Mapping):
        chosen = next(iter(legal_dates({"dates": [nxt]})), None)
    if chosen is None:
        key = row.next_legal_key or ""
        chosen = {"cle": key, "date": on, "libelle": key, "regle": "", "reference": ""}
    return {k: chosen[k] for k in ("cle", "date", "libelle", "regle", "reference")}


def missing_pieces(timeline: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The pieces still awaited, with their CERFA titles (the code when no title is known)."""
    raw = (timeline or {}).get("missing_pieces") if isinstance(timeline, Mapping) else None
    codes = [c for c in (raw if isinstance(raw, list) else []) if isinstance(c, str) and c]
    return [{"code": code, "titre": piece_title(code)} for code in codes[:100]]


def state_title(definition: Definition | None, state: str, *, public: bool = False) -> str:
    if definition is None:
        return state
    try:
        found = definition.state(state)
    except KeyError:
        return state
    return (found.public_title or found.title) if public else found.title


def definition_of(engine: Engine, case: Case) -> Definition | None:
    try:
        return engine.procedures.get(case.procedure_key, case.definition_version)
    except (NotFound, KeyError):
        return None


def tacit_outcome(row: UrbanismFile) -> str | None:
    value = row.timeline.get("tacit_outcome") if isinstance(row.timeline, Mapping) else None
    return value if isinstance(value, str) and value else None


# ----- tenant scope -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommuneScope:
    tenant_id: uuid.UUID
    insee: str
    name: str
    tenant_ids: tuple[uuid.UUID, ...]
    """The commune itself, or the métropole and all its communes."""


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def commune_scope(
    session: AsyncSession, actor: Actor, insee: str, roles: Sequence[str] = READ_ROLES
) -> CommuneScope:
    """The files an agent may follow under ``insee``: a commune where they hold a role (a role on
    the métropole covers its communes), or the métropole's code for all its communes. Anyone
    else: the commune does not exist for them (404)."""
    found = (
        await session.execute(
            select(_tenant.c.id, _tenant.c.name).where(_tenant.c.insee_code == insee)
        )
    ).first()
    if found is None:
        raise NotFound(TENANT_NOT_FOUND)
    tenant_id = _uuid(found[0])
    mine = actor.roles_in(tenant_id) if actor.kind is ActorKind.AGENT else frozenset()
    if not mine:
        raise HiddenDenial(TENANT_NOT_FOUND)
    if not mine & set(roles):
        raise Forbidden(
            "Votre rôle dans cette collectivité ne donne pas accès aux dossiers d'urbanisme : "
            "il faut être instructeur, cabinet du maire, superviseur, administrateur ou agent "
            "d'accueil."
        )
    children = await session.scalars(select(_tenant.c.id).where(_tenant.c.parent_id == tenant_id))
    ids = (tenant_id, *(_uuid(c) for c in children))
    return CommuneScope(tenant_id=tenant_id, insee=insee, name=str(found[1]), tenant_ids=ids)


# ----- files of a commune -----------------------------------------------------------------------


def _like(text: str, *, lower: bool = True) -> str:
    source = text.lower() if lower else text
    escaped = source.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(fields: Sequence[Any], word: str) -> ColumnElement[bool]:
    """Case-insensitive containment of ``word`` in one of ``fields``. PostgreSQL lowers every
    letter; SQLite only ASCII ones, so the word is also tried as typed, capitalised and in
    capitals ("élodie" finds "Élodie", "ÉCOLIERS" finds "Écoliers")."""
    variants = dict.fromkeys([word, word.capitalize(), word.upper()])
    conditions = [func.lower(f).like(_like(word), escape="\\") for f in fields]
    conditions += [f.like(_like(v, lower=False), escape="\\") for f in fields for v in variants]
    return or_(*conditions)


def file_row(
    row: UrbanismFile, case: Case, definition: Definition | None, today: date
) -> dict[str, Any]:
    """One line of the mayor's office / instructors' list."""
    days = days_to_tacit(row, today)
    outcome = tacit_outcome(row)
    return {
        "case_id": str(row.case_id),
        "reference": case.reference,
        "numero": display_number(row.number),
        "numero_brut": row.number,
        "type": row.permit_type,
        "type_libelle": TYPE_TITLES.get(row.permit_type, row.permit_type),
        "nature": row.file_kind,
        "demandeur": row.applicant_name,
        "adresse": row.address,
        "parcelles": row.parcels,
        "etat": row.state,
        "etat_libelle": state_title(definition, row.state),
        "depose_le": row.filed_on.isoformat(),
        "prochaine_echeance": next_legal(row),
        "date_tacite": row.tacit_on.isoformat() if row.tacit_on else None,
        "issue_du_silence": outcome,
        "issue_du_silence_libelle": DECISION_TITLES.get(outcome, outcome) if outcome else None,
        "jours_avant_tacite": days,
        "alerte_tacite": tacit_alert(row, today),
        "seuil_alerte_jours": alert_days(row.facts),
        "instructeur_id": str(case.assignee_id) if case.assignee_id else None,
        "decision": row.decision,
        "decide_le": row.decided_on.isoformat() if row.decided_on else None,
    }


def _files(tenant_ids: Iterable[uuid.UUID]) -> Select[UrbanismFile, Case]:
    return (
        select(UrbanismFile, Case)
        .join(Case, Case.id == UrbanismFile.case_id)
        .where(UrbanismFile.tenant_id.in_(list(tenant_ids)))
    )


async def list_files(
    session: AsyncSession,
    engine: Engine,
    tenant_ids: Sequence[uuid.UUID],
    *,
    today: date,
    permit_type: str | None = None,
    state: str | None = None,
    text: str | None = None,
    due_before: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of files ordered by their next legal date (files without one last), and the
    total. ``text`` searches the number (with or without spaces), the applicant's name, the
    address and the parcels; ``due_before``: next legal date on or before that day."""
    if state is not None and state not in STATE_NAMES:
        raise ValidationFailed(
            f"État « {state} » inconnu. États possibles : {', '.join(sorted(STATE_NAMES))}.",
            errors=[{"field": "etat", "message": "état inconnu", "type": "enum"}],
        )
    query = _files(tenant_ids)
    if permit_type:
        query = query.where(UrbanismFile.permit_type == permit_type)
    if state:
        query = query.where(UrbanismFile.state == state)
    if due_before is not None:
        query = query.where(UrbanismFile.next_legal_on <= due_before)
    words = (text or "").split()[:10]
    if words:
        fields = (
            UrbanismFile.number,
            UrbanismFile.applicant_name,
            UrbanismFile.address,
            UrbanismFile.parcels,
            Case.reference,
        )
        every_word = and_(*(_matches(fields, w) for w in words))
        # "PC 069 001 26 00012" as displayed: also the number as stored, without spaces.
        compact = _like("".join(words))
        query = query.where(
            or_(every_word, func.lower(UrbanismFile.number).like(compact, escape="\\"))
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.execute(
            query.order_by(
                UrbanismFile.next_legal_on.is_(None),
                UrbanismFile.next_legal_on,
                UrbanismFile.filed_on,
                UrbanismFile.number,
            )
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [file_row(f, c, definition_of(engine, c), today) for f, c in rows], int(total)


# ----- the legal timeline of one case -----------------------------------------------------------


async def file_of_case(session: AsyncSession, case_id: uuid.UUID) -> UrbanismFile:
    row = await session.scalar(select(UrbanismFile).where(UrbanismFile.case_id == case_id))
    if row is None:
        raise NotFound(
            "Ce dossier n'est pas un dossier d'urbanisme, ou il n'est pas encore enregistré : "
            "sa chronologie n'existe pas."
        )
    return row


def chronology(
    row: UrbanismFile,
    case: Case,
    definition: Definition | None,
    *,
    for_agent: bool,
    today: date,
) -> dict[str, Any]:
    """Every legal date of the file with its label, rule, reference and rule set; the findings
    (agents only: they tell the instructor what a recorded fact changed or did not change); what
    silence will produce and when."""
    timeline = row.timeline if isinstance(row.timeline, Mapping) else {}
    outcome = tacit_outcome(row)
    dates = legal_dates(timeline)
    if not for_agent:
        dates = [{k: v for k, v in d.items() if k != "note"} for d in dates]
    out: dict[str, Any] = {
        "case_id": str(row.case_id),
        "reference": case.reference,
        "numero": display_number(row.number),
        "type": row.permit_type,
        "type_libelle": TYPE_TITLES.get(row.permit_type, row.permit_type),
        "nature": row.file_kind,
        "demandeur": row.applicant_name,
        "adresse": row.address,
        "etat": row.state,
        "etat_libelle": state_title(definition, row.state, public=not for_agent),
        "depose_le": row.filed_on.isoformat(),
        "dates": dates,
        "delai_instruction": _iso(parse_day(timeline.get("instruction_deadline"))),
        "date_tacite": _iso(row.tacit_on),
        "issue_du_silence": outcome,
        "issue_du_silence_libelle": DECISION_TITLES.get(outcome, outcome) if outcome else None,
        "complet": bool(timeline.get("complete", False)),
        "pieces_manquantes": missing_pieces(timeline),
        "prochaine_echeance": next_legal(row),
        "decision": row.decision,
        "decision_libelle": DECISION_TITLES.get(row.decision, row.decision)
        if row.decision
        else None,
        "decide_le": _iso(row.decided_on),
    }
    if for_agent:
        out["constats"] = findings(timeline)
        out["alerte_tacite"] = tacit_alert(row, today)
        out["jeu_de_regles"] = _rule_set_key(row.facts)
    return out


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _rule_set_key(facts: Mapping[str, Any] | None) -> str | None:
    rule_set = facts.get("rule_set") if isinstance(facts, Mapping) else None
    key = rule_set.get("key") if isinstance(rule_set, Mapping) else None
    return key if isinstance(key, str) else None


def findings(timeline: Mapping[str, Any]) -> list[dict[str, str]]:
    raw = timeline.get("findings")
    return [
        {
            "code": _text(f.get("code"), 120),
            "message": _text(f.get("message")),
            "reference": _text(f.get("reference")),
        }
        for f in (raw if isinstance(raw, list) else [])
        if isinstance(f, Mapping)
    ]


# ----- the monthly register ---------------------------------------------------------------------

_MONTH = re.compile(r"^(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])$")


def parse_month(value: str) -> tuple[date, date]:
    """``2026-11`` → (first day, first day of the next month)."""
    found = _MONTH.match(value or "")
    if found is None or not 1900 <= int(found["year"]) <= 2999:
        raise ValidationFailed(
            f"Mois « {value[:20]} » invalide : attendu AAAA-MM, par exemple 2026-11.",
            errors=[{"field": "mois", "message": "format AAAA-MM attendu", "type": "format"}],
        )
    first = date(int(found["year"]), int(found["month"]), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _register_line(row: UrbanismFile, case: Case) -> dict[str, Any]:
    return {
        "case_id": str(row.case_id),
        "reference": case.reference,
        "numero": display_number(row.number),
        "type": row.permit_type,
        "type_libelle": TYPE_TITLES.get(row.permit_type, row.permit_type),
        "nature": row.file_kind,
        "demandeur": row.applicant_name,
        "adresse": row.address,
        "parcelles": row.parcels,
        "depose_le": row.filed_on.isoformat(),
    }


async def register(session: AsyncSession, scope: CommuneScope, month: str) -> dict[str, Any]:
    """Filings received in the month, and decisions of the month (explicit: notification date;
    tacit: the day it was born), in date then number order."""
    first, following = parse_month(month)
    filed = (
        await session.execute(
            _files(scope.tenant_ids)
            .where(UrbanismFile.filed_on >= first, UrbanismFile.filed_on < following)
            .order_by(UrbanismFile.filed_on, UrbanismFile.number)
        )
    ).all()
    decided = (
        await session.execute(
            _files(scope.tenant_ids)
            .where(
                UrbanismFile.decided_on.is_not(None),
                UrbanismFile.decided_on >= first,
                UrbanismFile.decided_on < following,
            )
            .order_by(UrbanismFile.decided_on, UrbanismFile.number)
        )
    ).all()
    decisions = []
    for row, case in decided:
        kind = row.decision or ""
        decisions.append(
            {
                **_register_line(row, case),
                "decision": kind or None,
                "decision_libelle": DECISION_TITLES.get(kind, kind) or None,
                "tacite": kind.endswith("_tacite"),
                "decide_le": _iso(row.decided_on),
            }
        )
    return {
        "mois": f"{first:%Y-%m}",
        "collectivite": {"insee": scope.insee, "nom": scope.name},
        "depots": [_register_line(row, case) for row, case in filed],
        "decisions": decisions,
    }


# ----- CSV (French spreadsheet: ";", UTF-8 with BOM, dates JJ/MM/AAAA) --------------------------


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text  # no formula injection when opened in a spreadsheet
    return text


def _csv(header: Sequence[str], lines: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for line in lines:
        writer.writerow([_cell(v) for v in line])
    return "\ufeff" + out.getvalue()


def _fr(iso: str | None) -> str:
    return french_date(parse_day(iso)) if iso else ""


FILES_CSV_HEADER = (
    "Numéro",
    "Type",
    "Demandeur",
    "Adresse",
    "Parcelles",
    "État",
    "Déposé le",
    "Prochaine échéance",
    "Échéance",
    "Règle",
    "Référence légale",
    "Date de la décision tacite",
    "Issue du silence",
    "Alerte tacite",
    "Référence du dossier",
)


def files_csv(items: Sequence[Mapping[str, Any]]) -> str:
    def line(item: Mapping[str, Any]) -> list[Any]:
        nxt = item.get("prochaine_echeance") or {}
        return [
            item["numero"],
            item["type_libelle"],
            item["demandeur"],
            item["adresse"],
            item["parcelles"],
            item["etat_libelle"],
            _fr(item["depose_le"]),
            _fr(nxt.get("date")),
            nxt.get("libelle", ""),
            nxt.get("regle", ""),
            nxt.get("reference", ""),
            _fr(item["date_tacite"]),
            item["issue_du_silence_libelle"] or "",
            "oui" if item["alerte_tacite"] else "non",
            item["reference"],
        ]

    return _csv(FILES_CSV_HEADER, (line(i) for i in items))


REGISTER_CSV_HEADER = (
    "Inscription",
    "Numéro",
    "Type",
    "Demandeur",
    "Adresse",
    "Parcelles",
    "Déposé le",
    "Décision",
    "Date de la décision",
    "Référence du dossier",
)


def register_csv(data: Mapping[str, Any]) -> str:
    lines: list[list[Any]] = []
    for kind, entries in (("Dépôt", data["depots"]), ("Décision", data["decisions"])):
        for e in entries:
            lines.append(
                [
                    kind,
                    e["numero"],
                    e["type_libelle"],
                    e["demandeur"],
                    e["adresse"],
                    e["parcelles"],
                    _fr(e["depose_le"]),
                    e.get("decision_libelle") or "",
                    _fr(e.get("decide_le")),
                    e["reference"],
                ]
            )
    return _csv(REGISTER_CSV_HEADER, lines)


# ----- the applicant's own files ----------------------------------------------------------------


def expected_decision(row: UrbanismFile) -> tuple[str | None, str]:
    """(date, French phrase) of the decision the applicant awaits."""
    timeline = row.timeline if isinstance(row.timeline, Mapping) else {}
    if row.decided_on is not None and row.decision:
        label = DECISION_TITLES.get(row.decision, row.decision)
        return row.decided_on.isoformat(), f"{label} le {french_date(row.decided_on)}"
    if row.state == "incomplete" or (row.tacit_on is None and timeline.get("missing_pieces")):
        return None, SUSPENDED
    if row.tacit_on is not None:
        outcome = tacit_outcome(row)
        what = DECISION_TITLES.get(outcome, "décision tacite") if outcome else "décision tacite"
        last = french_date(row.tacit_on - timedelta(days=1))
        return (
            row.tacit_on.isoformat(),
            f"décision attendue au plus tard le {last} ; sans décision notifiée à cette date : "
            f"{what.lower()} le {french_date(row.tacit_on)}",
        )
    return None, ""


async def my_files(
    session: AsyncSession,
    engine: Engine,
    actor: Actor,
    *,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The files that concern the person (as submitter, or those they hold a mandate for)."""
    persons = [actor.id, *actor.represents]
    query = (
        select(UrbanismFile, Case)
        .join(Case, Case.id == UrbanismFile.case_id)
        .where(
            or_(
                Case.submitter_id.in_(persons),
                Case.organisation_id.in_(list(actor.represents)),
            )
        )
    )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.execute(
            query.order_by(UrbanismFile.filed_on.desc(), UrbanismFile.number)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    items = []
    for row, case in rows:
        on, phrase = expected_decision(row)
        timeline = row.timeline if isinstance(row.timeline, Mapping) else {}
        pieces_limit = next(
            (d["date"] for d in legal_dates(timeline) if d["cle"] == "pieces_limit"), None
        )
        outcome = tacit_outcome(row)
        items.append(
            {
                "case_id": str(row.case_id),
                "reference": case.reference,
                "numero": display_number(row.number),
                "type": row.permit_type,
                "type_libelle": TYPE_TITLES.get(row.permit_type, row.permit_type),
                "adresse": row.address,
                "depose_le": row.filed_on.isoformat(),
                "etat": row.state,
                "etat_libelle": state_title(definition_of(engine, case), row.state, public=True),
                "date_decision_attendue": on,
                "decision_attendue": phrase,
                "issue_du_silence": outcome,
                "pieces_manquantes": missing_pieces(timeline) if row.state == "incomplete" else [],
                "date_limite_pieces": pieces_limit if row.state == "incomplete" else None,
            }
        )
    return items, int(total)
