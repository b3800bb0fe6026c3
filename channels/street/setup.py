"""Turning street reports on for a tenant (``guichet demo``, tests, an administrator).

A tenant takes street reports once it has: the ``signalements`` service named on the
acknowledgement of receipt (R112-11-1 CRPA; created from the tenant's own contact details when
missing), its departments and categories (the default set, idempotent), and a territory
(GeoJSON boundary) so that points can be routed to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Tenant, TenantService
from workflows.procedures.street_reports.boundaries import shipped_boundaries
from workflows.procedures.street_reports.categories import seed_default_categories
from workflows.procedures.street_reports.definition import SERVICE_CODE
from workflows.procedures.street_reports.location import set_boundary
from workflows.procedures.street_reports.models import StreetCategory


async def ensure_service(session: AsyncSession, tenant: Tenant) -> TenantService:
    """The tenant's ``signalements`` service (created from the tenant's contact details)."""
    found: TenantService | None = await session.scalar(
        select(TenantService).where(
            TenantService.tenant_id == tenant.id, TenantService.code == SERVICE_CODE
        )
    )
    if found is not None:
        return found
    address = ", ".join(
        p for p in (tenant.address, f"{tenant.postal_code} {tenant.city}".strip()) if p
    )
    service = TenantService(
        tenant_id=tenant.id,
        code=SERVICE_CODE,
        name="Signalements sur l'espace public",
        address=address[:300],
        phone=tenant.phone,
        email=tenant.email,
        opening_hours="",
    )
    session.add(service)
    await session.flush()
    return service


async def enable_street_reports(
    session: AsyncSession,
    tenant: Tenant,
    now: datetime,
    *,
    boundary: dict[str, Any] | None = None,
    categories: bool = True,
) -> list[StreetCategory]:
    """The service, the boundary (when given) and the default categories (when ``categories``)
    of a tenant; idempotent. Returns the tenant's categories."""
    await ensure_service(session, tenant)
    if boundary is not None:
        await set_boundary(session, tenant.id, boundary, now=now)
    if not categories:
        return []
    return await seed_default_categories(session, tenant.id, now)


async def enable_shipped_territories(
    session: AsyncSession, now: datetime, *, categories: bool = True
) -> list[Tenant]:
    """Every tenant whose INSEE code has a shipped test/demo boundary: service, boundary and
    default categories (``guichet demo`` and the tests)."""
    shapes = shipped_boundaries()
    tenants = list(
        await session.scalars(select(Tenant).where(Tenant.insee_code.in_(sorted(shapes))))
    )
    for tenant in tenants:
        await enable_street_reports(
            session, tenant, now, boundary=shapes[tenant.insee_code], categories=categories
        )
    return tenants
