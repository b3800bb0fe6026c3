"""Browser sessions: idle and absolute timeouts, CSRF on unsafe requests, denials journaled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.web import session_cookie
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in

pytestmark = pytest.mark.e2e


async def _events(sm: async_sessionmaker[AsyncSession], event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(await s.scalars(select(JournalEntry).where(JournalEntry.event == event)))


async def test_a_session_ends_after_30_minutes_without_use(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    app_client: AsyncTestClient[Any],
) -> None:
    person = await create_person(sessionmaker, now=clock.now())
    signed = await sign_in(sessionmaker, person, now=clock.now())
    clock.advance(timedelta(minutes=29))
    r = await app_client.get("/api/v1/auth/me", headers=signed.cookies)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "person"
    clock.advance(timedelta(minutes=29))  # 29 min after the last use
    assert (await app_client.get("/api/v1/auth/me", headers=signed.cookies)).status_code == 200
    clock.advance(timedelta(minutes=31))
    r = await app_client.get("/api/v1/auth/me", headers=signed.cookies)
    body = assert_problem(r, 401)
    assert "connectez-vous" in body["detail"]


async def test_a_session_ends_12_hours_after_login_even_when_used(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    app_client: AsyncTestClient[Any],
) -> None:
    person = await create_person(sessionmaker, now=clock.now())
    signed = await sign_in(sessionmaker, person, now=clock.now())
    for _ in range(47):  # every 15 minutes for 11 h 45
        clock.advance(timedelta(minutes=15))
        assert (await app_client.get("/api/v1/auth/me", headers=signed.cookies)).status_code == 200
    clock.advance(timedelta(minutes=15))
    assert_problem(await app_client.get("/api/v1/auth/me", headers=signed.cookies), 401)


async def test_unsafe_requests_with_the_cookie_need_the_csrf_token_and_refusals_are_journaled(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    app_client: AsyncTestClient[Any],
) -> None:
    person = await create_person(sessionmaker, now=clock.now())
    signed = await sign_in(sessionmaker, person, now=clock.now())
    change = {"phone": "04 78 00 00 00"}
    r = await app_client.patch("/api/v1/me", headers=signed.cookies, json=change)
    body = assert_problem(r, 403)
    assert "CSRF" in body["detail"]
    r = await app_client.patch(
        "/api/v1/me", json=change, headers={**signed.cookies, "X-CSRF-Token": "x" * 43}
    )
    assert_problem(r, 403)
    refused = await _events(sessionmaker, "identity.csrf.refused")
    assert len(refused) == 2 and refused[0].actor_id == person
    r = await app_client.patch("/api/v1/me", json=change, headers=signed.headers)
    assert r.status_code == 200, r.text


async def test_the_session_cookie_is_httponly_secure_and_samesite_lax() -> None:
    header = session_cookie("abc").to_header(header="")
    assert (
        "HttpOnly" in header
        and "Secure" in header
        and "SameSite=lax" in header.replace("Lax", "lax")
    )
    assert "Path=/" in header


async def test_a_bearer_token_needs_no_csrf_token(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    r = await app_client.post(
        "/api/v1/admin/organisations",
        headers=seed.auth(seed.admin_token),
        json={"siret": "82316945300011", "name": "BTP Exemple"},
    )
    assert r.status_code == 201, r.text


async def test_policy_denials_are_journaled_with_the_actor_and_address(
    seed: Seed, sessionmaker: async_sessionmaker[AsyncSession], app_client: AsyncTestClient[Any]
) -> None:
    r = await app_client.get("/api/v1/admin/agents", headers=seed.auth(seed.counter_token))
    assert_problem(r, 403)
    denied = await _events(sessionmaker, "auth.access.denied")
    assert len(denied) == 1
    assert denied[0].actor_kind == "agent"
    assert denied[0].data["path"] == "/api/v1/admin/agents"
    assert denied[0].ip
