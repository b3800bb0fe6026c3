"""IMAP polling against a real dovecot (tests/support/imap_server.py): mails appended to the
mailbox become cases, triage items or rejections, are flagged \\Seen only once kept, and a second
poll finds nothing new."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.mail.imap import ImapPoller, ImapSettings
from channels.mail.service import MailService, MailSettings
from channels.models import InboundMail, MailRoute
from documents.raw_mail import RAW_MAIL_KIND
from documents.storage import FileStorage
from services.kernel.clock import FrozenClock
from services.kernel.settings import path_settings
from tests.support.imap_server import ImapServer, dovecot_server
from tests.support.outbox import run_pending
from workflows.engine.runner import Engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAILBOX_ADDRESS = "mairie@a.invalid"


@pytest.fixture(scope="module")
def imap() -> Iterator[ImapServer]:
    with dovecot_server() as server:
        yield server


def mailbox(server: ImapServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.port)
    client.login(server.user, server.password)
    return client


def append(server: ImapServer, *raws: bytes) -> None:
    client = mailbox(server)
    try:
        for raw in raws:
            assert client.append("INBOX", None, None, raw)[0] == "OK"
    finally:
        client.logout()


def flags(server: ImapServer) -> list[str]:
    client = mailbox(server)
    try:
        _, count = client.select("INBOX")
        if int(count[0] or 0) == 0:
            return []
        _, data = client.fetch("1:*", "(FLAGS)")
        return [bytes(d).decode() if isinstance(d, bytes | bytearray) else str(d) for d in data]
    finally:
        client.logout()


def clear(server: ImapServer) -> None:
    client = mailbox(server)
    try:
        _, count = client.select("INBOX")
        if int(count[0] or 0):
            client.store("1:*", "+FLAGS", "(\\Deleted)")
            client.expunge()
    finally:
        client.logout()


def mail(message_id: str, *, to: str = MAILBOX_ADDRESS, text: str = "Bonjour") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Paul Martin <paul@example.org>"
    msg["To"] = to
    msg["Subject"] = "Question sur la cantine"
    msg["Message-ID"] = message_id
    msg.set_content(text)
    return msg.as_bytes()


@pytest.fixture
async def poller(
    imap: ImapServer,
    seed: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    engine: Engine,
    tmp_path: Path,
) -> ImapPoller:
    clear(imap)
    async with sessionmaker() as s, s.begin():
        s.add(MailRoute(address=MAILBOX_ADDRESS, tenant_id=seed.commune_id, procedure_key=None))
    return ImapPoller(
        settings=ImapSettings(
            host=imap.host,
            port=imap.port,
            user=imap.user,
            password=imap.password,
            ssl=False,
            address=MAILBOX_ADDRESS,
        ),
        sessionmaker=sessionmaker,
        engine=engine,
        clock=clock,
        storage=FileStorage(tmp_path / "documents"),
        mail_settings=MailSettings(max_bytes=100_000),
    )


async def rows(sm: async_sessionmaker[AsyncSession]) -> dict[str, InboundMail]:
    async with sm() as s:
        return {m.message_id: m for m in await s.scalars(select(InboundMail))}


async def test_poll_fetches_unseen_mail_flags_it_seen_and_acknowledges(
    imap: ImapServer,
    poller: ImapPoller,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
) -> None:
    append(
        imap,
        mail("<i1@example.org>"),
        # addressed to an alias: the mailbox's own address routes it
        mail("<i2@example.org>", to="cantine@ecole.example", text="Menus ?"),
        b"pas un courriel",
    )
    result = await poller.poll_once()
    assert len(result.outcomes) == 2
    assert result.rejected == 1
    assert result.failed == 0
    found = await rows(sessionmaker)
    assert found["<i1@example.org>"].status == "triage"
    assert found["<i1@example.org>"].source == "imap"
    assert found["<i2@example.org>"].body_text == "Menus ?"
    assert found["<i2@example.org>"].tenant_id is not None
    unreadable = [m for m in found.values() if m.status == "rejected"]
    assert len(unreadable) == 1
    assert unreadable[0].reason == "le message n'a pas d'en-têtes lisibles"
    assert all("\\Seen" in f for f in flags(imap))
    # The acknowledgements were queued with the mails; the worker sends them.
    assert await run_pending(sessionmaker, engine, clock, kinds=[RAW_MAIL_KIND]) == ["done"] * 2
    assert len(list((path_settings().data_dir / "mail").glob("*.eml"))) == 2
    # nothing unseen is left: the next poll does nothing
    again = await poller.poll_once()
    assert again.outcomes == []
    assert again.rejected == 0
    assert len(await rows(sessionmaker)) == 3


async def test_a_failed_mail_stays_unseen_and_is_taken_next_poll(
    imap: ImapServer,
    poller: ImapPoller,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    append(imap, mail("<f1@example.org>"))
    original = MailService.receive

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(MailService, "receive", broken)
    failed = await poller.poll_once()
    assert failed.failed == 1
    assert await rows(sessionmaker) == {}
    assert not any("\\Seen" in f for f in flags(imap))
    monkeypatch.setattr(MailService, "receive", original)
    ok = await poller.poll_once()
    assert [o.message_id for o in ok.outcomes] == ["<f1@example.org>"]
    assert all("\\Seen" in f for f in flags(imap))


async def test_redelivered_message_id_is_a_duplicate(
    imap: ImapServer, poller: ImapPoller, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    append(imap, mail("<d1@example.org>"))
    await poller.poll_once()
    append(imap, mail("<d1@example.org>"))  # e.g. flagging failed after COMMIT, or a copy
    second = await poller.poll_once()
    assert [o.duplicate for o in second.outcomes] == [True]
    assert len(await rows(sessionmaker)) == 1


async def test_delete_after_processing_expunges(
    imap: ImapServer, poller: ImapPoller, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from dataclasses import replace

    poller.settings = replace(poller.settings, after="delete")
    append(imap, mail("<x1@example.org>"), mail("<x2@example.org>"))
    result = await poller.poll_once()
    assert len(result.outcomes) == 2
    assert flags(imap) == []
    assert set(await rows(sessionmaker)) == {"<x1@example.org>", "<x2@example.org>"}


def test_guichet_mail_poll_once_command(imap: ImapServer, seed: Any, database_url: str) -> None:
    import asyncio

    from click.testing import CliRunner

    from services.cli import main
    from services.kernel.db import make_engine, make_sessionmaker

    clear(imap)

    async def setup() -> None:
        db = make_engine(database_url)
        try:
            async with make_sessionmaker(db)() as s, s.begin():
                s.add(MailRoute(address=MAILBOX_ADDRESS, tenant_id=seed.commune_id))
        finally:
            await db.dispose()

    asyncio.run(setup())
    append(imap, mail("<cli1@example.org>"))
    env = {
        "GUICHET_DATABASE_URL": database_url,
        "GUICHET_IMAP_HOST": imap.host,
        "GUICHET_IMAP_PORT": str(imap.port),
        "GUICHET_IMAP_SSL": "0",
        "GUICHET_IMAP_USER": imap.user,
        "GUICHET_IMAP_PASSWORD": imap.password,
        "GUICHET_IMAP_ADDRESS": MAILBOX_ADDRESS,
    }
    result = CliRunner().invoke(main, ["mail", "poll", "--once"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 courriel(s) traité(s), 0 refusé(s), 0 en échec" in result.output
    assert all("\\Seen" in f for f in flags(imap))
