"""Administration of Open311 api keys: created by a tenant administrator (shown once, stored as a
SHA-256), listed, revoked (refused at once); other tenants' keys are 404; a key for every tenant
needs a métropole administrator."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.open311.models import Open311ApiKey
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.open311 import BASE, check_json
from tests.support.street_reports import POINT_IN_A

pytestmark = pytest.mark.e2e

KEYS = "/api/v1/admin/open311/keys/"


def report(key: str) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "chaussee",
        "lat": str(POINT_IN_A[0]),
        "long": str(POINT_IN_A[1]),
        "description": "Trou",
    }


async def test_an_administrator_creates_lists_and_revokes_a_key(
    client: AsyncTestClient[Any], territory: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = territory.auth(territory.admin_token)
    r = await client.post(KEYS, json={"name": "FixMyStreet 🛠", "tenant": "69001"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["api_key"]
    assert key.startswith("o311_") and len(key) > 40
    assert created["tenant_id"] == str(territory.commune_id)
    async with sessionmaker() as s:
        row = await s.get(Open311ApiKey, uuid.UUID(created["id"]))
        assert row is not None
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in (row.key_hash, row.key_prefix)

    posted = await client.post(f"{BASE}/requests.json", data=report(key))
    assert posted.status_code == 200, posted.text
    check_json("post_reply", posted.json())

    listed = await client.get(KEYS, headers=admin)
    assert listed.status_code == 200
    (item,) = listed.json()
    assert "api_key" not in item
    assert item["name"] == "FixMyStreet 🛠"
    assert item["last_used_at"] is not None

    revoked = await client.post(f"{KEYS}{created['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    refused = await client.post(f"{BASE}/requests.json", data=report(key))
    assert refused.status_code == 403
    again = await client.post(f"{KEYS}{created['id']}/revoke", headers=admin)
    assert_problem(again, 409)


async def test_another_tenants_administrator_sees_nothing_and_gets_404(
    client: AsyncTestClient[Any], territory: Seed
) -> None:
    r = await client.post(
        KEYS,
        json={"name": "Appli A", "tenant": "69001"},
        headers=territory.auth(territory.admin_token),
    )
    key_id = r.json()["id"]
    other = territory.auth(territory.other_admin_token)
    assert (await client.get(KEYS, headers=other)).json() == []
    assert_problem(await client.post(f"{KEYS}{key_id}/revoke", headers=other), 404)
    assert_problem(
        await client.post(KEYS, json={"name": "Intrus", "tenant": "69001"}, headers=other), 404
    )


async def test_a_key_for_every_tenant_needs_a_metropole_administrator(
    client: AsyncTestClient[Any], territory: Seed
) -> None:
    r = await client.post(
        KEYS, json={"name": "Partout"}, headers=territory.auth(territory.admin_token)
    )
    assert "métropole" in assert_problem(r, 403)["detail"]


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "a\x00b", "tenant": "69001"}, {"name": "x" * 121}, {"nom": "x"}],
)
async def test_bad_key_requests_are_refused(
    client: AsyncTestClient[Any], territory: Seed, body: dict[str, Any]
) -> None:
    r = await client.post(KEYS, json=body, headers=territory.auth(territory.admin_token))
    assert r.status_code in (400, 422), r.text


async def test_agents_without_the_admin_role_cannot_manage_keys(
    client: AsyncTestClient[Any], territory: Seed
) -> None:
    instructor = territory.auth(territory.instructor_token)
    assert_problem(await client.get(KEYS, headers=instructor), 403)
    assert_problem(await client.get(KEYS), 401)


async def test_unused_keys_stay_unused(
    client: AsyncTestClient[Any], territory: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await client.post(
        KEYS,
        json={"name": "Jamais", "tenant": "69001"},
        headers=territory.auth(territory.admin_token),
    )
    async with sessionmaker() as s:
        (row,) = list(await s.scalars(select(Open311ApiKey)))
        assert row.last_used_at is None and row.revoked_at is None
