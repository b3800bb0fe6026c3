"""Alembic is the only way the schema changes: head matches the models, and it goes down and up again.

Each test gets an EMPTY database (not the migrated template the other tests use): a new SQLite file,
or a new PostgreSQL database when GUICHET_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from services.kernel.db import make_engine, metadata
from services.kernel.migrate import alembic_config, downgrade, upgrade
from services.models import load_all_models
from tests.conftest import PG_URL, _pg_admin

pytestmark = pytest.mark.integration

APPEND_ONLY_TRIGGERS_SQLITE = {"case_event_no_update", "case_event_no_delete"}


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        name = f"guichet_mig_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"


def _inspect(url: str, fn: Any) -> Any:
    """Run ``fn(sync_connection)`` on the database (sync tests: no running loop here)."""

    async def go() -> Any:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _diff_with_models(conn: Connection) -> list[Any]:
    load_all_models()
    # Same options as migrations/env.py, plus server defaults. Nothing is ignored.
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _triggers(conn: Connection) -> set[str]:
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
        return set(rows)
    rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
    return set(rows)


def _functions(conn: Connection) -> set[str]:
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(
        text(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public'"
        )
    ).scalars()
    return set(rows)


def _versions(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _head(url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    return head


def test_the_empty_database_really_is_empty(empty_database_url: str) -> None:
    assert _inspect(empty_database_url, _tables) == set()


def test_upgrade_to_head_on_an_empty_database_matches_the_models(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _diff_with_models) == []
    load_all_models()
    assert _inspect(empty_database_url, _tables) == {*metadata.tables, "alembic_version"}
    assert _inspect(empty_database_url, _versions) == [_head(empty_database_url)]


def test_head_installs_the_append_only_triggers(empty_database_url: str) -> None:
    upgrade(empty_database_url)

    triggers = _inspect(empty_database_url, _triggers)
    if empty_database_url.startswith("postgresql"):
        assert "case_event_append_only" in triggers
        assert "case_event_append_only" in _inspect(empty_database_url, _functions)
    else:
        assert triggers >= APPEND_ONLY_TRIGGERS_SQLITE


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _versions) == [_head(empty_database_url)]
    assert _inspect(empty_database_url, _diff_with_models) == []


def test_downgrade_to_base_leaves_only_alembic_version_then_upgrade_works_again(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")

    assert _inspect(empty_database_url, _tables) == {"alembic_version"}
    assert _inspect(empty_database_url, _versions) == []
    assert _inspect(empty_database_url, _triggers) == set()
    assert _inspect(empty_database_url, _functions) == set()

    upgrade(empty_database_url)

    assert _inspect(empty_database_url, _diff_with_models) == []
    assert _inspect(empty_database_url, _versions) == [_head(empty_database_url)]
    load_all_models()
    assert _inspect(empty_database_url, _tables) == {*metadata.tables, "alembic_version"}


async def test_upgrade_can_be_called_from_async_code_through_a_thread(
    empty_database_url: str,
) -> None:
    # ``upgrade`` runs its own event loop: async callers hand it to a thread.
    await asyncio.to_thread(upgrade, empty_database_url)

    engine = make_engine(empty_database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff_with_models) == []
    finally:
        await engine.dispose()
