"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``HANDLERS``: outbox kind → handler ``async (session, row: Outbox, deps: JobDeps) -> None``.
``CRON_JOBS``: arq ``cron(...)`` entries; a cron function receives the worker ctx
(``ctx["sessionmaker"]``, ``ctx["deps"]`` with engine, storage and clock).
"""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob

HANDLERS: dict[str, Any] = {}
CRON_JOBS: list[CronJob] = []
