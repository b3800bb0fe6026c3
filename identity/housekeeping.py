"""What identity keeps only for a while: ended sessions, used or expired one-time tokens, old
sign-in failures. Run hourly by the worker (services.worker.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from identity import throttle
from identity.models import OneTimeToken, WebSession

KEEP_ENDED_SESSIONS = timedelta(days=30)
"""Ended sessions stay a month (dates and addresses shown in the person's data export)."""
KEEP_USED_TOKENS = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Purged:
    sessions: int
    tokens: int
    failures: int


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def purge(session: AsyncSession, *, now: datetime) -> Purged:
    sessions = await session.execute(
        delete(WebSession).where(
            or_(
                WebSession.ended_at <= now - KEEP_ENDED_SESSIONS,
                WebSession.expires_at <= now - KEEP_ENDED_SESSIONS,
            )
        )
    )
    tokens = await session.execute(
        delete(OneTimeToken).where(
            or_(
                OneTimeToken.used_at <= now - KEEP_USED_TOKENS,
                OneTimeToken.expires_at <= now - KEEP_USED_TOKENS,
            )
        )
    )
    failures = await throttle.purge(session, now=now)
    return Purged(_count(sessions), _count(tokens), failures)
