"""The outbox relay and the job that performs one outbox row.

Relay: pending rows, and enqueued rows whose lease expired, are (re-)enqueued on arq with
``_job_id = outbox:<id>``. Job: marks the attempt, runs the handler, marks the row done in the same
transaction as the effect. Redis can lose everything: the rows are still in the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import timedelta

from arq import ArqRedis, Retry
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import JobDeps, OutboxHandler
from services.kernel.clock import Clock
from services.kernel.db import is_postgres
from services.kernel.logging import get_logger
from workflows.cases.models import Outbox

JOB_NAME = "run_outbox"
MAX_ATTEMPTS = 8
_log = get_logger("guichet.outbox")


def job_id(outbox_id: uuid.UUID | str) -> str:
    return f"outbox:{outbox_id}"


async def relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    clock: Clock,
    *,
    lease: timedelta,
    batch: int,
    queue_name: str,
) -> int:
    """Enqueue what is pending or whose lease expired. Returns how many rows were (re)enqueued."""
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        stmt = (
            select(Outbox)
            .where(
                or_(
                    Outbox.status == "pending",
                    (Outbox.status == "enqueued") & (Outbox.lease_until <= now),
                )
            )
            .order_by(Outbox.created_at)
            .limit(batch)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await session.scalars(stmt))
        for row in rows:
            await redis.enqueue_job(
                JOB_NAME, str(row.id), _job_id=job_id(row.id), _queue_name=queue_name
            )
            row.status = "enqueued"
            row.lease_until = now + lease
        return len(rows)


async def perform(
    sessionmaker: async_sessionmaker[AsyncSession],
    handlers: Mapping[str, OutboxHandler],
    deps: JobDeps,
    outbox_id: uuid.UUID,
    *,
    fault_delay: float = 0.0,
    lease: timedelta = timedelta(minutes=2),
) -> str:
    """Perform one outbox row once. Returns the row's final status."""
    async with sessionmaker() as session, session.begin():
        row = await session.get(Outbox, outbox_id)
        if row is None:
            return "missing"
        if row.status in ("done", "failed"):
            return row.status
        row.attempts += 1
        row.status = "enqueued"
        row.lease_until = deps.clock.now() + lease
        attempts = row.attempts
        kind = row.kind
    handler = handlers.get(kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for outbox kind {kind!r}")
        async with sessionmaker() as session, session.begin():
            row = await session.get(Outbox, outbox_id, with_for_update=is_postgres(session))
            if row is None or row.status == "done":
                return "done"
            await handler(session, row, deps)
            if fault_delay:
                await asyncio.sleep(fault_delay)  # crash tests kill the worker here
            row.status = "done"
            row.done_at = deps.clock.now()
            row.last_error = None
        return "done"
    except Exception as exc:
        _log.warning("outbox job failed", outbox_id=str(outbox_id), kind=kind, error=repr(exc))
        async with sessionmaker() as session, session.begin():
            row = await session.get(Outbox, outbox_id)
            if row is not None and row.status != "done":
                row.last_error = repr(exc)[:2000]
                if attempts >= MAX_ATTEMPTS or handler is None:
                    row.status = "failed"
        if handler is None or attempts >= MAX_ATTEMPTS:
            return "failed"
        raise Retry(defer=min(2**attempts, 300)) from exc
