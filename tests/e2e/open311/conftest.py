"""Fixtures of the Open311 HTTP tests: the seeded tenants with their shipped test boundaries and
default categories, and api keys."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.open311 import api_key
from tests.support.street_reports import enable_territory


@pytest.fixture
async def territory(
    seed: Seed, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> Seed:
    await enable_territory(sessionmaker, clock)
    return seed


@pytest.fixture
async def key(
    territory: Seed, sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> str:
    """A key valid for every tenant."""
    return await api_key(sessionmaker, clock, name="Appli de test")


@pytest.fixture
async def client(app_client: AsyncTestClient[Any], territory: Seed) -> AsyncTestClient[Any]:
    return app_client
