"""A mail to a street-reports address (a ``MailRoute`` with procedure ``street_reports.report``)
cannot open a report by itself: it says neither the category nor the point, so the mail channel
leaves it in triage. An agent qualifies it here with a category and a point: the report opens in
the tenant of the point (channel ``mail``, received when the mail was), the mail text becomes its
description (unless the agent writes one) and its first message, its attachments the case's, and
the mail is marked as having opened it — as ``channels.mail.service.qualify`` does for other
procedures.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.mail.service import (
    MAIL_CHANNEL,
    TRIAGE,
    mail_opened_case,
    visible_mail,
)
from channels.street.service import SubmittedReport, submit_report
from identity.service import TenantCache
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Conflict
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.definition import DESCRIPTION_MAX, KEY


async def qualify_mail(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    mail_id: uuid.UUID,
    *,
    category: str,
    lat: Any,
    lon: Any,
    address: str,
    description: str | None,
    attributes: dict[str, Any],
    tenants: TenantCache | None = None,
) -> SubmittedReport:
    mail = await visible_mail(session, actor, mail_id, lock=True)
    if mail.status != TRIAGE:
        raise Conflict(
            f"Ce courriel a déjà été traité (statut « {mail.status} ») : rechargez la liste "
            "des courriels à trier.",
            extra={"mail_status": mail.status},
        )
    now = clock.now()
    text = description if description is not None else (mail.body_text or mail.subject or "")
    text = " ".join(text.split("\x00"))[:DESCRIPTION_MAX]
    done = await submit_report(
        session,
        engine,
        clock,
        category_code=category,
        lat=lat,
        lon=lon,
        address=address,
        description=text,
        attributes=attributes,
        channel=MAIL_CHANNEL,
        actor=actor,
        submitter={"email": mail.sender} if mail.sender else {},
        public_name=None,
        tenant_hint=None,
        idempotency=f"mail:{mail.message_id}",
        received_at=mail.received_at if mail.received_at < now else None,
        received_at_reason="courriel reçu le "
        + mail.received_at.strftime("%d/%m/%Y à %H:%M (UTC)"),
        channel_data={
            "message_id": mail.message_id,
            "from": mail.sender,
            "to": mail.recipient,
            "inbound_mail_id": str(mail.id),
            "qualified_by": str(actor.id),
        },
        tenants=tenants,
    )
    mail.tenant_id = mail.tenant_id or done.tenant_id
    await mail_opened_case(
        session,
        engine,
        clock,
        mail,
        actor,
        done.case_id,
        created=done.created,
        procedure=KEY,
        reason=f"qualifié en {KEY} ({done.reference})",
    )
    await session.flush()
    return done
