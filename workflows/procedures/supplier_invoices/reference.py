"""The tenant's reference data for invoices: the SIRETs it receives invoices under, its code
services (BT-10 → department) and its engagements (BT-13), kept by finance.

An engagement's ``remaining`` is what may still be invoiced: an invoice made available reserves
its TTC amount (a credit note gives it back) and a rejection after that releases it (projector).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, NotFound
from workflows.procedures.supplier_invoices.identifiers import normal_siret
from workflows.procedures.supplier_invoices.models import (
    InvoiceBuyerSiret,
    InvoiceDepartment,
    PurchaseOrder,
)

CODE = r"^[^\x00-\x1f]{1,100}$"


class BuyerSiretIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    siret: str = Field(max_length=20)
    label: str = Field(min_length=1, max_length=200)

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        normal = normal_siret(value)
        if normal is None:
            raise ValueError("SIRET invalide : 14 chiffres dont la clé de contrôle (Luhn)")
        return normal


class BuyerSiretRead(BaseModel):
    siret: str
    label: str


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=CODE, description="Code service (BT-10)")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    active: bool = True


class DepartmentRead(DepartmentIn):
    pass


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(pattern=CODE, description="Numéro d'engagement (BT-13)")
    department_code: str = Field(pattern=CODE)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    supplier_id: uuid.UUID | None = None


class OrderRead(BaseModel):
    number: str
    department_code: str
    amount: Decimal
    remaining: Decimal
    status: str
    supplier_id: uuid.UUID | None


async def add_buyer_siret(
    session: AsyncSession, tenant_id: uuid.UUID, data: BuyerSiretIn
) -> InvoiceBuyerSiret:
    found = await session.scalar(
        select(InvoiceBuyerSiret).where(InvoiceBuyerSiret.siret == data.siret)
    )
    if found is not None:
        raise Conflict(f"Le SIRET {data.siret} est déjà déclaré comme SIRET de réception.")
    row = InvoiceBuyerSiret(tenant_id=tenant_id, siret=data.siret, label=data.label)
    session.add(row)
    await session.flush()
    return row


async def list_buyer_sirets(session: AsyncSession, tenant_id: uuid.UUID) -> list[BuyerSiretRead]:
    rows = await session.scalars(
        select(InvoiceBuyerSiret)
        .where(InvoiceBuyerSiret.tenant_id == tenant_id)
        .order_by(InvoiceBuyerSiret.siret)
    )
    return [BuyerSiretRead(siret=r.siret, label=r.label) for r in rows]


async def put_department(
    session: AsyncSession, tenant_id: uuid.UUID, data: DepartmentIn
) -> InvoiceDepartment:
    row = await session.scalar(
        select(InvoiceDepartment).where(
            InvoiceDepartment.tenant_id == tenant_id, InvoiceDepartment.code == data.code
        )
    )
    if row is None:
        row = InvoiceDepartment(tenant_id=tenant_id, code=data.code)
        session.add(row)
    row.name, row.email, row.active = data.name, data.email, data.active
    await session.flush()
    return row


async def list_departments(session: AsyncSession, tenant_id: uuid.UUID) -> list[DepartmentRead]:
    rows = await session.scalars(
        select(InvoiceDepartment)
        .where(InvoiceDepartment.tenant_id == tenant_id)
        .order_by(InvoiceDepartment.code)
    )
    return [DepartmentRead(code=r.code, name=r.name, email=r.email, active=r.active) for r in rows]


def order_read(row: PurchaseOrder) -> OrderRead:
    return OrderRead(
        number=row.number,
        department_code=row.department_code,
        amount=Decimal(row.amount),
        remaining=Decimal(row.remaining),
        status=row.status,
        supplier_id=row.supplier_id,
    )


async def create_order(
    session: AsyncSession, tenant_id: uuid.UUID, data: OrderIn, *, now: datetime
) -> PurchaseOrder:
    exists = await session.scalar(
        select(PurchaseOrder.id).where(
            PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.number == data.number
        )
    )
    if exists is not None:
        raise Conflict(f"L'engagement « {data.number} » existe déjà.")
    department = await session.scalar(
        select(InvoiceDepartment.id).where(
            InvoiceDepartment.tenant_id == tenant_id, InvoiceDepartment.code == data.department_code
        )
    )
    if department is None:
        raise NotFound(f"Code service « {data.department_code} » inconnu : créez-le d'abord.")
    row = PurchaseOrder(
        tenant_id=tenant_id,
        number=data.number,
        department_code=data.department_code,
        supplier_id=data.supplier_id,
        amount=data.amount,
        remaining=data.amount,
        status="open",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def close_order(session: AsyncSession, tenant_id: uuid.UUID, number: str) -> PurchaseOrder:
    row = await session.scalar(
        select(PurchaseOrder).where(
            PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.number == number
        )
    )
    if row is None:
        raise NotFound(f"Engagement « {number} » introuvable dans cette commune.")
    row.status = "closed"
    await session.flush()
    return row


async def list_orders(session: AsyncSession, tenant_id: uuid.UUID) -> list[OrderRead]:
    rows = await session.scalars(
        select(PurchaseOrder)
        .where(PurchaseOrder.tenant_id == tenant_id)
        .order_by(PurchaseOrder.number)
    )
    return [order_read(r) for r in rows]


async def reserve(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    number: str | None,
    amount: Decimal | None,
    *,
    credit_note: bool,
    release: bool = False,
) -> None:
    """Move an engagement's remaining amount for an invoice made available (or released)."""
    if not number or amount is None:
        return
    row = await session.scalar(
        select(PurchaseOrder).where(
            PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.number == number
        )
    )
    if row is None:
        return
    delta = abs(amount) if credit_note else -abs(amount)
    row.remaining = Decimal(row.remaining) + (-delta if release else delta)
