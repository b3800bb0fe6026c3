"""Notifications to people about their cases (e-mail, or letters printed for posting).

Every notification goes through the outbox (kind ``notification.send``, payload ``{case_id,
template, documents?}``). The handler either sends an e-mail (text + HTML, the documents attached)
or, when the person chose postal notification or gave no e-mail address, puts the documents in the
counter's print queue. Either way one ``Notification`` row records it, unique on the outbox row, in
the transaction that marks the outbox row done: a notification is never sent twice by the outbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import mail
from documents.contexts import base_context
from documents.french import french_datetime
from documents.models import Notification, StoredDocument
from identity.models import Agent, Tenant
from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.logging import get_logger
from services.kernel.settings import legal_settings, path_settings, smtp_settings
from workflows.cases.models import Case, CaseEvent, Outbox
from workflows.cases.service import CaseService
from workflows.engine.definitions import Definition

if TYPE_CHECKING:
    from documents.jobs import JobDeps, OutboxHandler

NOTIFICATION_KIND = "notification.send"
NOTIFICATION_SENT = "notification.sent"
LETTER_QUEUED = "notification.queued_for_print"
LETTER_PRINTED = "notification.printed"
"""Case events: how the person was told is part of the case's history (L112-6 CRPA: an
acknowledgement not sent costs the administration its appeal deadlines)."""
AT_THE_COUNTER = "remise au guichet"
"""The address of a postal notification for a person who gave no postal address."""
THREAD_DEPTH = 10
"""How many earlier message ids go into References (besides the case's root id)."""

_log = get_logger("guichet.notifications")


async def after_document(
    session: AsyncSession, case: Case, document: StoredDocument, *, now: datetime
) -> None:
    """A rendered ARE is sent to the person (e-mail with the PDF attached), in the same
    transaction as the document, through the outbox."""
    if document.kind != "are":
        return
    session.add(
        Outbox(
            case_id=case.id,
            kind=NOTIFICATION_KIND,
            payload={"case_id": str(case.id), "template": "are", "documents": [str(document.id)]},
            dedupe_key=f"notification:{case.id}:are:{document.seq}",
            status="pending",
            attempts=0,
            created_at=now,
        )
    )


# ----- who and how ------------------------------------------------------------------------------


def person_name(submitter: dict[str, Any]) -> str:
    if submitter.get("kind", "person") == "person":
        name = " ".join(str(submitter.get(k) or "") for k in ("given_name", "family_name"))
        if name.strip():
            return name.strip()
    for key in ("organisation_name", "siret", "siren", "rna"):
        if submitter.get(key):
            return str(submitter[key])
    return "Madame, Monsieur"


def wants_postal(submitter: dict[str, Any]) -> bool:
    """Postal when the person chose it, or when there is no e-mail address to write to."""
    return submitter.get("notification") == "postal" or not submitter.get("email")


def postal_address(submitter: dict[str, Any]) -> str:
    address = str(submitter.get("postal_address") or "").strip()
    return address or AT_THE_COUNTER


def _contact(context: dict[str, Any]) -> dict[str, str]:
    service = context.get("service")
    tenant = context["tenant"]
    if service:
        return {
            "name": f"{tenant['name']} — {service['name']}",
            "address": service["address"],
            "phone": service["phone"],
            "email": service["email"],
        }
    address = ", ".join(
        p for p in (tenant["address"], f"{tenant['postal_code']} {tenant['city']}".strip()) if p
    )
    return {
        "name": tenant["name"],
        "address": address,
        "phone": tenant["phone"],
        "email": tenant["email"],
    }


async def _event_details(
    session: AsyncSession, case: Case, definition: Definition, seq: Any
) -> dict[str, Any]:
    """What changed, for ``case.updated``: the event that asked for the notification."""
    event = None
    if isinstance(seq, int):
        event = await session.scalar(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == seq)
        )
    state = case.state
    title = None
    at = case.updated_at
    if event is not None:
        at = event.at
        state = event.to_state or state
        transition = event.data.get("transition")
        if event.public and isinstance(transition, str):
            try:
                title = definition.transition(transition).title
            except KeyError:
                title = None
    try:
        state_title = definition.state(state).title
    except KeyError:
        state_title = state
    return {
        "state_title": state_title,
        "event_title": title,
        "updated_at_text": french_datetime(at, legal_settings().timezone),
    }


async def _documents(session: AsyncSession, case: Case, ids: list[Any]) -> list[StoredDocument]:
    wanted = [uuid.UUID(str(i)) for i in ids]
    if not wanted:
        return []
    found = {
        d.id: d
        for d in await session.scalars(
            select(StoredDocument).where(
                StoredDocument.id.in_(wanted), StoredDocument.case_id == case.id
            )
        )
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise LookupError(f"documents {missing} not found for case {case.id}")
    return [found[i] for i in wanted]


def _filename(case: Case, document: StoredDocument) -> str:
    return f"{case.reference}-{document.kind}-{document.seq}.pdf".replace("/", "-")


async def _thread(session: AsyncSession, case: Case, root: str) -> tuple[list[str], str | None]:
    """References (the case's root id, then earlier e-mails) and In-Reply-To (the last one)."""
    earlier = list(
        await session.scalars(
            select(Notification.message_id)
            .where(Notification.case_id == case.id, Notification.channel == "email")
            .order_by(Notification.created_at, Notification.id)
        )
    )
    earlier = earlier[-THREAD_DEPTH:]
    return [root, *earlier], (earlier[-1] if earlier else None)


# ----- the outbox handler -----------------------------------------------------------------------


async def _agents_address(session: AsyncSession, case: Case, context: dict[str, Any]) -> str:
    """The agent in charge, or else the service named on the acknowledgement."""
    if case.assignee_id is not None:
        agent = await session.get(Agent, case.assignee_id)
        if agent is not None and agent.active:
            return agent.email
    return str(_contact(context)["email"])


async def _notify_agents(
    session: AsyncSession,
    row: Outbox,
    case: Case,
    context: dict[str, Any],
    content: mail.MailContent,
    message_id: str,
    now: datetime,
    deps: JobDeps,
) -> None:
    to_address = await _agents_address(session, case, context)
    notification = Notification(
        outbox_id=row.id,
        case_id=case.id,
        channel="email",
        template=str(row.payload.get("template")),
        to_address=to_address,
        subject=content.subject,
        message_id=message_id,
        status="sent",
        document_ids={"documents": []},
        created_at=now,
        sent_at=now,
    )
    session.add(notification)
    await session.flush()
    settings = smtp_settings()
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    message = mail.build_message(
        content,
        sender=mail.sender_address(tenant.mail_from, settings.smtp_from, tenant.name),
        to_name=str(context["contact"]["name"]),
        to_address=to_address,
        message_id=message_id,
        references=[],
        in_reply_to=None,
        date=now,
    )
    await mail.transport_for(settings, path_settings().data_dir.resolve()).deliver(message)


async def _notify_address(
    session: AsyncSession,
    row: Outbox,
    case: Case,
    content: mail.MailContent,
    message_id: str,
    now: datetime,
    to_address: str,
) -> None:
    """A notification to a given address (``recipient: address``, ``to``): the followers of a
    street report, a department. Only what the template says; no document attached."""
    session.add(
        Notification(
            outbox_id=row.id,
            case_id=case.id,
            channel="email",
            template=str(row.payload.get("template")),
            to_address=to_address,
            subject=content.subject,
            message_id=message_id,
            status="sent",
            document_ids={"documents": []},
            created_at=now,
            sent_at=now,
        )
    )
    await session.flush()
    settings = smtp_settings()
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    message = mail.build_message(
        content,
        sender=mail.sender_address(tenant.mail_from, settings.smtp_from, tenant.name),
        to_name="",
        to_address=to_address,
        message_id=message_id,
        references=[],
        in_reply_to=None,
        date=now,
    )
    await mail.transport_for(settings, path_settings().data_dir.resolve()).deliver(message)


async def send_notification(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Send (or queue for printing) the notification of one outbox row; the caller commits.

    The ``Notification`` row is written and flushed *before* the SMTP exchange: a failed send
    rolls it back with the transaction (the outbox retries), and a concurrent run of the same row
    waits on the unique outbox id, then finds it and sends nothing. The one window left: if the
    transaction fails after the SMTP server accepted the message (the process dies, the commit
    fails), the retry sends it again — with the same Message-ID, so receivers can drop the copy.
    """
    if await session.scalar(select(Notification.id).where(Notification.outbox_id == row.id)):
        return  # already sent (or queued for printing): never twice
    payload: dict[str, Any] = row.payload
    case_id = uuid.UUID(str(payload["case_id"]))
    template = str(payload.get("template") or "case.updated")
    case = await session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case {case_id} not found")
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    definition = deps.engine.procedures.get(case.procedure_key, case.definition_version)
    now = deps.clock.now()
    documents = await _documents(session, case, list(payload.get("documents") or []))

    context = await base_context(session, case, definition, template, now)
    submitter = dict(case.submitter)
    context.update(
        {
            "person": person_name(submitter),
            "received_at_text": french_datetime(case.received_at, legal_settings().timezone),
            "contact": _contact(context),
            "documents": [
                {"title": d.title or d.kind, "filename": _filename(case, d)} for d in documents
            ],
        }
    )
    context.update(await _event_details(session, case, definition, payload.get("seq")))
    settings = smtp_settings()
    sender = mail.sender_address(tenant.mail_from, settings.smtp_from, tenant.name)
    context["accepts_replies"] = mail.accepts_replies(sender)
    context["extra"] = dict(payload.get("extra") or {})
    if payload.get("recipient") == "address":
        context["person"] = "Madame, Monsieur"  # a follower: never the reporter's name
    content = mail.render_mail(template, context)
    domain = mail.address_domain(sender)
    message_id = mail.notification_message_id(row.id, domain)
    document_ids = {"documents": [str(d.id) for d in documents]}

    cases = CaseService(session, deps.engine, deps.clock)
    if payload.get("recipient") == "agent":
        await _notify_agents(session, row, case, context, content, message_id, now, deps)
        return
    if payload.get("recipient") == "address":
        await _notify_address(session, row, case, content, message_id, now, str(payload["to"]))
        return
    if wants_postal(submitter):
        letter = Notification(
            outbox_id=row.id,
            case_id=case.id,
            channel="postal",
            template=template,
            to_address=postal_address(submitter),
            subject=content.subject,
            message_id=message_id,
            status="to_print",
            document_ids=document_ids,
            created_at=now,
            sent_at=None,
        )
        session.add(letter)
        await session.flush()
        await _record_letter(cases, letter, reason="choix de la personne")
        return

    to_address = str(submitter["email"])
    references, in_reply_to = await _thread(session, case, mail.case_thread_id(case.id, domain))
    notification = Notification(
        outbox_id=row.id,
        case_id=case.id,
        channel="email",
        template=template,
        to_address=to_address,
        subject=content.subject,
        message_id=message_id,
        status="sent",
        document_ids=document_ids,
        created_at=now,
        sent_at=now,
    )
    session.add(notification)
    await session.flush()

    attachments = [
        mail.Attachment(
            filename=_filename(case, d),
            content=await deps.storage.get(d.storage_key, sha256=d.sha256),
            maintype=d.content_type.partition("/")[0] or "application",
            subtype=d.content_type.partition("/")[2] or "octet-stream",
        )
        for d in documents
    ]
    message = mail.build_message(
        content,
        sender=sender,
        to_name=context["person"],
        to_address=to_address,
        message_id=message_id,
        references=references,
        in_reply_to=in_reply_to,
        date=now,
        attachments=attachments,
    )
    transport = mail.transport_for(settings, path_settings().data_dir.resolve())
    try:
        where = await transport.deliver(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if not all(500 <= r.code < 600 for r in exc.recipients):
            raise
        # The address is refused for good (5xx): the person still has to be told — by letter.
        _log.warning(
            "e-mail address refused, notification moved to the print queue",
            case_id=str(case.id),
            outbox_id=str(row.id),
            error=str(exc),
        )
        notification.channel = "postal"
        notification.status = "to_print"
        notification.to_address = postal_address(submitter)
        notification.sent_at = None
        await _record_letter(cases, notification, reason=f"adresse e-mail refusée : {exc}")
        return
    # Recorded after the SMTP exchange: the case's row lock is not held while talking to it.
    await cases.record(
        case.id,
        NOTIFICATION_SENT,
        SYSTEM_ACTOR,
        {
            "notification_id": str(notification.id),
            "template": template,
            "channel": "email",
            "to": to_address,
            "subject": content.subject,
            "message_id": message_id,
            "documents": document_ids["documents"],
        },
        public=True,
    )
    _log.info(
        "notification sent",
        case_id=str(case.id),
        outbox_id=str(row.id),
        template=template,
        message_id=message_id,
        delivered=where,
    )


async def _record_letter(cases: CaseService, letter: Notification, *, reason: str) -> None:
    assert letter.case_id is not None
    await cases.record(
        letter.case_id,
        LETTER_QUEUED,
        SYSTEM_ACTOR,
        {
            "notification_id": str(letter.id),
            "template": letter.template,
            "channel": "postal",
            "to": letter.to_address,
            "subject": letter.subject,
            "documents": list(letter.document_ids.get("documents", [])),
            "reason": reason[:300],
        },
        public=True,
    )


HANDLERS: dict[str, OutboxHandler] = {NOTIFICATION_KIND: send_notification}
