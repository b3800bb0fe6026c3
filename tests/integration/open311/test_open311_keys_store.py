"""Open311 api keys in the database: only the SHA-256 is stored, a revoked key is refused, a
métropole key covers its communes and nothing else, last use is recorded."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.open311.keys import create_key, verify_key
from channels.open311.models import Open311ApiKey
from services.kernel.clock import FrozenClock
from services.kernel.errors import Forbidden
from tests.conftest import Seed

pytestmark = pytest.mark.integration


async def test_only_the_hash_is_stored_and_the_key_verifies(
    seed: Seed, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        row, key = await create_key(s, name="App", tenant_id=seed.commune_id, now=clock.now())
    async with sessionmaker() as s:
        stored = (await s.scalars(select(Open311ApiKey))).one()
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in {stored.key_hash, stored.key_prefix, stored.name}
    clock.advance(timedelta(minutes=3))
    async with sessionmaker() as s, s.begin():
        use = await verify_key(s, key, now=clock.now())
    assert use.key_id == row.id
    assert use.covers(seed.commune_id) and not use.covers(seed.other_commune_id)
    async with sessionmaker() as s:
        stored = (await s.scalars(select(Open311ApiKey))).one()
        assert stored.last_used_at == clock.now()


async def test_a_metropole_key_covers_its_communes_a_global_key_everything(
    seed: Seed, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        _, metro = await create_key(s, name="M", tenant_id=seed.metropole_id, now=clock.now())
        _, everywhere = await create_key(s, name="G", tenant_id=None, now=clock.now())
        use = await verify_key(s, metro, now=clock.now())
        assert {seed.metropole_id, seed.commune_id, seed.other_commune_id} <= set(use.covered or ())
        assert (await verify_key(s, everywhere, now=clock.now())).covered is None


@pytest.mark.parametrize("given", [None, "", "o311_nope", "x" * 10_000, "o311_\x00"])
async def test_missing_unknown_or_absurd_keys_are_403(
    seed: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    given: str | None,
) -> None:
    async with sessionmaker() as s:
        with pytest.raises(Forbidden):
            await verify_key(s, given, now=clock.now())


async def test_a_revoked_key_is_refused(
    seed: Seed, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        row, key = await create_key(s, name="App", tenant_id=None, now=clock.now())
        row.revoked_at = clock.now()
    async with sessionmaker() as s:
        with pytest.raises(Forbidden, match="révoquée"):
            await verify_key(s, key, now=clock.now())
