"""Rotating an API client's secret without downtime, over HTTP.

The client's software keeps using the old secret while the new one is deployed: both are
accepted during the grace period, only the new one after it. Every check asks the token endpoint
for a NEW token (the app caches tokens, never secrets), with the frozen clock moved past the grace.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.models import Tenant
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import T0, Seed
from tests.support.http import assert_problem

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
Client = AsyncTestClient[Any]
CLIENTS = "/api/v1/admin/api-clients"


async def request_token(client: Client, client_id: str, secret: str) -> Any:
    return await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def token_works(client: Client, client_id: str, secret: str) -> bool:
    """A new token is issued with this secret, and it authenticates."""
    r = await request_token(client, client_id, secret)
    if r.status_code == 401:
        assert_problem(r, 401)
        return False
    assert r.status_code == 200, r.text
    me = await client.get("/api/v1/auth/me", headers=Seed.auth(r.json()["access_token"]))
    assert me.status_code == 200, me.text
    return True


async def rotate(client: Client, token: str, client_id: str, **body: Any) -> Any:
    return await client.post(f"{CLIENTS}/{client_id}/rotate", json=body, headers=Seed.auth(token))


async def metro_admin(sm: SM, clock: FrozenClock, seed: Seed) -> str:
    async with sm() as s, s.begin():
        agent = await ids.create_agent(
            s,
            now=clock.now(),
            email=f"metro-admin-{uuid.uuid4().hex[:6]}@test.invalid",
            given_name="Maud",
            family_name="Métropole",
            title="Administratrice",
        )
        metro = await s.get(Tenant, seed.metropole_id)
        assert metro is not None
        await ids.grant_role(s, agent, Role.ADMIN, metro, now=clock.now())
        issued = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=30))
        return issued.access_token


async def test_both_secrets_work_during_the_grace_and_only_the_new_one_after(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    old = seed.client_secret
    assert await token_works(app_client, seed.client_id, old)

    r = await rotate(app_client, seed.admin_token, seed.client_id, grace_hours=24)

    assert r.status_code == 200, r.text
    body = r.json()
    new = body["client_secret"]
    assert new != old and len(new) >= 40
    assert body["previous_secret_valid_until"].startswith("2026-03-03T09:00")
    assert body["secret_rotated_at"].startswith("2026-03-02T09:00")
    listed = await app_client.get(f"{CLIENTS}?tenant=69001", headers=seed.auth(seed.admin_token))
    assert new not in listed.text

    # Both at once: the software fleet is half deployed.
    assert await token_works(app_client, seed.client_id, old)
    assert await token_works(app_client, seed.client_id, new)
    clock.advance(timedelta(hours=23, minutes=59))
    assert await token_works(app_client, seed.client_id, old)

    clock.advance(timedelta(minutes=1))  # exactly the end of the grace: the old one is refused

    assert not await token_works(app_client, seed.client_id, old)
    assert await token_works(app_client, seed.client_id, new)
    clock.advance(timedelta(days=30))
    assert not await token_works(app_client, seed.client_id, old)
    assert await token_works(app_client, seed.client_id, new)

    async with sessionmaker() as s:
        [rotated] = await s.scalars(
            select(JournalEntry).where(JournalEntry.event == "admin.api_client.secret_rotated")
        )
        issued = list(
            await s.scalars(
                select(JournalEntry)
                .where(JournalEntry.event == "auth.token.issued", JournalEntry.at >= T0)
                .order_by(JournalEntry.at, JournalEntry.id)
            )
        )
    assert (rotated.actor_id, rotated.ip) == (seed.admin_id, "testclient")
    assert rotated.tenant_id == seed.commune_id
    assert rotated.data["client_id"] == seed.client_id and rotated.data["grace_hours"] == 24
    assert "previous" in [e.data.get("secret") for e in issued]  # who still uses the old one


async def test_a_zero_grace_cuts_the_old_secret_at_once(seed: Seed, app_client: Client) -> None:
    r = await rotate(app_client, seed.admin_token, seed.client_id, grace_hours=0)

    assert r.status_code == 200, r.text
    assert r.json()["previous_secret_valid_until"] is None
    assert not await token_works(app_client, seed.client_id, seed.client_secret)
    assert await token_works(app_client, seed.client_id, r.json()["client_secret"])


async def test_the_default_grace_is_24_hours(
    seed: Seed, app_client: Client, clock: FrozenClock
) -> None:
    r = await rotate(app_client, seed.admin_token, seed.client_id)

    assert r.status_code == 200, r.text
    assert r.json()["previous_secret_valid_until"].startswith("2026-03-03T09:00")
    clock.advance(timedelta(hours=24))
    assert not await token_works(app_client, seed.client_id, seed.client_secret)


async def test_a_second_rotation_ends_the_oldest_secret_at_once(
    seed: Seed, app_client: Client, clock: FrozenClock
) -> None:
    first = (await rotate(app_client, seed.admin_token, seed.client_id)).json()["client_secret"]
    clock.advance(timedelta(hours=1))

    r = await rotate(app_client, seed.admin_token, seed.client_id, grace_hours=2)

    second = r.json()["client_secret"]
    assert not await token_works(app_client, seed.client_id, seed.client_secret)
    assert await token_works(app_client, seed.client_id, first)
    assert await token_works(app_client, seed.client_id, second)
    clock.advance(timedelta(hours=2))
    assert not await token_works(app_client, seed.client_id, first)
    assert await token_works(app_client, seed.client_id, second)


async def test_tokens_already_issued_with_the_old_secret_live_until_they_expire(
    seed: Seed, app_client: Client, clock: FrozenClock
) -> None:
    r = await request_token(app_client, seed.client_id, seed.client_secret)
    token = r.json()["access_token"]
    expires_in = r.json()["expires_in"]

    await rotate(app_client, seed.admin_token, seed.client_id, grace_hours=0)

    assert (await app_client.get("/api/v1/auth/me", headers=seed.auth(token))).status_code == 200
    clock.advance(timedelta(seconds=expires_in))
    assert_problem(await app_client.get("/api/v1/auth/me", headers=seed.auth(token)), 401)


async def test_a_secret_is_rotated_by_an_admin_of_its_tenant_only(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    assert_problem(await rotate(app_client, seed.other_admin_token, seed.client_id), 404)
    assert_problem(await rotate(app_client, seed.admin_token, seed.other_client_id), 404)
    assert_problem(await rotate(app_client, seed.admin_token, "inconnu"), 404)
    assert_problem(await rotate(app_client, seed.instructor_token, seed.client_id), 403)
    assert await token_works(app_client, seed.client_id, seed.client_secret)

    metro = await metro_admin(sessionmaker, clock, seed)
    r = await rotate(app_client, metro, seed.other_client_id, grace_hours=1)
    assert r.status_code == 200, r.text
    assert await token_works(app_client, seed.other_client_id, r.json()["client_secret"])
    assert await token_works(app_client, seed.other_client_id, seed.other_client_secret)


@pytest.mark.parametrize(
    "body",
    [
        {"grace_hours": 169},
        {"grace_hours": -1},
        {"grace_hours": "demain"},
        {"grace_hours": 1.5},
        {"grace_hours": 24, "extra": True},
    ],
)
async def test_bad_rotation_requests_are_refused(
    seed: Seed, app_client: Client, body: dict[str, Any]
) -> None:
    r = await app_client.post(
        f"{CLIENTS}/{seed.client_id}/rotate", json=body, headers=seed.auth(seed.admin_token)
    )

    assert_problem(r, 400)
    assert await token_works(app_client, seed.client_id, seed.client_secret)


async def test_a_revoked_client_cannot_be_rotated_back_to_life(
    seed: Seed, app_client: Client
) -> None:
    r = await app_client.post(
        f"{CLIENTS}/{seed.client_id}/revoke", headers=seed.auth(seed.admin_token)
    )
    assert r.status_code == 200, r.text

    assert_problem(await rotate(app_client, seed.admin_token, seed.client_id), 409)
    assert not await token_works(app_client, seed.client_id, seed.client_secret)


async def test_revoking_during_a_grace_stops_both_secrets(seed: Seed, app_client: Client) -> None:
    new = (await rotate(app_client, seed.admin_token, seed.client_id)).json()["client_secret"]

    await app_client.post(f"{CLIENTS}/{seed.client_id}/revoke", headers=seed.auth(seed.admin_token))

    assert not await token_works(app_client, seed.client_id, seed.client_secret)
    assert not await token_works(app_client, seed.client_id, new)
