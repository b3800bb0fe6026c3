"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``HANDLERS``: outbox kind → handler ``async (session, row: Outbox, deps: JobDeps) -> None``.
``CRON_JOBS``: arq ``cron(...)`` entries; a cron function receives the worker ctx
(``ctx["sessionmaker"]``, ``ctx["deps"]`` with engine, storage and clock).

Chorus Pro: ``einvoice.chorus_status`` pushes a status change of a Chorus Pro invoice
(``traiter/factureRecue``); ``chorus_pull`` fetches the new invoices every 15 minutes.
"""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from channels.einvoice.chorus import sync as chorus_sync

HANDLERS: dict[str, Any] = {chorus_sync.KIND: chorus_sync.push_status}
CRON_JOBS: list[CronJob] = [
    cron(
        chorus_sync.pull_job,
        name="chorus_pull",
        minute={0, 15, 30, 45},
        second=0,
        unique=True,
    )
]
