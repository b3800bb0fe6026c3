"""Finance views: invoices by department and state, those near the end of the DGP, the late
ones with their interest, the CSV export, and what a supplier sees of its own invoices."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.procedures.supplier_invoices import dgp
from workflows.procedures.supplier_invoices.models import InvoiceDepartment, SupplierInvoice
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings

RUNNING = ("made_available", "completed", "service_done", "mandated")
"""States in which the DGP runs (suspended: interrupted; paid, rejected: over)."""


def late_payment_of(row: SupplierInvoice, today: date) -> dgp.LatePayment | None:
    """Interest and indemnity owed (already if paid late; as of today if still unpaid)."""
    if row.dgp_due is None or row.state == "rejected":
        return None
    settings = get_supplier_invoice_settings()
    paid_on = row.paid_at.date() if row.paid_at is not None else today
    return dgp.late_payment(
        amount=row.total_with_vat or Decimal("0"),
        due=row.dgp_due,
        paid_on=paid_on,
        ecb_rate_percent=settings.ecb_rate_percent,
        ecb_rates_percent=settings.ecb_rates_percent,
        penalty_points=settings.penalty_points,
        flat_indemnity=settings.flat_indemnity,
    )


def invoice_dict(row: SupplierInvoice, reference: str, today: date) -> dict[str, Any]:
    settings = get_supplier_invoice_settings()
    late = late_payment_of(row, today)
    running = row.state in RUNNING and row.dgp_due is not None
    ordonnateur = None
    if row.made_available_at is not None and row.suspension_count == 0:
        ordonnateur = dgp.ordonnateur_due(
            row.made_available_at.date(), settings.ordonnateur_days
        ).isoformat()
    return {
        "case_id": str(row.case_id),
        "reference": reference,
        "number": row.number,
        "issue_date": row.issue_date.isoformat(),
        "type_code": row.type_code,
        "seller_name": row.seller_name,
        "seller_siret": row.seller_siret,
        "department_code": row.department_code,
        "order_ref": row.order_ref,
        "total_without_vat": None if row.total_without_vat is None else str(row.total_without_vat),
        "total_with_vat": None if row.total_with_vat is None else str(row.total_with_vat),
        "currency": row.currency,
        "state": row.state,
        "state_title": STATE_TITLES.get(row.state, row.state),
        "chorus_status": row.chorus_status,
        "lifecycle_code": row.lifecycle_code,
        "made_available_at": row.made_available_at.isoformat() if row.made_available_at else None,
        "dgp_due": row.dgp_due.isoformat() if row.dgp_due else None,
        "ordonnateur_due": ordonnateur,
        "days_left": (row.dgp_due - today).days if running and row.dgp_due else None,
        "suspended": row.suspension_count > 0,
        "paid_at": row.paid_at.isoformat() if row.paid_at else None,
        "late_payment": late.to_dict() if late is not None and late.days_late > 0 else None,
    }


STATE_TITLES = {
    "deposited": "Déposée",
    "made_available": "Mise à disposition",
    "suspended": "Suspendue",
    "completed": "Complétée",
    "service_done": "Service fait",
    "mandated": "Mandatée",
    "paid": "Mise en paiement",
    "rejected": "Rejetée",
}


def _query(tenant_id: uuid.UUID) -> Select[SupplierInvoice, str]:
    return (
        select(SupplierInvoice, Case.reference)
        .join(Case, Case.id == SupplierInvoice.case_id)
        .where(SupplierInvoice.tenant_id == tenant_id)
    )


async def list_invoices(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    today: date,
    department: str | None = None,
    state: str | None = None,
    due_within: int | None = None,
    supplier_ids: list[uuid.UUID] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    query = _query(tenant_id)
    if department:
        query = query.where(SupplierInvoice.department_code == department)
    if state:
        query = query.where(SupplierInvoice.state == state)
    if supplier_ids is not None:
        query = query.where(SupplierInvoice.supplier_id.in_(supplier_ids))
    if due_within is not None:
        query = query.where(
            SupplierInvoice.state.in_(RUNNING),
            SupplierInvoice.dgp_due.is_not(None),
            SupplierInvoice.dgp_due <= today + timedelta(days=due_within),
        )
        order = (SupplierInvoice.dgp_due, SupplierInvoice.id)
    else:
        order = (SupplierInvoice.issue_date.desc(), SupplierInvoice.id)  # type: ignore[assignment]
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (await session.execute(query.order_by(*order).limit(limit).offset(offset))).all()
    return [invoice_dict(row, ref, today) for row, ref in rows], int(total)


async def summary(session: AsyncSession, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """Count and TTC total per department and state."""
    rows = (
        await session.execute(
            select(
                SupplierInvoice.department_code,
                InvoiceDepartment.name,
                SupplierInvoice.state,
                func.count(),
                func.sum(SupplierInvoice.total_with_vat),
            )
            .outerjoin(
                InvoiceDepartment,
                (InvoiceDepartment.tenant_id == SupplierInvoice.tenant_id)
                & (InvoiceDepartment.code == SupplierInvoice.department_code),
            )
            .where(SupplierInvoice.tenant_id == tenant_id)
            .group_by(
                SupplierInvoice.department_code, InvoiceDepartment.name, SupplierInvoice.state
            )
            .order_by(SupplierInvoice.department_code, SupplierInvoice.state)
        )
    ).all()
    return [
        {
            "department_code": code,
            "department_name": name,
            "state": state,
            "state_title": STATE_TITLES.get(state, state),
            "count": int(count),
            "total_with_vat": str(Decimal(total or 0).quantize(Decimal("0.01"))),
        }
        for code, name, state, count, total in rows
    ]


SUPPLIER_FIELDS = (
    "reference",
    "number",
    "issue_date",
    "order_ref",
    "total_with_vat",
    "currency",
    "state_title",
    "chorus_status",
    "lifecycle_code",
    "made_available_at",
    "dgp_due",
    "suspended",
    "paid_at",
    "late_payment",
)


def supplier_view(item: dict[str, Any]) -> dict[str, Any]:
    """What a supplier sees of its invoice: its state and payment, not the internal routing."""
    return {key: item.get(key) for key in SUPPLIER_FIELDS}


CSV_COLUMNS = (
    ("reference", "Référence"),
    ("number", "N° facture"),
    ("issue_date", "Date"),
    ("seller_name", "Fournisseur"),
    ("seller_siret", "SIRET fournisseur"),
    ("department_code", "Code service"),
    ("order_ref", "Engagement"),
    ("total_without_vat", "Montant HT"),
    ("total_with_vat", "Montant TTC"),
    ("state_title", "État"),
    ("chorus_status", "Statut Chorus Pro"),
    ("dgp_due", "Fin du DGP"),
    ("days_left", "Jours restants"),
    ("paid_at", "Payée le"),
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text  # no formula injection when opened in a spreadsheet
    return text


def to_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([title for _, title in CSV_COLUMNS])
    for item in items:
        writer.writerow([_cell(item.get(key)) for key, _ in CSV_COLUMNS])
    return "\ufeff" + out.getvalue()
