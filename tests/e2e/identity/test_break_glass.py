"""The break-glass administrator: created by the CLI only, signs in with a local password when
ProConnect is down, throttled and journaled like every sign-in."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import throttle
from identity.models import Agent
from services.api.app import AppConfig, create_app
from services.cli import main
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.kernel.settings import path_settings
from tests.conftest import Seed
from tests.support.http import assert_problem
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

LOGIN = "/api/v1/auth/local/agent-login"


@pytest.fixture
async def web(
    seed: Seed, database_url: str, clock: FrozenClock, engine: Engine
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_throttle_settings() -> Any:
    throttle.throttle_settings.cache_clear()
    yield
    throttle.throttle_settings.cache_clear()


async def break_glass(database_url: str, *extra: str, tenant: str = "69001") -> tuple[int, str]:
    """Run ``guichet agent break-glass`` as an operator would (its own event loop, in a thread)."""
    # --data-dir makes the CLI read its settings again (the app cached them without the URL).
    args = [
        "--data-dir",
        str(path_settings().data_dir),
        "agent",
        "break-glass",
        "--email",
        "Secours@Commune-A.fr",
        "--given-name",
        "Camille",
        "--family-name",
        "Secours",
        "--tenant",
        tenant,
        *extra,
    ]

    def run() -> tuple[int, str]:
        result = CliRunner().invoke(
            main, args, env={"GUICHET_DATABASE_URL": database_url}, catch_exceptions=False
        )
        return result.exit_code, result.output

    return await asyncio.to_thread(run)


def password_in(output: str) -> str:
    found = re.search(r"Mot de passe : (\S+)", output)
    assert found is not None, output
    return found.group(1)


async def events(sm: async_sessionmaker[AsyncSession], event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(await s.scalars(select(JournalEntry).where(JournalEntry.event == event)))


async def test_cli_creates_an_administrator_who_signs_in_with_the_password(
    web: AsyncTestClient[Any], seed: Seed, database_url: str, sessionmaker: Any
) -> None:
    code, out = await break_glass(database_url)
    assert code == 0, out
    assert "affiché une seule fois" in out
    password = password_in(out)
    assert len(password) >= 32

    async with sessionmaker() as s:
        agent = await s.scalar(select(Agent).where(Agent.email == "secours@commune-a.fr"))
    assert agent is not None
    assert agent.password_hash is not None and password not in agent.password_hash
    [created] = await events(sessionmaker, "admin.break_glass.created")
    assert created.tenant_id == seed.commune_id
    assert created.data["reset"] is False

    r = await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": password})
    assert r.status_code == 200, r.text
    assert r.json()["agent"] == {"id": str(agent.id), "display_name": "Camille Secours"}
    assert "Secure" in r.headers["set-cookie"]
    me = await web.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["kind"] == "agent"
    assert body["roles"][str(seed.commune_id)] == ["admin"]
    [login] = await events(sessionmaker, "identity.login")
    assert login.data["method"] == "break_glass"
    assert login.actor_id == agent.id


async def test_running_it_again_resets_the_password_and_closes_sessions(
    web: AsyncTestClient[Any], database_url: str, sessionmaker: Any
) -> None:
    _, first = await break_glass(database_url)
    old = password_in(first)
    assert (
        await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": old})
    ).status_code == 200
    assert (await web.get("/api/v1/auth/me")).status_code == 200

    code, second = await break_glass(database_url)
    assert code == 0, second
    assert "réinitialisé" in second
    new = password_in(second)
    assert new != old
    assert_problem(await web.get("/api/v1/auth/me"), 401)  # the open session was closed
    refused = await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": old})
    assert_problem(refused, 401)
    ok = await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": new})
    assert ok.status_code == 200
    resets = [e.data["reset"] for e in await events(sessionmaker, "admin.break_glass.created")]
    assert sorted(resets) == [False, True]


async def test_agents_without_a_local_password_cannot_use_it(web: AsyncTestClient[Any]) -> None:
    # instr@a.invalid is a seeded agent (ProConnect / bearer tokens only).
    for email in ("instr@a.invalid", "nobody-here@a.invalid"):
        r = await web.post(LOGIN, json={"email": email, "password": "n'importe quoi du tout"})
        assert "incorrect" in assert_problem(r, 401)["detail"]


async def test_agent_login_is_throttled(web: AsyncTestClient[Any], database_url: str) -> None:
    _, out = await break_glass(database_url)
    password = password_in(out)
    for _ in range(5):
        wrong = await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": "essai"})
        assert_problem(wrong, 401)
    r = await web.post(LOGIN, json={"email": "secours@commune-a.fr", "password": password})
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) > 0
    # The operator resets the account from the CLI: it is unlocked with the new password.
    _, again = await break_glass(database_url)
    ok = await web.post(
        LOGIN, json={"email": "secours@commune-a.fr", "password": password_in(again)}
    )
    assert ok.status_code == 200


async def test_cli_errors_are_clear(seed: Seed, database_url: str) -> None:
    code, out = await break_glass(database_url, tenant="99999")
    assert code == 2
    assert "Collectivité « 99999 » inconnue" in out
    help_code, help_out = await asyncio.to_thread(
        lambda: (
            (r := CliRunner().invoke(main, ["agent", "break-glass", "--help"])).exit_code,
            r.output,
        )
    )
    assert help_code == 0
    assert "une seule fois" in help_out
