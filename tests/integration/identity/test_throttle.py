"""Login throttling on the database: sliding window, per-account and per-IP limits, Retry-After."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import throttle
from identity.models import LoginFailure
from services.kernel.clock import FrozenClock
from services.kernel.errors import TooManyRequests

pytestmark = pytest.mark.integration

SETTINGS = throttle.ThrottleSettings(account_max_failures=3, ip_max_failures=5, window_minutes=15)


async def fail(
    sm: async_sessionmaker[AsyncSession], keys: throttle.ThrottleKeys, clock: FrozenClock
) -> None:
    async with sm() as s, s.begin():
        await throttle.record_failure(s, keys, now=clock.now(), settings=SETTINGS)


async def check(
    sm: async_sessionmaker[AsyncSession], keys: throttle.ThrottleKeys, clock: FrozenClock
) -> None:
    async with sm() as s:
        await throttle.check(s, keys, now=clock.now(), settings=SETTINGS)


async def test_limit_reached_then_the_window_slides(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    keys = throttle.ThrottleKeys.of(" Alice@Example.FR", "192.0.2.1")
    assert keys.account == "account:alice@example.fr"
    assert keys.ip == "ip:192.0.2.1"
    for minute in (0, 2, 4):
        clock.set(clock.now().replace(minute=minute))
        await check(sessionmaker, keys, clock)
        await fail(sessionmaker, keys, clock)
    clock.advance(timedelta(minutes=1))  # 09:05
    with pytest.raises(TooManyRequests) as refused:
        await check(sessionmaker, keys, clock)
    # The failure of 09:00 leaves the window at 09:15: ten minutes from now.
    assert refused.value.retry_after == 10 * 60
    assert "ce compte" in refused.value.detail
    clock.advance(timedelta(minutes=10))
    await check(sessionmaker, keys, clock)


async def test_ip_limit_counts_every_account_and_survives_a_success(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    for n in range(5):
        await fail(
            sessionmaker, throttle.ThrottleKeys.of(f"user{n}@example.fr", "192.0.2.9"), clock
        )
    fresh = throttle.ThrottleKeys.of("someone.else@example.fr", "192.0.2.9")
    with pytest.raises(TooManyRequests) as refused:
        await check(sessionmaker, fresh, clock)
    assert "adresse réseau" in refused.value.detail
    # Another address is not concerned.
    await check(sessionmaker, throttle.ThrottleKeys.of("user0@example.fr", "198.51.100.7"), clock)
    # A success clears the account's failures, not the address's.
    async with sessionmaker() as s, s.begin():
        await throttle.clear_account(s, throttle.ThrottleKeys.of("user0@example.fr", "192.0.2.9"))
    with pytest.raises(TooManyRequests):
        await check(sessionmaker, fresh, clock)


async def test_old_failures_are_forgotten(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    keys = throttle.ThrottleKeys.of("bob@example.fr", None)
    assert keys.all() == ["account:bob@example.fr"]
    for _ in range(3):
        await fail(sessionmaker, keys, clock)
    clock.advance(timedelta(minutes=15))
    await check(sessionmaker, keys, clock)
    await fail(sessionmaker, keys, clock)  # also drops this key's expired rows
    async with sessionmaker() as s:
        count = await s.scalar(select(func.count()).select_from(LoginFailure))
    assert count == 1
    await fail(sessionmaker, throttle.ThrottleKeys.of("carol@example.fr", None), clock)
    clock.advance(timedelta(minutes=16))
    async with sessionmaker() as s, s.begin():
        assert await throttle.purge(s, now=clock.now(), settings=SETTINGS) == 2
