"""The counter's print queue: a person who chose postal notification gets letters, not e-mails.

Intake over HTTP, the outbox performed as the worker does (weasyprint renders the ARE), a real SMTP
server (aiosmtpd) that must receive nothing, then the print queue API used by counter agents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import JobDeps
from documents.models import Notification, StoredDocument
from documents.storage import FileStorage
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.worker.outbox import perform
from services.worker.settings import all_handlers
from tests.conftest import Seed, permit_request
from tests.support.http import assert_problem, client_token
from tests.support.smtp import SmtpSink, smtp_server
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
QUEUE = "/api/v1/notifications/to-print"
ADDRESS = "3 rue des Lilas, 69001 A"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_server(monkeypatch) as sink:
        yield sink


@pytest.fixture
def deps(engine: Engine, tmp_path: Path, clock: FrozenClock) -> JobDeps:
    return JobDeps(engine=engine, storage=FileStorage(tmp_path / "documents"), clock=clock)


async def file_request(client: AsyncTestClient[Any], seed: Seed, **submitter: Any) -> str:
    who = {"given_name": "Alex", "family_name": "Dupont", **submitter}
    r = await client.post(
        "/api/v1/intake/",
        json=permit_request(submitter=who),
        headers=seed.auth(seed.counter_token),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


async def run_worker(sm: SM, deps: JobDeps) -> None:
    """Perform the document and notification rows (and what they queue), like the worker."""
    handlers = all_handlers()
    for _ in range(10):
        async with sm() as s:
            rows = list(
                await s.scalars(
                    select(Outbox.id)
                    .where(
                        Outbox.kind.in_(("document.render", "notification.send")),
                        Outbox.status == "pending",
                    )
                    .order_by(Outbox.created_at, Outbox.dedupe_key)
                )
            )
        if not rows:
            return
        for row_id in rows:
            assert await perform(sm, handlers, deps, row_id) == "done"
    raise AssertionError("the outbox does not drain")


async def are_of(sm: SM, case_id: str) -> StoredDocument:
    async with sm() as s:
        doc = await s.scalar(
            select(StoredDocument).where(
                StoredDocument.case_id == uuid.UUID(case_id), StoredDocument.kind == "are"
            )
        )
    assert doc is not None
    return doc


async def test_a_postal_notification_waits_at_the_counter_until_printed(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    deps: JobDeps,
    clock: FrozenClock,
    smtp: SmtpSink,
) -> None:
    case_id = await file_request(
        app_client, seed, email="alex@example.org", notification="postal", postal_address=ADDRESS
    )
    at_counter_id = await file_request(app_client, seed, phone="0600000000")
    await run_worker(sessionmaker, deps)

    assert smtp.received == []  # postal: no e-mail at all, not even the AEE
    counter = seed.auth(seed.counter_token)
    r = await app_client.get(QUEUE, params={"tenant_id": str(seed.commune_id)}, headers=counter)
    assert r.status_code == 200, r.text
    queue = r.json()
    assert queue["total"] == 2
    items = {item["case_id"]: item for item in queue["items"]}
    assert set(items) == {case_id, at_counter_id}
    are = await are_of(sessionmaker, case_id)
    letter = items[case_id]
    assert letter["person"] == "Alex Dupont"
    assert letter["to_address"] == ADDRESS
    assert letter["template"] == "are"
    assert letter["status"] == "to_print"
    assert letter["reference"].startswith("69001-2026-")
    assert letter["tenant_id"] == str(seed.commune_id)
    assert "Accusé de réception" in letter["subject"]
    assert letter["document_ids"] == [str(are.id)]
    assert [(d["id"], d["kind"]) for d in letter["documents"]] == [(str(are.id), "are")]
    assert letter["printed_at"] is None
    assert items[at_counter_id]["to_address"] == "remise au guichet"

    # An agent of the métropole (its role covers the communes) sees the same queue.
    r = await app_client.get(
        QUEUE,
        params={"tenant_id": str(seed.commune_id)},
        headers=seed.auth(seed.metropole_instructor_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 2

    r = await app_client.post(f"/api/v1/notifications/{letter['id']}/printed", headers=counter)
    assert r.status_code == 200, r.text
    printed = r.json()
    assert printed["status"] == "printed"
    assert printed["printed_at"].startswith(clock.now().isoformat()[:19])
    assert printed["document_ids"] == [str(are.id)]

    r = await app_client.get(QUEUE, params={"tenant_id": str(seed.commune_id)}, headers=counter)
    assert [i["case_id"] for i in r.json()["items"]] == [at_counter_id]
    r = await app_client.get(
        QUEUE,
        params={"tenant_id": str(seed.commune_id), "status": "printed"},
        headers=counter,
    )
    assert [i["id"] for i in r.json()["items"]] == [letter["id"]]

    # Printed once: a second agent is told, so the letter is not posted twice.
    r = await app_client.post(
        f"/api/v1/notifications/{letter['id']}/printed", headers=seed.auth(seed.instructor_token)
    )
    assert "déjà" in assert_problem(r, 409)["detail"]

    async with sessionmaker() as s:
        journal = list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == "notification.letter.printed")
            )
        )
        stored = await s.get(Notification, uuid.UUID(letter["id"]))
    assert len(journal) == 1
    assert journal[0].actor_id == seed.counter_id
    assert journal[0].tenant_id == seed.commune_id
    assert journal[0].data["case_id"] == case_id
    assert journal[0].data["reference"] == letter["reference"]
    assert stored is not None and stored.status == "printed"
    assert smtp.received == []

    # The case's history says the letter was queued, then printed at the counter, and by whom.
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=counter)
    timeline = [(e["kind"], e["actor_kind"], e["channel"]) for e in r.json()["timeline"]]
    assert ("notification.queued_for_print", "system", "system") in timeline
    assert ("notification.printed", "agent", "counter") in timeline
    (printed_event,) = [e for e in r.json()["timeline"] if e["kind"] == "notification.printed"]
    assert printed_event["data"]["notification_id"] == letter["id"]
    assert printed_event["data"]["to"] == ADDRESS


async def test_the_print_queue_is_for_the_tenants_agents_only(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    await file_request(app_client, seed, notification="postal", postal_address=ADDRESS)
    await run_worker(sessionmaker, deps)
    counter = seed.auth(seed.counter_token)
    r = await app_client.get(QUEUE, params={"tenant_id": str(seed.commune_id)}, headers=counter)
    (letter,) = r.json()["items"]
    params = {"tenant_id": str(seed.commune_id)}
    printed = f"/api/v1/notifications/{letter['id']}/printed"

    other = seed.auth(seed.other_instructor_token)
    assert (
        "aucun rôle"
        in assert_problem(await app_client.get(QUEUE, params=params, headers=other), 403)["detail"]
    )
    assert_problem(await app_client.post(printed, headers=other), 404)
    # ...while its own queue is empty.
    r = await app_client.get(QUEUE, params={"tenant_id": str(seed.other_commune_id)}, headers=other)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []

    assert_problem(await app_client.get(QUEUE, params=params), 401)
    assert_problem(await app_client.post(printed), 401)
    roleless = seed.auth(seed.roleless_token)
    assert_problem(await app_client.get(QUEUE, params=params, headers=roleless), 403)
    assert_problem(await app_client.post(printed, headers=roleless), 403)
    api_client = seed.auth(await client_token(app_client, seed.client_id, seed.client_secret))
    assert_problem(await app_client.get(QUEUE, params=params, headers=api_client), 403)
    assert_problem(await app_client.post(printed, headers=api_client), 403)

    # Without tenant_id: the letters of every tenant the agent works for.
    r = await app_client.get(QUEUE, headers=counter)
    assert [i["id"] for i in r.json()["items"]] == [letter["id"]]
    r = await app_client.get(QUEUE, headers=other)
    assert r.json()["items"] == []
    assert_problem(
        await app_client.get(QUEUE, params={**params, "status": "lost"}, headers=counter), 400
    )
    assert_problem(
        await app_client.post(f"/api/v1/notifications/{uuid.uuid4()}/printed", headers=counter),
        404,
    )

    # Nothing happened to the letter.
    r = await app_client.get(QUEUE, params=params, headers=counter)
    assert [i["id"] for i in r.json()["items"]] == [letter["id"]]


async def test_an_emailed_notification_has_nothing_to_print(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    case_id = await file_request(app_client, seed, email="alex@example.org")
    await run_worker(sessionmaker, deps)
    assert len(smtp.received) == 2  # AEE and ARE
    counter = seed.auth(seed.counter_token)
    r = await app_client.get(QUEUE, params={"tenant_id": str(seed.commune_id)}, headers=counter)
    assert r.json()["items"] == []
    async with sessionmaker() as s:
        emailed = list(
            await s.scalars(select(Notification).where(Notification.case_id == uuid.UUID(case_id)))
        )
    assert {n.channel for n in emailed} == {"email"}
    r = await app_client.post(f"/api/v1/notifications/{emailed[0].id}/printed", headers=counter)
    assert "e-mail" in assert_problem(r, 409)["detail"]
