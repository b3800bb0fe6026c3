"""The webhook admin API over HTTP: subscribe, list, unsubscribe, see every delivery attempt.

Deliveries go to a real HTTP receiver on 127.0.0.1; the outbox rows are performed with
``services.worker.outbox.perform`` as the worker's job does.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import JobDeps
from documents.storage import FileStorage
from identity import service as ids
from identity.models import Tenant
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.kernel.settings import clear_settings_cache
from services.worker.outbox import perform
from services.worker.settings import all_handlers
from tests.conftest import Seed, permit_request
from tests.support.http import assert_problem
from tests.support.webhooks import Receiver
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
HOOKS = "/api/v1/webhooks"


@pytest.fixture(autouse=True)
def _receivers_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test receiver listens on 127.0.0.1, refused by default."""
    monkeypatch.setenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    clear_settings_cache()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def admin_token(sm: SM, clock: FrozenClock, tenant_id: uuid.UUID) -> str:
    """An agent with the admin role in the tenant, and their bearer token."""
    async with sm() as s, s.begin():
        tenant = await s.get(Tenant, tenant_id)
        assert tenant is not None
        agent = await ids.create_agent(
            s,
            now=clock.now(),
            email=f"admin-{uuid.uuid4().hex[:8]}@test.invalid",
            given_name="Ada",
            family_name="Admin",
            title="Administratrice",
        )
        await ids.grant_role(s, agent, Role.ADMIN, tenant, now=clock.now())
        issued = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=1))
        return issued.access_token


async def subscribe(
    client: AsyncTestClient[Any],
    token: str,
    tenant_id: uuid.UUID,
    url: str = "https://crm.example.org/guichet",
    kinds: list[str] | None = None,
) -> dict[str, Any]:
    r = await client.post(
        HOOKS + "/",
        json={"tenant_id": str(tenant_id), "url": url, "event_kinds": kinds or []},
        headers=Seed.auth(token),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def perform_owed(sm: SM, deps: JobDeps, kind: str) -> list[str]:
    results = []
    async with sm() as s:
        owed = list(
            await s.scalars(
                select(Outbox.id).where(
                    Outbox.kind == kind, Outbox.status.in_(("pending", "enqueued"))
                )
            )
        )
    for row_id in owed:
        try:
            results.append(await perform(sm, all_handlers(), deps, row_id))
        except Retry:
            results.append("retry")
    return results


# ----- subscribing -------------------------------------------------------------------------------


async def test_an_admin_subscribes_and_sees_the_secret_only_once(
    app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    token = await admin_token(sessionmaker, clock, seed.commune_id)

    created = await subscribe(app_client, token, seed.commune_id, kinds=["case.opened"])

    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert created["tenant_id"] == str(seed.commune_id)
    assert created["url"] == "https://crm.example.org/guichet"
    assert created["event_kinds"] == ["case.opened"]
    assert created["active"] is True
    assert created["created_at"].startswith("2026-03-02T09:00")
    for query in (f"?tenant_id={seed.commune_id}", ""):
        r = await app_client.get(HOOKS + "/" + query, headers=seed.auth(token))
        assert r.status_code == 200, r.text
        [listed] = r.json()["items"]
        assert listed["id"] == created["id"]
        assert "secret" not in listed
        assert created["secret"] not in r.text
    async with sessionmaker() as s:
        [entry] = await s.scalars(
            select(JournalEntry).where(JournalEntry.event == "admin.webhook.created")
        )
    assert entry.tenant_id == seed.commune_id
    assert entry.data["subscription_id"] == created["id"]


async def test_an_admin_of_the_metropole_manages_its_communes_webhooks(
    app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    token = await admin_token(sessionmaker, clock, seed.metropole_id)

    created = await subscribe(app_client, token, seed.commune_id)

    r = await app_client.get(HOOKS + "/", headers=seed.auth(token))
    assert [i["id"] for i in r.json()["items"]] == [created["id"]]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://crm.example.org/hook", "http"),
        ("javascript:alert(1)", "http"),
        ("https://user:secret@crm.example.org/hook", "identifiants"),
        ("https:///hook", "hôte"),
        ("pas une adresse", "espace"),
    ],
)
async def test_a_bad_url_is_a_422_problem(
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    seed: Seed,
    url: str,
    words: str,
) -> None:
    token = await admin_token(sessionmaker, clock, seed.commune_id)

    r = await app_client.post(
        HOOKS + "/",
        json={"tenant_id": str(seed.commune_id), "url": url},
        headers=seed.auth(token),
    )

    problem = assert_problem(r, 422)
    assert words in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["url"]
    r = await app_client.get(HOOKS + "/", headers=seed.auth(token))
    assert r.json()["items"] == []


async def test_a_bad_event_kind_is_a_422_problem_naming_it(
    app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    token = await admin_token(sessionmaker, clock, seed.commune_id)

    r = await app_client.post(
        HOOKS + "/",
        json={
            "tenant_id": str(seed.commune_id),
            "url": "https://crm.example.org/hook",
            "event_kinds": ["case.opened", "Tout !"],
        },
        headers=seed.auth(token),
    )

    problem = assert_problem(r, 422)
    assert "Tout !" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["event_kinds.1"]


async def test_a_private_address_is_refused_by_default(
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    seed: Seed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES")
    clear_settings_cache()
    token = await admin_token(sessionmaker, clock, seed.commune_id)

    r = await app_client.post(
        HOOKS + "/",
        json={"tenant_id": str(seed.commune_id), "url": "http://169.254.169.254/latest/"},
        headers=seed.auth(token),
    )

    problem = assert_problem(r, 422)
    assert [e["type"] for e in problem["errors"]] == ["private_address"]


# ----- who may -----------------------------------------------------------------------------------


async def test_agents_without_the_admin_role_are_refused(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    for method, path in (("get", HOOKS + "/"), ("post", HOOKS + "/")):
        r = await getattr(app_client, method)(
            path,
            headers=seed.auth(seed.instructor_token),
            **({"json": {}} if method == "post" else {}),
        )
        assert_problem(r, 403)
    r = await app_client.get(HOOKS + "/")
    assert_problem(r, 401)


async def test_another_tenants_admin_gets_404_everywhere(
    app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    mine = await admin_token(sessionmaker, clock, seed.commune_id)
    theirs = await admin_token(sessionmaker, clock, seed.other_commune_id)
    created = await subscribe(app_client, mine, seed.commune_id)
    hook = f"{HOOKS}/{created['id']}"

    r = await app_client.post(
        HOOKS + "/",
        json={"tenant_id": str(seed.commune_id), "url": "https://evil.example.org/"},
        headers=seed.auth(theirs),
    )
    assert_problem(r, 404)
    assert_problem(
        await app_client.get(f"{HOOKS}/?tenant_id={seed.commune_id}", headers=seed.auth(theirs)),
        404,
    )
    assert_problem(await app_client.delete(hook, headers=seed.auth(theirs)), 404)
    assert_problem(await app_client.get(hook + "/deliveries", headers=seed.auth(theirs)), 404)
    r = await app_client.get(HOOKS + "/", headers=seed.auth(theirs))
    assert r.json()["items"] == []
    # Still there and active for its own tenant.
    r = await app_client.get(HOOKS + "/", headers=seed.auth(mine))
    assert [(i["id"], i["active"]) for i in r.json()["items"]] == [(created["id"], True)]


# ----- unsubscribing -------------------------------------------------------------------------------


async def test_delete_deactivates_the_subscription_and_is_journaled(
    app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    token = await admin_token(sessionmaker, clock, seed.commune_id)
    created = await subscribe(app_client, token, seed.commune_id)

    r = await app_client.delete(f"{HOOKS}/{created['id']}", headers=seed.auth(token))
    assert r.status_code == 204, r.text
    r = await app_client.delete(f"{HOOKS}/{created['id']}", headers=seed.auth(token))
    assert r.status_code == 204, r.text  # idempotent

    r = await app_client.get(HOOKS + "/", headers=seed.auth(token))
    assert [(i["id"], i["active"]) for i in r.json()["items"]] == [(created["id"], False)]
    async with sessionmaker() as s:
        entries = list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == "admin.webhook.deleted")
            )
        )
    assert [e.data["subscription_id"] for e in entries] == [created["id"]]
    assert_problem(
        await app_client.delete(f"{HOOKS}/{uuid.uuid4()}", headers=seed.auth(token)), 404
    )


# ----- deliveries ------------------------------------------------------------------------------------


async def test_every_attempt_is_listed_newest_first_and_the_secret_verifies_the_request(
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
    seed: Seed,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    receiver.fail_first = 1
    deps = JobDeps(engine=engine, storage=FileStorage(tmp_path / "docs"), clock=clock)
    token = await admin_token(sessionmaker, clock, seed.commune_id)
    created = await subscribe(app_client, token, seed.commune_id, url=receiver.url)
    r = await app_client.post(
        "/api/v1/intake/", json=permit_request(), headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]

    assert await perform_owed(sessionmaker, deps, "case.event") == ["done"]
    assert await perform_owed(sessionmaker, deps, "webhook.deliver") == ["retry"]
    clock.advance(timedelta(seconds=2))
    assert await perform_owed(sessionmaker, deps, "webhook.deliver") == ["done"]

    deliveries = f"{HOOKS}/{created['id']}/deliveries"
    r = await app_client.get(deliveries, headers=seed.auth(token))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 2
    assert [(d["attempt"], d["status_code"]) for d in page["items"]] == [(2, 204), (1, 500)]
    latest, first = page["items"]
    assert latest["delivery_id"] == first["delivery_id"]
    assert {d["delivery_status"] for d in page["items"]} == {"done"}
    assert {d["event_kind"] for d in page["items"]} == {"case.opened"}
    assert latest["error"] is None
    assert "500" in first["error"]
    assert latest["at"] > first["at"]
    r = await app_client.get(deliveries + "?limit=1&offset=1", headers=seed.auth(token))
    assert [d["attempt"] for d in r.json()["items"]] == [1]
    assert (r.json()["total"], r.json()["limit"], r.json()["offset"]) == (2, 1, 1)
    # The receiver checks the last request with the secret it was given once.
    request = receiver.requests[-1]
    t, v1 = (p.split("=", 1)[1] for p in request.headers["x-guichet-signature"].split(","))
    expected = hmac.new(
        created["secret"].encode(), f"{t}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(v1, expected)
    assert request.json()["case"]["reference"] == reference
    assert request.json()["id"] == latest["delivery_id"]


async def test_the_api_is_documented_in_openapi(app_client: AsyncTestClient[Any]) -> None:
    schema = (await app_client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    assert {"/api/v1/webhooks", "/api/v1/webhooks/{subscription_id}"} <= set(paths)
    assert "X-Guichet-Signature" in paths["/api/v1/webhooks"]["post"]["description"]
