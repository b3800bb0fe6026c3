"""Alerts before the end of the délai global de paiement (see ``jobs.dgp_alerts``)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.clock import Clock
from workflows.cases.models import CaseEvent
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import SupplierInvoice
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings
from workflows.procedures.supplier_invoices.views import RUNNING

ALERT_EVENT = "invoice.dgp_alert"
EXPIRED = -1
"""Threshold recorded once the period has ended unpaid."""


def threshold(days_left: int, alert_days: tuple[int, ...]) -> int | None:
    """The alert due for an invoice with ``days_left``: the smallest configured threshold it has
    reached, ``EXPIRED`` past the end, None before the first threshold."""
    if days_left < 0:
        return EXPIRED
    reached = [d for d in alert_days if days_left <= d]
    return min(reached) if reached else None


async def record_dgp_alerts(
    session: AsyncSession, engine: Engine, clock: Clock, *, today: date
) -> list[uuid.UUID]:
    settings = get_supplier_invoice_settings()
    horizon = today + timedelta(days=max(settings.alert_days, default=0))
    rows = list(
        await session.scalars(
            select(SupplierInvoice).where(
                SupplierInvoice.state.in_(RUNNING),
                SupplierInvoice.dgp_due.is_not(None),
                SupplierInvoice.dgp_due <= horizon,
            )
        )
    )
    service = CaseService(session, engine, clock)
    recorded: list[uuid.UUID] = []
    for row in rows:
        assert row.dgp_due is not None
        days_left = (row.dgp_due - today).days
        level = threshold(days_left, settings.alert_days)
        if level is None:
            continue
        due = row.dgp_due.isoformat()
        previous = await session.scalars(
            select(CaseEvent.data).where(
                CaseEvent.case_id == row.case_id, CaseEvent.kind == ALERT_EVENT
            )
        )
        if any(d.get("level") == level and d.get("due") == due for d in previous):
            continue
        message = (
            f"Délai global de paiement dépassé depuis le {row.dgp_due.strftime('%d/%m/%Y')} : "
            "les intérêts moratoires et l'indemnité forfaitaire de 40 € sont dus "
            "(R2192-31 et D2192-35 du code de la commande publique)."
            if level == EXPIRED
            else f"Le délai global de paiement finit le {row.dgp_due.strftime('%d/%m/%Y')} "
            f"(dans {days_left} jour(s))."
        )
        await service.record(
            row.case_id,
            ALERT_EVENT,
            SYSTEM_ACTOR,
            {"level": level, "due": due, "days_left": days_left, "message": message},
            public=False,
        )
        recorded.append(row.case_id)
    return recorded
