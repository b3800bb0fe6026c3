"""What the channels keep before and beside a case: drafts, uploaded files, tracking and claim codes,
inbound mails and the addresses that route them. The case itself is workflows.cases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class Draft(IdMixin, Base):
    """A request a person prepares online before submitting it (web channel)."""

    __tablename__ = "draft"
    __table_args__ = (Index("ix_draft_person_expires", "person_id", "expires_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    procedure_key: Mapped[str] = mapped_column(String(80))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"))
    title: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict[str, Any]]
    """As typed so far: validated only at submission."""
    submitter: Mapped[dict[str, Any]]
    """Contact details the person chose for this request."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    warned_at: Mapped[datetime | None]
    """When the person was told the draft would expire."""
    submitted_case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    deleted_at: Mapped[datetime | None]


class Attachment(IdMixin, Base):
    """An uploaded file (web, counter, mail), stored content-addressed; bytes never trusted by name."""

    __tablename__ = "attachment"

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    draft_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("draft.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"), index=True)
    inbound_mail_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inbound_mail.id"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    """Sanitised: no path, no control characters."""
    content_type: Mapped[str] = mapped_column(String(120))
    """Sniffed from the bytes."""
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    scan_status: Mapped[str] = mapped_column(String(20), default="not_scanned")
    """not_scanned | pending | clean | infected."""
    created_at: Mapped[datetime]


class TrackingCode(IdMixin, Base):
    """Follow or claim a case without an account: the code (printed on the receipt or given in the
    AEE) plus a second factor (the e-mail or phone used). Only hashes are stored."""

    __tablename__ = "tracking_code"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the normalised e-mail or phone given at intake (the second factor)."""
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    claimed_by_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))


class MailRoute(IdMixin, Base):
    """An inbound address of a tenant (e.g. voirie@ville.fr) and the procedure it opens."""

    __tablename__ = "mail_route"

    address: Mapped[str] = mapped_column(String(254), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    procedure_key: Mapped[str | None] = mapped_column(String(80))
    """None: the tenant's general address — mails go to triage."""
    active: Mapped[bool] = mapped_column(default=True)


class InboundMail(IdMixin, Base):
    """One received mail and what became of it."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_inbound_mail_sender_received", "sender", "received_at"),
        Index("ix_inbound_mail_status", "status"),
    )

    message_id: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(10))
    """lmtp | smtp | imap."""
    sender: Mapped[str] = mapped_column(String(254))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw_storage_key: Mapped[str] = mapped_column(String(300))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    """case_opened | message_added | triage | rejected | ignored."""
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    reason: Mapped[str | None] = mapped_column(String(300))
    decided_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    decided_at: Mapped[datetime | None]
