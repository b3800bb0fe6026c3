"""Building blocks shared by the cemetery definitions: roles, the request part of a demande
(take, pieces, refusal, withdrawal), the silence timer and the acknowledgement (CRPA)."""

from __future__ import annotations

from services.kernel.actor import Role
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    ActionSpec,
    DocumentKind,
    Guard,
    Relation,
    SilenceRule,
    State,
    Timer,
    Transition,
)
from workflows.procedures.cemeteries.schemas import Pieces, Reason
from workflows.procedures.cemeteries.settings import CemeterySettings

INTAKE_ROLES = (
    Role.COUNTER_AGENT.value,
    Role.PHONE_AGENT.value,
    Role.INSTRUCTOR.value,
    Role.SUPERVISOR.value,
    Role.ADMIN.value,
)
INSTRUCT = Guard(roles=(Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value))
"""Instructors file and instruct."""
DECIDE = Guard(roles=(Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.MAYOR_OFFICE.value))
"""The maire's signature (or an adjoint's by delegation), recorded by the instructor."""
COUNTER = Guard(
    roles=(
        Role.COUNTER_AGENT.value,
        Role.INSTRUCTOR.value,
        Role.SUPERVISOR.value,
        Role.ADMIN.value,
    )
)
"""Counter agents record what happens at the counter (payment, pieces, operation done)."""
SYSTEM = Guard(system=True)

DOCUMENTS = (
    DocumentKind(kind="are", title="Accusé de réception"),
    DocumentKind(kind="concession_title", title="Titre de concession funéraire"),
    DocumentKind(kind="burial_authorisation", title="Autorisation d'inhumer"),
    DocumentKind(kind="exhumation_authorisation", title="Autorisation d'exhumer"),
    DocumentKind(kind="renewal_information", title="Information sur le droit au renouvellement"),
    DocumentKind(kind="abandonment_report", title="Procès-verbal de constat d'abandon"),
    DocumentKind(kind="reprise_order", title="Arrêté de reprise"),
)

OPEN = ("received", "instruction")


def document(kind: str, **params: object) -> ActionSpec:
    return ActionSpec(key="document.request", params={"kind": kind, **params})


def request_states(silence: str) -> tuple[State, ...]:
    implicit = (
        State(
            name="implicit_rejection", title="Rejet implicite (silence de deux mois)", terminal=True
        )
        if silence == "rejection"
        else State(name="implicit_acceptance", title="Acceptation implicite (silence de deux mois)")
    )
    return (
        State(name="received", title="Reçue"),
        State(name="instruction", title="En instruction"),
        State(name="incomplete", title="Pièces demandées"),
        implicit,
        State(name="refused", title="Refusée", terminal=True),
        State(name="withdrawn", title="Retirée ou classée", terminal=True),
    )


def decision_sources(silence: str, *extra: str) -> tuple[str, ...]:
    """States from which the town hall decides: open ones, and after an implicit acceptance."""
    base = (*OPEN, "implicit_acceptance") if silence == "acceptance" else OPEN
    return (*base, *extra)


def request_transitions(
    silence: str, *, refusable_from: tuple[str, ...] = ()
) -> tuple[Transition, ...]:
    implicit = (
        Transition(
            name="implicit_rejection",
            title="Rejet implicite : deux mois de silence",
            sources=OPEN,
            target="implicit_rejection",
            guard=SYSTEM,
        )
        if silence == "rejection"
        else Transition(
            name="implicit_acceptance",
            title="Acceptation implicite : deux mois de silence",
            sources=OPEN,
            target="implicit_acceptance",
            guard=SYSTEM,
        )
    )
    return (
        Transition(
            name="take",
            title="Prendre en charge",
            sources=("received",),
            target="instruction",
            guard=INSTRUCT,
        ),
        Transition(
            name="request_pieces",
            title="Demander des pièces",
            sources=OPEN,
            target="incomplete",
            guard=COUNTER,
            payload_schema=Pieces,
        ),
        Transition(
            name="pieces_received",
            title="Pièces reçues",
            sources=("incomplete",),
            target="instruction",
            guard=COUNTER,
        ),
        Transition(
            name="refuse",
            title="Refuser (décision motivée)",
            sources=(*decision_sources(silence), "incomplete", *refusable_from),
            target="refused",
            guard=DECIDE,
            payload_schema=Reason,
        ),
        Transition(
            name="withdraw",
            title="Retirer ou classer la demande",
            sources=(*OPEN, "incomplete", *refusable_from),
            target="withdrawn",
            guard=Guard(roles=COUNTER.roles, relations=(Relation.SUBMITTER,)),
            payload_schema=Reason,
        ),
        implicit,
    )


def silence_timer(silence: str, cfg: CemeterySettings, legal_reference: str) -> Timer:
    return Timer(
        kind="silence",
        delay=DelaySpec(amount=cfg.silence_delay_months, unit=DelayUnit.MONTHS),
        starts_in="received",
        runs_in=("instruction",),
        suspended_in=("incomplete",),
        fires="implicit_rejection" if silence == "rejection" else "implicit_acceptance",
        legal_reference=legal_reference,
    )


REJECTION_BASIS = (
    "article L231-4 du code des relations entre le public et l'administration et décret "
    "n° 2015-1459 du 10 novembre 2015 (annexe : demandes d'inhumation et d'exhumation, "
    "articles R2213-31 et R2213-40 du code général des collectivités territoriales)"
)
ACCEPTANCE_BASIS = (
    "article L231-1 du code des relations entre le public et l'administration (règle générale ; "
    "à confirmer pour cette démarche)"
)


def acknowledgement(
    silence: str, cfg: CemeterySettings, *, flagged: bool = False
) -> Acknowledgement:
    basis = REJECTION_BASIS if silence == "rejection" else ACCEPTANCE_BASIS
    if flagged and silence == "rejection":
        basis = (
            "article L231-4 du code des relations entre le public et l'administration (règle "
            "retenue par la commune, à confirmer)"
        )
    return Acknowledgement(
        request_kind="demande",
        service_code=cfg.service_code,
        silence=SilenceRule.REJECTION if silence == "rejection" else SilenceRule.ACCEPTANCE,
        decision_delay=DelaySpec(amount=cfg.silence_delay_months, unit=DelayUnit.MONTHS),
        legal_basis=basis,
    )
