"""Wire types of the agent case API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference: str
    tenant_id: uuid.UUID
    procedure_key: str
    definition_version: int
    state: str
    channel: str
    received_at: datetime
    assignee_id: uuid.UUID | None
    version: int
    next_due_on: date | None = None


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    kind: str
    actor_kind: str
    actor_name: str
    channel: str
    from_state: str | None
    to_state: str | None
    public: bool
    data: dict[str, Any]
    hash: str


class DeadlineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    transition: str
    status: str
    starts_on: date
    due_on: date
    due_at: datetime
    suspended_on: date | None
    rule: dict[str, Any]


class TransitionOption(BaseModel):
    name: str
    title: str
    target: str
    payload_schema: dict[str, Any] | None


class CaseRead(CaseSummary):
    submitter: dict[str, Any]
    on_behalf_of: dict[str, Any] | None
    agent_id: uuid.UUID | None
    registered_at: datetime
    external_ref: str | None
    payload: dict[str, Any]
    state_title: str
    timeline: list[EventRead]
    deadlines: list[DeadlineRead]
    available_transitions: list[TransitionOption]
    chain_valid: bool


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = None
    version: int | None = Field(
        default=None, description="The case version you saw; refused with 409 if it changed."
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)
    public: bool = True


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: uuid.UUID | None
    version: int | None = None


class ProcedureSummary(BaseModel):
    key: str
    version: int
    versions: list[int]
    title: str
    description: str
