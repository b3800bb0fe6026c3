"""Documents produced for cases, notifications sent, webhook subscriptions and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class StoredDocument(IdMixin, Base):
    __tablename__ = "stored_document"
    __table_args__ = (UniqueConstraint("case_id", "kind", "seq"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    seq: Mapped[int] = mapped_column(Integer)
    """The case event that asked for it: (case, kind, seq) makes the job idempotent."""
    title: Mapped[str] = mapped_column(String(200), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    storage_key: Mapped[str] = mapped_column(String(300))
    """Where the bytes are in the document storage (content-addressed by sha256)."""
    created_at: Mapped[datetime]


class Notification(IdMixin, Base):
    """A message to a person about a case: an e-mail sent, or a letter to print and post."""

    __tablename__ = "notification"

    outbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox.id"), unique=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | postal
    template: Mapped[str] = mapped_column(String(60))
    to_address: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # sent | to_print | printed
    document_ids: Mapped[dict[str, Any]]
    """{"documents": [stored_document ids]} attached (e-mail) or to print (postal)."""
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class WebhookSubscription(IdMixin, Base):
    """A tenant's endpoint receiving case events, signed with HMAC-SHA256."""

    __tablename__ = "webhook_subscription"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_kinds: Mapped[dict[str, Any]]
    """{"kinds": ["case.opened", ...]}; an empty list means every public event."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class WebhookDelivery(IdMixin, Base):
    """One attempt to deliver one event to one subscription (admins see every attempt)."""

    __tablename__ = "webhook_delivery"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id"), index=True
    )
    outbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox.id"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_event.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
