"""What each document kind says: one context function per kind (plus its template).

Adding a kind = one template ``documents/templates/<kind>.html`` + one function registered in
``CONTEXTS``. Every context starts from ``base_context`` (tenant letterhead, case, procedure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Tenant, TenantService
from workflows.cases.models import Case
from workflows.engine.definitions import Definition

ContextBuilder = Callable[
    [AsyncSession, Case, Definition, dict[str, Any], datetime], Awaitable[dict[str, Any]]
]


async def base_context(
    session: AsyncSession, case: Case, definition: Definition, kind: str, now: datetime
) -> dict[str, Any]:
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    service = None
    if definition.acknowledgement is not None:
        service = await session.scalar(
            select(TenantService).where(
                TenantService.tenant_id == tenant.id,
                TenantService.code == definition.acknowledgement.service_code,
            )
        )
    title = next((d.title for d in definition.documents if d.kind == kind), kind)
    return {
        "title": title,
        "reference": case.reference,
        "procedure_title": definition.title,
        "tenant": {
            "name": tenant.name,
            "address": tenant.address,
            "postal_code": tenant.postal_code,
            "city": tenant.city,
            "phone": tenant.phone,
            "email": tenant.email,
            "logo": tenant.logo,
        },
        "tenant_name": tenant.name,
        "service": (
            {
                "name": service.name,
                "address": service.address,
                "phone": service.phone,
                "email": service.email,
                "opening_hours": service.opening_hours,
            }
            if service is not None
            else None
        ),
        "received_at": case.received_at.strftime("%d/%m/%Y à %H:%M UTC"),
        "state_title": definition.state(case.state).title,
        "issued_at": now.strftime("%d/%m/%Y"),
        "submitter": case.submitter,
    }


CONTEXTS: dict[str, ContextBuilder] = {}


async def build_context(
    kind: str,
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    context = await base_context(session, case, definition, kind, now)
    builder = CONTEXTS.get(kind)
    if builder is not None:
        context.update(await builder(session, case, definition, params, now))
    return context
