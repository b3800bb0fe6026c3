"""Shared pieces of the urbanism timeline: constants, the analysis record, base deadlines
(see ``timeline`` for the counting rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from workflows.engine.calendar import DelaySpec, DelayUnit, LegalCalendar, add_months
from workflows.procedures.urbanism.facts import (
    Exception_,
    Facts,
    FileKind,
    Finding,
    LegalDate,
    Opinion,
    PermitType,
    PiecesRequest,
    TacitOutcome,
    TimerPlan,
)

_DAY = timedelta(days=1)
_CU = (PermitType.CUA, PermitType.CUB)
_PERMITS = (PermitType.PC, PermitType.PCMI, PermitType.PA, PermitType.PD)
_R424_2 = frozenset(e for e in Exception_ if e is not Exception_.ENVIRONMENTAL_ASSESSMENT)
_UNFAVOURABLE_ABF = (Opinion.UNFAVOURABLE, Opinion.WITH_PRESCRIPTIONS)
_FILING_NOTICE_DAYS = 15
_DECISION_DISPLAY_DAYS = 8
_ATTESTATION_DAYS = 15
_TREE_FELLING_MONTHS = 1
_PIECES_MONTHS = 3
_COMPLETENESS_MONTHS = 1
_APPEAL_BACKSTOP_MONTHS = 6
_NOT_ACTIONABLE = frozenset({"filed", "complete", "decision_notified"})
"""Keys recording past facts: never the "next legal date"."""

_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

_BASE: dict[PermitType, tuple[int, str]] = {
    PermitType.DP: (1, "R423-23 a du code de l'urbanisme"),
    PermitType.PCMI: (2, "R423-23 b du code de l'urbanisme"),
    PermitType.PD: (2, "R423-23 b du code de l'urbanisme"),
    PermitType.PC: (3, "R423-23 c du code de l'urbanisme"),
    PermitType.PA: (3, "R423-23 c du code de l'urbanisme"),
    PermitType.CUA: (1, "R410-9 du code de l'urbanisme"),
    PermitType.CUB: (2, "R410-10 du code de l'urbanisme"),
}

_TACIT_LABELS = {
    TacitOutcome.GRANTED: "Permis tacite",
    TacitOutcome.NON_OPPOSITION: "Non-opposition tacite",
    TacitOutcome.CU: "Certificat d'urbanisme tacite",
    TacitOutcome.REJECTION: "Rejet tacite",
    TacitOutcome.OPPOSITION: "Opposition tacite",
}


def format_date(d: date) -> str:
    """French long date: "1er mars 2025", "28 février 2025"."""
    day = "1er" if d.day == 1 else str(d.day)
    return f"{day} {_MONTHS_FR[d.month - 1]} {d.year}"


def base_deadline(facts: Facts) -> tuple[int, str]:
    """Délai de droit commun in months and its reference (R423-23, R410-9, R410-10).

    A permis modificatif is instructed in 2 months for a maison individuelle and 3 months
    otherwise; a modified DP stays a DP (1 month), a modified PD a PD (2 months, R423-23 b) and a
    CU keeps its own deadline. A transfert takes its type's own deadline.
    """
    months, reference = _BASE[facts.permit_type]
    if facts.file_kind is FileKind.MODIFICATIF and facts.permit_type in (
        PermitType.PC,
        PermitType.PCMI,
        PermitType.PA,
    ):
        if facts.permit_type is PermitType.PCMI or facts.is_maison_individuelle:
            return 2, "R423-23 b du code de l'urbanisme (permis modificatif, maison individuelle)"
        return 3, "R423-23 c du code de l'urbanisme (permis modificatif)"
    return months, reference


def _months_fr(n: int) -> str:
    return f"{n} mois"


# ---------------------------------------------------------------------------------------------
# Analysis: everything the timeline and the checks need, computed once.
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Analysis:
    facts: Facts
    calendar: LegalCalendar
    horizon: date
    rule_set: str
    dates: list[LegalDate] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    timers: list[TimerPlan] = field(default_factory=list)
    completeness_limit: date = date.min
    effective_request: PiecesRequest | None = None
    request_effective: dict[int, bool] = field(default_factory=dict)
    pieces_limit: date | None = None
    completed_on: date | None = None
    missing: tuple[str, ...] = ()
    suspended: bool = False
    """An effective pieces request is still within its 3-month window, unanswered."""
    pieces_timed_out: bool = False
    """The 3 months ran out without all the pieces (tacit rejection or opposition born)."""
    majoration_effective: dict[int, bool] = field(default_factory=dict)
    majoration_findings: dict[int, list[Finding]] = field(default_factory=dict)
    total_months: int = 0
    instruction_deadline: date | None = None
    tacit_outcome: TacitOutcome | None = None
    tacit_birth: date | None = None
    governing_deadline: date | None = None
    """Last day for an explicit decision: instruction deadline, or pieces limit when suspended."""
    decision_effective: bool = False
    decision_confirmative: bool = False
    """A favourable decision notified after a tacit favourable one: dates run from the latter."""
    favourable_from: date | None = None
    """Explicit notification or birth of the tacit favourable decision."""
    favourable_tacit: bool = False
    withdrawal_limit: date | None = None
    withdrawn: bool = False
    validity_end: date | None = None
    validity_suspended: bool = False
    prorogations_counted: int = 0
    doc_effective: bool = False
    daact_effective: bool = False
    conformity_limit: date | None = None
    complete: bool = False

    # -- helpers ------------------------------------------------------------------------------

    def add(
        self, key: str, on: date, label: str, rule: str, reference: str, note: str = ""
    ) -> LegalDate:
        legal = LegalDate(
            key=key,
            on=on,
            label=label,
            rule=rule,
            reference=reference,
            rule_set=self.rule_set,
            note=note,
        )
        self.dates.append(legal)
        return legal

    def find(self, code: str, message: str, reference: str) -> Finding:
        finding = Finding(code=code, message=message, reference=reference)
        self.findings.append(finding)
        return finding

    def instruction_end(self, start: date, months: int) -> date:
        """Date to date, end-of-month clamp; next working day only if the rule set says so."""
        end = add_months(start, months)
        if self.facts.rule_set.extend_instruction_deadlines_to_working_day:
            end = self.calendar.next_working_day(end)
        return end

    def franc(self, start: date, months: int, reference: str) -> date:
        spec = DelaySpec(
            amount=months,
            unit=DelayUnit.MONTHS,
            franc=True,
            extend_to_working_day=True,
            legal_reference=reference,
        )
        return self.calendar.due_date(start, spec)


def _is_dp(facts: Facts) -> bool:
    return facts.permit_type is PermitType.DP


def _is_cu(facts: Facts) -> bool:
    return facts.permit_type in _CU


def _rejection(facts: Facts) -> TacitOutcome:
    return TacitOutcome.OPPOSITION if _is_dp(facts) else TacitOutcome.REJECTION
