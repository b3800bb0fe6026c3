"""A citizen sees the démarches open online; agents see every démarche of the catalogue."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.app import AppConfig, create_app
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in
from tests.support.procedures import DEFINITION
from workflows.procedures import build_engine

pytestmark = pytest.mark.e2e

INTERNAL = DEFINITION.model_copy(
    update={"key": "test.internal", "title": "Démarche interne", "public": False}
)


async def test_people_see_published_demarches_only(
    seed: Seed,
    database_url: str,
    clock: FrozenClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    engine = build_engine(["tests.support.procedures:register"])
    engine.load(INTERNAL)
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    person = await sign_in(
        sessionmaker, await create_person(sessionmaker, now=clock.now()), now=clock.now()
    )
    async with AsyncTestClient(app) as client:
        r = await client.get("/api/v1/procedures/", headers=person.cookies)
        assert r.status_code == 200, r.text
        keys = {p["key"] for p in r.json()}
        assert "test.permit" in keys and "general.request" in keys
        assert "test.internal" not in keys
        assert_problem(
            await client.get("/api/v1/procedures/test.internal", headers=person.cookies), 404
        )
        assert (
            await client.get("/api/v1/procedures/test.permit", headers=person.cookies)
        ).status_code == 200

        r = await client.get("/api/v1/procedures/", headers=seed.auth(seed.instructor_token))
        assert "test.internal" in {p["key"] for p in r.json()}
