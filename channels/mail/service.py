"""What becomes of a received mail: a new case, a message on an existing case, or the triage queue.

``MailService.receive`` runs in the caller's transaction and writes one ``InboundMail`` row per
Message-ID (the raw bytes kept in content-addressed storage). In order:

1. the same Message-ID again (an MTA redelivering after a lost answer) → nothing new;
2. an automatic message (auto-reply, bounce, mailing list, our own mails looping) → ``ignored``;
3. more than ``rate_per_hour`` mails from the sender in the last hour → ``rejected`` (mail bomb);
4. a reply to a case — its ``In-Reply-To``/``References`` name a message Guichet sent for the case
   (``<case-…>``, ``<notif-…>``, ``<ack-…>``), or the address has ``+<reference>``, or the subject
   ``[<reference>]`` — from one of the case's participants → a public message on the case
   (``message_added``); from anyone else → ``triage`` (a forged reply is never added);
5. a route with a procedure → a case opened through ``channels.intake.submit`` (channel
   ``mail``), the mail text as its first message (``case_opened``); when the procedure's payload
   does not accept it → ``triage`` (« à qualifier »);
6. a route without procedure → ``triage``.

The sender gets an acknowledgement that threads under their mail (``In-Reply-To`` and
``References`` carry their Message-ID), with the reference when a case was opened or continued.
It is queued in the outbox by the transaction that keeps the mail (``documents.raw_mail``):
nothing is acknowledged that was not kept, and nothing kept goes unacknowledged, even if the
process dies right after COMMIT. Ignored and rejected mails get none (no backscatter).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Final
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.attachments.service import (
    AttachmentRules,
    Checked,
    check_content,
    rules_for,
    spool,
)
from channels.intake import IntakeRequest, IntakeResult, normalise_contact, submit
from channels.mail.parser import (
    DEFAULT_MAX_ATTACHMENTS,
    DEFAULT_MAX_BYTES,
    MailAttachment,
    MailRejected,
    ParsedMail,
    parse,
)
from channels.models import Attachment, InboundMail, MailRoute
from documents import mail as outgoing
from documents.raw_mail import queue_message
from documents.storage import DocumentStorage
from identity.models import Person, Tenant
from identity.service import TenantCache
from services.kernel.actor import SYSTEM_ACTOR, Actor, ActorKind, Role
from services.kernel.clock import Clock
from services.kernel.errors import (
    Conflict,
    Forbidden,
    GuichetError,
    HiddenDenial,
    NotFound,
    ValidationFailed,
)
from services.kernel.journal import JournalEvent, record
from services.kernel.logging import get_logger
from services.kernel.settings import smtp_settings
from workflows.cases.models import Case, Outbox
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.definition import KEY as STREET_REPORT

_log = get_logger("guichet.mail")
PARIS = ZoneInfo("Europe/Paris")
MAIL_CHANNEL: Final = "mail"
MESSAGE_EVENT = "case.message"
REFERENCE = re.compile(r"\b([0-9][0-9AB][0-9]{3}-[0-9]{4}-[0-9]{6})\b", re.IGNORECASE)
_THREAD_ID = re.compile(
    r"^<(case|notif|ack)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@",
    re.IGNORECASE,
)

CASE_OPENED = "case_opened"
MESSAGE_ADDED = "message_added"
TRIAGE = "triage"
REJECTED = "rejected"
IGNORED = "ignored"
STATUSES = (CASE_OPENED, MESSAGE_ADDED, TRIAGE, REJECTED, IGNORED)
TO_QUALIFY = "à qualifier"
TOO_MANY = "trop de messages"


@dataclass(frozen=True, slots=True)
class MailSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    rate_per_hour: int = 20
    """Mails accepted from one sender per hour; more are rejected (mail bomb)."""
    default_procedure: str = "general.request"

    @classmethod
    def from_env(cls) -> MailSettings:
        """GUICHET_MAIL_MAX_BYTES, GUICHET_MAIL_MAX_ATTACHMENTS, GUICHET_MAIL_RATE_PER_HOUR."""

        def number(name: str, default: int) -> int:
            value = os.environ.get(name, "").strip()
            return int(value) if value.isdigit() and int(value) > 0 else default

        return cls(
            max_bytes=number("GUICHET_MAIL_MAX_BYTES", DEFAULT_MAX_BYTES),
            max_attachments=number("GUICHET_MAIL_MAX_ATTACHMENTS", DEFAULT_MAX_ATTACHMENTS),
            rate_per_hour=number("GUICHET_MAIL_RATE_PER_HOUR", 20),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one mail; ``acknowledgement`` is the reply queued in the outbox."""

    status: str
    message_id: str
    inbound_mail_id: uuid.UUID | None = None
    reason: str | None = None
    case_id: uuid.UUID | None = None
    reference: str | None = None
    duplicate: bool = False
    acknowledgement: EmailMessage | None = None


# ----- helpers ---------------------------------------------------------------------------------


def split_plus(address: str) -> tuple[str, str | None]:
    """``voirie+69001-2026-000001@ville.fr`` → (``voirie@ville.fr``, ``69001-2026-000001``)."""
    local, at, domain = address.strip().lower().partition("@")
    if not at:
        return address.strip().lower(), None
    base, plus, tag = local.partition("+")
    return f"{base}@{domain}", (tag or None) if plus else None


def split_name(display_name: str) -> tuple[str, str]:
    """(given name, family name) from a display name; "Inconnu" for what is missing."""
    name = " ".join(display_name.replace('"', " ").split())
    if "@" in name or not name:
        return "Inconnu", "Inconnu"
    if "," in name:  # "Dupont, Jeanne"
        family, _, given = name.partition(",")
        return (given.strip() or "Inconnu")[:120], (family.strip() or "Inconnu")[:120]
    words = name.split(" ")
    if len(words) == 1:
        return "Inconnu", words[0][:120]
    return " ".join(words[:-1])[:120], words[-1][:120]


async def _checked(item: MailAttachment, rules: AttachmentRules) -> Checked:
    async def chunks() -> AsyncIterator[bytes]:
        yield item.data

    spooled = await spool(chunks(), max_bytes=rules.max_bytes, rules=rules)
    try:
        return check_content(spooled, item.filename, rules)
    finally:
        spooled.discard()


def _external_ref(message_id: str) -> str:
    return "mail:" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def _fr_datetime(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def _sender_actor(name: str, address: str) -> Actor:
    """Who wrote a mail message on a case: the platform, on behalf of the named sender."""
    who = name or address
    return replace(SYSTEM_ACTOR, display_name=f"{who} (courriel)"[:200])


# ----- the service -----------------------------------------------------------------------------


class MailService:
    def __init__(
        self,
        session: AsyncSession,
        engine: Engine,
        clock: Clock,
        storage: DocumentStorage,
        settings: MailSettings | None = None,
    ) -> None:
        self.session = session
        self.engine = engine
        self.clock = clock
        self.storage = storage
        self.settings = settings or MailSettings.from_env()

    def parse(self, raw: bytes) -> ParsedMail:
        """Raises ``MailRejected`` (too big, too many attachments, unreadable)."""
        sender = smtp_settings().smtp_from
        return parse(
            raw,
            max_bytes=self.settings.max_bytes,
            max_attachments=self.settings.max_attachments,
            own_domains=frozenset({outgoing.address_domain(sender)}),
        )

    async def route_for(self, address: str) -> MailRoute | None:
        base, _ = split_plus(address)
        route: MailRoute | None = await self.session.scalar(
            select(MailRoute).where(MailRoute.address == base, MailRoute.active.is_(True))
        )
        return route

    async def receive(
        self,
        raw: bytes,
        *,
        source: str,
        recipients: Sequence[str] = (),
        envelope_from: str | None = None,
        default_recipient: str | None = None,
    ) -> Outcome:
        """Process one mail (module doc). Raises ``MailRejected`` when it cannot be read.

        ``recipients``: the envelope's (LMTP), tried first; then the mail's To, Cc,
        Delivered-To; then ``default_recipient`` (an IMAP mailbox's own address)."""
        parsed = self.parse(raw)
        existing = await self.session.scalar(
            select(InboundMail).where(InboundMail.message_id == parsed.message_id)
        )
        if existing is not None:
            return Outcome(
                status=existing.status,
                message_id=parsed.message_id,
                inbound_mail_id=existing.id,
                reason=existing.reason,
                case_id=existing.case_id,
                duplicate=True,
            )
        now = self.clock.now()
        sender = parsed.sender or (envelope_from or "").strip().lower()
        route, recipient, plus_tag = None, "", None
        fallback = [default_recipient] if default_recipient else []
        for address in [*recipients, *parsed.recipients, *fallback]:
            found = await self.route_for(address)
            if found is not None:
                route, recipient = found, address.strip().lower()
                plus_tag = split_plus(recipient)[1]
                break
        if not recipient:
            recipient = ([*recipients, *parsed.recipients, *fallback] or [""])[0].lower()
        blob = await self.storage.put(raw)
        mail = InboundMail(
            message_id=parsed.message_id[:300],
            received_at=now,
            source=source,
            sender=sender[:254],
            recipient=recipient[:254],
            subject=parsed.subject[:300],
            body_text=parsed.text,
            raw_sha256=blob.sha256,
            raw_storage_key=blob.key,
            tenant_id=route.tenant_id if route else None,
            status=TRIAGE,
            case_id=None,
            reason=None,
        )
        self.session.add(mail)
        await self.session.flush()

        def done(status: str, reason: str | None = None) -> Outcome:
            # Keeps what _keep_attachments noted (refused attachments) after the reason.
            parts = [p for p in (reason, mail.reason) if p]
            mail.status, mail.reason = status, " — ".join(parts)[:300] or None
            return Outcome(status, parsed.message_id, mail.id, mail.reason, mail.case_id)

        if parsed.auto_submitted:
            return done(IGNORED, parsed.auto_reason)
        if sender:
            recent = await self.session.scalar(
                select(func.count())
                .select_from(InboundMail)
                .where(
                    InboundMail.sender == mail.sender,
                    InboundMail.received_at > now - timedelta(hours=1),
                    InboundMail.id != mail.id,
                )
            )
            if (recent or 0) >= self.settings.rate_per_hour:
                return done(REJECTED, TOO_MANY)
        if route is None:
            return done(REJECTED, "aucune adresse de Guichet parmi les destinataires")
        tenant = await self.session.get(Tenant, route.tenant_id)
        assert tenant is not None
        if not sender:
            await self._keep_attachments(mail, parsed.attachments, None)
            return done(TRIAGE, "expéditeur illisible : " + TO_QUALIFY)

        case = await self._replied_case(parsed, plus_tag, tenant.id)
        if case is not None:
            if await self._participates(case, sender):
                await self._add_message(case, mail, parsed)
                await self._keep_attachments(mail, parsed.attachments, case)
                mail.case_id = case.id
                outcome = done(MESSAGE_ADDED)
                return self._with_ack(outcome, tenant, route, parsed, case.reference)
            await self._keep_attachments(mail, parsed.attachments, None)
            outcome = done(
                TRIAGE,
                f"réponse au dossier {case.reference} d'un expéditeur qui n'y participe pas "
                "(non ajoutée au dossier) : à vérifier",
            )
            return self._with_ack(outcome, tenant, route, parsed, None)

        if route.procedure_key:
            opened = await self._open_case(tenant, route.procedure_key, mail, parsed)
            if isinstance(opened, Case):
                await self._keep_attachments(mail, parsed.attachments, opened)
                mail.case_id = opened.id
                outcome = done(CASE_OPENED)
                return self._with_ack(outcome, tenant, route, parsed, opened.reference)
            await self._keep_attachments(mail, parsed.attachments, None)
            outcome = done(TRIAGE, f"{TO_QUALIFY} : {opened}")
            return self._with_ack(outcome, tenant, route, parsed, None)
        await self._keep_attachments(mail, parsed.attachments, None)
        return self._with_ack(done(TRIAGE, TO_QUALIFY), tenant, route, parsed, None)

    async def record_unreadable(
        self, raw: bytes, rejected: MailRejected, *, source: str, recipient: str = ""
    ) -> InboundMail:
        """Keep a trace of a mail that could not be read (IMAP: it cannot be refused)."""
        message_id = "<refus-" + hashlib.sha256(raw).hexdigest()[:40] + "@guichet.invalid>"
        found: InboundMail | None = await self.session.scalar(
            select(InboundMail).where(InboundMail.message_id == message_id)
        )
        if found is not None:
            return found
        blob = await self.storage.put(raw)
        route = await self.route_for(recipient) if recipient else None
        mail = InboundMail(
            message_id=message_id,
            received_at=self.clock.now(),
            source=source,
            sender="",
            recipient=recipient[:254],
            subject="",
            body_text="",
            raw_sha256=blob.sha256,
            raw_storage_key=blob.key,
            tenant_id=route.tenant_id if route else None,
            status=REJECTED,
            reason=rejected.reason[:300],
        )
        self.session.add(mail)
        await self.session.flush()
        return mail

    # ----- replies ---------------------------------------------------------------------------

    async def _replied_case(
        self, parsed: ParsedMail, plus_tag: str | None, tenant_id: uuid.UUID
    ) -> Case | None:
        ids = [*([parsed.in_reply_to] if parsed.in_reply_to else []), *parsed.references]
        for message_id in ids:
            match = _THREAD_ID.match(message_id)
            if not match:
                continue
            kind, raw_id = match.group(1).lower(), uuid.UUID(match.group(2))
            case_id: uuid.UUID | None = None
            if kind == "case":
                case_id = raw_id
            elif kind == "notif":
                case_id = await self.session.scalar(
                    select(Outbox.case_id).where(Outbox.id == raw_id)
                )
            else:
                case_id = await self.session.scalar(
                    select(InboundMail.case_id).where(InboundMail.id == raw_id)
                )
            if case_id is not None:
                case = await self.session.get(Case, case_id)
                if case is not None and case.tenant_id == tenant_id:
                    return case
        for text in (plus_tag or "", parsed.subject):
            match = REFERENCE.search(text)
            if match:
                found: Case | None = await self.session.scalar(
                    select(Case).where(
                        Case.tenant_id == tenant_id, Case.reference == match.group(1).upper()
                    )
                )
                if found is not None:
                    return found
        return None

    async def _participates(self, case: Case, sender: str) -> bool:
        """The sender is the case's submitter: the e-mail given on the case, or the account of
        the person concerned."""
        me = normalise_contact(sender)
        known = {normalise_contact(str(case.submitter.get("email") or ""))}
        if case.submitter_id is not None:
            person = await self.session.get(Person, case.submitter_id)
            if person is not None:
                known |= {
                    normalise_contact(person.login_email),
                    normalise_contact(person.contact_email),
                }
        known.discard(None)
        return me is not None and me in known

    async def _add_message(self, case: Case, mail: InboundMail, parsed: ParsedMail) -> None:
        text = parsed.text or "(message sans texte)"
        if parsed.attachments:
            names = ", ".join(a.filename for a in parsed.attachments)
            text = f"{text}\n\nPièces jointes : {names}"
        await CaseService(self.session, self.engine, self.clock).record(
            case.id,
            MESSAGE_EVENT,
            _sender_actor(parsed.sender_name, mail.sender),
            {
                "text": text[:20_000],
                "via": MAIL_CHANNEL,
                "from": mail.sender,
                "subject": parsed.subject,
                "inbound_mail_id": str(mail.id),
            },
            public=True,
            channel=MAIL_CHANNEL,
        )

    async def _keep_attachments(
        self, mail: InboundMail, attachments: Sequence[MailAttachment], case: Case | None
    ) -> None:
        """Attachments go through the web's checks (size, type sniffed from the bytes, lying
        extensions, image and zip bombs, names); a refused one is not kept, and the mail's
        record says which and why."""
        now = self.clock.now()
        rules = rules_for(case.procedure_key if case else "")
        refused: list[str] = []
        for item in attachments:
            try:
                checked = await _checked(item, rules)
            except GuichetError as exc:
                refused.append(f"{item.filename} : {exc.detail}")
                continue
            blob = await self.storage.put(item.data)
            self.session.add(
                Attachment(
                    tenant_id=mail.tenant_id,
                    case_id=case.id if case else None,
                    inbound_mail_id=mail.id,
                    filename=checked.filename,
                    content_type=checked.content_type,
                    size=blob.size,
                    sha256=blob.sha256,
                    storage_key=blob.key,
                    scan_status="not_scanned",
                    created_at=now,
                )
            )
        if refused:
            mail.reason = ("pièces refusées : " + " ; ".join(refused))[:300]
        await self.session.flush()

    # ----- new cases -------------------------------------------------------------------------

    async def _open_case(
        self, tenant: Tenant, procedure_key: str, mail: InboundMail, parsed: ParsedMail
    ) -> Case | str:
        """The opened case, or why it could not be opened (the mail then goes to triage)."""
        given, family = split_name(parsed.sender_name)
        subject = parsed.subject.strip()
        if len(subject) < 3:
            subject = "Courriel sans objet"
        request = IntakeRequest(
            tenant=str(tenant.id),
            procedure_key=procedure_key,
            channel=MAIL_CHANNEL,
            submitter={
                "kind": "person",
                "given_name": given,
                "family_name": family,
                "email": mail.sender,
                "notification": "email",
            },
            payload={"subject": subject[:200], "message": (parsed.text or subject)[:20_000]},
            actor=SYSTEM_ACTOR,
            channel_data={
                "message_id": parsed.message_id,
                "from": mail.sender,
                "to": mail.recipient,
                "inbound_mail_id": str(mail.id),
            },
            external_ref=_external_ref(parsed.message_id),
        )
        try:
            async with self.session.begin_nested():
                result = await submit(self.session, self.engine, self.clock, request)
        except (ValidationFailed, ValidationError) as exc:
            return f"la démarche {procedure_key} n'accepte pas ce courriel tel quel ({exc})"
        except (Forbidden, Conflict, NotFound, KeyError) as exc:
            return f"le dossier n'a pas pu être ouvert automatiquement ({exc})"
        case = await self.session.get(Case, result.case_id)
        assert case is not None
        if result.created:
            await self._add_message(case, mail, parsed)
        return case

    # ----- acknowledgement -------------------------------------------------------------------

    def _with_ack(
        self,
        outcome: Outcome,
        tenant: Tenant,
        route: MailRoute,
        parsed: ParsedMail,
        reference: str | None,
    ) -> Outcome:
        """Build the acknowledgement and queue it in the outbox, in the transaction that keeps
        the mail: sent once it is committed, never lost by a crash after COMMIT."""
        mail_id = outcome.inbound_mail_id or uuid.uuid4()
        now = self.clock.now()
        ack = acknowledgement(
            tenant=tenant,
            route_address=route.address,
            parsed=parsed,
            inbound_mail_id=mail_id,
            status=outcome.status,
            case_id=outcome.case_id,
            reference=reference,
            now=now,
        )
        queue_message(
            self.session, ack, dedupe_key=f"mail-ack:{mail_id}", now=now, case_id=outcome.case_id
        )
        return replace(outcome, acknowledgement=ack, reference=reference)


def tenant_sender(tenant: Tenant) -> str:
    return outgoing.sender_address(tenant.mail_from, smtp_settings().smtp_from, tenant.name)


def threaded_reply(
    *,
    tenant: Tenant,
    to: str,
    to_name: str,
    subject: str,
    text: str,
    message_id: str,
    in_reply_to: str,
    references: Sequence[str],
    reply_to: str | None,
    now: datetime,
) -> EmailMessage:
    """A plain reply from the tenant that threads under ``in_reply_to`` (RFC 5322 §3.6.4)."""
    content = outgoing.MailContent(
        subject=subject,
        text=text,
        html="<p>" + html.escape(text).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>",
    )
    msg = outgoing.build_message(
        content,
        sender=tenant_sender(tenant),
        to_name=to_name,
        to_address=to,
        message_id=message_id,
        references=list(dict.fromkeys([*references, in_reply_to])),
        in_reply_to=in_reply_to,
        date=now,
    )
    del msg["Auto-Submitted"]
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: robots must not answer it
    if reply_to:
        msg["Reply-To"] = reply_to
    return msg


def _reply_subject(subject: str, reference: str | None) -> str:
    subject = subject.strip() or "votre courriel"
    if not subject.lower().startswith(("re:", "re :")):
        subject = f"Re: {subject}"
    if reference and f"[{reference}]" not in subject:
        subject = f"[{reference}] {subject}"
    return subject[:250]


def acknowledgement(
    *,
    tenant: Tenant,
    route_address: str,
    parsed: ParsedMail,
    inbound_mail_id: uuid.UUID,
    status: str,
    case_id: uuid.UUID | None,
    reference: str | None,
    now: datetime,
) -> EmailMessage:
    domain = outgoing.address_domain(tenant_sender(tenant))
    received = _fr_datetime(now)
    about = f"« {parsed.subject} »" if parsed.subject else "sans objet"
    hello = f"Bonjour {parsed.sender_name}," if parsed.sender_name else "Bonjour,"
    if status == CASE_OPENED and reference:
        body = (
            f"Votre courriel {about} a bien été reçu par {tenant.name} le {received}.\n\n"
            f"Il a été enregistré comme une demande sous la référence {reference}. Conservez "
            "cette référence : pour compléter votre demande, répondez simplement à ce message "
            f"ou indiquez [{reference}] dans l'objet de vos courriels.\n\n"
            "Un accusé de réception détaillé (service chargé de votre demande, délais) vous "
            "est envoyé séparément."
        )
    elif status == MESSAGE_ADDED and reference:
        body = (
            f"Votre courriel {about} reçu le {received} a été ajouté à votre dossier "
            f"{reference}. Le service qui le traite en a connaissance."
        )
    else:
        body = (
            f"Votre courriel {about} a bien été reçu par {tenant.name} le {received}.\n\n"
            "Un agent va l'orienter vers le service compétent. Vous recevrez ensuite un accusé "
            "de réception avec la référence de votre demande."
        )
    text = f"{hello}\n\n{body}\n\n{tenant.name}\n"
    base_local, _, base_domain = route_address.partition("@")
    reply_to = f"{base_local}+{reference.lower()}@{base_domain}" if reference else route_address
    references = list(parsed.references)
    if case_id is not None:
        references.insert(0, outgoing.case_thread_id(case_id, domain))
    return threaded_reply(
        tenant=tenant,
        to=parsed.sender,
        to_name=parsed.sender_name,
        subject=_reply_subject(parsed.subject, reference),
        text=text,
        message_id=f"<ack-{inbound_mail_id}@{domain}>",
        in_reply_to=parsed.message_id,
        references=references,
        reply_to=reply_to,
        now=now,
    )


def mail_summary(mail: InboundMail) -> dict[str, Any]:
    return {
        "id": str(mail.id),
        "message_id": mail.message_id,
        "received_at": mail.received_at.isoformat(),
        "source": mail.source,
        "sender": mail.sender,
        "recipient": mail.recipient,
        "subject": mail.subject,
        "status": mail.status,
        "reason": mail.reason,
        "case_id": str(mail.case_id) if mail.case_id else None,
    }


def is_agent(actor: Actor) -> bool:
    return actor.kind is ActorKind.AGENT


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    storage: DocumentStorage,
    raw: bytes,
    *,
    source: str,
    recipients: Sequence[str] = (),
    envelope_from: str | None = None,
    default_recipient: str | None = None,
    settings: MailSettings | None = None,
) -> Outcome:
    """Receive one mail in its own transaction (its acknowledgement queued in the outbox).
    Raises ``MailRejected`` for an unreadable mail; any other error means nothing was kept."""
    try:
        async with sessionmaker() as session, session.begin():
            service = MailService(session, engine, clock, storage, settings)
            outcome = await service.receive(
                raw,
                source=source,
                recipients=recipients,
                envelope_from=envelope_from,
                default_recipient=default_recipient,
            )
    except IntegrityError:
        # The same Message-ID committed meanwhile by another delivery: a duplicate.
        async with sessionmaker() as session:
            parsed = MailService(session, engine, clock, storage, settings).parse(raw)
            existing = await session.scalar(
                select(InboundMail).where(InboundMail.message_id == parsed.message_id)
            )
        if existing is None:
            raise
        return Outcome(existing.status, parsed.message_id, existing.id, duplicate=True)
    return outcome


# ----- the agents' triage ----------------------------------------------------------------------

TRIAGE_ROLES: Final = frozenset(
    {Role.COUNTER_AGENT.value, Role.INSTRUCTOR.value, Role.PHONE_AGENT.value}
)


def triage_tenants(actor: Actor) -> frozenset[uuid.UUID]:
    """The tenants whose mails this agent sorts (a triage role there)."""
    if actor.kind is not ActorKind.AGENT:
        return frozenset()
    return frozenset(t for t, roles in actor.roles.items() if roles & TRIAGE_ROLES)


async def list_mails(
    session: AsyncSession, actor: Actor, *, status: str, limit: int = 100
) -> list[InboundMail]:
    tenant_ids = triage_tenants(actor)
    if not tenant_ids:
        return []
    return list(
        await session.scalars(
            select(InboundMail)
            .where(InboundMail.tenant_id.in_(tenant_ids), InboundMail.status == status)
            .order_by(InboundMail.received_at, InboundMail.id)
            .limit(limit)
        )
    )


async def visible_mail(
    session: AsyncSession, actor: Actor, mail_id: uuid.UUID, *, lock: bool = False
) -> InboundMail:
    query = select(InboundMail).where(InboundMail.id == mail_id)
    if lock:
        query = query.with_for_update()
    mail: InboundMail | None = await session.scalar(query)
    if mail is None or mail.tenant_id not in triage_tenants(actor):
        raise HiddenDenial(
            "Ce courriel est introuvable, ou il n'est pas adressé à une collectivité où vous "
            "triez le courrier."
        )
    return mail


def _must_be_in_triage(mail: InboundMail) -> None:
    if mail.status != TRIAGE:
        raise Conflict(
            f"Ce courriel a déjà été traité (statut « {mail.status} ») : rechargez la liste "
            "des courriels à trier.",
            extra={
                "mail_status": mail.status,
                "case_id": str(mail.case_id) if mail.case_id else None,
            },
        )


async def mail_attachments(session: AsyncSession, mail: InboundMail) -> list[Attachment]:
    return list(
        await session.scalars(
            select(Attachment)
            .where(Attachment.inbound_mail_id == mail.id)
            .order_by(Attachment.created_at, Attachment.id)
        )
    )


async def qualify(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    mail_id: uuid.UUID,
    *,
    procedure: str,
    payload: dict[str, Any],
    submitter: dict[str, Any] | None,
    tenants: TenantCache | None = None,
    storage: DocumentStorage | None = None,
) -> tuple[InboundMail, IntakeResult]:
    """An agent opens the case a mail in triage asks for (channel ``mail``, received when the
    mail was); the mail text becomes the case's first message, its attachments the case's."""
    mail = await visible_mail(session, actor, mail_id, lock=True)
    _must_be_in_triage(mail)
    try:
        engine.procedures.get(procedure)
    except NotFound:
        raise ValidationFailed(
            f"La démarche « {procedure} » n'existe pas : choisissez-en une dans la liste des "
            "démarches.",
            errors=[{"field": "procedure", "message": "démarche inconnue", "type": "unknown"}],
        ) from None
    if procedure == STREET_REPORT:
        # A report needs a category and a point, checked against the category's attributes and
        # the territory: it has its own qualification, which says so.
        raise ValidationFailed(
            "Un signalement se qualifie avec sa catégorie et son emplacement : utilisez "
            f"POST /api/v1/signalements/courriels/{mail.id}/qualifier.",
            errors=[{"field": "procedure", "message": "qualification dédiée", "type": "route"}],
        )
    now = clock.now()
    if submitter is None:
        if not mail.sender:
            raise ValidationFailed(
                "Ce courriel n'a pas d'expéditeur lisible : indiquez le demandeur (« submitter »).",
                errors=[{"field": "submitter", "message": "obligatoire ici", "type": "missing"}],
            )
        parsed_name = await _sender_name(mail, storage)
        given, family = split_name(parsed_name)
        submitter = {
            "kind": "person",
            "given_name": given,
            "family_name": family,
            "email": mail.sender,
            "notification": "email",
        }
    assert mail.tenant_id is not None
    result = await submit(
        session,
        engine,
        clock,
        IntakeRequest(
            tenant=str(mail.tenant_id),
            procedure_key=procedure,
            channel=MAIL_CHANNEL,
            submitter=submitter,
            payload=payload,
            actor=actor,
            received_at=mail.received_at if mail.received_at < now else None,
            received_at_reason=f"courriel reçu le {_fr_datetime(mail.received_at)}",
            channel_data={
                "message_id": mail.message_id,
                "from": mail.sender,
                "to": mail.recipient,
                "inbound_mail_id": str(mail.id),
                "qualified_by": str(actor.id),
            },
            external_ref=_external_ref(mail.message_id),
        ),
        tenants=tenants,
    )
    await mail_opened_case(
        session,
        engine,
        clock,
        mail,
        actor,
        result.case_id,
        created=result.created,
        procedure=procedure,
        reason=f"qualifié en {procedure}",
    )
    await session.flush()
    return mail, result


async def mail_opened_case(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    mail: InboundMail,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    created: bool,
    procedure: str,
    reason: str,
) -> None:
    """What an agent's qualification leaves behind, whatever the procedure: on a new case the
    mail text (with the names of its files) is the case's first message and its attachments the
    case's; the mail is marked as having opened the case, and the decision journaled."""
    now = clock.now()
    if created:
        files = await mail_attachments(session, mail)
        text = mail.body_text or "(courriel sans texte)"
        if files:
            text = f"{text}\n\nPièces jointes : {', '.join(f.filename for f in files)}"
        await CaseService(session, engine, clock).record(
            case_id,
            MESSAGE_EVENT,
            _sender_actor("", mail.sender),
            {
                "text": text[:20_000],
                "via": MAIL_CHANNEL,
                "from": mail.sender,
                "subject": mail.subject,
                "inbound_mail_id": str(mail.id),
            },
            public=True,
            channel=MAIL_CHANNEL,
        )
        for item in files:
            item.case_id = case_id
    mail.status, mail.case_id = CASE_OPENED, case_id
    mail.reason = reason[:300]
    mail.decided_by_agent_id, mail.decided_at = actor.id, now
    record(
        session,
        JournalEvent.MAIL_QUALIFIED,
        at=now,
        actor=actor,
        tenant_id=mail.tenant_id,
        data={"mail_id": str(mail.id), "case_id": str(case_id), "procedure": procedure},
    )


async def _sender_name(mail: InboundMail, storage: DocumentStorage | None) -> str:
    """The sender's display name, read back from the kept raw mail ("" when unavailable)."""
    if storage is None:
        return ""
    try:
        raw = await storage.get(mail.raw_storage_key, sha256=mail.raw_sha256)
        return parse(raw, max_bytes=len(raw) + 1, max_attachments=10_000).sender_name
    except Exception as exc:  # noqa: BLE001 - the name is a convenience, never a failure
        _log.info("mail.sender_name_unavailable", mail_id=str(mail.id), error=repr(exc))
        return ""


async def reject(
    session: AsyncSession, clock: Clock, actor: Actor, mail_id: uuid.UUID, *, reply: str
) -> tuple[InboundMail, EmailMessage | None]:
    """An agent answers a mail that opens no case (wrong service, not a request...): the mail
    is ``rejected`` and the sender gets ``reply`` in the thread of their mail (queued in the
    outbox: sent once this transaction commits)."""
    mail = await visible_mail(session, actor, mail_id, lock=True)
    _must_be_in_triage(mail)
    now = clock.now()
    mail.status, mail.reason = REJECTED, f"réponse d'un agent : {reply}"[:300]
    mail.decided_by_agent_id, mail.decided_at = actor.id, now
    record(
        session,
        JournalEvent.MAIL_REJECTED,
        at=now,
        actor=actor,
        tenant_id=mail.tenant_id,
        data={"mail_id": str(mail.id), "sender": mail.sender},
    )
    await session.flush()
    if not mail.sender:
        return mail, None
    tenant = await session.get(Tenant, mail.tenant_id)
    assert tenant is not None
    domain = outgoing.address_domain(tenant_sender(tenant))
    text = f"Bonjour,\n\n{reply.strip()}\n\n{actor.display_name}\n{tenant.name}\n"
    message = threaded_reply(
        tenant=tenant,
        to=mail.sender,
        to_name="",
        subject=_reply_subject(mail.subject, None),
        text=text,
        message_id=f"<reply-{mail.id}@{domain}>",
        in_reply_to=mail.message_id,
        references=[],
        reply_to=None,
        now=now,
    )
    del message["Auto-Submitted"]  # written by a person: an out-of-office may answer it
    queue_message(session, message, dedupe_key=f"mail-reply:{mail.id}", now=now)
    return mail, message
