"""Perform the outbox rows that are still pending, as the worker would (no Redis, no relay)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import PREPARERS, JobDeps
from documents.storage import DocumentStorage, storage_from_settings
from services.kernel.clock import Clock
from services.worker import outbox
from services.worker.settings import all_failure_handlers, all_handlers
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine


async def run_pending(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    *,
    kinds: Iterable[str] | None = None,
    storage: DocumentStorage | None = None,
) -> list[str]:
    """Perform every pending row (of ``kinds`` if given), oldest first; returns their final
    statuses."""
    wanted = set(kinds) if kinds is not None else None
    async with sm() as s:
        rows = (
            await s.execute(
                select(Outbox.id, Outbox.kind)
                .where(Outbox.status == "pending")
                .order_by(Outbox.created_at, Outbox.id)
            )
        ).all()
    deps = JobDeps(engine=engine, storage=storage or storage_from_settings(), clock=clock)
    statuses = []
    for row_id, kind in rows:
        if wanted is not None and kind not in wanted:
            continue
        statuses.append(
            await outbox.perform(
                sm,
                all_handlers(),
                deps,
                row_id,
                on_failure=all_failure_handlers(),
                preparers=PREPARERS,
            )
        )
    return statuses
