"""Ex officio procedures: reprise of a concession not renewed, and the abandon procedure.

They are opened by the town hall (``open_ex_officio``), not requested: no acknowledgement, not
published. Timers are the legal delays (they move the case when a step becomes possible); the
projector checks the dates of each step against the rules, so a step recorded too early is a 422
with the legal reason, and a reprise cannot be executed until each notice and delay is proven.
"""

from __future__ import annotations

from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import ActionSpec, Definition, State, Timer, Transition
from workflows.procedures.cemeteries._definitions_common import (
    DECIDE,
    DOCUMENTS,
    INSTRUCT,
    SYSTEM,
    document,
)
from workflows.procedures.cemeteries.schemas import (
    AbandonNotice,
    AbandonRequest,
    Deliberation,
    Execution,
    FindingReport,
    Reason,
    RepriseOrder,
    RepriseRequest,
)
from workflows.procedures.cemeteries.settings import CemeterySettings

EX_OFFICIO_ROLES = INSTRUCT.roles


def _reprise_tail(
    cfg: CemeterySettings, sources: tuple[str, ...]
) -> tuple[tuple[State, ...], tuple[Transition, ...], Timer]:
    states = (
        State(name="reprise_ordered", title="Arrêté de reprise signé"),
        State(name="removal_due", title="Enlèvement des matériaux et des restes possible"),
        State(name="completed", title="Reprise effectuée, emplacement libéré", terminal=True),
    )
    transitions = (
        Transition(
            name="order_reprise",
            title="Signer l'arrêté de reprise",
            sources=sources,
            target="reprise_ordered",
            guard=DECIDE,
            payload_schema=RepriseOrder,
            actions=(document("reprise_order"),),
        ),
        Transition(
            name="removal_delay_over",
            title="Délai avant enlèvement écoulé",
            sources=("reprise_ordered",),
            target="removal_due",
            guard=SYSTEM,
        ),
        Transition(
            name="execute_reprise",
            title="Exécuter la reprise (restes à l'ossuaire, emplacement libéré)",
            sources=("reprise_ordered", "removal_due"),
            target="completed",
            guard=DECIDE,
            payload_schema=Execution,
        ),
    )
    timer = Timer(
        kind="removal",
        delay=DelaySpec(amount=cfg.reprise_removal_delay_days, unit=DelayUnit.DAYS),
        starts_in="reprise_ordered",
        fires="removal_delay_over",
        legal_reference="articles R2223-19 et R2223-20 du CGCT (délai à confirmer)",
    )
    return states, transitions, timer


def reprise_definition(cfg: CemeterySettings) -> Definition:
    tail_states, tail_transitions, removal = _reprise_tail(cfg, ("informed",))
    return Definition(
        key="cemeteries.reprise",
        version=1,
        title="Reprise d'une concession non renouvelée",
        description="Concession échue : information des titulaires sur leur droit au "
        "renouvellement (L2223-15, loi 3DS), puis, deux ans après le terme, reprise du terrain.",
        states=(
            State(name="opened", title="Concession échue : information à envoyer"),
            State(name="informed", title="Titulaires informés du droit au renouvellement"),
            *tail_states,
            State(name="closed", title="Classée (concession renouvelée)", terminal=True),
        ),
        initial_state="opened",
        transitions=(
            Transition(
                name="send_renewal_information",
                title="Informer les titulaires de leur droit au renouvellement",
                sources=("opened",),
                target="informed",
                guard=INSTRUCT.model_copy(update={"system": True}),
                actions=(document("renewal_information"),),
            ),
            *tail_transitions,
            Transition(
                name="close",
                title="Classer (concession renouvelée ou reprise abandonnée)",
                sources=("opened", "informed"),
                target="closed",
                guard=INSTRUCT,
                payload_schema=Reason,
            ),
        ),
        timers=(removal,),
        documents=DOCUMENTS,
        payload_schema=RepriseRequest,
        intake_roles=EX_OFFICIO_ROLES,
    )


_RESTORABLE = (
    "opened",
    "finding_scheduled",
    "first_pv",
    "second_finding_due",
    "second_pv",
    "council_referral",
)


def abandon_definition(cfg: CemeterySettings) -> Definition:
    tail_states, tail_transitions, removal = _reprise_tail(cfg, ("deliberated",))
    return Definition(
        key="cemeteries.abandon",
        version=1,
        title="Procédure de reprise d'une concession en état d'abandon",
        description="Concession de plus de 30 ans, sans inhumation depuis 10 ans (L2223-17, "
        "R2223-12 à R2223-23 CGCT) : avis aux familles un mois avant, procès-verbal, un an de "
        "publicité, second constat, délibération, arrêté, enlèvement, restes à l'ossuaire.",
        states=(
            State(name="opened", title="Procédure engagée"),
            State(name="finding_scheduled", title="Constat fixé, familles avisées"),
            State(name="first_pv", title="1er procès-verbal : délai de publicité en cours"),
            State(name="second_finding_due", title="Second constat possible"),
            State(name="second_pv", title="2nd procès-verbal notifié"),
            State(name="council_referral", title="Saisine du conseil municipal possible"),
            State(name="deliberated", title="Reprise délibérée par le conseil municipal"),
            *tail_states,
            State(
                name="restored", title="Sépulture remise en état : procédure close", terminal=True
            ),
            State(name="cancelled", title="Procédure abandonnée", terminal=True),
        ),
        initial_state="opened",
        transitions=(
            Transition(
                name="schedule_finding",
                title="Fixer le constat et aviser les familles (R2223-13)",
                sources=("opened",),
                target="finding_scheduled",
                guard=INSTRUCT,
                payload_schema=AbandonNotice,
            ),
            Transition(
                name="record_first_pv",
                title="Dresser le 1er procès-verbal de constat d'abandon",
                sources=("finding_scheduled",),
                target="first_pv",
                guard=DECIDE,
                payload_schema=FindingReport,
                actions=(document("abandonment_report", finding="first"),),
            ),
            Transition(
                name="apply_pre_3ds_rule",
                title="Appliquer le délai de 3 ans (procédure antérieure à la loi 3DS)",
                sources=("first_pv",),
                target="first_pv",
                guard=INSTRUCT,
                actions=(
                    ActionSpec(
                        key="deadline.extend",
                        params={
                            "kind": "publicity",
                            "amount": 12 * (cfg.abandon_old_wait_years - cfg.abandon_wait_years),
                            "unit": "months",
                            "legal_reference": "article L2223-17 du CGCT, rédaction antérieure "
                            "à la loi 3DS (règle transitoire à confirmer)",
                        },
                    ),
                ),
            ),
            Transition(
                name="publicity_over",
                title="Délai de publicité du 1er procès-verbal écoulé",
                sources=("first_pv",),
                target="second_finding_due",
                guard=SYSTEM,
            ),
            Transition(
                name="record_second_pv",
                title="Dresser et notifier le 2nd procès-verbal",
                sources=("first_pv", "second_finding_due"),
                target="second_pv",
                guard=DECIDE,
                payload_schema=FindingReport,
                actions=(document("abandonment_report", finding="second"),),
            ),
            Transition(
                name="referral_open",
                title="Délai d'un mois après le 2nd procès-verbal écoulé",
                sources=("second_pv",),
                target="council_referral",
                guard=SYSTEM,
            ),
            Transition(
                name="record_deliberation",
                title="Enregistrer la délibération du conseil municipal",
                sources=("second_pv", "council_referral"),
                target="deliberated",
                guard=DECIDE,
                payload_schema=Deliberation,
            ),
            *tail_transitions,
            Transition(
                name="restore",
                title="Sépulture remise en état par la famille : clore",
                sources=_RESTORABLE,
                target="restored",
                guard=INSTRUCT,
                payload_schema=Reason,
            ),
            Transition(
                name="cancel",
                title="Abandonner la procédure",
                sources=(*_RESTORABLE, "deliberated"),
                target="cancelled",
                guard=INSTRUCT,
                payload_schema=Reason,
            ),
        ),
        timers=(
            Timer(
                kind="publicity",
                delay=DelaySpec(amount=12 * cfg.abandon_wait_years, unit=DelayUnit.MONTHS),
                starts_in="first_pv",
                fires="publicity_over",
                legal_reference="article L2223-17 du CGCT (loi 3DS : un an)",
            ),
            Timer(
                kind="council_delay",
                delay=DelaySpec(amount=cfg.abandon_second_pv_delay_months, unit=DelayUnit.MONTHS),
                starts_in="second_pv",
                fires="referral_open",
                legal_reference="article R2223-18 du CGCT (à confirmer)",
            ),
            removal,
        ),
        documents=DOCUMENTS,
        payload_schema=AbandonRequest,
        intake_roles=EX_OFFICIO_ROLES,
    )
