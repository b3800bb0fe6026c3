"""Worker plug-ins of this package, gathered by ``services.worker.settings``.

``HANDLERS``: outbox kind → handler ``async (session, row: Outbox, deps: JobDeps) -> None``.
``CRON_JOBS``: arq ``cron(...)`` entries; a cron function receives the worker ctx
(``ctx["sessionmaker"]``, ``ctx["deps"]`` with engine, storage and clock).

``dgp_alerts`` runs every morning: an invoice whose délai global de paiement ends within one of
the configured numbers of days (``GUICHET_SUPPLIER_INVOICES_ALERT_DAYS``, default 10, 5, 2) gets
an ``invoice.dgp_alert`` event in its history (once per threshold and per end date), and one more
when the period has ended unpaid (interest then runs, R2192-31). The finance view
``/factures/echeances`` lists the same invoices.
"""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from workflows.engine.calendar import calendar_for
from workflows.procedures.supplier_invoices.alerts import record_dgp_alerts


async def dgp_alerts(ctx: dict[str, Any]) -> int:
    deps = ctx["deps"]
    clock = deps.clock
    today = calendar_for().local_date(clock.now())
    async with ctx["sessionmaker"]() as session, session.begin():
        recorded = await record_dgp_alerts(session, deps.engine, clock, today=today)
    return len(recorded)


HANDLERS: dict[str, Any] = {}
CRON_JOBS: list[CronJob] = [cron(dgp_alerts, hour=6, minute=50, second=0, unique=True)]
