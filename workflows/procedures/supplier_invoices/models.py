"""Tables of the `supplier_invoices` procedures (registered in ``services.models``).

- ``invoice_buyer_siret``: the SIRETs under which a tenant receives invoices (Chorus Pro
  "structures destinataires"); a SIRET belongs to one tenant only.
- ``invoice_department``: the "code service" (BT-10) → the department that certifies service fait.
- ``supplier``: the supplier master data of a tenant (SIRET, IBAN, contacts), kept by finance.
- ``purchase_order``: the engagements (BT-13) with their amount and what remains to invoice.
- ``supplier_invoice``: the projection of a ``supplier_invoices.invoice`` case, kept in step by
  the procedure's projector (it can be rebuilt from the case history).

Amounts are ``Numeric(14, 2)`` (euros and cents, as on the invoice).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class InvoiceBuyerSiret(IdMixin, Base):
    """A SIRET under which the tenant receives invoices (BT-46/BT-47 of an invoice to it)."""

    __tablename__ = "invoice_buyer_siret"
    __table_args__ = (UniqueConstraint("siret"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    siret: Mapped[str] = mapped_column(String(14))
    label: Mapped[str] = mapped_column(String(200))


class InvoiceDepartment(IdMixin, Base):
    """A code service (BT-10) of the tenant and the department behind it."""

    __tablename__ = "invoice_department"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Supplier(IdMixin, Base):
    """A supplier of the tenant (one row per establishment: SIRET)."""

    __tablename__ = "supplier"
    __table_args__ = (UniqueConstraint("tenant_id", "siret"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    siren: Mapped[str] = mapped_column(String(9), index=True)
    siret: Mapped[str] = mapped_column(String(14))
    name: Mapped[str] = mapped_column(String(200))
    iban: Mapped[str | None] = mapped_column(String(34))
    """Compact form (no spaces, upper case), checked by its ISO 13616 key."""
    contacts: Mapped[dict[str, Any]]
    """``{"contacts": [{"name", "email", "phone"}]}`` (a JSON object for portability)."""
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
    """The identity organisation whose API clients see this supplier's invoices."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PurchaseOrder(IdMixin, Base):
    """An engagement / purchase order (BT-13) of the tenant."""

    __tablename__ = "purchase_order"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    number: Mapped[str] = mapped_column(String(100))
    department_code: Mapped[str] = mapped_column(String(100))
    supplier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("supplier.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    remaining: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(10))
    """``open`` or ``closed``."""
    created_at: Mapped[datetime]


class SupplierInvoice(IdMixin, Base):
    """One received invoice (projection of its case).

    Duplicate rule: ``(tenant, seller_key, number, issue_date)`` is unique among the invoices not
    rejected. ``live`` is ``"1"`` while the invoice is not rejected and NULL once it is: NULLs are
    distinct in a unique constraint (PostgreSQL and SQLite), so a rejected invoice does not
    block the corrected one sent again under the same number (Chorus Pro DUPLIQUE_APRES_REFUS).
    """

    __tablename__ = "supplier_invoice"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seller_key", "number", "issue_date", "live"),
        Index("ix_supplier_invoice_tenant_state", "tenant_id", "state"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    supplier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("supplier.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(200))
    issue_date: Mapped[date] = mapped_column(Date)
    type_code: Mapped[str] = mapped_column(String(3))
    seller_key: Mapped[str] = mapped_column(String(14))
    """Seller SIRET when given, else SIREN, else the seller's id as sent (duplicate rule)."""
    seller_siren: Mapped[str | None] = mapped_column(String(9))
    seller_siret: Mapped[str | None] = mapped_column(String(14))
    seller_name: Mapped[str | None] = mapped_column(String(200))
    buyer_siret: Mapped[str | None] = mapped_column(String(14))
    department_code: Mapped[str | None] = mapped_column(String(100))
    order_ref: Mapped[str | None] = mapped_column(String(100))
    preceding_ref: Mapped[str | None] = mapped_column(String(200))
    total_without_vat: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    total_vat: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    total_with_vat: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    amount_due: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    iban: Mapped[str | None] = mapped_column(String(34))
    state: Mapped[str] = mapped_column(String(60))
    chorus_status: Mapped[str] = mapped_column(String(40))
    lifecycle_code: Mapped[str] = mapped_column(String(3))
    made_available_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    suspension_count: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None]
    dgp_due: Mapped[date | None] = mapped_column(Date, index=True)
    mandated_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    live: Mapped[str | None] = mapped_column(String(1))
    data: Mapped[dict[str, Any]]
    """The EN 16931 values as extracted (BT id → value)."""
    findings: Mapped[dict[str, Any]]
    """``{"findings": [...]}``: every finding of every stage, as recorded at reception."""
    updated_at: Mapped[datetime]
