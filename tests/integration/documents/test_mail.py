"""E-mail notifications through the outbox, read back from a real SMTP server (aiosmtpd).

The pipeline runs as in the worker: intake writes the outbox rows, ``services.worker.outbox.perform``
performs them (ARE rendered by weasyprint, stored in a FileStorage, then mailed with aiosmtplib).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents.jobs import JobDeps
from documents.models import Notification, StoredDocument
from documents.storage import FileStorage
from identity import service as ids
from identity.models import Tenant, TenantService
from identity.service import authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.settings import path_settings
from services.worker.outbox import perform
from services.worker.settings import all_handlers
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.procedures import DEFINITION
from tests.support.smtp import SmtpSink, smtp_server
from workflows.cases.models import CaseEvent, Outbox
from workflows.engine.definitions import ActionSpec
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
PIPELINE = ("document.render", "notification.send")
SENDER_A = "mairie@commune-a.example"
EMAIL = "alex@example.org"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_server(monkeypatch) as sink:
        yield sink


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage(tmp_path / "documents")


@pytest.fixture
def deps(engine: Engine, storage: FileStorage, clock: FrozenClock) -> JobDeps:
    return JobDeps(engine=engine, storage=storage, clock=clock)


@pytest.fixture
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await authenticate(s, seed.instructor_token, now=clock.now())


async def set_mail_from(sm: SM, insee_code: str, mail_from: str | None) -> None:
    async with sm() as s, s.begin():
        await s.execute(
            update(Tenant).where(Tenant.insee_code == insee_code).values(mail_from=mail_from)
        )


async def open_case(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    actor: Actor,
    *,
    tenant: str = "69001",
    procedure: str = "test.permit",
    **submitter: Any,
) -> tuple[uuid.UUID, str]:
    who = {"given_name": "Alex", "family_name": "Dupont", "email": EMAIL, **submitter}
    request = IntakeRequest(
        tenant=tenant,
        procedure_key=procedure,
        channel="counter",
        submitter={k: v for k, v in who.items() if v is not None},
        payload={"title": "Abri de jardin", "area_m2": 12},
        actor=actor,
    )
    async with sm() as s, s.begin():
        result = await submit(s, engine, clock, request)
        return result.case_id, result.reference


async def pending(sm: SM, kinds: tuple[str, ...] = PIPELINE) -> list[Outbox]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(Outbox)
                .where(Outbox.kind.in_(kinds), Outbox.status.in_(("pending", "enqueued")))
                .order_by(Outbox.created_at, Outbox.dedupe_key)
            )
        )


async def drain(sm: SM, deps: JobDeps, kinds: tuple[str, ...] = PIPELINE) -> None:
    """Perform the outbox rows of these kinds, and those they queue, like the worker does."""
    handlers = all_handlers()
    for _ in range(10):
        rows = await pending(sm, kinds)
        if not rows:
            return
        for row in rows:
            assert await perform(sm, handlers, deps, row.id) == "done"
    raise AssertionError("the outbox does not drain")


async def notification_rows(sm: SM, template: str | None = None) -> list[Outbox]:
    async with sm() as s:
        stmt = select(Outbox).where(Outbox.kind == "notification.send")
        rows = list(await s.scalars(stmt.order_by(Outbox.created_at, Outbox.dedupe_key)))
    return [r for r in rows if template is None or r.payload.get("template") == template]


async def notifications(sm: SM) -> list[Notification]:
    async with sm() as s:
        return list(await s.scalars(select(Notification).order_by(Notification.created_at)))


async def the_are(sm: SM, case_id: uuid.UUID) -> StoredDocument:
    async with sm() as s:
        found = list(
            await s.scalars(
                select(StoredDocument).where(
                    StoredDocument.case_id == case_id, StoredDocument.kind == "are"
                )
            )
        )
    assert len(found) == 1, found
    return found[0]


async def case_events(sm: SM, case_id: uuid.UUID, kind: str) -> list[CaseEvent]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(CaseEvent.seq)
            )
        )


def part(message: EmailMessage, content_type: str) -> str:
    body = message.get_body(preferencelist=(content_type.split("/")[1],))
    assert body is not None, f"no {content_type} part"
    assert body.get_content_type() == content_type
    return str(body.get_content())


def pdf_attachments(message: EmailMessage) -> list[tuple[str, bytes]]:
    found = []
    for attachment in message.iter_attachments():
        if attachment.get_content_type() == "application/pdf":
            found.append((str(attachment.get_filename()), bytes(attachment.get_content())))
    return found


def by_subject(messages: list[EmailMessage], fragment: str) -> EmailMessage:
    matching = [m for m in messages if fragment in str(m["Subject"])]
    assert len(matching) == 1, [str(m["Subject"]) for m in messages]
    return matching[0]


# ----- what the person receives ---------------------------------------------------------------


async def test_the_person_receives_the_aee_and_then_the_are_with_its_pdf(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    storage: FileStorage,
    smtp: SmtpSink,
) -> None:
    await set_mail_from(sessionmaker, "69001", f"Mairie de la Commune A <{SENDER_A}>")
    case_id, reference = await open_case(sessionmaker, engine, clock, instructor)

    await drain(sessionmaker, deps)

    assert len(smtp.received) == 2
    for received in smtp.received:
        assert received.mail_from == SENDER_A
        assert received.rcpt_tos == [EMAIL]
    messages = smtp.messages()
    aee = by_subject(messages, "Accusé d'enregistrement")
    are = by_subject(messages, "Accusé de réception")
    (aee_row,) = await notification_rows(sessionmaker, "aee")
    (are_row,) = await notification_rows(sessionmaker, "are")
    root = f"<case-{case_id}@commune-a.example>"

    # The AEE (L112-11 CRPA): date and time of receipt, reference, procedure — text and HTML.
    assert aee["Subject"] == f"[{reference}] Accusé d'enregistrement — Permis de test"
    assert parseaddr(str(aee["From"])) == ("Mairie de la Commune A", SENDER_A)
    assert parseaddr(str(aee["To"])) == ("Alex Dupont", EMAIL)
    assert aee["Message-ID"] == f"<notif-{aee_row.id}@commune-a.example>"
    assert aee["References"] == root
    assert aee["In-Reply-To"] is None
    assert aee.get_content_type() == "multipart/alternative"
    text, html = part(aee, "text/plain"), part(aee, "text/html")
    for body in (text, html):
        assert reference in body
        assert "Permis de test" in body
        assert "2 mars 2026 à 10 h 00" in body  # 09:00 UTC is 10:00 in Paris
        assert "Bonjour Alex Dupont" in body
        assert "accusé d'enregistrement électronique" in body.replace("&#39;", "'")
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert aee["Content-Language"] == "fr"
    assert "urba@a.invalid" in text and "04 00 00 00 09" in text  # who to contact: the service
    assert "Vous pouvez y répondre" in text  # the commune's own address takes replies
    assert "<strong>" in html and "<strong>" not in text
    assert pdf_attachments(aee) == []

    # The ARE: the PDF attached (the very bytes stored), threaded after the AEE.
    assert are["Subject"] == f"[{reference}] Accusé de réception — Permis de test"
    assert parseaddr(str(are["From"]))[1] == SENDER_A
    assert are["Message-ID"] == f"<notif-{are_row.id}@commune-a.example>"
    assert are["In-Reply-To"] == aee["Message-ID"]
    assert str(are["References"]).split() == [root, str(aee["Message-ID"])]
    assert reference in part(are, "text/plain")
    assert "Permis de test" in part(are, "text/html")
    stored = await the_are(sessionmaker, case_id)
    ((filename, pdf),) = pdf_attachments(are)
    assert filename.endswith(".pdf") and reference in filename
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == stored.sha256
    assert pdf == await storage.get(stored.storage_key, sha256=stored.sha256)
    assert are_row.payload["documents"] == [str(stored.id)]

    # What was sent is recorded, once per outbox row.
    sent = await notifications(sessionmaker)
    assert {(n.template, n.channel, n.status, n.to_address) for n in sent} == {
        ("aee", "email", "sent", EMAIL),
        ("are", "email", "sent", EMAIL),
    }
    assert {n.outbox_id: n.message_id for n in sent} == {
        aee_row.id: aee["Message-ID"],
        are_row.id: are["Message-ID"],
    }
    assert all(n.case_id == case_id and n.sent_at == clock.now() for n in sent)
    assert next(n for n in sent if n.template == "are").document_ids == {
        "documents": [str(stored.id)]
    }
    # ...and in the case's history, for agents and for the person (L112-6 CRPA).
    events = await case_events(sessionmaker, case_id, "notification.sent")
    assert [(e.data["template"], e.data["message_id"], e.public) for e in events] == [
        ("aee", aee["Message-ID"], True),
        ("are", are["Message-ID"], True),
    ]
    assert events[1].data["documents"] == [str(stored.id)]
    assert all(e.data["to"] == EMAIL and e.actor_kind == "system" for e in events)


async def test_each_tenant_sends_from_its_own_address(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    """Commune A has its sender; commune B has none and uses the platform's GUICHET_SMTP_FROM."""
    await set_mail_from(sessionmaker, "69001", SENDER_A)
    async with sessionmaker() as s, s.begin():
        b = await s.scalar(select(Tenant).where(Tenant.insee_code == "69002"))
        assert b is not None
        service = await s.scalar(
            select(TenantService).where(
                TenantService.tenant_id == b.id, TenantService.code == "urbanisme"
            )
        )
        if service is None:
            await ids.add_tenant_service(
                s, b, code="urbanisme", name="Urbanisme", address="1 rue B", phone="04", email="u@b"
            )
        admin_a = await authenticate(s, seed.instructor_token, now=clock.now())
        admin_b = await authenticate(s, seed.other_instructor_token, now=clock.now())
    _, ref_a = await open_case(sessionmaker, engine, clock, admin_a, tenant="69001")
    case_b, ref_b = await open_case(
        sessionmaker, engine, clock, admin_b, tenant="69002", email="bea@example.org"
    )

    await drain(sessionmaker, deps)

    messages = smtp.messages()
    assert len(messages) == 4
    from_a = {parseaddr(str(m["From"])) for m in messages if ref_a in str(m["Subject"])}
    from_b = {parseaddr(str(m["From"])) for m in messages if ref_b in str(m["Subject"])}
    assert from_a == {("Commune A", SENDER_A)}  # a bare address gets the tenant's name
    assert from_b == {("Guichet", "ne-pas-repondre@guichet.invalid")}
    assert {str(m["To"]) for m in messages if ref_b in str(m["Subject"])} == {
        "Alex Dupont <bea@example.org>"
    }
    thread_b = {str(m["References"]).split()[0] for m in messages if ref_b in str(m["Subject"])}
    assert thread_b == {f"<case-{case_b}@guichet.invalid>"}


async def test_html_part_escapes_what_people_typed(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        given_name="<b>Zoé</b>",
        family_name="O'Hara & Fils",
    )
    await drain(sessionmaker, deps, kinds=("notification.send",))

    (aee,) = smtp.messages()
    html = part(aee, "text/html")
    assert "&lt;b&gt;Zoé&lt;/b&gt;" in html
    assert "<b>Zoé</b>" not in html
    assert "O&#39;Hara &amp; Fils" in html
    assert "Bonjour <b>Zoé</b> O'Hara & Fils," in part(aee, "text/plain")


async def test_a_notify_action_mails_the_new_step_in_the_same_thread(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    """``notify.submitter`` (workflows.engine.actions.Notify) queues ``notification.send`` with
    template ``case.updated``; the mail says which step the case reached."""
    start = DEFINITION.transition("start").model_copy(
        update={
            "actions": (ActionSpec(key="notify.submitter", params={"template": "case.updated"}),)
        }
    )
    engine.load(
        DEFINITION.model_copy(
            update={
                "key": "test.notified",
                "transitions": tuple(
                    start if t.name == "start" else t for t in DEFINITION.transitions
                ),
            }
        )
    )
    case_id, reference = await open_case(
        sessionmaker, engine, clock, instructor, procedure="test.notified"
    )
    await drain(sessionmaker, deps)
    await apply(sessionmaker, engine, clock, case_id, "start", instructor)

    (row,) = await notification_rows(sessionmaker, "case.updated")
    assert row.payload["case_id"] == str(case_id)
    await drain(sessionmaker, deps)

    messages = smtp.messages()
    assert len(messages) == 3
    aee, are, updated = (
        by_subject(messages, "Accusé d'enregistrement"),
        by_subject(messages, "Accusé de réception"),
        by_subject(messages, "Votre dossier a évolué"),
    )
    assert updated["Subject"] == f"[{reference}] Votre dossier a évolué — Permis de test"
    text = part(updated, "text/plain")
    assert "En instruction" in text
    assert "Commencer l'instruction" in text
    assert "En instruction" in part(updated, "text/html")
    assert updated["In-Reply-To"] == are["Message-ID"]
    assert str(updated["References"]).split() == [
        f"<case-{case_id}@guichet.invalid>",
        str(aee["Message-ID"]),
        str(are["Message-ID"]),
    ]
    assert updated["Message-ID"] == f"<notif-{row.id}@guichet.invalid>"


# ----- faults: the SMTP server is down, then back ------------------------------------------------


async def test_smtp_down_is_retried_and_sent_exactly_once_when_back(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    case_id, reference = await open_case(sessionmaker, engine, clock, instructor)
    await drain(sessionmaker, deps, kinds=("document.render",))
    rows = await notification_rows(sessionmaker)
    assert [r.payload["template"] for r in rows] == ["aee", "are"]
    handlers = all_handlers()

    smtp.stop()
    for row in rows:
        with pytest.raises(Retry):
            await perform(sessionmaker, handlers, deps, row.id)
    assert await notifications(sessionmaker) == []
    assert await case_events(sessionmaker, case_id, "notification.sent") == []
    for row in await notification_rows(sessionmaker):
        assert row.status == "enqueued"
        assert row.attempts == 1
        assert row.last_error

    smtp.start()
    for row in rows:
        assert await perform(sessionmaker, handlers, deps, row.id) == "done"
    assert len(smtp.received) == 2
    assert {str(m["Subject"]).split("]")[0] for m in smtp.messages()} == {f"[{reference}"}

    # Running the jobs again sends nothing more...
    for row in rows:
        assert await perform(sessionmaker, handlers, deps, row.id) == "done"
    # ...nor does an outbox row put back in the queue by hand: the Notification row guards it.
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(Outbox)
            .where(Outbox.id.in_([r.id for r in rows]))
            .values(status="pending", done_at=None)
        )
    for row in rows:
        assert await perform(sessionmaker, handlers, deps, row.id) == "done"
    assert len(smtp.received) == 2
    sent = await notifications(sessionmaker)
    assert sorted(n.template for n in sent) == ["aee", "are"]
    assert all(n.case_id == case_id for n in sent)
    assert len(await case_events(sessionmaker, case_id, "notification.sent")) == 2


async def test_two_workers_on_the_same_row_send_one_message(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    """The Notification row is claimed (unique outbox id) before the SMTP exchange: a second run
    of the same row at the same time waits for the first and sends nothing."""
    await open_case(sessionmaker, engine, clock, instructor)
    (row,) = await notification_rows(sessionmaker, "aee")
    handlers = all_handlers()

    results = await asyncio.gather(
        *(perform(sessionmaker, handlers, deps, row.id) for _ in range(2)),
        return_exceptions=True,
    )
    assert "done" in results, results
    assert all(r == "done" or isinstance(r, Retry) for r in results), results
    assert await perform(sessionmaker, handlers, deps, row.id) == "done"
    assert len(smtp.received) == 1
    assert len(await notifications(sessionmaker)) == 1


async def test_embedded_default_writes_eml_files(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, deps: JobDeps
) -> None:
    """Without GUICHET_SMTP_HOST the messages are written under <data dir>/mail, readable."""
    case_id, _ = await open_case(sessionmaker, engine, clock, instructor)
    await drain(sessionmaker, deps)

    files = sorted((path_settings().data_dir / "mail").glob("*.eml"))
    assert len(files) == 2
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    are = by_subject(messages, "Accusé de réception")  # type: ignore[arg-type]
    assert parseaddr(str(are["From"]))[1] == "ne-pas-repondre@guichet.invalid"
    assert "merci de ne pas y répondre" in part(are, "text/plain")  # type: ignore[arg-type]
    assert str(are["References"]).startswith(f"<case-{case_id}@guichet.invalid>")
    ((_, pdf),) = pdf_attachments(are)  # type: ignore[arg-type]
    assert pdf.startswith(b"%PDF")
    assert len(await notifications(sessionmaker)) == 2


# ----- postal notification and refused addresses --------------------------------------------------


async def test_postal_choice_sends_nothing_and_queues_the_are_for_printing(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    address = "3 rue des Lilas, 69001 A"
    case_id, _ = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        notification="postal",
        postal_address=address,
    )
    # No e-mail address at all: a letter handed over at the counter.
    other_id, _ = await open_case(
        sessionmaker, engine, clock, instructor, email=None, phone="0600000000"
    )
    await drain(sessionmaker, deps)

    assert smtp.received == []
    letters = await notifications(sessionmaker)
    assert len(letters) == 2
    by_case = {n.case_id: n for n in letters}
    for cid, to in ((case_id, address), (other_id, "remise au guichet")):
        letter = by_case[cid]
        are = await the_are(sessionmaker, cid)
        assert letter.channel == "postal"
        assert letter.status == "to_print"
        assert letter.template == "are"
        assert letter.to_address == to
        assert letter.document_ids == {"documents": [str(are.id)]}
        assert letter.sent_at is None
        (event,) = await case_events(sessionmaker, cid, "notification.queued_for_print")
        assert event.data["to"] == to
        assert event.data["documents"] == [str(are.id)]
        assert await case_events(sessionmaker, cid, "notification.sent") == []


async def test_an_address_refused_for_good_falls_back_to_a_letter(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    smtp.refused.add(EMAIL)
    case_id, _ = await open_case(
        sessionmaker, engine, clock, instructor, postal_address="3 rue des Lilas"
    )
    await drain(sessionmaker, deps)

    assert smtp.received == []
    letters = await notifications(sessionmaker)
    assert {(n.template, n.channel, n.status, n.to_address) for n in letters} == {
        ("aee", "postal", "to_print", "3 rue des Lilas"),
        ("are", "postal", "to_print", "3 rue des Lilas"),
    }
    are = await the_are(sessionmaker, case_id)
    assert next(n for n in letters if n.template == "are").document_ids == {
        "documents": [str(are.id)]
    }
    events = await case_events(sessionmaker, case_id, "notification.queued_for_print")
    assert len(events) == 2
    assert all("refusée" in e.data["reason"] for e in events)
