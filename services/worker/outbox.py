"""The outbox relay and the job that performs one outbox row.

Relay: pending rows, and enqueued rows whose lease expired, are (re-)enqueued on arq with
``_job_id = outbox:<id>``. Job: marks the attempt, runs the handler, marks the row done in the same
transaction as the effect. Redis can lose everything: the rows are still in the database.

A failing job is retried by arq with an exponential backoff; after ``MAX_ATTEMPTS`` the row is
``failed`` (its kind's failure handler runs in that same transaction, e.g. a ``document.failed``
case event) and stays so until an administrator puts it back (``guichet outbox retry``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import timedelta

from arq import ArqRedis, Retry
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import FailureHandler, JobDeps, OutboxHandler, Preparer
from services.kernel.clock import Clock
from services.kernel.db import is_postgres
from services.kernel.errors import Conflict, NotFound
from services.kernel.journal import JournalEvent, record
from services.kernel.logging import get_logger
from workflows.cases.models import Case, Outbox

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


async def _record_failure(session: AsyncSession, row: Outbox, exc: Exception) -> bool:
    """Extension point: the handler's exception may carry ``record_failure(session, row)``, run
    in this transaction that commits although the handler's own rolled back (e.g. a webhook
    attempt log). It gives up early by setting ``row.status = "failed"``. Returns whether it
    did. A failing hook is logged and never hides the handler's error."""
    hook: Callable[[AsyncSession, Outbox], Awaitable[None]] | None = getattr(
        exc, "record_failure", None
    )
    if hook is None:
        return False
    row_id = row.id
    try:
        async with session.begin_nested():
            await hook(session, row)
            return row.status == "failed"
    except Exception as hook_exc:  # noqa: BLE001 - the row's own error is what matters
        _log.warning("outbox failure hook failed", outbox_id=str(row_id), error=repr(hook_exc))
        await session.refresh(row)  # the savepoint's rollback expired it
        return False


async def perform(
    sessionmaker: async_sessionmaker[AsyncSession],
    handlers: Mapping[str, OutboxHandler],
    deps: JobDeps,
    outbox_id: uuid.UUID,
    *,
    fault_delay: float = 0.0,
    lease: timedelta = timedelta(minutes=2),
    on_failure: Mapping[str, FailureHandler] | None = None,
    preparers: Mapping[str, Preparer] | None = None,
) -> str:
    """Perform one outbox row once. Returns the row's final status.

    A kind with a preparer does its slow part (rendering, storing) first, with no transaction
    open; the handler then links the result in a short one with the row marked done."""
    async with sessionmaker() as session, session.begin():
        # Locked: a second run of the same row waits here, then sees it done and stops (it
        # must not set a done row back to enqueued).
        row = await session.get(
            Outbox, outbox_id, with_for_update=is_postgres(session), populate_existing=True
        )
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
        preparer = (preparers or {}).get(kind)
        job_deps = deps
        if preparer is not None:
            async with sessionmaker() as session:
                snapshot = await session.get(Outbox, outbox_id)
            if snapshot is None or snapshot.status == "done":
                return "done"
            job_deps = replace(deps, prepared=await preparer(sessionmaker, snapshot, deps))
        async with sessionmaker() as session, session.begin():
            row = await session.get(Outbox, outbox_id, with_for_update=is_postgres(session))
            if row is None or row.status == "done":
                return "done"
            await handler(session, row, job_deps)
            if fault_delay:
                await asyncio.sleep(fault_delay)  # crash tests kill the worker here
            row.status = "done"
            row.done_at = deps.clock.now()
            row.last_error = None
        return "done"
    except Exception as exc:
        _log.warning("outbox job failed", outbox_id=str(outbox_id), kind=kind, error=repr(exc))
        error = repr(exc)[:2000]
        final = handler is None or attempts >= MAX_ATTEMPTS
        async with sessionmaker() as session, session.begin():
            row = await session.get(Outbox, outbox_id, with_for_update=is_postgres(session))
            if row is not None and row.status not in ("done", "failed"):
                row.last_error = error
                final = await _record_failure(session, row, exc) or final  # may give up early
                if final:
                    row.status = "failed"
                    hook = (on_failure or {}).get(kind)
                    if hook is not None:
                        await _run_failure_hook(hook, session, row, deps, error)
        if final:
            return "failed"
        raise Retry(defer=backoff(attempts)) from exc


def backoff(attempts: int) -> int:
    """Seconds before the next try: 2, 4, 8 ... capped at 5 minutes."""
    return int(min(2**attempts, 300))


async def _run_failure_hook(
    hook: FailureHandler, session: AsyncSession, row: Outbox, deps: JobDeps, error: str
) -> None:
    """In a savepoint: a failing hook must not keep the row from being marked failed."""
    try:
        async with session.begin_nested():
            await hook(session, row, deps, error)
    except Exception as exc:  # noqa: BLE001 - logged; the row still ends failed
        _log.error(
            "outbox failure handler failed", outbox_id=str(row.id), kind=row.kind, error=repr(exc)
        )


# ----- administration ------------------------------------------------------------------------------

STATUSES = ("pending", "enqueued", "done", "failed")


async def list_rows(
    session: AsyncSession, *, status: str | None = None, kind: str | None = None, limit: int = 50
) -> list[Outbox]:
    """Outbox rows, most recent first."""
    stmt = select(Outbox).order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Outbox.status == status)
    if kind is not None:
        stmt = stmt.where(Outbox.kind == kind)
    return list(await session.scalars(stmt))


async def retry_failed(
    session: AsyncSession, outbox_id: uuid.UUID, clock: Clock, *, operator: str | None = None
) -> Outbox:
    """Put a failed row back to pending with a fresh count of attempts (journaled). The relay
    enqueues it at its next pass."""
    stmt = select(Outbox).where(Outbox.id == outbox_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"Aucune tâche {outbox_id} dans l'outbox.")
    if row.status != "failed":
        raise Conflict(
            f"La tâche {outbox_id} est « {row.status} » : seules les tâches en échec (failed) "
            "se relancent."
        )
    case = await session.get(Case, row.case_id) if row.case_id else None
    record(
        session,
        JournalEvent.OUTBOX_RETRIED,
        at=clock.now(),
        tenant_id=case.tenant_id if case else None,
        data={
            "outbox_id": str(row.id),
            "kind": row.kind,
            "case_id": str(row.case_id) if row.case_id else None,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "operator": operator,
        },
    )
    row.status = "pending"
    row.attempts = 0
    row.lease_until = None
    return row
