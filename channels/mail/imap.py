"""Fetch mail from an IMAP mailbox (aioimaplib), for tenants whose mail stays on their own server.

One poll: connect, LOGIN, SELECT the mailbox, UID SEARCH UNSEEN, then for each message
UID FETCH ``BODY.PEEK[]`` (PEEK: fetching does not set \\Seen), process it in its own
transaction, and only after COMMIT flag it \\Seen (and \\Deleted + EXPUNGE when asked). A crash
between COMMIT and the flag fetches it again next time: the Message-ID makes that a duplicate,
so nothing is lost and nothing is doubled. An unreadable mail is recorded as ``rejected`` (an
IMAP mailbox cannot refuse it) and flagged too; an internal error leaves it unseen for the next
poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from typing import Literal

from aioimaplib import IMAP4, IMAP4_SSL  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.mail.parser import MailRejected
from channels.mail.service import MailService, MailSettings, Outcome, process
from documents.storage import DocumentStorage
from services.kernel.clock import Clock
from services.kernel.logging import get_logger
from workflows.engine.runner import Engine

_log = get_logger("guichet.mail.imap")


class ImapError(Exception):
    """The IMAP server refused a command (login, select...)."""


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    ssl: bool = True
    mailbox: str = "INBOX"
    address: str | None = None
    """The mailbox's own address: the route used when no recipient of a mail has one."""
    after: Literal["seen", "delete"] = "seen"
    batch: int = 100
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> ImapSettings:
        """GUICHET_IMAP_HOST, _PORT, _USER, _PASSWORD, _SSL (1/0), _MAILBOX, _ADDRESS, _AFTER."""
        env = os.environ
        host = env.get("GUICHET_IMAP_HOST", "").strip()
        user = env.get("GUICHET_IMAP_USER", "").strip()
        if not host or not user:
            raise ValueError("GUICHET_IMAP_HOST et GUICHET_IMAP_USER sont nécessaires")
        ssl = env.get("GUICHET_IMAP_SSL", "1").strip() not in ("0", "false", "no")
        after = env.get("GUICHET_IMAP_AFTER", "seen").strip()
        return cls(
            host=host,
            user=user,
            password=env.get("GUICHET_IMAP_PASSWORD", ""),
            port=int(env.get("GUICHET_IMAP_PORT", "993" if ssl else "143")),
            ssl=ssl,
            mailbox=env.get("GUICHET_IMAP_MAILBOX", "INBOX"),
            address=env.get("GUICHET_IMAP_ADDRESS") or None,
            after="delete" if after == "delete" else "seen",
        )


@dataclass
class PollResult:
    outcomes: list[Outcome] = field(default_factory=list)
    rejected: int = 0
    failed: int = 0


def _check(response: object, what: str) -> None:
    result = getattr(response, "result", None)
    if result != "OK":
        lines = getattr(response, "lines", [])
        detail = b" ".join(bytes(x) for x in lines[-1:]).decode(errors="replace")
        raise ImapError(f"IMAP {what}: {result} {detail}")


def _literal(lines: list[bytes | bytearray]) -> bytes | None:
    """The message bytes of a FETCH answer: aioimaplib gives the literal as a bytearray."""
    for line in lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None


@dataclass
class ImapPoller:
    settings: ImapSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    engine: Engine
    clock: Clock
    storage: DocumentStorage
    mail_settings: MailSettings

    async def poll_once(self) -> PollResult:
        s = self.settings
        client = (
            IMAP4_SSL(host=s.host, port=s.port, timeout=s.timeout)
            if s.ssl
            else IMAP4(host=s.host, port=s.port, timeout=s.timeout)
        )
        result = PollResult()
        await client.wait_hello_from_server()
        try:
            _check(await client.login(s.user, s.password), "LOGIN")
            _check(await client.select(s.mailbox), f"SELECT {s.mailbox}")
            found = await client.uid_search("UNSEEN", charset=None)
            _check(found, "SEARCH UNSEEN")
            uids = [u for u in bytes(found.lines[0]).decode().split() if u.isdigit()]
            deleted = False
            for uid in uids[: s.batch]:
                done = await self._one(client, uid, result)
                if done:
                    flags = "(\\Seen \\Deleted)" if s.after == "delete" else "(\\Seen)"
                    _check(await client.uid("store", uid, "+FLAGS", flags), "STORE")
                    deleted = deleted or s.after == "delete"
            if deleted:
                _check(await client.expunge(), "EXPUNGE")
        finally:
            try:
                await client.logout()
            except Exception as exc:  # noqa: BLE001 - the poll's work is already committed
                _log.info("mail.imap_logout_failed", error=repr(exc))
        return result

    async def _one(self, client: IMAP4, uid: str, result: PollResult) -> bool:
        """Process one message; True when it may be flagged (committed or recorded)."""
        fetched = await client.uid("fetch", uid, "(BODY.PEEK[])")
        _check(fetched, f"FETCH {uid}")
        raw = _literal(list(fetched.lines))
        if raw is None:
            _log.warning("mail.imap_empty_fetch", uid=uid)
            result.failed += 1
            return False
        try:
            outcome = await process(
                self.sessionmaker,
                self.engine,
                self.clock,
                self.storage,
                raw,
                source="imap",
                default_recipient=self.settings.address,
                settings=self.mail_settings,
            )
        except MailRejected as exc:
            async with self.sessionmaker() as session, session.begin():
                service = MailService(
                    session, self.engine, self.clock, self.storage, self.mail_settings
                )
                await service.record_unreadable(
                    raw, exc, source="imap", recipient=self.settings.address or ""
                )
            result.rejected += 1
            return True
        except Exception as exc:  # noqa: BLE001 - left unseen: fetched again next poll
            _log.error("mail.imap_process_failed", uid=uid, error=repr(exc), exc_info=True)
            result.failed += 1
            return False
        result.outcomes.append(outcome)
        return True

    async def run(self, *, interval: float, stop: asyncio.Event) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set; a failed poll is logged."""
        while not stop.is_set():
            try:
                polled = await self.poll_once()
                if polled.outcomes or polled.failed or polled.rejected:
                    _log.info(
                        "mail.imap_polled",
                        received=len(polled.outcomes),
                        rejected=polled.rejected,
                        failed=polled.failed,
                    )
            except Exception as exc:  # noqa: BLE001 - the server may be down: try again later
                _log.error("mail.imap_poll_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
