"""``test.permit``: a test-only procedure that exercises everything the engine offers.

Role guards (instructors decide, counter agents only enter), an automatic follow-up (pieces
received → back to instruction), a legal timer suspended while pieces are missing and extended by a
majoration, document requests through the outbox, a silence-means-acceptance timeout.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.engine.actions import CaseView
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    ActionSpec,
    Definition,
    DocumentKind,
    Guard,
    Relation,
    SilenceRule,
    State,
    Timer,
    Transition,
)
from workflows.engine.runner import Engine


class PermitPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=200)
    area_m2: int = Field(ge=1, le=100_000)
    urgent: bool = False


class Pieces(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pieces: list[str] = Field(min_length=1)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3)


INSTRUCTORS = Guard(roles=("instructor",))

DEFINITION = Definition(
    key="test.permit",
    version=1,
    title="Permis de test",
    states=(
        State(name="submitted", title="Déposé"),
        State(name="incomplete", title="Incomplet"),
        State(name="pieces_in", title="Pièces reçues", public=False),
        State(name="instruction", title="En instruction"),
        State(name="accepted", title="Accordé", terminal=True),
        State(name="rejected", title="Refusé", terminal=True),
        State(name="tacit_accepted", title="Accordé tacitement", terminal=True),
        State(name="withdrawn", title="Retiré", terminal=True),
    ),
    initial_state="submitted",
    transitions=(
        Transition(
            name="start",
            title="Commencer l'instruction",
            sources=("submitted",),
            target="instruction",
            guard=INSTRUCTORS,
        ),
        Transition(
            name="request_pieces",
            title="Demander des pièces",
            sources=("submitted", "instruction"),
            target="incomplete",
            guard=INSTRUCTORS,
            payload_schema=Pieces,
            actions=(ActionSpec(key="document.request", params={"kind": "pieces_letter"}),),
        ),
        Transition(
            name="pieces_received",
            title="Pièces reçues",
            sources=("incomplete",),
            target="pieces_in",
            guard=Guard(roles=("instructor", "counter_agent")),
        ),
        Transition(
            name="resume",
            title="Reprendre l'instruction",
            sources=("pieces_in",),
            target="instruction",
            guard=Guard(system=True),
            automatic=True,
            condition="test.not_urgent",
        ),
        Transition(
            name="fast_track",
            title="Instruction prioritaire",
            sources=("pieces_in",),
            target="instruction",
            guard=Guard(system=True),
            automatic=True,
            condition="test.urgent",
        ),
        Transition(
            name="extend",
            title="Majorer le délai",
            sources=("instruction",),
            target="instruction",
            guard=INSTRUCTORS,
            actions=(
                ActionSpec(
                    key="deadline.extend",
                    params={
                        "kind": "decision",
                        "amount": 1,
                        "unit": "months",
                        "legal_reference": "test: majoration d'un mois",
                    },
                ),
            ),
        ),
        Transition(
            name="accept",
            title="Accorder",
            sources=("instruction",),
            target="accepted",
            guard=INSTRUCTORS,
            actions=(
                ActionSpec(
                    key="document.request",
                    params={
                        "kind": "decision",
                        "visas": ["la demande de permis de test"],
                        "articles": ["Le permis de test est accordé."],
                    },
                ),
            ),
        ),
        Transition(
            name="reject",
            title="Refuser",
            sources=("instruction",),
            target="rejected",
            guard=INSTRUCTORS,
            payload_schema=Reason,
            actions=(
                ActionSpec(
                    key="document.request",
                    params={
                        "kind": "decision",
                        "visas": ["la demande de permis de test"],
                        "articles": ["Le permis de test est refusé pour le motif indiqué."],
                    },
                ),
            ),
        ),
        Transition(
            name="tacit_acceptance",
            title="Accord tacite",
            sources=("instruction",),
            target="tacit_accepted",
            guard=Guard(system=True),
        ),
        Transition(
            name="withdraw",
            title="Retirer la demande",
            sources=("submitted", "incomplete", "instruction"),
            target="withdrawn",
            guard=Guard(roles=("instructor",), relations=(Relation.ASSIGNEE,)),
        ),
    ),
    timers=(
        Timer(
            kind="decision",
            delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
            starts_in="instruction",
            fires="tacit_acceptance",
            suspended_in=("incomplete", "pieces_in"),
            legal_reference="test: silence vaut acceptance après 2 mois",
        ),
    ),
    documents=(
        DocumentKind(kind="are", title="Accusé de réception"),
        DocumentKind(kind="recepisse", title="Récépissé de dépôt"),
        DocumentKind(kind="pieces_letter", title="Demande de pièces"),
        DocumentKind(kind="decision", title="Décision"),
    ),
    on_open=(ActionSpec(key="document.request", params={"kind": "recepisse"}),),
    payload_schema=PermitPayload,
    public=True,
    acknowledgement=Acknowledgement(
        request_kind="demande",
        service_code="urbanisme",
        silence=SilenceRule.ACCEPTANCE,
        decision_delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
        legal_basis="test : article L231-1 du code des relations entre le public et l'administration",
    ),
    intake_roles=("counter_agent", "instructor"),
)


def _urgent(case: CaseView) -> bool:
    return bool(case.payload.get("urgent"))


def register(engine: Engine) -> None:
    engine.conditions.register("test.urgent", _urgent)
    engine.conditions.register("test.not_urgent", lambda case: not _urgent(case))
    engine.load(DEFINITION)
