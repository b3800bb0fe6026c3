"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``HANDLERS``: outbox kind → handler ``async (session, row: Outbox, deps: JobDeps) -> None``.
``CRON_JOBS``: arq ``cron(...)`` entries; a cron function receives the worker ctx
(``ctx["sessionmaker"]``, ``ctx["deps"]`` with engine, storage and clock).

``renewal_information`` runs every morning: holders of concessions past their term are told of
their renewal right (loi 3DS, L2223-15) — the letter is required before any reprise.
"""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from workflows.engine.calendar import calendar_for
from workflows.procedures.cemeteries._procedure_service import send_renewal_information


async def renewal_information(ctx: dict[str, Any]) -> int:
    deps = ctx["deps"]
    clock = deps.clock
    today = calendar_for().local_date(clock.now())
    async with ctx["sessionmaker"]() as session, session.begin():
        opened = await send_renewal_information(session, deps.engine, clock, today=today)
    return len(opened)


HANDLERS: dict[str, Any] = {}
CRON_JOBS: list[CronJob] = [cron(renewal_information, hour=6, minute=40, second=0, unique=True)]
