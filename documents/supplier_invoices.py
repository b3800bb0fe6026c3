"""The supplier invoice documents: the rejection notice (``invoice_rejection``).

Its params come with the ``reject`` transition (the document request carries its payload):
``reason`` and ``findings`` (stage, rule id, flag, location, message). The invoice's number,
date, amount and seller come from ``supplier_invoice``, written by the procedure's projector in
the same transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.definitions import Definition
from workflows.procedures.supplier_invoices.models import SupplierInvoice

STAGE_TITLES = {
    "gate": "Format du fichier",
    "facturx": "PDF Factur-X",
    "parse": "Lecture XML",
    "syntax": "Syntaxe",
    "xsd": "Schéma XML",
    "en16931": "Norme EN 16931",
    "br-fr": "Règles françaises",
    "business": "Contrôles de la collectivité",
}
MAX_LISTED = 200


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


async def invoice_rejection_context(
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: Any,
) -> dict[str, Any]:
    reason = str(params.get("reason") or "").strip()
    if not reason:
        raise ValueError("L'avis de rejet doit indiquer le motif du rejet.")
    row = await session.scalar(select(SupplierInvoice).where(SupplierInvoice.case_id == case.id))
    if row is None:
        raise ValueError("L'avis de rejet ne trouve pas la facture de ce dossier.")
    raw = params.get("findings")
    findings = [f for f in raw if isinstance(f, dict)] if isinstance(raw, list) else []
    listed = [
        {
            "stage": STAGE_TITLES.get(str(f.get("stage")), str(f.get("stage") or "")),
            "rule_id": str(f.get("rule_id") or ""),
            "location": str(f.get("location") or ""),
            "message": str(f.get("message") or ""),
        }
        for f in findings[:MAX_LISTED]
    ]
    return {
        "invoice": {
            "number": row.number,
            "issue_date": _fr(row.issue_date),
            "seller_name": row.seller_name or "",
            "seller_siret": row.seller_siret or row.seller_siren or "",
            "total_with_vat": (
                f"{row.total_with_vat:.2f} {row.currency}" if row.total_with_vat is not None else ""
            ),
            "department_code": row.department_code or "",
            "order_ref": row.order_ref or "",
        },
        "reason": reason,
        "findings": listed,
        "more_findings": max(len(findings) - MAX_LISTED, 0),
    }


INVOICE_CONTEXTS = {"invoice_rejection": invoice_rejection_context}
