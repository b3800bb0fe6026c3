"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``tacit_alerts`` runs every morning: a file whose tacit decision is born within N days (the
file's rule set ``tacit_alert_days``, 15 by default) is announced once per tacit date to its
instructor and to the commune (``alerts``).
"""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from workflows.engine.calendar import calendar_for
from workflows.procedures.urbanism.alerts import send_tacit_alerts


async def tacit_alerts(ctx: dict[str, Any]) -> int:
    clock = ctx["deps"].clock
    now = clock.now()
    today = calendar_for().local_date(now)
    async with ctx["sessionmaker"]() as session, session.begin():
        alerted = await send_tacit_alerts(session, today=today, now=now)
    return len(alerted)


HANDLERS: dict[str, Any] = {}
CRON_JOBS: list[CronJob] = [cron(tacit_alerts, hour=7, minute=10, second=0, unique=True)]
