"""Timer job: fire due deadlines exactly once (FOR UPDATE SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.clock import Clock
from services.kernel.db import is_postgres
from services.kernel.logging import get_logger
from workflows.cases.models import Deadline
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

_log = get_logger("guichet.timers")


async def fire_due_deadlines(
    sessionmaker: async_sessionmaker[AsyncSession], engine: Engine, clock: Clock, *, batch: int
) -> int:
    """Fire up to ``batch`` due deadlines, each in its own transaction. Safe to run twice at once."""
    fired = 0
    broken: set[uuid.UUID] = set()
    for _ in range(batch):
        now = clock.now()
        async with sessionmaker() as session, session.begin():
            stmt = (
                select(Deadline)
                .where(Deadline.status == "active", Deadline.due_at <= now)
                .order_by(Deadline.due_at, Deadline.id)
                .limit(1)
            )
            if broken:
                stmt = stmt.where(Deadline.id.not_in(broken))
            if is_postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            deadline = await session.scalar(stmt)
            if deadline is None:
                return fired
            deadline_id = deadline.id
            try:
                async with session.begin_nested():
                    await CaseService(session, engine, clock).fire_deadline(deadline, SYSTEM_ACTOR)
                fired += 1
            except Exception as exc:  # noqa: BLE001 - one broken case must not stop the others
                _log.error("deadline failed", deadline_id=str(deadline_id), error=repr(exc))
                broken.add(deadline_id)
    return fired
