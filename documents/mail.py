"""Outgoing e-mail: compose French notifications (text + HTML) and deliver them.

Templates live in ``documents/templates/mail/``: for each notification ``<name>.subject.txt``,
``<name>.txt`` and ``<name>.html`` (HTML autoescaped). Adding a notification = those three files.

Delivery goes to the SMTP server of ``smtp_settings()`` (aiosmtplib). When no SMTP host is set —
the embedded default — every message is written as an ``.eml`` file under ``<data dir>/mail``
instead: a real delivery that anyone can open in a mail client, never a silent drop.

Threading: each case has a root id ``<case-<case_id>@<domain>>`` (never sent as a message); every
notification carries it in ``References``, and after the first one ``In-Reply-To`` names the
previous message, so mail clients thread a case's messages together and the replies of the person
can be traced back to the case by the mail channel. Message ids are ``<notif-<outbox_id>@<domain>>``:
deterministic, so a message re-sent after a crash keeps its id and receivers can drop the copy.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
import jinja2

from services.kernel.clock import Clock
from services.kernel.errors import Unavailable
from services.kernel.settings import SmtpSettings

MAIL_TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
DEFAULT_DOMAIN = "guichet.invalid"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(MAIL_TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def known_templates() -> frozenset[str]:
    """Notifications that have their three templates (subject, text, HTML)."""
    names = {p.name.removesuffix(".subject.txt") for p in MAIL_TEMPLATES.glob("*.subject.txt")}
    return frozenset(
        n
        for n in names
        if (MAIL_TEMPLATES / f"{n}.txt").is_file() and (MAIL_TEMPLATES / f"{n}.html").is_file()
    )


@dataclass(frozen=True, slots=True)
class MailContent:
    subject: str
    text: str
    html: str


def render_mail(template: str, context: dict[str, Any]) -> MailContent:
    """The subject, text and HTML of a notification. The subject is prefixed by the reference."""
    if template not in known_templates():
        raise LookupError(f"no mail template {template!r} in {MAIL_TEMPLATES}")
    env = _env()
    subject = " ".join(env.get_template(f"{template}.subject.txt").render(context).split())
    reference = context.get("reference")
    if reference:
        subject = f"[{reference}] {subject}"
    return MailContent(
        subject=subject,
        text=env.get_template(f"{template}.txt").render(context),
        html=env.get_template(f"{template}.html").render(context),
    )


# ----- addresses and threading ------------------------------------------------------------------


def sender_address(mail_from: str | None, default: str, display_name: str) -> str:
    """The From header: the tenant's sender if set (with its name when given bare), else the
    platform's default sender."""
    if mail_from and mail_from.strip():
        name, addr = parseaddr(mail_from)
        if addr and "@" in addr:
            try:
                return str(Address(display_name=name or display_name, addr_spec=addr))
            except (ValueError, IndexError):
                pass
    return default


def address_domain(address: str) -> str:
    addr = parseaddr(address)[1]
    domain = addr.rpartition("@")[2].strip().lower()
    return domain if re.fullmatch(r"[a-z0-9.-]+", domain or "-") else DEFAULT_DOMAIN


def case_thread_id(case_id: uuid.UUID, domain: str) -> str:
    return f"<case-{case_id}@{domain}>"


def notification_message_id(outbox_id: uuid.UUID, domain: str) -> str:
    return f"<notif-{outbox_id}@{domain}>"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


def build_message(
    content: MailContent,
    *,
    sender: str,
    to_name: str,
    to_address: str,
    message_id: str,
    references: Sequence[str],
    in_reply_to: str | None,
    date: datetime,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = Address(display_name=to_name, addr_spec=to_address)
    msg["Subject"] = content.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    # RFC 3834: an automatic message; out-of-office robots should not answer it (people may).
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(content.text)
    msg.add_alternative(content.html, subtype="html")
    for attachment in attachments:
        msg.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    msg["Content-Language"] = "fr"  # after the parts: set_content() clears Content-* headers
    return msg


_NO_REPLY = re.compile(r"(ne-?pas-?repondre|no-?reply|do-?not-?reply)", re.IGNORECASE)


def accepts_replies(sender: str) -> bool:
    """False for a "do not reply" sender: the message then says to write to the service."""
    return not _NO_REPLY.search(parseaddr(sender)[1].partition("@")[0])


# ----- delivery ---------------------------------------------------------------------------------


class MailTransport(Protocol):
    async def deliver(self, message: EmailMessage) -> str:
        """Hand the message over; returns a short description of where it went."""
        ...


class SmtpTransport:
    """Sends through an SMTP server (aiosmtplib); one connection per message."""

    def __init__(self, settings: SmtpSettings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpTransport needs an SMTP host")
        self.settings = settings

    async def deliver(self, message: EmailMessage) -> str:
        s = self.settings
        _, response = await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_tls,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )
        return f"smtp://{s.smtp_host}:{s.smtp_port} {response}"


class EmlDirectoryTransport:
    """The embedded default: every message is written as ``<directory>/<date>-<id>.eml``.

    A real, inspectable delivery (open the file in any mail client); the name comes from the
    Message-ID, so writing the same message again replaces the file instead of adding one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, message: EmailMessage) -> Path:
        token = re.sub(r"[^A-Za-z0-9._-]", "_", str(message["Message-ID"]).strip("<> "))
        return self.directory / f"{token}.eml"

    def _write(self, message: EmailMessage) -> Path:
        target = self.path_for(message)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(message.as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    async def deliver(self, message: EmailMessage) -> str:
        path = await asyncio.to_thread(self._write, message)
        return f"file://{path}"


def transport_for(settings: SmtpSettings, data_dir: Path) -> MailTransport:
    """SMTP when a host is configured, else ``.eml`` files under ``<data dir>/mail``."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return EmlDirectoryTransport(data_dir / "mail")


class DirectMailer:
    """``services.kernel.ports.Mailer``: one plain-text message, delivered now."""

    def __init__(self, transport: MailTransport, sender: str, clock: Clock) -> None:
        self.transport = transport
        self.sender = sender
        self.clock = clock

    async def send(self, *, to: str, to_name: str, subject: str, text: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = Address(display_name=to_name, addr_spec=to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.clock.now())
        msg["Message-ID"] = make_msgid(domain=address_domain(self.sender))
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        msg["Content-Language"] = "fr"
        try:
            await self.transport.deliver(msg)
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise Unavailable(
                "Le message n'a pas pu être envoyé pour le moment : réessayez dans quelques "
                "minutes."
            ) from exc
