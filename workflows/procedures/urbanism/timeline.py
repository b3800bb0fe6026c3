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
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from workflows.engine.calendar import DelaySpec, DelayUnit, LegalCalendar, add_months, calendar_for
from workflows.procedures.urbanism.facts import (
    FAVOURABLE_DECISIONS,
    Check,
    DecisionKind,
    Exception_,
    Facts,
    FileKind,
    Finding,
    LegalDate,
    Majoration,
    MajorationGround,
    Opinion,
    PermitType,
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
    "lapsed",
]

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


def _pieces(a: _Analysis) -> None:
    facts = a.facts
    for index, candidate in sorted(
        enumerate(facts.pieces_requests), key=lambda item: (item[1].notified_on, item[0])
    ):
        effective, findings = _request_effect(a, candidate)
        a.findings.extend(findings)
        a.request_effective[index] = effective
        if effective:
            a.effective_request = candidate
    request = a.effective_request
    if request is None:
        a.complete = a.horizon > a.completeness_limit
        if a.complete:
            a.add(
                "complete",
                facts.filed_on,
                "Dossier réputé complet",
                "Aucune demande de pièces notifiée dans le mois : complet à la date du dépôt",
                "R423-22 du code de l'urbanisme",
            )
        return
    a.pieces_limit = a.instruction_end(request.notified_on, _PIECES_MONTHS)
    outcome = _rejection(facts)
    a.add(
        "pieces_limit",
        a.pieces_limit,
        "Date limite pour fournir toutes les pièces manquantes",
        "3 mois à compter de la notification de la demande de pièces (date à date)",
        "R423-39 a et b du code de l'urbanisme",
        note=f"Sans toutes les pièces à cette date : {_TACIT_LABELS[outcome].lower()}.",
    )
    wanted = set(request.pieces)
    received: set[str] = set()
    for receipt in sorted(facts.pieces_receipts, key=lambda r: r.received_on):
        received.update(receipt.pieces)
        if a.completed_on is None and wanted <= received:
            a.completed_on = max(receipt.received_on, request.notified_on)
    a.missing = tuple(p for p in request.pieces if p not in received)
    if a.completed_on is not None and a.completed_on > a.pieces_limit:
        a.pieces_timed_out = True
        a.find(
            "pieces_after_limit",
            f"La dernière pièce a été reçue le {format_date(a.completed_on)}, après la date "
            f"limite du {format_date(a.pieces_limit)} : la demande a été tacitement rejetée "
            f"({_TACIT_LABELS[outcome].lower()}) et l'instruction ne reprend pas. Le demandeur "
            "doit déposer une nouvelle demande.",
            "R423-39 b du code de l'urbanisme",
        )
    elif a.completed_on is None:
        if a.horizon > a.pieces_limit:
            a.pieces_timed_out = True
            a.find(
                "pieces_not_supplied",
                f"Pièces manquantes non fournies au {format_date(a.pieces_limit)} "
                f"({', '.join(a.missing)}) : {_TACIT_LABELS[outcome].lower()} née le "
                f"{format_date(a.pieces_limit + _DAY)}.",
                "R423-39 b du code de l'urbanisme",
            )
        else:
            a.suspended = True
    else:
        a.complete = True
        a.add(
            "complete",
            a.completed_on,
            "Dossier complet (réception de la dernière pièce manquante)",
            "Le délai d'instruction repart en entier de cette date",
            "R423-39 c du code de l'urbanisme",
        )


def _request_effect(a: _Analysis, request: PiecesRequest) -> tuple[bool, list[Finding]]:
    when = format_date(request.notified_on)
    if request.notified_on < a.facts.filed_on:
        return False, [
            Finding(
                "pieces_request_before_filing",
                f"La demande de pièces datée du {when} est antérieure au dépôt : vérifiez la "
                "date de notification.",
                "R423-38 du code de l'urbanisme",
            )
        ]
    if a.effective_request is not None:
        return False, [
            Finding(
                "pieces_request_repeated",
                f"Une demande de pièces a déjà été notifiée le "
                f"{format_date(a.effective_request.notified_on)} : la liste est exhaustive, la "
                f"demande du {when} ne suspend pas à nouveau le délai.",
                "R423-38 et R423-41 du code de l'urbanisme",
            )
        ]
    if request.notified_on > a.completeness_limit:
        return False, [
            Finding(
                "pieces_request_late",
                f"La demande de pièces notifiée le {when} est postérieure à la fin du premier "
                f"mois ({format_date(a.completeness_limit)}) : elle ne suspend pas le délai, le "
                "dossier est réputé complet et la décision tacite naît à la date normale.",
                "R423-22, R423-38 et R423-41 du code de l'urbanisme",
            )
        ]
    if request.not_required:
        return False, [
            Finding(
                "pieces_request_not_required",
                f"La demande de pièces du {when} réclame des pièces que le code n'exige pas "
                f"({', '.join(request.not_required)}) : elle ne suspend pas le délai "
                "d'instruction. Notifiez dans le mois une demande limitée aux pièces exigibles.",
                "R423-41 du code de l'urbanisme ; CE Sect. 9 décembre 2022 n°454521",
            )
        ]
    if not request.pieces:
        return False, [
            Finding(
                "pieces_request_empty",
                f"La demande de pièces du {when} ne liste aucune pièce : elle est sans effet.",
                "R423-38 du code de l'urbanisme",
            )
        ]
    return True, []


def _majoration_months(a: _Analysis) -> tuple[int, list[str], list[str]]:
    """Total months and the rule text / references of the month-1 majorations."""
    facts = a.facts
    base, base_ref = base_deadline(facts)
    months: dict[MajorationGround, int] = {}
    for index, m in sorted(
        enumerate(facts.majorations), key=lambda item: (item[1].notified_on, item[0])
    ):
        if m.ground is MajorationGround.R423_35:
            continue
        effective, findings = _majoration_effect(a, m)
        a.findings.extend(findings)
        a.majoration_effective[index] = effective
        a.majoration_findings[index] = findings
        if effective:
            months[m.ground] = {
                MajorationGround.R423_24: 1,
                MajorationGround.R423_25: 2,
                MajorationGround.R423_28: facts.rule_set.r423_28_months,
                MajorationGround.ARCHAEOLOGY: 1,
            }[m.ground]
    rules = [f"{_months_fr(base)} ({base_ref.split(' du ')[0]})"]
    refs = [base_ref]
    total = base
    if MajorationGround.R423_28 in months:
        total = months[MajorationGround.R423_28]
        rules = [f"délai porté à {_months_fr(total)} (R423-28)"]
        refs.append("R423-28 du code de l'urbanisme")
        for ground in (MajorationGround.R423_24, MajorationGround.R423_25):
            if ground in months:
                a.find(
                    "majoration_overridden",
                    f"La majoration {ground.value} est sans effet : le délai est fixé à "
                    f"{_months_fr(total)} par l'article R423-28.",
                    "R423-28 du code de l'urbanisme",
                )
    else:
        extra = max(
            (
                months[g]
                for g in (MajorationGround.R423_24, MajorationGround.R423_25)
                if g in months
            ),
            default=0,
        )
        if MajorationGround.R423_24 in months and MajorationGround.R423_25 in months:
            a.find(
                "majoration_not_cumulative",
                "Les majorations R423-24 (+1 mois) et R423-25 (+2 mois) ne se cumulent pas : "
                "seule la plus longue (+2 mois) s'applique.",
                "R423-25 du code de l'urbanisme",
            )
        if extra:
            name = "R423-25" if extra == 2 else "R423-24"
            rules.append(f"+ {_months_fr(extra)} ({name})")
            refs.append(f"{name} du code de l'urbanisme")
        total += extra
    if MajorationGround.ARCHAEOLOGY in months:
        total += 1
        rules.append("+ 1 mois (archéologie préventive)")
        refs.append("R425-31 du code de l'urbanisme")
    return total, rules, refs


def _majoration_effect(a: _Analysis, m: Majoration) -> tuple[bool, list[Finding]]:
    facts = a.facts
    when = format_date(m.notified_on)
    if _is_cu(facts):
        return False, [
            Finding(
                "majoration_not_applicable",
                f"La majoration {m.ground.value} notifiée le {when} est sans effet : le délai "
                "d'un certificat d'urbanisme est fixe.",
                "R410-9 et R410-10 du code de l'urbanisme",
            )
        ]
    if m.ground is MajorationGround.ARCHAEOLOGY and _is_dp(facts):
        return False, [
            Finding(
                "majoration_not_applicable",
                f"La majoration pour archéologie préventive notifiée le {when} est sans effet sur "
                "une déclaration préalable : elle ne concerne que les permis.",
                "R425-31 du code de l'urbanisme",
            )
        ]
    if not m.ground_valid:
        return False, [
            Finding(
                "majoration_invalid_ground",
                f"La majoration {m.ground.value} notifiée le {when} repose sur un motif erroné : "
                "elle ne prolonge pas le délai, la décision tacite naît à la date normale.",
                "CE 24 octobre 2023 n°462511",
            )
        ]
    if m.notified_on < facts.filed_on:
        return False, [
            Finding(
                "majoration_before_filing",
                f"La majoration datée du {when} est antérieure au dépôt : vérifiez la date de "
                "notification.",
                "R423-42 du code de l'urbanisme",
            )
        ]
    if m.ground is not MajorationGround.R423_35 and m.notified_on > a.completeness_limit:
        return False, [
            Finding(
                "majoration_late",
                f"La majoration {m.ground.value} notifiée le {when} est postérieure à la fin du "
                f"premier mois ({format_date(a.completeness_limit)}) : elle est sans effet, la "
                "décision tacite naît à la date initiale.",
                "R423-42 et R423-43 du code de l'urbanisme",
            )
        ]
    return True, []


def _deadline(a: _Analysis) -> None:
    facts = a.facts
    total, rules, refs = _majoration_months(a)
    if a.suspended or a.pieces_timed_out:
        # R423-35 majorations are still validated for the findings.
        for index, m in enumerate(facts.majorations):
            if m.ground is MajorationGround.R423_35:
                effective, findings = _majoration_effect(a, m)
                a.findings.extend(findings)
                a.majoration_effective[index] = effective
                a.majoration_findings[index] = findings
                if effective:
                    total += 2
        a.total_months = total
        return
    start = a.completed_on if a.effective_request is not None else facts.filed_on
    assert start is not None
    deadline = a.instruction_end(start, total)
    r423_35 = False
    for index, m in sorted(
        enumerate(facts.majorations), key=lambda item: (item[1].notified_on, item[0])
    ):
        if m.ground is not MajorationGround.R423_35:
            continue
        effective, findings = _majoration_effect(a, m)
        if effective and m.notified_on > deadline:
            effective = False
            findings = [
                Finding(
                    "majoration_late",
                    f"La prolongation R423-35 notifiée le {format_date(m.notified_on)} est "
                    f"postérieure à la date limite d'instruction ({format_date(deadline)}) : la "
                    "décision tacite était déjà née.",
                    "R423-35 du code de l'urbanisme",
                )
            ]
        if effective and r423_35:
            effective = False
            findings = [
                Finding(
                    "majoration_repeated",
                    "La prolongation R423-35 a déjà été notifiée : elle ne se cumule pas.",
                    "R423-35 du code de l'urbanisme",
                )
            ]
        a.findings.extend(findings)
        a.majoration_effective[index] = effective
        a.majoration_findings[index] = findings
        if effective:
            r423_35 = True
    if r423_35:
        total += 2
        rules.append("+ 2 mois (recours au préfet de région, R423-35)")
        refs.append("R423-35 du code de l'urbanisme")
        deadline = a.instruction_end(start, total)
    a.total_months = total
    a.instruction_deadline = deadline
    a.governing_deadline = deadline
    a.tacit_birth = deadline + _DAY
    origin = (
        "à compter de la réception de la dernière pièce (R423-39 c)"
        if a.effective_request is not None
        else "à compter du dépôt"
    )
    extension = (
        ", reporté au premier jour ouvré (ordonnance 2025-1091)"
        if facts.rule_set.extend_instruction_deadlines_to_working_day
        else ", sans report le samedi, dimanche ou jour férié"
    )
    a.add(
        "instruction_deadline",
        deadline,
        "Date limite de notification de la décision",
        f"{' '.join(rules)} = {_months_fr(total)} {origin}, date à date{extension}",
        " ; ".join(refs),
    )


def _consultations_and_outcome(a: _Analysis) -> None:
    facts = a.facts
    r424_3 = False
    for c in facts.consultations:
        if c.delay_days is not None:
            limit = c.sent_on + timedelta(days=c.delay_days)
            rule = f"{c.delay_days} jours à compter de la réception de la demande d'avis"
        else:
            months = (
                c.delay_months if c.delay_months is not None else facts.rule_set.consultation_months
            )
            limit = add_months(c.sent_on, months)
            rule = f"{_months_fr(months)} à compter de la réception de la demande d'avis"
        reference = "R423-59 du code de l'urbanisme"
        if c.answered_on is None:
            note = (
                "Sans réponse : avis réputé favorable."
                if a.horizon > limit
                else "Sans réponse à cette date, l'avis sera réputé favorable."
            )
        elif c.answered_on > limit:
            note = (
                f"Avis reçu le {format_date(c.answered_on)}, après la date limite : enregistré, "
                "mais l'avis est réputé favorable."
            )
            a.find(
                "opinion_late",
                f"L'avis du service {c.service} reçu le {format_date(c.answered_on)} est "
                f"tardif (date limite : {format_date(limit)}) : l'avis est réputé favorable ; "
                "le contenu de l'avis tardif peut être pris en compte mais ne lie pas la "
                "décision.",
                reference,
            )
        else:
            opinion = c.opinion.value if c.opinion is not None else "non précisé"
            note = f"Avis reçu le {format_date(c.answered_on)} : {opinion}."
            if c.abf_accord_required and c.opinion in _UNFAVOURABLE_ABF:
                r424_3 = True
        a.add(
            f"consultation:{c.service}",
            limit,
            f"Date limite de l'avis du service consulté : {c.service}",
            rule,
            reference,
            note=note,
        )
    if a.suspended or a.pieces_timed_out:
        a.tacit_outcome = _rejection(facts)
        assert a.pieces_limit is not None
        a.governing_deadline = a.pieces_limit
        a.tacit_birth = a.pieces_limit + _DAY
        a.add(
            "tacit_decision",
            a.tacit_birth,
            f"{_TACIT_LABELS[a.tacit_outcome]} (pièces manquantes non fournies)",
            "Le lendemain de la date limite de production des pièces, à 00:00",
            "R423-39 b du code de l'urbanisme",
        )
        return
    outcome, reference = _tacit_outcome(a, r424_3=r424_3)
    a.tacit_outcome = outcome
    assert a.tacit_birth is not None
    a.add(
        "tacit_decision",
        a.tacit_birth,
        _TACIT_LABELS[outcome],
        "Le lendemain du dernier jour du délai d'instruction, à 00:00 (même un dimanche ou "
        "un jour férié)",
        reference,
    )


def _tacit_outcome(a: _Analysis, *, r424_3: bool) -> tuple[TacitOutcome, str]:
    facts = a.facts
    if _is_cu(facts):
        return TacitOutcome.CU, "R410-12 du code de l'urbanisme"
    r424_2 = facts.exceptions & _R424_2
    if r424_2:
        return _rejection(facts), "R424-2 du code de l'urbanisme"
    if Exception_.ENVIRONMENTAL_ASSESSMENT in facts.exceptions:
        if facts.filed_on >= facts.rule_set.environmental_assessment_from:
            return _rejection(facts), "R424-2-1 du code de l'urbanisme"
        a.find(
            "environmental_assessment_before_rule",
            "Projet soumis à évaluation environnementale, mais déposé avant le "
            f"{format_date(facts.rule_set.environmental_assessment_from)} : le silence vaut "
            "toujours décision favorable.",
            "R424-2-1 du code de l'urbanisme",
        )
    if r424_3:
        return _rejection(facts), "R424-3 du code de l'urbanisme"
    if _is_dp(facts):
        return TacitOutcome.NON_OPPOSITION, "R424-1 du code de l'urbanisme"
    return TacitOutcome.GRANTED, "R424-1 du code de l'urbanisme"


def _decision(a: _Analysis) -> None:
    facts = a.facts
    decision = facts.decision
    if decision is None:
        return
    if decision.notified_on is None:
        a.find(
            "decision_not_notified",
            f"La décision signée le {format_date(decision.signed_on)} n'est pas encore notifiée : "
            "elle ne compte qu'à sa notification (première présentation du recommandé ou "
            "réception électronique)"
            + (
                f", au plus tard le {format_date(a.governing_deadline)}."
                if a.governing_deadline is not None
                else "."
            ),
            "R424-10 du code de l'urbanisme",
        )
        return
    notified = decision.notified_on
    a.add(
        "decision_notified",
        notified,
        "Notification de la décision",
        "Première présentation du recommandé ou réception de la notification électronique",
        "R424-10 du code de l'urbanisme",
    )
    effective, findings = _notification_effect(a, notified, decision.kind)
    a.findings.extend(findings)
    a.decision_effective = effective
    a.decision_confirmative = effective and any(
        f.code == "decision_confirms_tacit" for f in findings
    )


def _notification_effect(
    a: _Analysis, notified: date, kind: DecisionKind | None
) -> tuple[bool, list[Finding]]:
    facts = a.facts
    if notified < facts.filed_on:
        return False, [
            Finding(
                "decision_before_filing",
                f"La date de notification ({format_date(notified)}) est antérieure au dépôt : "
                "vérifiez-la.",
                "R424-10 du code de l'urbanisme",
            )
        ]
    if a.suspended:
        return True, []
    deadline = a.governing_deadline
    if deadline is None or notified <= deadline:
        return True, []
    outcome = a.tacit_outcome
    born = format_date(deadline + _DAY)
    favourable_tacit = outcome in (
        TacitOutcome.GRANTED,
        TacitOutcome.NON_OPPOSITION,
        TacitOutcome.CU,
    )
    if favourable_tacit and kind is not None and kind in FAVOURABLE_DECISIONS:
        return True, [
            Finding(
                "decision_confirms_tacit",
                f"La décision notifiée le {format_date(notified)} l'est après la naissance de la "
                f"décision tacite ({born}) : elle la confirme ; les délais de retrait, d'affichage "
                "et de validité courent depuis la décision tacite.",
                "R424-1 et L424-5 du code de l'urbanisme",
            )
        ]
    if favourable_tacit:
        return False, [
            Finding(
                "decision_is_withdrawal",
                f"Notifiée le {format_date(notified)}, après la naissance de la décision tacite "
                f"favorable ({born}), cette décision défavorable vaut retrait de la décision "
                "tacite : elle n'est légale que si la décision tacite est illégale, après une "
                "procédure contradictoire, et si elle est notifiée dans les trois mois de sa "
                f"naissance.",
                "L424-5 du code de l'urbanisme ; L121-1 et L122-1 du CRPA",
            )
        ]
    label = _TACIT_LABELS[outcome].lower() if outcome is not None else "décision tacite"
    return False, [
        Finding(
            "decision_after_tacit_rejection",
            f"Notifiée le {format_date(notified)}, cette décision intervient après la naissance "
            f"d'un(e) {label} ({born})"
            + (
                " : une décision favorable vaut retrait de ce rejet et nouvelle décision."
                if kind is not None and kind in FAVOURABLE_DECISIONS
                else "."
            ),
            "R424-2, R424-3 et R423-39 du code de l'urbanisme",
        )
    ]


def _after_decision(a: _Analysis) -> None:
    facts = a.facts
    decision = facts.decision
    explicit_favourable = (
        decision is not None
        and decision.notified_on is not None
        and decision.kind in FAVOURABLE_DECISIONS
    )
    tacit_favourable = a.tacit_outcome in (
        TacitOutcome.GRANTED,
        TacitOutcome.NON_OPPOSITION,
        TacitOutcome.CU,
    )
    birth = a.tacit_birth
    if a.decision_confirmative and birth is not None:
        a.favourable_from = birth
        a.favourable_tacit = True
    elif a.decision_effective:
        if explicit_favourable:
            assert decision is not None
            assert decision.notified_on is not None
            a.favourable_from = decision.notified_on
    elif tacit_favourable and birth is not None and a.horizon >= birth:
        a.favourable_from = birth
        a.favourable_tacit = True
    elif (
        explicit_favourable
        and decision is not None
        and decision.notified_on is not None
        and decision.notified_on >= facts.filed_on
    ):
        # A favourable decision after a tacit rejection: a new decision, from its notification.
        a.favourable_from = decision.notified_on
    start = a.favourable_from
    if start is None:
        return
    cu = _is_cu(facts)
    origin = "la naissance de la décision tacite" if a.favourable_tacit else "la notification"
    if not cu:
        a.add(
            "decision_display_limit",
            start + timedelta(days=_DECISION_DISPLAY_DAYS),
            "Affichage de la décision en mairie (au plus tard), pendant 2 mois",
            f"8 jours à compter de {origin}",
            "R424-15 du code de l'urbanisme",
        )
        a.withdrawal_limit = add_months(start, facts.rule_set.withdrawal_months)
        a.add(
            "withdrawal_limit",
            a.withdrawal_limit,
            "Date limite de notification d'un retrait de la décision",
            f"{_months_fr(facts.rule_set.withdrawal_months)} à compter de {origin} ; le retrait "
            "doit être notifié dans ce délai",
            "L424-5 du code de l'urbanisme ; CE 13 février 2012 n°351617",
        )
        if _is_dp(facts) and facts.tree_felling:
            a.add(
                "executory_tree_felling",
                add_months(start, _TREE_FELLING_MONTHS),
                "Non-opposition exécutoire (coupe ou abattage d'arbres)",
                "1 mois après la date à laquelle la non-opposition est acquise",
                "L424-9 du code de l'urbanisme",
            )
    if facts.withdrawal is not None:
        effective, findings = _withdrawal_effect(a, facts.withdrawal.notified_on)
        a.findings.extend(findings)
        a.withdrawn = effective
        if effective:
            return
    if cu:
        end, granted, notes = _prorogated(
            a, add_months(start, facts.rule_set.cu_validity_months), None
        )
        if a.favourable_tacit:
            notes.insert(
                0,
                "certificat tacite : seuls les effets de cristallisation de l'article L410-1 "
                "alinéa 4",
            )
        a.add(
            "cu_validity_end",
            end,
            "Fin de validité du certificat d'urbanisme",
            f"{_months_fr(facts.rule_set.cu_validity_months)} à compter de {origin}"
            + (f", prorogé {granted} fois d'un an" if granted else ""),
            "L410-1 et R410-17 du code de l'urbanisme",
            note="; ".join(notes),
        )
        return
    _validity(a, start, origin)


def _prorogated(a: _Analysis, end: date, maximum: int | None) -> tuple[date, int, list[str]]:
    """End of validity after the prorogations: each granted one, or one asked at least
    ``prorogation_request_months_before`` before the end and met by
    ``prorogation_silence_months`` of silence, adds one year from the current end (R424-21 ff.,
    R410-17, R410-17-1)."""
    rs = a.facts.rule_set
    notes: list[str] = []
    counted = 0
    for p in sorted(a.facts.prorogations, key=lambda p: p.requested_on):
        if maximum is not None and counted >= maximum:
            break
        if p.granted_on is not None:
            counted += 1
            end = add_months(end, 12)
            continue
        limit = add_months(end, -rs.prorogation_request_months_before)
        acquired_on = add_months(p.requested_on, rs.prorogation_silence_months)
        if p.requested_on <= limit and a.horizon > acquired_on:
            counted += 1
            end = add_months(end, 12)
            notes.append(
                f"prorogation demandée le {format_date(p.requested_on)} acquise par silence "
                f"le {format_date(acquired_on + _DAY)}"
            )
    return end, counted, notes


def _validity(a: _Analysis, start: date, origin: str) -> None:
    facts = a.facts
    rs = facts.rule_set
    end, counted, notes = _prorogated(
        a, add_months(start, 12 * rs.validity_years), rs.prorogation_max
    )
    a.prorogations_counted = counted
    if facts.appeal_pending_since is not None and facts.appeal_pending_since <= end:
        if facts.appeal_ended_on is None:
            a.validity_suspended = True
            a.find(
                "validity_suspended",
                f"Recours contentieux depuis le {format_date(facts.appeal_pending_since)} : le "
                "délai de validité est suspendu jusqu'à la décision juridictionnelle "
                "irrévocable.",
                "R424-19 du code de l'urbanisme",
            )
            return
        suspended_days = max((facts.appeal_ended_on - facts.appeal_pending_since).days, 0)
        end += timedelta(days=suspended_days)
        notes.append(f"délai suspendu {suspended_days} jours par un recours contentieux")
    a.validity_end = end
    rule = f"{rs.validity_years} ans à compter de {origin}"
    if counted:
        rule += f", prorogé {counted} fois d'un an"
    a.add(
        "validity_end",
        end,
        "Fin de validité : les travaux doivent avoir commencé",
        rule,
        "R424-17, R424-19 et R424-21 du code de l'urbanisme",
        note="; ".join(notes),
    )
    if counted < rs.prorogation_max and facts.doc_on is None:
        a.add(
            "prorogation_request_limit",
            add_months(end, -rs.prorogation_request_months_before),
            "Date limite pour demander la prorogation",
            f"Au moins {_months_fr(rs.prorogation_request_months_before)} avant la fin de validité",
            "R424-21 et R424-22 du code de l'urbanisme",
        )


def _withdrawal_effect(a: _Analysis, notified: date) -> tuple[bool, list[Finding]]:
    if a.favourable_from is None or a.withdrawal_limit is None:
        return False, [
            Finding(
                "withdrawal_without_decision",
                "Aucune décision favorable (expresse notifiée ou tacite née) ne peut être "
                "retirée à cette date.",
                "L424-5 du code de l'urbanisme",
            )
        ]
    if notified < a.favourable_from:
        return False, [
            Finding(
                "withdrawal_before_decision",
                f"Le retrait notifié le {format_date(notified)} précède la décision "
                f"({format_date(a.favourable_from)}) : vérifiez la date.",
                "L424-5 du code de l'urbanisme",
            )
        ]
    if notified > a.withdrawal_limit:
        return False, [
            Finding(
                "withdrawal_late",
                f"Retrait notifié le {format_date(notified)}, après le "
                f"{format_date(a.withdrawal_limit)} (3 mois) : trop tard, la décision ne peut "
                "plus être retirée, sauf à la demande de son bénéficiaire. C'est la date de "
                "notification qui compte, non celle de la signature.",
                "L424-5 du code de l'urbanisme ; CE 13 février 2012 n°351617",
            )
        ]
    return True, []


def _works(a: _Analysis) -> None:
    facts = a.facts
    if facts.doc_on is not None:
        effective, findings = _opening_effect(a, facts.doc_on)
        a.findings.extend(findings)
        a.doc_effective = effective
    if facts.daact_on is not None:
        effective, findings = _completion_effect(a, facts.daact_on)
        a.findings.extend(findings)
        a.daact_effective = effective
    if not a.daact_effective or facts.daact_on is None:
        return
    daact = facts.daact_on
    rs = facts.rule_set
    months = rs.conformity_months_protected if facts.protected_area else rs.conformity_months
    a.conformity_limit = add_months(daact, months)
    a.add(
        "conformity_limit",
        a.conformity_limit,
        "Fin du délai pour contester la conformité des travaux",
        f"{_months_fr(months)} à compter de la réception de la DAACT"
        + (" (récolement obligatoire)" if facts.protected_area else ""),
        "R462-7 du code de l'urbanisme"
        if facts.protected_area
        else "R462-6 du code de l'urbanisme",
    )
    a.add(
        "appeal_backstop",
        a.franc(daact, _APPEAL_BACKSTOP_MONTHS, "R600-3"),
        "Plus aucun recours en annulation recevable",
        "6 mois à compter de l'achèvement (réception de la DAACT), délai franc, reporté au "
        "premier jour ouvré",
        "R600-3 du code de l'urbanisme",
    )


def _opening_effect(a: _Analysis, opened_on: date) -> tuple[bool, list[Finding]]:
    when = format_date(opened_on)
    if _is_cu(a.facts):
        return False, [
            Finding(
                "opening_not_applicable",
                "Un certificat d'urbanisme n'autorise pas de travaux : pas d'ouverture de chantier.",
                "L410-1 du code de l'urbanisme",
            )
        ]
    if a.favourable_from is None or a.withdrawn or opened_on < a.favourable_from:
        return False, [
            Finding(
                "opening_before_decision",
                f"Ouverture de chantier déclarée au {when} sans autorisation exécutoire à cette "
                "date : la déclaration est sans effet, les travaux sont irréguliers.",
                "R424-16 du code de l'urbanisme",
            )
        ]
    if a.validity_end is not None and opened_on > a.validity_end:
        return False, [
            Finding(
                "opening_after_validity",
                f"Ouverture de chantier au {when}, après la fin de validité "
                f"({format_date(a.validity_end)}) : l'autorisation est périmée, une nouvelle "
                "demande est nécessaire.",
                "R424-17 du code de l'urbanisme",
            )
        ]
    return True, []


def _completion_effect(a: _Analysis, completed_on: date) -> tuple[bool, list[Finding]]:
    doc = a.facts.doc_on
    if not a.doc_effective or doc is None or completed_on < doc:
        return False, [
            Finding(
                "completion_before_opening",
                f"Achèvement déclaré au {format_date(completed_on)} sans ouverture de chantier "
                "valable antérieure : la DAACT est sans effet, enregistrez d'abord la DOC.",
                "R424-16 et R462-1 du code de l'urbanisme",
            )
        ]
    return True, []


def _display(a: _Analysis) -> None:
    display = a.facts.display
    if display is None:
        return
    if not display.mentions_complete:
        a.find(
            "display_missing_appeal_mention",
            "Le panneau d'affichage ne comporte pas la mention « Droit de recours » : le délai "
            "de recours des tiers ne court pas. Seul le délai de 6 mois après l'achèvement "
            "(R600-3) s'applique. Faites compléter le panneau.",
            "R600-2 et A424-17 du code de l'urbanisme",
        )
        return
    if display.interrupted:
        a.find(
            "display_interrupted",
            "L'affichage sur le terrain a été interrompu : le délai de recours des tiers ne "
            "court qu'à compter du premier jour d'une période continue de 2 mois d'affichage.",
            "R600-2 du code de l'urbanisme",
        )
        return
    months = a.facts.rule_set.appeal_months
    a.add(
        "appeal_limit",
        a.franc(display.started_on, months, "R600-2"),
        "Fin du délai de recours des tiers",
        f"{_months_fr(months)} francs à compter du premier jour d'affichage continu sur le "
        "terrain, reporté au premier jour ouvré",
        "R600-2 du code de l'urbanisme ; CE 19 septembre 2014 n°362568",
    )


def _timers(a: _Analysis) -> None:
    if a.effective_request is None and not a.decision_effective:
        a.timers.append(
            TimerPlan(
                kind="urbanism_completeness",
                last_day=a.completeness_limit,
                transition="deem_complete",
                rule="Dossier réputé complet faute de demande de pièces dans le mois",
                reference="R423-22 du code de l'urbanisme",
            )
        )
    if (
        a.effective_request is not None
        and a.pieces_limit is not None
        and (a.suspended or a.pieces_timed_out)
        and not a.decision_effective
    ):
        a.timers.append(
            TimerPlan(
                kind="urbanism_pieces",
                last_day=a.pieces_limit,
                transition="pieces_timeout",
                rule="Pièces manquantes non fournies dans les 3 mois",
                reference="R423-39 b du code de l'urbanisme",
            )
        )
    if a.instruction_deadline is not None and not a.decision_effective:
        rejection = a.tacit_outcome in (TacitOutcome.REJECTION, TacitOutcome.OPPOSITION)
        a.timers.append(
            TimerPlan(
                kind="urbanism_tacit",
                last_day=a.instruction_deadline,
                transition="tacit_rejection" if rejection else "tacit_favourable",
                rule=f"Silence au terme du délai d'instruction : "
                f"{_TACIT_LABELS[a.tacit_outcome or TacitOutcome.GRANTED].lower()}",
                reference="R424-2, R424-2-1, R424-3 du code de l'urbanisme"
                if rejection
                else "R424-1 du code de l'urbanisme",
            )
        )
    if a.conformity_limit is not None:
        a.timers.append(
            TimerPlan(
                kind="urbanism_conformity",
                last_day=a.conformity_limit,
                transition="conformity_acquired",
                rule="Conformité non contestée dans le délai",
                reference="R462-6 et R462-7 du code de l'urbanisme",
            )
        )


def _horizon(today: date | None) -> date:
    return today if today is not None else date.max


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
