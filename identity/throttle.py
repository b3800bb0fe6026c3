"""Login throttling: failed sign-ins counted per account and per IP address, in a sliding window.

Each failure writes one ``LoginFailure`` row per key (``account:<e-mail>`` and ``ip:<address>``).
Before a password is even looked at, the keys of the attempt are checked: when a key already has
its maximum of failures within the window, the attempt is refused with 429 and ``Retry-After`` —
even with the right password, so that guessing cannot continue at full speed. A throttled attempt
is not itself counted (the lock does not extend forever under attack), and a success clears the
account's failures (not the address's: one success must not reset a password-spraying IP).

The per-account limit protects one account against guessing (ANSSI: limit the attempts); the
per-IP limit, higher, slows down one address trying many accounts. Throttled accounts can still
sign in with a one-time link sent by e-mail (it proves control of the mailbox, not the password).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import LoginFailure
from services.kernel.errors import TooManyRequests

_KEY_MAX = 300


class ThrottleSettings(BaseSettings):
    """Login throttling (local accounts and break-glass administrators)."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_LOGIN_", extra="ignore", env_file=None)

    account_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins allowed per account within the window."
    )
    ip_max_failures: int = Field(
        default=30, ge=1, description="Failed sign-ins allowed per IP address within the window."
    )
    window_minutes: int = Field(
        default=15, ge=1, description="Length of the sliding window, in minutes."
    )

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)


@lru_cache(maxsize=1)
def throttle_settings() -> ThrottleSettings:
    return ThrottleSettings()


def account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"[:_KEY_MAX]


def ip_key(ip: str | None) -> str | None:
    return f"ip:{ip}"[:_KEY_MAX] if ip else None


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    """The keys of one sign-in attempt."""

    account: str
    ip: str | None

    @classmethod
    def of(cls, email: str, ip: str | None) -> ThrottleKeys:
        return cls(account_key(email), ip_key(ip))

    def all(self) -> list[str]:
        return [self.account] + ([self.ip] if self.ip else [])


@dataclass(frozen=True, slots=True)
class Throttled:
    key: str
    retry_after: int
    """Seconds until one more attempt is allowed on this key."""


def _limit(key: str, settings: ThrottleSettings) -> int:
    return settings.ip_max_failures if key.startswith("ip:") else settings.account_max_failures


async def throttled(
    session: AsyncSession,
    keys: Iterable[str],
    *,
    now: datetime,
    settings: ThrottleSettings | None = None,
) -> Throttled | None:
    """The key that is over its limit (the one to wait longest for), or None."""
    cfg = settings or throttle_settings()
    since = now - cfg.window
    worst: Throttled | None = None
    for key in keys:
        limit = _limit(key, cfg)
        times = list(
            await session.scalars(
                select(LoginFailure.at)
                .where(LoginFailure.key == key, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .limit(limit)
            )
        )
        if len(times) < limit:
            continue
        # The oldest of the ``limit`` most recent failures must leave the window first.
        wait = (times[-1] + cfg.window - now).total_seconds()
        found = Throttled(key, max(1, math.ceil(wait)))
        if worst is None or found.retry_after > worst.retry_after:
            worst = found
    return worst


async def check(
    session: AsyncSession,
    keys: ThrottleKeys,
    *,
    now: datetime,
    settings: ThrottleSettings | None = None,
) -> None:
    """Raise TooManyRequests (429, Retry-After) when one of the keys is over its limit."""
    found = await throttled(session, keys.all(), now=now, settings=settings)
    if found is None:
        return
    minutes = max(1, math.ceil(found.retry_after / 60))
    if found.key.startswith("ip:"):
        detail = (
            "Trop de tentatives de connexion échouées depuis votre adresse réseau : réessayez "
            f"dans {minutes} minute(s)."
        )
    else:
        detail = (
            "Trop de tentatives de connexion échouées pour ce compte : réessayez dans "
            f"{minutes} minute(s), ou demandez un lien de connexion par courriel."
        )
    raise TooManyRequests(detail, retry_after=found.retry_after)


async def record_failure(
    session: AsyncSession,
    keys: ThrottleKeys,
    *,
    now: datetime,
    settings: ThrottleSettings | None = None,
) -> None:
    """Count one failure on every key (and forget this key's failures that left the window)."""
    cfg = settings or throttle_settings()
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.key.in_(keys.all()), LoginFailure.at <= now - cfg.window
        )
    )
    for key in keys.all():
        session.add(LoginFailure(key=key, at=now))
    await session.flush()


async def clear_account(session: AsyncSession, keys: ThrottleKeys) -> None:
    """After a successful sign-in: the account's failures are forgotten (the IP's are kept)."""
    await session.execute(delete(LoginFailure).where(LoginFailure.key == keys.account))


async def purge(
    session: AsyncSession, *, now: datetime, settings: ThrottleSettings | None = None
) -> int:
    """Delete failures older than the window (they no longer count); returns how many."""
    cfg = settings or throttle_settings()
    result = await session.execute(delete(LoginFailure).where(LoginFailure.at <= now - cfg.window))
    return int(getattr(result, "rowcount", 0) or 0)
