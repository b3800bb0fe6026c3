"""The facts of an urbanism file and the legal timeline computed from them (the shared contract).

Pure data, no I/O. The instructor records **facts** (a pieces request notified on a date, a
majoration notified on a date, an opinion received, a decision notified…); ``timeline.compute``
derives every legal date from them, each with the rule that produced it. The service stores the
facts and the computed timeline on the ``urbanism_file`` row, and turns ``Timeline.timers`` into
engine deadlines (``workflows.cases.models.Deadline``) that fire the named transitions at 00:00
on the day after their last day.

Dates are calendar dates in the legal time zone (Europe/Paris). "Notified on" is the day the
letter was first presented (LRAR) or the electronic notification was received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class PermitType(StrEnum):
    """Kind of authorisation (the instruction rules depend on it)."""

    DP = "DP"
    """Déclaration préalable (CERFA 13703 maison individuelle, 13404 general)."""
    PCMI = "PCMI"
    """Permis de construire une maison individuelle (CERFA 13406)."""
    PC = "PC"
    """Permis de construire other than a maison individuelle (CERFA 13409)."""
    PA = "PA"
    """Permis d'aménager (CERFA 13409)."""
    PD = "PD"
    """Permis de démolir (CERFA 13405)."""
    CUA = "CUa"
    """Certificat d'urbanisme d'information (CERFA 13410)."""
    CUB = "CUb"
    """Certificat d'urbanisme opérationnel (CERFA 13410)."""


class FileKind(StrEnum):
    """Initial file or follow-up on a granted authorisation (openADS: "dossier d'instruction")."""

    INITIAL = "initial"
    MODIFICATIF = "modificatif"
    """Permis modificatif (CERFA 13411): instructed like a permit, 2 months MI / 3 months others."""
    TRANSFERT = "transfert"
    """Transfert (CERFA 13412)."""


class Exception_(StrEnum):
    """Why silence would mean rejection (R424-2, R424-2-1, R424-3), or changes the rules."""

    DEFENCE_AUTHORISATION = "r424_2_a_defense"
    SITE_CLASSE_OR_RESERVE = "r424_2_b_site_classe"
    MINISTERIAL_EVOCATION = "r424_2_c_evocation"
    MONUMENT_INSCRIT_OR_ADJOINING = "r424_2_d_monument"
    PUBLIC_INQUIRY = "r424_2_e_enquete_publique"
    DEMOLITION_SITE_INSCRIT = "r424_2_f_demolition_site_inscrit"
    ENVIRONMENTAL_ASSESSMENT = "r424_2_1_evaluation_environnementale"
    """Rejection only for applications filed from the rule set's ``environmental_assessment_from``."""


class MajorationGround(StrEnum):
    R423_24 = "R423-24"
    """+1 month on any base deadline (SPR, abords MH, other legislation, CDPENAF…)."""
    R423_25 = "R423-25"
    """+2 months (commissions, CDAC…), not cumulative with R423-24 (the longer wins)."""
    R423_28 = "R423-28"
    """Deadline set to 5 months (immeuble inscrit MH, ERP, IGH); overrides both above."""
    ARCHAEOLOGY = "R425-31"
    """+1 month, permits only (archéologie préventive); none for a DP."""
    R423_35 = "R423-35"
    """+2 months after an appeal to the préfet de région on an ABF disagreement (may come later)."""


class Opinion(StrEnum):
    FAVOURABLE = "favorable"
    WITH_PRESCRIPTIONS = "favorable_avec_prescriptions"
    UNFAVOURABLE = "defavorable"
    NONE = "sans_avis"


class DecisionKind(StrEnum):
    GRANTED = "accord"
    GRANTED_WITH_PRESCRIPTIONS = "accord_avec_prescriptions"
    REFUSED = "refus"
    DEFERRED = "sursis_a_statuer"
    """Sursis à statuer (reasons required)."""
    OPPOSITION = "opposition"
    """DP only."""
    NON_OPPOSITION = "non_opposition"
    """DP only (explicit, possibly with prescriptions)."""
    CU_ISSUED = "cu_delivre"
    """CU only."""


FAVOURABLE_DECISIONS = frozenset(
    {
        DecisionKind.GRANTED,
        DecisionKind.GRANTED_WITH_PRESCRIPTIONS,
        DecisionKind.NON_OPPOSITION,
        DecisionKind.CU_ISSUED,
    }
)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules a tenant applies, pinned by filing date (``rulesets.rule_set_for``).

    Values marked [to confirm] in shared/domain/urbanism.md are settings, not constants.
    """

    key: str
    """Identifier recorded with every computed date, e.g. "ads-2025-12-31"."""
    extend_instruction_deadlines_to_working_day: bool = False
    """Ordonnance 2025-1091 (L1322-5) [to confirm]: off = date to date, no weekend extension."""
    environmental_assessment_from: date = date(2025, 12, 31)
    """R424-2-1 applies to applications filed on or after this date."""
    consultation_months: int = 1
    """R423-59: default consultation delay; silence = favourable opinion."""
    r423_28_months: int = 5
    tacit_alert_days: int = 15
    """Files whose tacit date falls within this many days are flagged and notified."""
    conformity_months: int = 3
    conformity_months_protected: int = 5
    validity_years: int = 3
    works_interruption_max_months: int = 12
    withdrawal_months: int = 3
    appeal_months: int = 2
    cu_validity_months: int = 18
    prorogation_request_months_before: int = 2
    prorogation_silence_months: int = 2
    prorogation_max: int = 2


@dataclass(frozen=True, slots=True)
class PiecesRequest:
    """A request for missing pieces (R423-38): the exhaustive list, and when it was notified."""

    notified_on: date
    pieces: tuple[str, ...]
    """CERFA piece codes asked for (PCMI2, DP3…)."""
    not_required: tuple[str, ...] = ()
    """Codes asked for that the code does not require for this file (set by ``pieces`` rules):
    such a request does not suspend anything (R423-41; CE 9 Dec 2022 n°454521)."""


@dataclass(frozen=True, slots=True)
class PiecesReceipt:
    received_on: date
    pieces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Majoration:
    ground: MajorationGround
    notified_on: date
    ground_valid: bool = True
    """False when the instructor (or a court) finds the ground wrong: no effect (CE 2023 n°462511)."""


@dataclass(frozen=True, slots=True)
class Consultation:
    service: str
    """Short code of the consulted service: "ABF", "SDIS", "ENEDIS"…"""
    sent_on: date
    """Day the service received the request (electronic mise à disposition counts as received)."""
    delay_months: int | None = None
    delay_days: int | None = None
    """Own delay; both None → the rule set's ``consultation_months``."""
    answered_on: date | None = None
    opinion: Opinion | None = None
    abf_accord_required: bool = False
    """The decision needs the ABF's accord (R424-3 applies to its refusal or prescriptions)."""


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    signed_on: date
    notified_on: date | None = None
    """None while not yet notified: the decision does not count before it is."""


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Retrait of a favourable decision (L424-5), counted from its notification."""

    notified_on: date


@dataclass(frozen=True, slots=True)
class Display:
    """Panel on the land (R424-15, A424-15..19)."""

    started_on: date
    mentions_complete: bool = True
    """False when the "Droit de recours" mention is missing: the appeal delay never starts."""
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Interruption:
    """Works stopped from ``from_on`` to ``to_on`` (None: still stopped)."""

    from_on: date
    to_on: date | None = None


@dataclass(frozen=True, slots=True)
class Prorogation:
    requested_on: date
    granted_on: date | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    permit_type: PermitType
    filed_on: date
    """Date of receipt (paper: dépôt at the mairie; electronic: reception, even a Saturday)."""
    rule_set: RuleSet
    file_kind: FileKind = FileKind.INITIAL
    is_maison_individuelle: bool = False
    """For a modificatif: 2 months (MI) instead of 3."""
    exceptions: frozenset[Exception_] = frozenset()
    tree_felling: bool = False
    """DP for cutting or felling trees: non-opposition executory one month after (L424-9)."""
    protected_area: bool = False
    """Récolement compulsory (MH, SPR, site classé, PPR, ERP, IGH): 5-month conformity window."""
    pieces_requests: tuple[PiecesRequest, ...] = ()
    pieces_receipts: tuple[PiecesReceipt, ...] = ()
    majorations: tuple[Majoration, ...] = ()
    consultations: tuple[Consultation, ...] = ()
    decision: Decision | None = None
    withdrawal: Withdrawal | None = None
    display: Display | None = None
    doc_on: date | None = None
    """Déclaration d'ouverture de chantier received."""
    daact_on: date | None = None
    """Déclaration attestant l'achèvement et la conformité des travaux received."""
    interruptions: tuple[Interruption, ...] = ()
    prorogations: tuple[Prorogation, ...] = ()
    appeal_pending_since: date | None = None
    """A contentious appeal against the permit: validity suspended (R424-19 [to confirm])."""
    appeal_ended_on: date | None = None
    """Day the appeal ended by an irrevocable court decision: the validity runs again, extended by
    the time it was suspended (R424-19 [to confirm]). None while the appeal is pending."""


class TacitOutcome(StrEnum):
    GRANTED = "accord_tacite"
    """Permis tacite (PC, PCMI, PA, PD)."""
    NON_OPPOSITION = "non_opposition_tacite"
    """DP."""
    CU = "cu_tacite"
    """CU: only the crystallisation effects of L410-1 al. 4 (R410-12)."""
    REJECTION = "rejet_tacite"
    """R424-2, R424-2-1, R424-3, or pieces not supplied within 3 months (permits)."""
    OPPOSITION = "opposition_tacite"
    """DP: pieces not supplied within 3 months, or a R424-2 case."""


@dataclass(frozen=True, slots=True)
class LegalDate:
    """One computed date, with the rule that produced it."""

    key: str
    """Stable key (see ``DATE_KEYS``)."""
    on: date
    label: str
    """French, for the timeline shown to agents, mayors' offices and the applicant."""
    rule: str
    """Human-readable rule applied, e.g. "2 mois à compter du dépôt (date à date)"."""
    reference: str
    """Legal reference, e.g. "R423-23 b du code de l'urbanisme"."""
    rule_set: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the instructor must know: a fact recorded that changes nothing, a retrait…"""

    code: str
    message: str
    """French, actionable."""
    reference: str


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """An engine deadline the file must have: fires ``transition`` after ``last_day``."""

    kind: str
    """One of ``TIMER_KINDS``."""
    last_day: date
    transition: str
    """One of ``SYSTEM_TRANSITIONS``."""
    rule: str
    reference: str


@dataclass(frozen=True, slots=True)
class Timeline:
    dates: tuple[LegalDate, ...]
    findings: tuple[Finding, ...] = ()
    timers: tuple[TimerPlan, ...] = ()
    instruction_deadline: date | None = None
    """Last day to notify an explicit decision (None when suspended by a pieces request)."""
    tacit_outcome: TacitOutcome | None = None
    """What silence will produce at the end of ``instruction_deadline``."""
    complete: bool = False
    """Complete or deemed complete."""
    missing_pieces: tuple[str, ...] = ()
    """Pieces of the effective request not yet received."""
    next_legal_date: LegalDate | None = None
    """The earliest future-relevant date (for ordering files); computed against ``today``."""

    def get(self, key: str) -> LegalDate | None:
        return next((d for d in self.dates if d.key == key), None)


DATE_KEYS = (
    "filed",  # date of receipt
    "filing_notice_display_limit",  # avis de dépôt in the mairie within 15 days (R423-6)
    "completeness_limit",  # last day to notify pieces request / majoration (R423-38, R423-42)
    "pieces_limit",  # last day to supply all pieces: 3 months from the request (R423-39)
    "complete",  # receipt of the last missing piece (or deemed complete)
    "instruction_deadline",  # last day to notify the decision
    "tacit_decision",  # day the tacit decision is born (instruction_deadline + 1 day)
    "consultation:<SERVICE>",  # last day for the service's opinion
    "decision_notified",
    "decision_display_limit",  # mairie extract within 8 days (R424-15 al. 3)
    "withdrawal_limit",  # L424-5: 3 months from the decision (explicit: notification; tacit: birth)
    "appeal_limit",  # R600-2: 2 months délai franc from the first day of continuous display
    "appeal_backstop",  # R600-3: 6 months after achèvement
    "executory_tree_felling",  # L424-9
    "validity_end",  # R424-17: 3 years (+ prorogations, + suspension by appeal)
    "prorogation_request_limit",  # R424-21: at least 2 months before validity_end
    "cu_validity_end",  # L410-1: 18 months
    "conformity_limit",  # R462-6/7: 3 or 5 months after DAACT
)

TIMER_KINDS = ("urbanism_completeness", "urbanism_tacit", "urbanism_pieces", "urbanism_conformity")

SYSTEM_TRANSITIONS = (
    "deem_complete",  # deposited → under_instruction at completeness_limit (R423-22)
    "tacit_favourable",  # deposited/under_instruction → tacit_granted (R424-1)
    "tacit_rejection",  # deposited/under_instruction → tacit_rejected (R424-2, -2-1, -3)
    "pieces_timeout",  # incomplete → tacit_rejected (R423-39 b)
    "conformity_acquired",  # completion_declared → conformity_acquired (R462-6)
)


@dataclass(frozen=True, slots=True)
class Check:
    """Answer of a rule check the service asks before recording a fact."""

    effective: bool
    findings: tuple[Finding, ...] = field(default_factory=tuple)
