"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``HANDLERS``: outbox kind → handler ``async (session, row: Outbox, deps: JobDeps) -> None``.
``CRON_JOBS``: arq ``cron(...)`` entries; a cron function receives the worker ctx
(``ctx["sessionmaker"]``, ``ctx["deps"]`` with engine, storage and clock).

The daily open data export runs at ``GUICHET_OPENDATA_EXPORT_HOUR``:``…_MINUTE`` (03:40 by
default, the worker's local time), once across workers (``unique``). Running it twice is
harmless: the same data gives the same blobs, and the index points at the latest.
"""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.cron import CronJob

from channels.opendata._export import publish
from channels.opendata.settings import OpenDataSettings
from documents.jobs import JobDeps
from services.kernel.logging import get_logger

_log = get_logger("guichet.opendata")


async def opendata_export(ctx: dict[str, Any]) -> int:
    """Regenerate the GeoJSON exports; returns the number of reports published."""
    deps: JobDeps = ctx["deps"]
    published = await publish(ctx["sessionmaker"], deps.storage, deps.clock)
    _log.info(
        "open data export published",
        reports=published.reports,
        scopes=published.scopes,
        generated_at=published.generated_at.isoformat(),
    )
    return published.reports


HANDLERS: dict[str, Any] = {}
_when = OpenDataSettings()  # read when the worker gathers its jobs (the cached getter stays unset)
CRON_JOBS: list[CronJob] = [
    cron(
        opendata_export,
        hour=_when.export_hour,
        minute=_when.export_minute,
        second=0,
        unique=True,
    )
]
