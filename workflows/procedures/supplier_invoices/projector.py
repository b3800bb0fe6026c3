"""Keeps ``supplier_invoice`` in step with ``supplier_invoices.invoice`` cases.

Runs in the transaction of the case change (workflows.cases.projections). It also enforces what
the definition alone cannot say: a supplier invoice case opens only through the e-invoice
channel, the DGP may be suspended once and before mandatement (R2192-27), and the duplicate
rule (unique seller + number + date among invoices not rejected).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, Forbidden
from workflows.cases._store import calendar_of
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Step
from workflows.procedures.supplier_invoices import dgp, reference
from workflows.procedures.supplier_invoices.identifiers import (
    buyer_siret_candidates,
    is_credit_note,
    normal_siren,
    normal_siret,
)
from workflows.procedures.supplier_invoices.lifecycle import status_of
from workflows.procedures.supplier_invoices.models import Supplier, SupplierInvoice
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings

EINVOICE_CHANNEL = "einvoice"
CHORUS_STATUS_KIND = "einvoice.chorus_status"
"""Outbox kind performed by channels.einvoice.chorus (a status pushed back to Chorus Pro)."""
CHORUS_PUSHED_STATES = frozenset({"rejected", "suspended", "service_done", "mandated", "paid"})
"""States the recipient sets on Chorus Pro (traiter/factureRecue); the others are the
platform's (made available) or the supplier's (completed)."""


def _chorus_push(session: AsyncSession, case: Case, step: Step, index: int) -> None:
    """Queue the push of a Chorus Pro invoice's new status (done by the e-invoice channel)."""
    chorus_id = case.payload.get("chorus_id")
    if (
        case.payload.get("source") != "chorus_pro"
        or not chorus_id
        or step.to_state not in CHORUS_PUSHED_STATES
    ):
        return
    data = step.data or {}
    reason = str(data.get("reason") or "").strip() or None
    if step.to_state == "rejected":
        rules = sorted(
            {str(f.get("rule_id")) for f in data.get("findings") or [] if f.get("rule_id")}
        )
        if rules:
            reason = f"{reason or 'Facture rejetée.'} Règles non respectées : {', '.join(rules)}."
    elif step.to_state == "suspended" and data.get("missing_pieces"):
        pieces = ", ".join(str(p) for p in data["missing_pieces"])
        reason = f"{reason} Pièces manquantes : {pieces}."
    seq = case.version * 100 + index
    session.add(
        Outbox(
            case_id=case.id,
            kind=CHORUS_STATUS_KIND,
            payload={
                "case_id": str(case.id),
                "chorus_id": str(chorus_id),
                "status": status_of(step.to_state).chorus,
                "reason": reason[:2000] if reason else None,
                "mandate_number": data.get("mandate_number"),
                "seq": seq,
            },
            dedupe_key=f"chorus_status:{case.id}:{seq}",
            status="pending",
            attempts=0,
            created_at=case.updated_at,
        )
    )


def amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return result if abs(result) < Decimal("1e12") else None


def parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def seller_ids(data: Mapping[str, str | None]) -> tuple[str | None, str | None]:
    """(SIREN, SIRET) of the seller: BT-29 (scheme 0009 or 14 digits) for the SIRET, BT-30
    (SIREN, scheme 0002, or a SIRET) and the SIRET's first nine digits for the SIREN."""
    siret = None
    for key in ("BT-29", "BT-30"):
        value = data.get(key)
        if value and normal_siret(value):
            siret = normal_siret(value)
            break
    siren = normal_siren(data.get("BT-30") or "") or (siret[:9] if siret else None)
    return siren, siret


def seller_key(data: Mapping[str, str | None]) -> str:
    siren, siret = seller_ids(data)
    raw = siret or siren or (data.get("BT-30") or data.get("BT-29") or data.get("BT-27") or "?")
    return raw[:14]


def _instant(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


class SupplierInvoiceProjector:
    async def opened(self, session: AsyncSession, case: Case) -> None:
        if case.channel != EINVOICE_CHANNEL:
            raise Forbidden(
                "Une facture fournisseur se reçoit par Chorus Pro ou le dépôt de factures "
                "électroniques, pas par ce formulaire."
            )
        payload = case.payload
        data: dict[str, str | None] = dict(payload.get("data") or {})
        siren, siret = seller_ids(data)
        supplier_id = None
        if siret is not None:
            supplier_id = await session.scalar(
                select(Supplier.id).where(
                    Supplier.tenant_id == case.tenant_id, Supplier.siret == siret
                )
            )
        status = status_of(case.state)
        row = SupplierInvoice(
            case_id=case.id,
            tenant_id=case.tenant_id,
            supplier_id=supplier_id,
            source=str(payload.get("source") or "deposit"),
            number=(data.get("BT-1") or "?")[:200],
            issue_date=parse_date(data.get("BT-2"))
            or calendar_of(case).local_date(case.received_at),
            type_code=(data.get("BT-3") or "380")[:3],
            seller_key=seller_key(data),
            seller_siren=siren,
            seller_siret=siret,
            seller_name=(data.get("BT-27") or None) and str(data.get("BT-27"))[:200],
            buyer_siret=next(iter(buyer_siret_candidates(data)[0]), None),
            department_code=(data.get("BT-10") or None) and str(data.get("BT-10"))[:100],
            order_ref=(data.get("BT-13") or None) and str(data.get("BT-13"))[:100],
            preceding_ref=(data.get("BT-25") or None) and str(data.get("BT-25"))[:200],
            total_without_vat=amount(data.get("BT-109")),
            total_vat=amount(data.get("BT-110")),
            total_with_vat=amount(data.get("BT-112")),
            amount_due=amount(data.get("BT-115")),
            currency=(data.get("BT-5") or "EUR")[:3],
            iban=(
                "".join(str(data.get("BT-84")).split()).upper()[:34] if data.get("BT-84") else None
            ),
            state=case.state,
            chorus_status=status.chorus,
            lifecycle_code=status.lifecycle,
            suspension_count=0,
            live="1" if payload.get("verdict") == "valid" else None,
            data=data,
            findings={"findings": list(payload.get("findings") or [])},
            updated_at=case.registered_at,
        )
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:
            raise Conflict(
                f"La facture n° {row.number} du {row.issue_date.strftime('%d/%m/%Y')} de ce "
                "fournisseur a déjà été reçue (doublon)."
            ) from None

    async def transitioned(self, session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
        row = await session.scalar(
            select(SupplierInvoice).where(SupplierInvoice.case_id == case.id)
        )
        if row is None:
            return
        settings = get_supplier_invoice_settings()
        calendar = calendar_of(case)
        at = case.updated_at  # the instant of this transition (set by the case store)
        for index, step in enumerate(steps):
            _chorus_push(session, case, step, index)
            data = step.data or {}
            if step.transition == "make_available":
                # an agent keying a PDF-only invoice by hand: the Chorus Pro date on the case
                made = _instant(
                    data.get("made_available_at") or case.payload.get("made_available_at"), at
                )
                row.made_available_at = made
                row.dgp_due = dgp.due_date(calendar.local_date(made), settings.payment_days)
                await reference.reserve(
                    session,
                    row.tenant_id,
                    row.order_ref,
                    row.total_with_vat,
                    credit_note=is_credit_note(row.data, case.payload.get("syntax")),
                )
            elif step.transition == "suspend":
                dgp.check_can_suspend(row.suspension_count, mandated=row.mandated_at is not None)
                row.suspension_count += 1
                row.suspended_at = at
            elif step.transition == "complete":
                completed = _instant(data.get("completed_at"), at)
                row.completed_at = completed
                if row.dgp_due is not None and row.suspended_at is not None:
                    row.dgp_due = dgp.due_after_completion(
                        current_due=row.dgp_due,
                        suspended_on=calendar.local_date(row.suspended_at),
                        completed_on=calendar.local_date(completed),
                        days=settings.payment_days,
                    )
            elif step.transition == "mandate":
                row.mandated_at = at
            elif step.transition == "pay":
                row.paid_at = _instant(data.get("paid_at"), at)
            elif step.transition == "reject":
                row.live = None
                if row.made_available_at is not None:
                    await reference.reserve(
                        session,
                        row.tenant_id,
                        row.order_ref,
                        row.total_with_vat,
                        credit_note=is_credit_note(row.data, case.payload.get("syntax")),
                        release=True,
                    )
            status = status_of(step.to_state)
            row.state = step.to_state
            row.chorus_status = status.chorus
            row.lifecycle_code = status.lifecycle
            row.updated_at = at
        await session.flush()
