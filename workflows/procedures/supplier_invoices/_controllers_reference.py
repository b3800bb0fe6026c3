"""Finance's reference data over HTTP, under ``/api/v1/factures-fournisseurs/{insee}``:
``/siret`` (SIRETs of reception), ``/services`` (code service → department, upsert by code),
``/engagements`` (create, list) and ``/engagements/{numero}/cloture`` (close)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from workflows.procedures.supplier_invoices import reference as ref
from workflows.procedures.supplier_invoices.controllers import FINANCE, READ, Insee, tenant_for
from workflows.procedures.supplier_invoices.definition import FINANCE_ROLES

OrderNumber = Annotated[str, PathParameter(max_length=100, description="Numéro d'engagement")]


class ReferenceDataController(Controller):
    path = "/factures-fournisseurs/{insee:str}"
    tags = ["Factures fournisseurs"]

    @get("/siret", opt=READ, summary="Les SIRET sous lesquels la commune reçoit ses factures")
    async def list_sirets(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> list[ref.BuyerSiretRead]:
        tenant = await tenant_for(session, actor, insee)
        return await ref.list_buyer_sirets(session, tenant)

    @post("/siret", opt=FINANCE, status_code=201, summary="Déclarer un SIRET de réception")
    async def add_siret(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        data: JSONBody[ref.BuyerSiretIn],
    ) -> ref.BuyerSiretRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        row = await ref.add_buyer_siret(session, tenant, data)
        return ref.BuyerSiretRead(siret=row.siret, label=row.label)

    @get("/services", opt=READ, summary="Les codes service (BT-10) et leurs services")
    async def list_departments(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> list[ref.DepartmentRead]:
        tenant = await tenant_for(session, actor, insee)
        return await ref.list_departments(session, tenant)

    @post("/services", opt=FINANCE, status_code=200, summary="Créer ou modifier un code service")
    async def put_department(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        data: JSONBody[ref.DepartmentIn],
    ) -> ref.DepartmentRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        row = await ref.put_department(session, tenant, data)
        return ref.DepartmentRead(code=row.code, name=row.name, email=row.email, active=row.active)

    @get("/engagements", opt=READ, summary="Les engagements (BT-13) et leur reste à facturer")
    async def list_orders(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> list[ref.OrderRead]:
        tenant = await tenant_for(session, actor, insee)
        return await ref.list_orders(session, tenant)

    @post("/engagements", opt=FINANCE, status_code=201, summary="Créer un engagement")
    async def create_order(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[ref.OrderIn],
    ) -> ref.OrderRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        return ref.order_read(await ref.create_order(session, tenant, data, now=clock.now()))

    @post("/engagements/{numero:str}/cloture", opt=FINANCE, status_code=200, summary="Solder")
    async def close_order(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        numero: OrderNumber,
    ) -> ref.OrderRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        return ref.order_read(await ref.close_order(session, tenant, numero))
