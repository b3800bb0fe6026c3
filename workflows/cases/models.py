"""Case, CaseEvent (append-only, hash-chained), Deadline, Outbox, reference counters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class Case(IdMixin, Base):
    """The projection of a case's events: what it is now."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        UniqueConstraint("tenant_id", "channel", "external_ref"),
        Index("ix_case_tenant_state", "tenant_id", "state"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    procedure_key: Mapped[str] = mapped_column(String(80), index=True)
    definition_version: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(20))
    submitter_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    submitter: Mapped[dict[str, Any]]
    """Who submitted: kind, name, contact (snapshot at intake)."""
    on_behalf_of: Mapped[dict[str, Any] | None]
    channel_data: Mapped[dict[str, Any] | None]
    """What the channel knows and the engine never reads: the counter agent, the caller's phone,
    how identity was checked, the mail's Message-ID…"""
    mandate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mandate.id"))
    """The mandate under which a helper filed the case for the person concerned (submitter_id)."""
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
    """The business concerned, whose mandated staff see the case."""
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    """The agent who entered the case (counter, phone), if any."""
    api_client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_client.id"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    received_at: Mapped[datetime]
    """When the request reached the administration: starts the legal deadlines."""
    registered_at: Mapped[datetime]
    """When Guichet recorded it (differs from received_at for paper filed at the counter)."""
    external_ref: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    calendar_options: Mapped[dict[str, Any]]
    """Calendar rules pinned at intake: time zone, Alsace-Moselle holidays."""
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class CaseEvent(IdMixin, Base):
    """One change to a case. Append-only: the database refuses UPDATE and DELETE (triggers)."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor_id: Mapped[uuid.UUID | None]
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(60))
    to_state: Mapped[str | None] = mapped_column(String(60))
    public: Mapped[bool]
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Deadline(IdMixin, Base):
    """A legal deadline of a case, with the rule it applies."""

    __tablename__ = "deadline"
    __table_args__ = (Index("ix_deadline_status_due_at", "status", "due_at"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    transition: Mapped[str] = mapped_column(String(60))
    rule: Mapped[dict[str, Any]]
    """The DelaySpec applied and its legal reference, plus every extension."""
    starts_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    """Last day of the delay."""
    due_at: Mapped[datetime]
    """Instant the delay expires (start of the day after due_on, legal time zone)."""
    status: Mapped[str] = mapped_column(String(20))
    suspended_on: Mapped[date | None] = mapped_column(Date)
    fired_at: Mapped[datetime | None]
    created_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Outbox(IdMixin, Base):
    """A side effect to perform after commit (document, mail, webhook); the relay enqueues it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_lease", "status", "lease_until"),)

    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending|enqueued|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ReferenceCounter(Base):
    """Gap-free counters for case references, per tenant, scope and year."""

    __tablename__ = "reference_counter"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
