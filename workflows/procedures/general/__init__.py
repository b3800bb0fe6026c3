"""``general.request``: a written request to a commune's service (information, complaint, help).

The simplest procedure: an agent takes it in charge and answers. CRPA L112-3 still applies (every
request is acknowledged); it asks for no decision, so no silence rule applies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kernel.actor import Role
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    Definition,
    DocumentKind,
    Guard,
    SilenceRule,
    State,
    Timer,
    Transition,
)

AGENTS = (
    Role.INSTRUCTOR.value,
    Role.COUNTER_AGENT.value,
    Role.PHONE_AGENT.value,
    Role.SUPERVISOR.value,
    Role.ADMIN.value,
)


class GeneralRequestPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str = Field(min_length=3, max_length=200, description="Objet de la demande")
    message: str = Field(min_length=1, max_length=20_000, description="Votre demande")
    topic: Literal["information", "reclamation", "aide", "autre"] = "information"
    service_code: str | None = Field(default=None, max_length=60, description="Service visé")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=20_000)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2_000)


DEFINITION = Definition(
    key="general.request",
    version=1,
    title="Demande écrite au guichet",
    description="Demande d'information, réclamation ou demande d'aide adressée à un service.",
    states=(
        State(name="received", title="Reçue"),
        State(name="in_progress", title="En cours de traitement"),
        State(name="late", title="En retard sur l'objectif de réponse", public=False),
        State(name="answered", title="Répondue", terminal=True),
        State(name="closed", title="Classée", terminal=True),
    ),
    initial_state="received",
    transitions=(
        Transition(
            name="take",
            title="Prendre en charge",
            sources=("received",),
            target="in_progress",
            guard=Guard(roles=AGENTS),
        ),
        Transition(
            name="answer",
            title="Répondre",
            sources=("in_progress", "late"),
            target="answered",
            guard=Guard(roles=AGENTS),
            payload_schema=Answer,
            actions=(),
        ),
        Transition(
            name="close",
            title="Classer sans suite",
            sources=("received", "in_progress", "late"),
            target="closed",
            guard=Guard(roles=AGENTS),
            payload_schema=Reason,
        ),
        Transition(
            name="flag_late",
            title="Objectif de réponse dépassé",
            sources=("in_progress",),
            target="late",
            guard=Guard(system=True),
            public=False,
        ),
    ),
    timers=(
        Timer(
            kind="response_target",
            delay=DelaySpec(amount=15, unit=DelayUnit.WORKING_DAYS),
            starts_in="in_progress",
            fires="flag_late",
            legal_reference="objectif de service (charte d'accueil), pas un délai légal",
        ),
    ),
    documents=(
        DocumentKind(kind="are", title="Accusé de réception"),
        DocumentKind(kind="letter", title="Courrier"),
    ),
    payload_schema=GeneralRequestPayload,
    public=True,
    acknowledgement=Acknowledgement(
        request_kind="information",
        service_code="accueil",
        silence=SilenceRule.NONE,
        legal_basis="L112-3 et L112-11 du code des relations entre le public et l'administration",
    ),
    intake_roles=(
        Role.COUNTER_AGENT.value,
        Role.PHONE_AGENT.value,
        Role.INSTRUCTOR.value,
        Role.ADMIN.value,
    ),
)
