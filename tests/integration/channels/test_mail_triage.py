"""The agents' triage of received mail over HTTP (/api/v1/courriels) and the admins' addresses."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.mail.service import MailService, MailSettings
from channels.models import Attachment, InboundMail, MailRoute
from documents.raw_mail import RAW_MAIL_KIND
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.kernel.settings import path_settings
from tests.support.http import assert_problem
from tests.support.outbox import run_pending
from workflows.cases.models import Case, CaseEvent
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

GENERAL = "mairie@a.invalid"


async def received(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
    tenant_id: uuid.UUID,
    *,
    message_id: str = "<t1@example.org>",
) -> uuid.UUID:
    """A mail to the general address of commune A, in triage."""
    msg = EmailMessage()
    msg["From"] = "Luc Bernard <luc@example.org>"
    msg["To"] = GENERAL
    msg["Subject"] = "Bruit la nuit"
    msg["Message-ID"] = message_id
    msg.set_content("Le bar en face fait du bruit jusqu'à 3 h.")
    msg.add_attachment(b"%PDF-1.4 plainte", maintype="application", subtype="pdf", filename="p.pdf")
    async with sm() as s, s.begin():
        if await s.scalar(select(MailRoute).where(MailRoute.address == GENERAL)) is None:
            s.add(MailRoute(address=GENERAL, tenant_id=tenant_id, procedure_key=None))
            await s.flush()
        service = MailService(s, engine, clock, storage_from_settings(), MailSettings())
        outcome = await service.receive(msg.as_bytes(), source="lmtp", recipients=[GENERAL])
    assert outcome.status == "triage"
    assert outcome.inbound_mail_id is not None
    return outcome.inbound_mail_id


def sent_mails() -> list[Any]:
    found = []
    for path in sorted((path_settings().data_dir / "mail").glob("*.eml")):
        found.append(message_from_bytes(path.read_bytes(), policy=policy.default))
    return found


async def test_agents_see_their_tenants_mail_in_triage(
    seed: Any,
    app_client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
) -> None:
    mail_id = await received(sessionmaker, engine, clock, seed.commune_id)
    r = await app_client.get("/api/v1/courriels", headers=seed.auth(seed.counter_token))
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["id"] == str(mail_id)
    assert item["sender"] == "luc@example.org"
    assert item["status"] == "triage"
    assert item["reason"] == "à qualifier"
    detail = await app_client.get(
        f"/api/v1/courriels/{mail_id}", headers=seed.auth(seed.instructor_token)
    )
    assert detail.status_code == 200
    assert detail.json()["body_text"] == "Le bar en face fait du bruit jusqu'à 3 h."
    assert [a["filename"] for a in detail.json()["attachments"]] == ["p.pdf"]
    # commune B's instructor sees nothing of A's mail, and cannot open it
    other = await app_client.get(
        "/api/v1/courriels", headers=seed.auth(seed.other_instructor_token)
    )
    assert other.json() == []
    hidden = await app_client.get(
        f"/api/v1/courriels/{mail_id}", headers=seed.auth(seed.other_instructor_token)
    )
    assert_problem(hidden, 404)
    # an agent without a triage role is refused
    assert_problem(
        await app_client.get("/api/v1/courriels", headers=seed.auth(seed.roleless_token)), 403
    )
    bad = await app_client.get(
        "/api/v1/courriels?statut=n'importe", headers=seed.auth(seed.counter_token)
    )
    assert bad.status_code == 400


async def test_qualify_opens_the_case_on_the_mail_channel(
    seed: Any,
    app_client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
) -> None:
    mail_id = await received(sessionmaker, engine, clock, seed.commune_id)
    clock.advance(timedelta(hours=2))  # qualified later: the case is received when the mail was
    body = {
        "procedure": "general.request",
        "payload": {"subject": "Bruit la nuit", "message": "Bar bruyant", "topic": "reclamation"},
    }
    r = await app_client.post(
        f"/api/v1/courriels/{mail_id}/qualifier", json=body, headers=seed.auth(seed.counter_token)
    )
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["mail"]["status"] == "case_opened"
    assert result["reference"].startswith("69001-")
    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(result["case_id"]))
        assert case is not None
        assert case.channel == "mail"
        assert case.submitter["email"] == "luc@example.org"
        assert case.submitter["given_name"] == "Luc"
        assert case.submitter["family_name"] == "Bernard"
        mail = await s.get(InboundMail, mail_id)
        assert mail is not None
        assert case.received_at == mail.received_at
        assert mail.decided_by_agent_id == seed.counter_id
        [first] = (
            await s.scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == case.id, CaseEvent.kind == "case.message"
                )
            )
        ).all()
        assert first.data["text"].startswith("Le bar en face fait du bruit")
        [file] = (await s.scalars(select(Attachment))).all()
        assert file.case_id == case.id
    again = await app_client.post(
        f"/api/v1/courriels/{mail_id}/qualifier", json=body, headers=seed.auth(seed.counter_token)
    )
    assert_problem(again, 409)


async def test_qualify_with_an_invalid_payload_says_what_is_wrong(
    seed: Any,
    app_client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
) -> None:
    mail_id = await received(sessionmaker, engine, clock, seed.commune_id)
    r = await app_client.post(
        f"/api/v1/courriels/{mail_id}/qualifier",
        json={"procedure": "general.request", "payload": {"subject": "x"}},
        headers=seed.auth(seed.counter_token),
    )
    problem = assert_problem(r, (400, 422))
    assert {e["field"] for e in problem["errors"]} >= {"payload.subject", "payload.message"}
    unknown = await app_client.post(
        f"/api/v1/courriels/{mail_id}/qualifier",
        json={"procedure": "nope", "payload": {}},
        headers=seed.auth(seed.counter_token),
    )
    assert_problem(unknown, (400, 422))
    other = await app_client.post(
        f"/api/v1/courriels/{mail_id}/qualifier",
        json={"procedure": "general.request", "payload": {}},
        headers=seed.auth(seed.other_instructor_token),
    )
    assert_problem(other, 404)
    async with sessionmaker() as s:
        mail = await s.get(InboundMail, mail_id)
        assert mail is not None
        assert mail.status == "triage"


async def test_reject_answers_the_sender_in_thread(
    seed: Any,
    app_client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    mail_id = await received(sessionmaker, engine, clock, seed.commune_id)
    await run_pending(sessionmaker, engine, clock, kinds=[RAW_MAIL_KIND])  # its acknowledgement
    before = len(sent_mails())
    r = await app_client.post(
        f"/api/v1/courriels/{mail_id}/rejeter",
        json={"reply": "Le bruit relève de la police nationale : appelez le 17."},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 200, r.text
    async with sessionmaker() as s:
        events = [
            e.event
            for e in await s.scalars(select(JournalEntry).where(JournalEntry.event.like("mail.%")))
        ]
    assert events == ["mail.triage.rejected"]
    assert r.json()["status"] == "rejected"
    assert sent_mails()[before:] == []  # queued in the outbox with the decision, not yet sent
    await run_pending(sessionmaker, engine, clock, kinds=[RAW_MAIL_KIND])
    replies = sent_mails()[before:]
    [reply] = replies
    assert reply["To"].addresses[0].addr_spec == "luc@example.org"
    assert reply["In-Reply-To"] == "<t1@example.org>"
    assert "<t1@example.org>" in reply["References"]
    assert reply["Subject"] == "Re: Bruit la nuit"
    text = reply.get_body(preferencelist=("plain",)).get_content()
    assert "appelez le 17" in text
    again = await app_client.post(
        f"/api/v1/courriels/{mail_id}/rejeter",
        json={"reply": "encore"},
        headers=seed.auth(seed.instructor_token),
    )
    assert_problem(again, 409)


async def test_admins_manage_their_tenants_addresses(
    seed: Any, app_client: AsyncTestClient[Any]
) -> None:
    body = {
        "tenant_id": str(seed.commune_id),
        "address": "Voirie@A.invalid",
        "procedure": "general.request",
    }
    r = await app_client.post(
        "/api/v1/courriels/adresses", json=body, headers=seed.auth(seed.admin_token)
    )
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "voirie@a.invalid"
    listed = await app_client.get("/api/v1/courriels/adresses", headers=seed.auth(seed.admin_token))
    assert [x["address"] for x in listed.json()] == ["voirie@a.invalid"]
    assert_problem(
        await app_client.post(
            "/api/v1/courriels/adresses", json=body, headers=seed.auth(seed.admin_token)
        ),
        409,
    )
    assert_problem(
        await app_client.post(
            "/api/v1/courriels/adresses", json=body, headers=seed.auth(seed.other_admin_token)
        ),
        403,
    )
    assert_problem(
        await app_client.post(
            "/api/v1/courriels/adresses",
            json={**body, "address": "x@a.invalid", "procedure": "nope"},
            headers=seed.auth(seed.admin_token),
        ),
        (400, 422),
    )
