"""arq worker: the outbox job, the relay and timer crons, startup and shutdown."""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings as ArqRedisSettings
from arq.worker import Worker

from channels.einvoice import jobs as einvoice_jobs
from channels.open311 import jobs as open311_jobs
from channels.opendata import jobs as opendata_jobs
from channels.web import jobs as web_jobs
from documents import jobs as document_jobs
from documents import notifications as document_notifications
from documents import raw_mail, webhooks
from documents.jobs import FailureHandler, JobDeps, OutboxHandler
from documents.mail import DirectMailer, transport_for
from documents.storage import DocumentStorage, storage_from_settings
from identity import housekeeping
from services.kernel.clock import Clock, SystemClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.settings import (
    effective_database_url,
    engine_settings,
    path_settings,
    redis_settings,
    smtp_settings,
    worker_settings,
)
from services.worker import outbox
from workflows.cases.jobs import fire_due_deadlines
from workflows.engine.runner import Engine
from workflows.procedures import build_engine
from workflows.procedures.cemeteries import jobs as cemetery_jobs
from workflows.procedures.street_reports import jobs as street_report_jobs
from workflows.procedures.supplier_invoices import jobs as invoice_jobs
from workflows.procedures.urbanism import jobs as urbanism_jobs

AREA_JOBS = (
    street_report_jobs,
    open311_jobs,
    opendata_jobs,
    cemetery_jobs,
    einvoice_jobs,
    invoice_jobs,
    urbanism_jobs,
)

EVERY_2_SECONDS = set(range(0, 60, 2))
EVERY_10_SECONDS = set(range(0, 60, 10))


def all_handlers() -> dict[str, OutboxHandler]:
    handlers: dict[str, OutboxHandler] = {
        **document_jobs.HANDLERS,
        **document_notifications.HANDLERS,
        **webhooks.HANDLERS,
        **raw_mail.HANDLERS,
    }
    for area in AREA_JOBS:
        handlers.update(area.HANDLERS)
    return handlers


def all_failure_handlers() -> dict[str, FailureHandler]:
    """What happens to a case when its outbox row fails for good (e.g. a document.failed event)."""
    return {**document_jobs.FAILURE_HANDLERS}


@dataclass
class WorkerConfig:
    database_url: str | None = None
    redis_url: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    engine: Engine | None = None
    storage: DocumentStorage | None = None
    """Unset: from GUICHET_STORAGE_URL (storage_from_settings)."""


async def run_outbox(ctx: dict[str, Any], outbox_id: str) -> str:
    ws = worker_settings()
    return await outbox.perform(
        ctx["sessionmaker"],
        ctx["handlers"],
        ctx["deps"],
        uuid.UUID(outbox_id),
        fault_delay=ws.fault_delay_before_commit,
        lease=timedelta(seconds=ws.outbox_lease_seconds),
        on_failure=ctx["on_failure"],
        preparers=document_jobs.PREPARERS,
    )


async def relay_outbox(ctx: dict[str, Any]) -> int:
    ws = worker_settings()
    return await outbox.relay(
        ctx["sessionmaker"],
        ctx["redis"],
        ctx["deps"].clock,
        lease=timedelta(seconds=ws.outbox_lease_seconds),
        batch=ws.relay_batch,
        queue_name=redis_settings().redis_queue,
    )


async def fire_deadlines(ctx: dict[str, Any]) -> int:
    deps: JobDeps = ctx["deps"]
    return await fire_due_deadlines(
        ctx["sessionmaker"], deps.engine, deps.clock, batch=worker_settings().deadline_batch
    )


async def identity_housekeeping(ctx: dict[str, Any]) -> int:
    deps: JobDeps = ctx["deps"]
    async with ctx["sessionmaker"]() as session, session.begin():
        purged = await housekeeping.purge(session, now=deps.clock.now())
    return purged.sessions + purged.tokens + purged.failures


async def draft_housekeeping(ctx: dict[str, Any]) -> int:
    """Daily: warn people whose drafts expire within a week, then drop expired drafts."""
    deps: JobDeps = ctx["deps"]
    smtp = smtp_settings()
    mailer = DirectMailer(transport_for(smtp, path_settings().data_dir), smtp.smtp_from, deps.clock)
    warned = await web_jobs.warn_expiring_drafts(ctx["sessionmaker"], mailer, deps.clock)
    purged = await web_jobs.purge_expired_drafts(ctx["sessionmaker"], deps.clock)
    return warned + purged


def build_worker(config: WorkerConfig | None = None, **overrides: Any) -> Worker:
    cfg = config or WorkerConfig()
    redis_url = cfg.redis_url or redis_settings().redis_url
    if not redis_url:
        raise RuntimeError("no Redis URL: set GUICHET_REDIS_URL or use `guichet run`")
    database_url = cfg.database_url or effective_database_url()

    async def startup(ctx: dict[str, Any]) -> None:
        db = make_engine(database_url)
        ctx["db_engine"] = db
        ctx["sessionmaker"] = make_sessionmaker(db)
        ctx["handlers"] = all_handlers()
        ctx["on_failure"] = all_failure_handlers()
        ctx["deps"] = JobDeps(
            engine=cfg.engine or build_engine(engine_settings().extensions()),
            storage=cfg.storage or storage_from_settings(),
            clock=cfg.clock,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        db = ctx.get("db_engine")
        if db is not None:
            await db.dispose()

    ws = worker_settings()
    options: dict[str, Any] = {
        "functions": [run_outbox],
        "cron_jobs": [
            cron(relay_outbox, second=EVERY_2_SECONDS, run_at_startup=True, unique=True),
            cron(fire_deadlines, second=EVERY_10_SECONDS, run_at_startup=True, unique=True),
            cron(identity_housekeeping, minute=17, second=0, unique=True),
            cron(draft_housekeeping, hour=7, minute=5, second=0, unique=True),
            *(job for area in AREA_JOBS for job in area.CRON_JOBS),
        ],
        "redis_settings": ArqRedisSettings.from_dsn(redis_url),
        "queue_name": redis_settings().redis_queue,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "keep_result": 0,
        "max_tries": outbox.MAX_ATTEMPTS + 1,
        "job_timeout": ws.job_timeout_seconds,
        "handle_signals": False,
    }
    options.update(overrides)
    return Worker(**options)


async def stop_worker(worker: Worker, task: asyncio.Task[None] | None = None) -> None:
    """Stop a worker started with ``async_run``: cancel its running jobs (their outbox rows are
    leased and will run again; every handler is idempotent), wait for them, then close it.

    arq's own ``close`` gathers the job tasks it has just cancelled and so raises CancelledError
    whenever a job was running; the jobs are awaited here first and forgotten.
    """
    worker.handle_sig(signal.SIGUSR1)
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await worker.close()
