"""The mail channel over LMTP: a real LMTP session (smtplib.LMTP) against the aiosmtpd listener,
the database, the storage and the acknowledgements written as .eml files."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.mail.lmtp import MailHandler, serve
from channels.mail.service import MailSettings
from channels.models import Attachment, InboundMail, MailRoute
from documents.raw_mail import RAW_MAIL_KIND
from documents.storage import FileStorage
from services.kernel.clock import FrozenClock
from services.kernel.settings import path_settings
from tests.support.files import png
from tests.support.outbox import run_pending
from workflows.cases.models import Case, CaseEvent
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

ROUTE = "voirie@a.invalid"
GENERAL = "mairie@a.invalid"


def crlf(msg: EmailMessage) -> bytes:
    """On the wire, lines end with CRLF (RFC 5321); smtplib sends bytes as they are."""
    return msg.as_bytes(policy=policy.default.clone(linesep="\r\n"))


@dataclass
class Lmtp:
    port: int
    mail_dir: Path
    documents: Path

    def send(self, msg: EmailMessage | bytes, *, to: str = ROUTE, sender: str = "") -> Any:
        raw = msg if isinstance(msg, bytes) else crlf(msg)
        with smtplib.LMTP("127.0.0.1", self.port) as client:
            return client.sendmail(sender or "bounce@example.org", [to], raw)

    async def asend(self, msg: EmailMessage | bytes, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.send, msg, **kwargs)

    sessionmaker: async_sessionmaker[AsyncSession]
    engine: Engine
    clock: FrozenClock

    async def acks(self) -> list[EmailMessage]:
        """The acknowledgements sent once the worker has performed the queued ones."""
        await run_pending(self.sessionmaker, self.engine, self.clock, kinds=[RAW_MAIL_KIND])
        found: list[EmailMessage] = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            parsed: Any = message_from_bytes(path.read_bytes(), policy=policy.default)
            found.append(parsed)
        return found


async def add_routes(sm: async_sessionmaker[AsyncSession], commune_id: Any) -> None:
    async with sm() as s, s.begin():
        s.add(MailRoute(address=ROUTE, tenant_id=commune_id, procedure_key="general.request"))
        s.add(MailRoute(address=GENERAL, tenant_id=commune_id, procedure_key=None))


@pytest.fixture
async def lmtp(
    seed: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    engine: Engine,
    tmp_path: Path,
) -> AsyncIterator[Lmtp]:
    await add_routes(sessionmaker, seed.commune_id)
    handler = MailHandler(
        sessionmaker=sessionmaker,
        engine=engine,
        clock=clock,
        storage=FileStorage(tmp_path / "documents"),
        settings=MailSettings(max_bytes=200_000, max_attachments=50, rate_per_hour=20),
    )
    server = await serve(handler, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Lmtp(
            port=port,
            mail_dir=path_settings().data_dir / "mail",
            documents=tmp_path / "documents",
            sessionmaker=sessionmaker,
            engine=engine,
            clock=clock,
        )
    finally:
        server.close()
        await server.wait_closed()


def mail(
    text: str = "Il y a un nid de poule devant le 12 rue A.",
    *,
    sender: str = "Jeanne Dupont <jeanne@example.org>",
    to: str = ROUTE,
    subject: str = "Nid de poule rue A",
    message_id: str = "<m1@example.org>",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def inbound(sm: async_sessionmaker[AsyncSession]) -> list[InboundMail]:
    async with sm() as s:
        return list(await s.scalars(select(InboundMail).order_by(InboundMail.received_at)))


async def messages(sm: async_sessionmaker[AsyncSession], case_id: Any) -> list[CaseEvent]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == "case.message")
                .order_by(CaseEvent.seq)
            )
        )


async def test_mail_to_a_route_opens_a_case_and_is_acknowledged_in_thread(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    msg = mail()
    msg.add_attachment(
        b"%PDF-1.4 plan", maintype="application", subtype="pdf", filename="../plan.pdf"
    )
    refused = await lmtp.asend(msg)
    assert refused == {}
    [row] = await inbound(sessionmaker)
    assert row.status == "case_opened", row.reason
    assert row.source == "lmtp"
    async with sessionmaker() as s:
        case = await s.get(Case, row.case_id)
        assert case is not None
        assert case.channel == "mail"
        assert case.procedure_key == "general.request"
        assert case.submitter["email"] == "jeanne@example.org"
        assert case.submitter["given_name"] == "Jeanne"
        assert case.submitter["family_name"] == "Dupont"
        assert case.channel_data is not None
        assert case.channel_data["message_id"] == "<m1@example.org>"
        assert case.channel_data["from"] == "jeanne@example.org"
        assert case.channel_data["to"] == ROUTE
        [attachment] = (await s.scalars(select(Attachment))).all()
        assert attachment.filename == "plan.pdf"
        assert attachment.case_id == case.id
        assert attachment.inbound_mail_id == row.id
        assert attachment.content_type == "application/pdf"
        reference = case.reference
    [first] = await messages(sessionmaker, row.case_id)
    assert first.data["text"].startswith("Il y a un nid de poule devant le 12 rue A.")
    assert first.public
    # the raw mail is kept, content-addressed
    assert FileStorage(lmtp.documents).get_sync(row.raw_storage_key, sha256=row.raw_sha256)
    [ack] = await lmtp.acks()
    assert ack["To"].addresses[0].addr_spec == "jeanne@example.org"
    assert ack["In-Reply-To"] == "<m1@example.org>"
    assert "<m1@example.org>" in ack["References"]
    assert f"<case-{case.id}@" in ack["References"]
    assert reference in ack["Subject"]
    assert reference in ack.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert ack["Auto-Submitted"] == "auto-replied"


async def test_reply_in_thread_adds_a_message_to_the_case(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await lmtp.asend(mail())
    [ack] = await lmtp.acks()
    reply = mail(
        "Voici une photo du trou.",
        subject=f"Re: {ack['Subject']}",
        message_id="<m2@example.org>",
        In_Reply_To=ack["Message-ID"],
        References=f"<m1@example.org> {ack['Message-ID']}",
        to=ack["Reply-To"],
    )
    reply.add_attachment(png(), maintype="image", subtype="png", filename="trou.png")
    await lmtp.asend(reply, to=ack["Reply-To"])
    first, second = await inbound(sessionmaker)
    assert second.status == "message_added", second.reason
    assert second.case_id == first.case_id
    texts = [e.data["text"] for e in await messages(sessionmaker, first.case_id)]
    assert len(texts) == 2
    assert texts[1].startswith("Voici une photo du trou.")
    assert "trou.png" in texts[1]
    async with sessionmaker() as s:
        files = (
            await s.scalars(select(Attachment).where(Attachment.case_id == first.case_id))
        ).all()
    assert [f.filename for f in files] == ["trou.png"]
    assert files[0].content_type == "image/png"


async def test_reference_in_subject_from_the_submitter_is_a_reply(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await lmtp.asend(mail())
    [first] = await inbound(sessionmaker)
    async with sessionmaker() as s:
        case = await s.get(Case, first.case_id)
        assert case is not None
        reference = case.reference
    await lmtp.asend(
        mail("Complément", subject=f"Complément [{reference}]", message_id="<m3@example.org>"),
        to=GENERAL,
    )
    _, second = await inbound(sessionmaker)
    assert second.status == "message_added"
    assert second.case_id == first.case_id


async def test_forged_reply_from_another_sender_goes_to_triage(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await lmtp.asend(mail())
    [ack] = await lmtp.acks()
    forged = mail(
        "Annulez ma demande.",
        sender="Pirate <pirate@evil.example>",
        message_id="<forged@evil.example>",
        In_Reply_To=ack["Message-ID"],
    )
    await lmtp.asend(forged)
    first, second = await inbound(sessionmaker)
    assert second.status == "triage"
    assert second.case_id is None
    assert second.reason is not None
    assert "n'y participe pas" in second.reason
    assert len(await messages(sessionmaker, first.case_id)) == 1


async def test_same_message_id_twice_opens_one_case(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert await lmtp.asend(mail()) == {}
    assert await lmtp.asend(mail()) == {}  # the MTA redelivers: accepted, nothing new
    assert len(await inbound(sessionmaker)) == 1
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
    assert len(await lmtp.acks()) == 1


async def test_more_than_twenty_mails_an_hour_from_one_sender_are_rejected(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for i in range(21):
        await lmtp.asend(
            mail(f"message {i}", to=GENERAL, message_id=f"<bomb-{i}@example.org>"), to=GENERAL
        )
    rows = await inbound(sessionmaker)
    statuses = {r.message_id: r.status for r in rows}
    assert len(rows) == 21
    assert statuses["<bomb-20@example.org>"] == "rejected"
    assert [r.reason for r in rows if r.status == "rejected"] == ["trop de messages"]
    assert sum(1 for s in statuses.values() if s == "triage") == 20
    assert len(await lmtp.acks()) == 20  # no acknowledgement for the rejected one


async def test_auto_reply_is_ignored_without_acknowledgement(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await lmtp.asend(mail("Je suis absente.", Auto_Submitted="auto-replied"))
    [row] = await inbound(sessionmaker)
    assert row.status == "ignored"
    assert row.case_id is None
    assert await lmtp.acks() == []


async def test_route_without_procedure_goes_to_triage_with_acknowledgement(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await lmtp.asend(mail(to=GENERAL), to=GENERAL)
    [row] = await inbound(sessionmaker)
    assert row.status == "triage"
    assert row.reason == "à qualifier"
    [ack] = await lmtp.acks()
    assert ack["In-Reply-To"] == "<m1@example.org>"
    assert "orienter" in ack.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_unknown_recipient_is_refused_at_rcpt(lmtp: Lmtp) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        await lmtp.asend(mail(), to="inconnu@a.invalid")
    code, text = caught.value.recipients["inconnu@a.invalid"]
    assert code == 550
    assert "adresse inconnue" in text.decode()


async def test_too_big_mail_gets_552(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # refused at MAIL FROM (SIZE announced) or after DATA: 552 either way
    with pytest.raises(smtplib.SMTPResponseException) as caught:
        await lmtp.asend(mail("x" * 300_000))
    assert caught.value.smtp_code == 552
    assert await inbound(sessionmaker) == []


async def test_database_failure_answers_451_and_keeps_nothing(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels.mail.service import MailService

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disque plein")

    monkeypatch.setattr(MailService, "_open_case", broken)
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await lmtp.asend(mail())
    assert caught.value.smtp_code == 451
    assert await inbound(sessionmaker) == []
    assert await lmtp.acks() == []


async def test_too_many_attachments_gets_552_with_the_reason(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    msg = mail()
    for i in range(60):
        msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{i}")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await lmtp.asend(msg)
    assert caught.value.smtp_code == 552
    assert "pièces jointes" in caught.value.smtp_error.decode()
    assert await inbound(sessionmaker) == []


async def test_plain_smtp_mode_receives_too(
    seed: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    engine: Engine,
    tmp_path: Path,
) -> None:
    await add_routes(sessionmaker, seed.commune_id)
    handler = MailHandler(
        sessionmaker=sessionmaker,
        engine=engine,
        clock=clock,
        storage=FileStorage(tmp_path / "documents"),
        settings=MailSettings(),
        source="smtp",
    )
    server = await serve(handler, host="127.0.0.1", port=0, lmtp=False)
    port = server.sockets[0].getsockname()[1]

    def send() -> Any:
        with smtplib.SMTP("127.0.0.1", port) as client:
            return client.sendmail("luc@example.org", [GENERAL], crlf(mail(to=GENERAL)))

    try:
        assert await asyncio.to_thread(send) == {}
    finally:
        server.close()
        await server.wait_closed()
    [row] = await inbound(sessionmaker)
    assert row.source == "smtp"
    assert row.status == "triage"


async def test_route_to_a_procedure_whose_form_a_mail_cannot_fill_goes_to_triage(
    lmtp: Lmtp, seed: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as s, s.begin():
        s.add(
            MailRoute(
                address="urbanisme@a.invalid",
                tenant_id=seed.commune_id,
                procedure_key="test.permit",
            )
        )
    await lmtp.asend(mail(to="urbanisme@a.invalid"), to="urbanisme@a.invalid")
    [row] = await inbound(sessionmaker)
    assert row.status == "triage"
    assert row.reason is not None
    assert row.reason.startswith("à qualifier")
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 0
    [ack] = await lmtp.acks()
    assert ack["In-Reply-To"] == "<m1@example.org>"


async def test_mail_attachments_go_through_the_web_s_checks(
    lmtp: Lmtp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Same limits and checks as the web: a PNG named .pdf and an executable are not kept, and
    the mail's record says why; the real PDF is kept."""
    msg = mail(message_id="<m-files@example.org>")
    msg.add_attachment(b"%PDF-1.4 plan", maintype="application", subtype="pdf", filename="plan.pdf")
    msg.add_attachment(png(), maintype="application", subtype="pdf", filename="faux.pdf")
    msg.add_attachment(
        b"MZ\x90\x00exe", maintype="application", subtype="octet-stream", filename="x.exe"
    )
    assert await lmtp.asend(msg) == {}
    [row] = await inbound(sessionmaker)
    assert row.status == "case_opened"
    assert row.reason and "faux.pdf" in row.reason and "x.exe" in row.reason
    async with sessionmaker() as s:
        kept = [a.filename for a in (await s.scalars(select(Attachment))).all()]
    assert kept == ["plan.pdf"]
