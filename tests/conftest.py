"""Shared fixtures: a fresh migrated database per test, Redis, a frozen clock, the app, seed data.

By default everything runs on SQLite and an embedded redis-server. With
GUICHET_TEST_DATABASE_URL (postgresql+asyncpg://...) and GUICHET_TEST_REDIS_URL set — as CI does —
the same tests run on PostgreSQL and Redis, and those servers must answer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.sessions import session_settings
from services.api.app import AppConfig, create_app
from services.kernel.actor import Role, Scope
from services.kernel.clock import FrozenClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.migrate import upgrade
from services.kernel.settings import clear_settings_cache
from services.worker.embedded_redis import EmbeddedRedis
from workflows.engine.runner import Engine
from workflows.procedures import build_engine

TEST_EXTENSION = "tests.support.procedures:register"
PG_URL = os.environ.get("GUICHET_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GUICHET_TEST_REDIS_URL")


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


# ----- environment ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GUICHET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GUICHET_EXTRA_PROCEDURES", TEST_EXTENSION)
    for var in ("GUICHET_DATABASE_URL", "GUICHET_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    clear_settings_cache()
    session_settings.cache_clear()
    yield
    clear_settings_cache()
    session_settings.cache_clear()


# ----- database ------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    assert PG_URL is not None
    admin = make_url(PG_URL).set(database="postgres")
    engine = make_engine(admin.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once per test session (per xdist worker)."""
    if PG_URL:
        name = f"guichet_tpl_{_worker_id()}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        upgrade(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
        yield name
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    yield str(path)


def _clone(template: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A copy of a template database: (url, drop)."""
    if PG_URL:
        name = f"guichet_t_{_worker_id()}_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

        def drop() -> None:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False), drop
    path = tmp_path / f"guichet-{uuid.uuid4().hex[:8]}.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}", lambda: None


@pytest.fixture(scope="session")
def seeded_template(
    database_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Seed]]:
    """The migrated template plus the seed data, built once: hashing secrets costs time."""
    url, drop = _clone(database_template, tmp_path_factory.mktemp("seeded"))

    async def build() -> Seed:
        engine = make_engine(url)
        try:
            return await seed_data(make_sessionmaker(engine), FrozenClock(T0))
        finally:
            await engine.dispose()

    seed = asyncio.run(build())
    if PG_URL:
        template = make_url(url).database
        assert template is not None
        yield template, seed
    else:
        yield url.removeprefix("sqlite+aiosqlite:///"), seed
    drop()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, database_template: str, tmp_path: Path
) -> Iterator[str]:
    """A fresh, migrated database for this test: empty, or with the seed data when the test
    asks for the ``seed`` fixture."""
    template = database_template
    if "seed" in request.fixturenames:
        template = request.getfixturevalue("seeded_template")[0]
    url, drop = _clone(template, tmp_path)
    yield url
    drop()


@pytest.fixture
def is_pg(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


# ----- redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_URL:
        yield REDIS_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """A Redis database for this test (one per xdist worker), emptied before and after."""
    from redis.asyncio import Redis

    worker = _worker_id()
    index = 1 + (int(worker[2:]) if worker[2:].isdigit() else 0) % 15
    base = redis_server.rsplit("/", 1)[0] if redis_server.count("/") >= 3 else redis_server
    db_url = f"{base}/{index}"
    client: Redis[bytes] = Redis.from_url(db_url)
    await client.flushdb()
    yield db_url
    await client.flushdb()
    await client.aclose()


# ----- clock, engine, app ----------------------------------------------------------------------

# Monday 2 March 2026, 10:00 in Paris (09:00 UTC): a working day far from holidays.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def engine() -> Engine:
    return build_engine([TEST_EXTENSION])


@pytest.fixture
async def app_client(
    database_url: str, clock: FrozenClock, engine: Engine
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app) as client:
        yield client


# ----- seed data -------------------------------------------------------------------------------


@dataclass
class Seed:
    metropole_id: uuid.UUID
    commune_id: uuid.UUID
    other_commune_id: uuid.UUID
    instructor_token: str
    instructor_id: uuid.UUID
    instructor2_token: str
    counter_token: str
    counter_id: uuid.UUID
    metropole_instructor_token: str
    other_instructor_token: str
    roleless_token: str
    client_id: str
    client_secret: str
    other_client_id: str
    other_client_secret: str
    admin_token: str
    admin_id: uuid.UUID
    other_admin_token: str

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


async def seed_data(sm: async_sessionmaker[AsyncSession], clock: FrozenClock) -> Seed:
    from identity import service as ids

    now = clock.now()
    ttl = timedelta(days=365)
    async with sm() as s, s.begin():
        metro = await ids.create_tenant(
            s,
            now=now,
            insee_code="69000",
            slug="metropole",
            name="Métropole de Test",
            kind="metropole",
            address="1 place",
            postal_code="69000",
            city="Testville",
            phone="04 00 00 00 00",
            email="metro@test.invalid",
        )
        commune = await ids.create_tenant(
            s,
            now=now,
            insee_code="69001",
            slug="commune-a",
            name="Commune A",
            kind="commune",
            parent=metro,
            address="1 rue A",
            postal_code="69001",
            city="A",
            phone="04 00 00 00 01",
            email="a@test.invalid",
        )
        other = await ids.create_tenant(
            s,
            now=now,
            insee_code="69002",
            slug="commune-b",
            name="Commune B",
            kind="commune",
            parent=metro,
            address="1 rue B",
            postal_code="69002",
            city="B",
            phone="04 00 00 00 02",
            email="b@test.invalid",
        )
        for tenant, letter in ((commune, "A"), (other, "B")):
            await ids.add_tenant_service(
                s,
                tenant,
                code="urbanisme",
                name="Service urbanisme",
                address=f"1 rue {letter}",
                phone="04 00 00 00 09",
                email=f"urba@{letter.lower()}.invalid",
            )
            await ids.add_tenant_service(
                s,
                tenant,
                code="accueil",
                name="Accueil de la mairie",
                address=f"1 rue {letter}",
                phone="04 00 00 00 08",
                email=f"accueil@{letter.lower()}.invalid",
            )

        async def agent(email: str, roles: list[tuple[str, Any]]) -> tuple[Any, str]:
            a = await ids.create_agent(
                s,
                now=now,
                email=email,
                given_name="Agent",
                family_name=email.split("@")[0],
                title="Instructeur",
            )
            for role, tenant in roles:
                await ids.grant_role(s, a, role, tenant, now=now)
            tok = await ids.issue_agent_token(s, a, now=now, ttl=ttl)
            return a, tok.access_token

        instructor, instructor_token = await agent("instr@a.invalid", [(Role.INSTRUCTOR, commune)])
        _, instructor2_token = await agent("instr2@a.invalid", [(Role.INSTRUCTOR, commune)])
        counter, counter_token = await agent("counter@a.invalid", [(Role.COUNTER_AGENT, commune)])
        _, metro_token = await agent("metro@m.invalid", [(Role.INSTRUCTOR, metro)])
        _, other_token = await agent("instr@b.invalid", [(Role.INSTRUCTOR, other)])
        _, roleless_token = await agent("nobody@a.invalid", [])
        admin, admin_token = await agent("admin@a.invalid", [(Role.ADMIN, commune)])
        _, other_admin_token = await agent("admin@b.invalid", [(Role.ADMIN, other)])
        c1, secret1 = await ids.create_api_client(
            s,
            now=now,
            tenant=commune,
            name="Portail A",
            scopes=[Scope.INTAKE_WRITE, Scope.CASES_READ],
        )
        c2, secret2 = await ids.create_api_client(
            s,
            now=now,
            tenant=other,
            name="Portail B",
            scopes=[Scope.INTAKE_WRITE],
        )
        return Seed(
            metropole_id=metro.id,
            commune_id=commune.id,
            other_commune_id=other.id,
            instructor_token=instructor_token,
            instructor_id=instructor.id,
            instructor2_token=instructor2_token,
            counter_token=counter_token,
            counter_id=counter.id,
            metropole_instructor_token=metro_token,
            other_instructor_token=other_token,
            roleless_token=roleless_token,
            client_id=c1.client_id,
            client_secret=secret1,
            other_client_id=c2.client_id,
            other_client_secret=secret2,
            admin_token=admin_token,
            admin_id=admin.id,
            other_admin_token=other_admin_token,
        )


@pytest.fixture
def seed(seeded_template: tuple[str, Seed], database_url: str) -> Seed:
    """The seed data, already in this test's database (cloned from the seeded template)."""
    return seeded_template[1]


def permit_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "69001",
        "procedure": "test.permit",
        "submitter": {"given_name": "Alex", "family_name": "Dupont", "email": "alex@example.org"},
        "payload": {"title": "Abri de jardin", "area_m2": 12},
    }
    body.update(overrides)
    return body
