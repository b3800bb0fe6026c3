"""Mails built by a channel (a reply that threads under the person's own mail) sent through the
outbox: queued in the transaction that keeps what they answer, so that a crash after COMMIT loses
nothing and a rollback sends nothing.

Outbox kind ``mail.send``, payload ``{"message": <the RFC 5322 bytes, base64>}``. The handler
sends it as it is (its Message-ID was fixed when it was built). A crash between the SMTP exchange
and the outbox row's COMMIT sends it once more, with the same Message-ID, which mail clients show
once.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from documents import mail
from services.kernel.settings import path_settings, smtp_settings
from workflows.cases.models import Outbox

if TYPE_CHECKING:
    from documents.jobs import JobDeps, OutboxHandler

RAW_MAIL_KIND = "mail.send"


def queue_message(
    session: AsyncSession,
    message: EmailMessage,
    *,
    dedupe_key: str,
    now: datetime,
    case_id: uuid.UUID | None = None,
) -> Outbox:
    """Add an outbox row that will send ``message``; the caller's transaction commits it."""
    row = Outbox(
        case_id=case_id,
        kind=RAW_MAIL_KIND,
        payload={"message": base64.b64encode(message.as_bytes(policy=policy.SMTP)).decode()},
        dedupe_key=dedupe_key[:200],
        status="pending",
        attempts=0,
        created_at=now,
    )
    session.add(row)
    return row


def message_of(row: Outbox) -> EmailMessage:
    raw = base64.b64decode(str(row.payload["message"]))
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def send_queued(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Send one queued mail; a transport error propagates (the outbox retries)."""
    transport = mail.transport_for(smtp_settings(), path_settings().data_dir.resolve())
    await transport.deliver(message_of(row))


HANDLERS: dict[str, OutboxHandler] = {RAW_MAIL_KIND: send_queued}
