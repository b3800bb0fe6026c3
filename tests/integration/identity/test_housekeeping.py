"""Ended sessions, spent tokens and old sign-in failures are purged; live ones are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.housekeeping import purge
from identity.models import LoginFailure, OneTimeToken, WebSession
from identity.sessions import end_session, start_session
from services.kernel.clock import FrozenClock

pytestmark = pytest.mark.integration


async def test_purge_removes_only_what_has_served(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        old = await start_session(s, now=now - timedelta(days=40))
        await end_session(s, old.record, now=now - timedelta(days=40))
        await start_session(s, now=now - timedelta(minutes=5))  # live (anonymous)
        for used, age in ((True, 10), (False, 1)):
            s.add(
                OneTimeToken(
                    purpose="magic_link",
                    token_hash=f"{used}-{age}".ljust(64, "0"),
                    data={},
                    created_at=now - timedelta(days=age),
                    expires_at=now - timedelta(days=age) + timedelta(minutes=15),
                    used_at=now - timedelta(days=age) if used else None,
                )
            )
        s.add(LoginFailure(key="ip:1.2.3.4", at=now - timedelta(hours=2)))
        s.add(LoginFailure(key="ip:1.2.3.4", at=now - timedelta(minutes=1)))
    async with sessionmaker() as s, s.begin():
        purged = await purge(s, now=now)
    assert (purged.sessions, purged.tokens, purged.failures) == (1, 1, 1)
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(WebSession)) == 1
        assert await s.scalar(select(func.count()).select_from(OneTimeToken)) == 1
        assert await s.scalar(select(func.count()).select_from(LoginFailure)) == 1
