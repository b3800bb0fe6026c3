"""Receive mail from the MTA (Postfix ``lmtp:`` transport, or plain SMTP) with aiosmtpd.

``MailHandler.handle_DATA`` processes the mail in its own transaction and answers 250 only after
COMMIT: an accepted mail is never lost. 552 when too big or with too many attachments (the MTA
bounces it to the sender), 550 when unreadable, 451 on an internal error (the MTA keeps the mail
and retries later). Unknown recipients are refused at RCPT (550) so that the MTA tells the
sender at once. LMTP answers DATA once per accepted recipient (RFC 2033 §4.2).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.mail.parser import MailRejected
from channels.mail.service import MailService, MailSettings, process
from documents.storage import DocumentStorage
from services.kernel.clock import Clock
from services.kernel.logging import get_logger
from workflows.engine.runner import Engine

_log = get_logger("guichet.mail.lmtp")


@dataclass
class MailHandler:
    sessionmaker: async_sessionmaker[AsyncSession]
    engine: Engine
    clock: Clock
    storage: DocumentStorage
    settings: MailSettings
    source: str = "lmtp"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            async with self.sessionmaker() as db:
                service = MailService(db, self.engine, self.clock, self.storage, self.settings)
                route = await service.route_for(address)
        except Exception as exc:  # noqa: BLE001 - the database is down: the MTA retries
            _log.error("mail.rcpt_failed", error=repr(exc))
            return "451 4.3.0 Erreur temporaire, réessayez plus tard"
        if route is None:
            return f"550 5.1.1 <{address}> : adresse inconnue de Guichet"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content.encode() if isinstance(envelope.content, str) else b""
        count = max(1, len(envelope.rcpt_tos)) if isinstance(server, LMTP) else 1
        try:
            outcome = await process(
                self.sessionmaker,
                self.engine,
                self.clock,
                self.storage,
                bytes(raw),
                source=self.source,
                recipients=list(envelope.rcpt_tos),
                envelope_from=envelope.mail_from,
                settings=self.settings,
            )
        except MailRejected as exc:
            code = "550 5.6.0" if exc.code == "malformed" else "552 5.3.4"
            return _per_recipient(f"{code} Message refusé : {exc.reason}", count)
        except Exception as exc:  # noqa: BLE001 - nothing was committed: the MTA retries
            _log.error("mail.receive_failed", error=repr(exc), exc_info=True)
            return _per_recipient("451 4.3.0 Erreur temporaire, réessayez plus tard", count)
        _log.info(
            "mail.received",
            message_id=outcome.message_id,
            status=outcome.status,
            duplicate=outcome.duplicate,
        )
        return _per_recipient(f"250 2.0.0 Reçu ({outcome.status})", count)


def _per_recipient(reply: str, count: int) -> str:
    return "\r\n".join([reply] * count)


async def serve(handler: MailHandler, *, host: str, port: int, lmtp: bool = True) -> asyncio.Server:
    """Listen on the current event loop (the ``guichet mail lmtp`` command)."""
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        cls = LMTP if lmtp else SMTP
        return cls(
            handler,
            data_size_limit=handler.settings.max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=host,
        )

    return await loop.create_server(protocol, host=host, port=port)
