"""Journal of security and administration events, with dotted, typed event names."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.actor import Actor
from services.kernel.db import Base, IdMixin


class JournalEvent(StrEnum):
    TENANT_CREATED = "admin.tenant.created"
    AGENT_CREATED = "admin.agent.created"
    ROLE_GRANTED = "admin.role.granted"
    API_CLIENT_CREATED = "admin.api_client.created"
    TOKEN_ISSUED = "auth.token.issued"
    TOKEN_REFUSED = "auth.token.refused"
    ACCESS_DENIED = "auth.access.denied"
    DEMO_LOADED = "admin.demo.loaded"
    RECEIPT_BACKDATED = "intake.receipt.backdated"
    LETTER_PRINTED = "notification.letter.printed"
    OUTBOX_RETRIED = "admin.outbox.retried"
    DOCUMENT_UNREADABLE = "documents.integrity.failed"
    WEBHOOK_CREATED = "admin.webhook.created"
    WEBHOOK_DELETED = "admin.webhook.deleted"
    ROLE_REVOKED = "admin.role.revoked"
    AGENT_INVITED = "admin.agent.invited"
    AGENT_DEACTIVATED = "admin.agent.deactivated"
    SECRET_ROTATED = "admin.api_client.secret_rotated"
    API_CLIENT_REVOKED = "admin.api_client.revoked"
    ORGANISATION_CREATED = "admin.organisation.created"
    LOGIN = "identity.login"
    LOGIN_FAILED = "identity.login.failed"
    LOGIN_THROTTLED = "identity.login.throttled"
    LOGOUT = "identity.logout"
    LINKED = "identity.linked"
    LINK_REFUSED = "identity.link.refused"
    UNLINKED = "identity.unlinked"
    RELINK_REQUESTED = "identity.relink.requested"
    RELINKED = "identity.relinked"
    RELINK_REFUSED = "identity.relink.refused"
    ACCOUNT_CREATED = "identity.account.created"
    EMAIL_VERIFIED = "identity.email.verified"
    INVITATION_ACCEPTED = "identity.invitation.accepted"
    MANDATE_CREATED = "identity.mandate.created"
    MANDATE_REVOKED = "identity.mandate.revoked"
    CSRF_REFUSED = "identity.csrf.refused"
    DATA_EXPORTED = "identity.data.exported"
    PROFILE_UPDATED = "identity.profile.updated"
    COUNTER_SEARCH = "counter.person.searched"
    MAIL_QUALIFIED = "mail.triage.qualified"
    MAIL_REJECTED = "mail.triage.rejected"
    FILE_INFECTED = "attachments.virus.found"
    ACCOUNT_ERASED = "identity.account.erased"
    BREAK_GLASS_CREATED = "admin.break_glass.created"


class JournalEntry(IdMixin, Base):
    __tablename__ = "journal_entry"

    at: Mapped[datetime] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(80), index=True)
    actor_id: Mapped[uuid.UUID | None]
    actor_kind: Mapped[str | None] = mapped_column(String(20))
    tenant_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]]
    ip: Mapped[str | None] = mapped_column(String(64))


def record(
    session: AsyncSession,
    event: JournalEvent,
    *,
    at: datetime,
    actor: Actor | None = None,
    tenant_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> JournalEntry:
    entry = JournalEntry(
        at=at,
        event=event.value,
        actor_id=actor.id if actor else None,
        actor_kind=actor.kind.value if actor else None,
        tenant_id=tenant_id,
        data=data or {},
        ip=ip,
    )
    session.add(entry)
    return entry
