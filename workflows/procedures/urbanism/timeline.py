"""The legal timeline of an urbanism file, computed from its recorded facts (pure rules, no I/O).

``compute`` derives every legal date of ``facts.DATE_KEYS`` that applies, the findings an
instructor must know (a fact recorded that changes nothing, a late refusal that is in fact a
retrait…), and the engine timers the file must have. The ``check_*`` functions answer, before a
fact is recorded, whether it will have its legal effect.

Counting rules (shared/domain/urbanism.md §1, §6, §7, §8):

- Instruction deadlines are counted in months **from date to date** ("de quantième à quantième"),
  clamped to the end of a shorter month (31 Jan + 1 month = 28/29 Feb), with **no** extension
  when the last day is a Saturday, Sunday or holiday. The tacit decision is born at 00:00 on the
  day after the last day, even a Sunday. When the rule set turns on
  ``extend_instruction_deadlines_to_working_day`` (ordonnance 2025-1091, L1322-5, [to confirm])
  the completeness window, the pieces window and the instruction deadline run to the next
  working day; every other date stays date to date.
- Court deadlines (recours des tiers R600-2, backstop R600-3) are **délais francs** extended to
  the next working day (CE 19 Sept 2014 n°362568).
- Majorations (R423-24 +1, R423-25 +2, not cumulative: the longer wins; R423-28 sets the total
  to ``r423_28_months``, overriding both) are notified within the first month. Archaeology
  (R425-31) adds one month to permits only, **on top of** whatever the majorations above give
  (a distinct ground, [to confirm]); it never applies to a DP. R423-35 (+2 after an appeal to the
  préfet de région on an ABF disagreement) may come after month 1, as long as it is notified
  before the deadline it extends ends, and is added last. The total is counted from the start of
  the deadline (dépôt, or receipt of the last missing piece, R423-39 c), so a majoration and a
  pieces request give the same date in either order.

``today`` only decides what has already happened by silence (a tacit decision born, a file deemed
complete, a prorogation acquired by silence, a pieces window run out); ``today=None`` projects
silence to the end: every deadline is treated as passed, and ``next_legal_date`` is None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta

from workflows.engine.calendar import LegalCalendar, add_months, calendar_for
from workflows.procedures.urbanism._timeline_common import (
    _ATTESTATION_DAYS,
    _COMPLETENESS_MONTHS,
    _FILING_NOTICE_DAYS,
    _NOT_ACTIONABLE,
    _Analysis,
    _is_cu,
    _months_fr,
    base_deadline,
    format_date,
)
from workflows.procedures.urbanism._timeline_decision import (
    _after_decision,
    _completion_effect,
    _decision,
    _display,
    _horizon,
    _notification_effect,
    _opening_effect,
    _timers,
    _withdrawal_effect,
    _works,
)
from workflows.procedures.urbanism._timeline_instruction import (
    _consultations_and_outcome,
    _deadline,
    _pieces,
    _request_effect,
)
from workflows.procedures.urbanism.facts import (
    Check,
    Facts,
    Finding,
    LegalDate,
    Majoration,
    PiecesRequest,
    TacitOutcome,
    Timeline,
    TimerPlan,
)

__all__ = [
    "Check",
    "Facts",
    "Finding",
    "LegalDate",
    "TacitOutcome",
    "Timeline",
    "TimerPlan",
    "base_deadline",
    "check_completion",
    "check_conformity_contest",
    "check_decision_notification",
    "check_majoration",
    "check_opening",
    "check_pieces_request",
    "check_prorogation",
    "check_withdrawal",
    "compute",
    "conformity_attestation",
    "format_date",
    "instruction_months",
    "lapsed",
]


def _analyse(facts: Facts, calendar: LegalCalendar, horizon: date) -> _Analysis:
    a = _Analysis(facts=facts, calendar=calendar, horizon=horizon, rule_set=facts.rule_set.key)
    filed = facts.filed_on
    a.add(
        "filed",
        filed,
        "Dépôt de la demande",
        "Date de réception en mairie ou du dépôt électronique",
        "R423-1 et R423-3 du code de l'urbanisme",
    )
    if not _is_cu(facts):
        a.add(
            "filing_notice_display_limit",
            filed + timedelta(days=_FILING_NOTICE_DAYS),
            "Affichage de l'avis de dépôt en mairie (au plus tard)",
            "15 jours à compter du dépôt, pendant toute l'instruction",
            "R423-6 du code de l'urbanisme",
        )
    a.completeness_limit = a.instruction_end(filed, _COMPLETENESS_MONTHS)
    a.add(
        "completeness_limit",
        a.completeness_limit,
        "Fin du délai pour demander des pièces ou notifier une majoration",
        "1 mois à compter du dépôt (date à date)",
        "R423-38 et R423-42 du code de l'urbanisme",
        note="Passé ce jour sans demande de pièces, le dossier est réputé complet (R423-22).",
    )
    _pieces(a)
    _deadline(a)
    _consultations_and_outcome(a)
    _decision(a)
    _after_decision(a)
    _works(a)
    _display(a)
    _timers(a)
    return a


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def compute(facts: Facts, calendar: LegalCalendar, *, today: date | None = None) -> Timeline:
    """Every legal date that applies to the file, with findings and the engine timers.

    ``today`` decides what silence has already produced (see the module docstring); with
    ``today`` given, ``next_legal_date`` is the earliest actionable date on or after it and a
    lapsed authorisation is reported as a finding.
    """
    a = _analyse(facts, calendar, _horizon(today))
    findings = list(a.findings)
    next_date: LegalDate | None = None
    if today is not None:
        lapse = _lapse(a, today)
        if lapse is not None:
            findings.append(lapse)
        upcoming = [d for d in a.dates if d.key not in _NOT_ACTIONABLE and d.on >= today]
        if upcoming:
            next_date = min(upcoming, key=lambda d: d.on)
    return Timeline(
        dates=tuple(sorted(a.dates, key=lambda d: d.on)),
        findings=tuple(_unique(findings)),
        timers=tuple(a.timers),
        instruction_deadline=a.instruction_deadline,
        tacit_outcome=a.tacit_outcome,
        complete=a.complete,
        missing_pieces=a.missing
        if a.effective_request is not None and a.completed_on is None
        else (),
        next_legal_date=next_date,
    )


def instruction_months(
    facts: Facts, *, calendar: LegalCalendar | None = None, today: date | None = None
) -> int:
    """Months of the instruction deadline with its effective majorations (R423-23 plus R423-24
    to R423-28, R425-31, R423-35): while pieces are awaited, what will run from the receipt of
    the last one (R423-39 c)."""
    return _analyse(facts, _cal(calendar), _horizon(today)).total_months


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out: list[Finding] = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def _cal(calendar: LegalCalendar | None) -> LegalCalendar:
    return calendar if calendar is not None else calendar_for()


def check_pieces_request(
    facts: Facts, request: PiecesRequest, *, calendar: LegalCalendar | None = None
) -> Check:
    """Will this pieces request suspend the instruction (R423-38, R423-39, R423-41)?"""
    a = _analyse(facts, _cal(calendar), date.max)
    if a.decision_effective:
        return Check(
            effective=False,
            findings=(
                Finding(
                    "pieces_request_after_decision",
                    "Une décision a déjà été notifiée : une demande de pièces est sans effet.",
                    "R423-38 du code de l'urbanisme",
                ),
            ),
        )
    effective, findings = _request_effect(a, request)
    return Check(effective=effective, findings=tuple(findings))


def check_majoration(
    facts: Facts, majoration: Majoration, *, calendar: LegalCalendar | None = None
) -> Check:
    """Will this majoration extend the deadline (R423-24..R423-35, R423-42, R425-31)?

    A majoration that is valid but changes nothing (R423-24 beside R423-25, R423-24/25 beside
    R423-28) is effective=False with the explaining finding.
    """
    extended = replace(facts, majorations=(*facts.majorations, majoration))
    a = _analyse(extended, _cal(calendar), date.max)
    index = len(extended.majorations) - 1
    own = a.majoration_findings.get(index, [])
    before = _analyse(facts, _cal(calendar), date.max)
    if not a.majoration_effective.get(index, False):
        return Check(effective=False, findings=tuple(own))
    if a.total_months == before.total_months:
        return Check(
            effective=False,
            findings=tuple(
                f
                for f in a.findings
                if f.code in ("majoration_not_cumulative", "majoration_overridden")
            )
            or (
                Finding(
                    "majoration_redundant",
                    "Cette majoration ne modifie pas le délai déjà applicable.",
                    "R423-24 à R423-28 du code de l'urbanisme",
                ),
            ),
        )
    return Check(effective=True)


def check_decision_notification(
    facts: Facts, notified_on: date, *, calendar: LegalCalendar | None = None
) -> Check:
    """Is a decision notified on this day in time (before the tacit decision is born)?

    Not effective after the tacit date: an unfavourable decision is then a retrait (L424-5). A
    favourable decision after a tacit favourable one is effective (the explicit act may be issued)
    with a ``decision_confirms_tacit`` finding: its dates still run from the tacit decision.
    """
    base = replace(facts, decision=None)
    a = _analyse(base, _cal(calendar), date.max)
    kind = facts.decision.kind if facts.decision is not None else None
    effective, findings = _notification_effect(a, notified_on, kind)
    return Check(effective=effective, findings=tuple(findings))


def check_withdrawal(
    facts: Facts, notified_on: date, *, calendar: LegalCalendar | None = None
) -> Check:
    """L424-5: a retrait must be notified within 3 months of the decision (tacit: its birth)."""
    a = _analyse(replace(facts, withdrawal=None), _cal(calendar), notified_on)
    effective, findings = _withdrawal_effect(a, notified_on)
    return Check(effective=effective, findings=tuple(findings))


def check_opening(facts: Facts, opened_on: date, *, calendar: LegalCalendar | None = None) -> Check:
    """R424-16: a DOC counts only after the decision and before the end of validity."""
    a = _analyse(replace(facts, doc_on=None, daact_on=None), _cal(calendar), opened_on)
    effective, findings = _opening_effect(a, opened_on)
    return Check(effective=effective, findings=tuple(findings))


def check_completion(
    facts: Facts, completed_on: date, *, calendar: LegalCalendar | None = None
) -> Check:
    """R462-1: a DAACT counts only after a valid DOC."""
    a = _analyse(replace(facts, daact_on=None), _cal(calendar), completed_on)
    effective, findings = _completion_effect(a, completed_on)
    return Check(effective=effective, findings=tuple(findings))


def check_conformity_contest(
    facts: Facts, notified_on: date, *, calendar: LegalCalendar | None = None
) -> Check:
    """R462-6/7, R462-9: the mise en demeure must be notified within 3 (or 5) months of the DAACT."""
    a = _analyse(facts, _cal(calendar), notified_on)
    if a.conformity_limit is None or facts.daact_on is None:
        return Check(
            effective=False,
            findings=(
                Finding(
                    "conformity_no_completion",
                    "Aucune déclaration d'achèvement valable : la conformité ne peut pas encore "
                    "être contestée.",
                    "R462-6 du code de l'urbanisme",
                ),
            ),
        )
    if notified_on < facts.daact_on or notified_on > a.conformity_limit:
        return Check(
            effective=False,
            findings=(
                Finding(
                    "conformity_contest_late",
                    f"Mise en demeure notifiée le {format_date(notified_on)} hors du délai de "
                    f"contestation (DAACT reçue le {format_date(facts.daact_on)}, fin le "
                    f"{format_date(a.conformity_limit)}) : la conformité ne peut plus être "
                    "contestée, sauf fraude.",
                    "R462-6, R462-7 et R462-9 du code de l'urbanisme",
                ),
            ),
        )
    return Check(effective=True)


def conformity_attestation(
    facts: Facts, requested_on: date, *, calendar: LegalCalendar | None = None
) -> tuple[Check, date | None]:
    """R462-10: the attestation de non-contestation is due within 15 days of a request made after
    the contest window; before its end the request is refused."""
    a = _analyse(facts, _cal(calendar), requested_on)
    if a.conformity_limit is None:
        return (
            Check(
                effective=False,
                findings=(
                    Finding(
                        "conformity_no_completion",
                        "Aucune déclaration d'achèvement valable : l'attestation ne peut pas "
                        "être délivrée.",
                        "R462-10 du code de l'urbanisme",
                    ),
                ),
            ),
            None,
        )
    if requested_on <= a.conformity_limit:
        return (
            Check(
                effective=False,
                findings=(
                    Finding(
                        "conformity_window_open",
                        f"Le délai de contestation de la conformité court jusqu'au "
                        f"{format_date(a.conformity_limit)} : l'attestation ne peut être "
                        "demandée qu'après cette date.",
                        "R462-10 du code de l'urbanisme",
                    ),
                ),
            ),
            None,
        )
    return Check(effective=True), requested_on + timedelta(days=_ATTESTATION_DAYS)


def check_prorogation(
    facts: Facts, requested_on: date, *, calendar: LegalCalendar | None = None
) -> Check:
    """R424-21/R424-22: at least 2 months before the end of validity, at most twice."""
    a = _analyse(facts, _cal(calendar), requested_on)
    rs = facts.rule_set
    if a.validity_end is None:
        code, message = (
            (
                "prorogation_suspended",
                "Le délai de validité est suspendu par un recours : "
                "aucune prorogation n'est nécessaire.",
            )
            if a.validity_suspended
            else (
                "prorogation_without_validity",
                "Aucune autorisation en cours de validité à proroger.",
            )
        )
        return Check(
            effective=False, findings=(Finding(code, message, "R424-21 du code de l'urbanisme"),)
        )
    findings: list[Finding] = []
    if a.prorogations_counted >= rs.prorogation_max:
        findings.append(
            Finding(
                "prorogation_max",
                f"L'autorisation a déjà été prorogée {a.prorogations_counted} fois : aucune "
                "nouvelle prorogation n'est possible.",
                "R424-21 du code de l'urbanisme",
            )
        )
    limit = add_months(a.validity_end, -rs.prorogation_request_months_before)
    if requested_on > limit:
        findings.append(
            Finding(
                "prorogation_late",
                f"Demande du {format_date(requested_on)} postérieure au {format_date(limit)} "
                f"({_months_fr(rs.prorogation_request_months_before)} avant la fin de validité "
                f"du {format_date(a.validity_end)}) : irrecevable.",
                "R424-21 et R424-22 du code de l'urbanisme",
            )
        )
    if a.doc_effective:
        findings.append(
            Finding(
                "prorogation_after_opening",
                "Le chantier est ouvert : la prorogation est sans objet.",
                "R424-17 du code de l'urbanisme",
            )
        )
    return Check(effective=not findings, findings=tuple(findings))


def lapsed(facts: Facts, today: date, *, calendar: LegalCalendar | None = None) -> Finding | None:
    """R424-17: no works started by the end of validity, or works stopped for more than a year."""
    return _lapse(_analyse(facts, _cal(calendar), today), today)


def _lapse(a: _Analysis, today: date) -> Finding | None:
    facts = a.facts
    if a.withdrawn or a.validity_end is None or a.favourable_from is None:
        return None
    reference = "R424-17 du code de l'urbanisme"
    if facts.doc_on is not None and facts.doc_on > a.validity_end:
        return Finding(
            "lapsed",
            f"Travaux commencés le {format_date(facts.doc_on)}, après la fin de validité du "
            f"{format_date(a.validity_end)} : l'autorisation est périmée.",
            reference,
        )
    if not a.doc_effective:
        if today > a.validity_end:
            return Finding(
                "lapsed",
                f"Aucune ouverture de chantier au {format_date(a.validity_end)} : "
                "l'autorisation est périmée. Constatez la péremption.",
                reference,
            )
        return None
    assert facts.doc_on is not None
    max_months = facts.rule_set.works_interruption_max_months
    for stop in facts.interruptions:
        if stop.from_on < facts.doc_on:
            continue
        end = stop.to_on if stop.to_on is not None else today
        if end > add_months(stop.from_on, max_months):
            return Finding(
                "lapsed",
                f"Travaux interrompus depuis le {format_date(stop.from_on)} pendant plus de "
                f"{_months_fr(max_months)} : l'autorisation est périmée.",
                reference,
            )
    return None
