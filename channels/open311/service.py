"""The GeoReport v2 resources, framework-free: each function reads parsed fields and returns the
data the controller serialises (``channels.open311.wire``).

Jurisdiction (open311.md §1 [decide]): ``jurisdiction_id`` is a tenant's **INSEE code** (the
slug is accepted too). A jurisdiction covers its tenant and the tenant's children (the métropole
covers its communes: its lists show their reports, a report posted to it is routed by location).
A missing (or empty) ``jurisdiction_id`` selects ``GUICHET_OPEN311_DEFAULT_JURISDICTION``, else
the only métropole (400 when that is ambiguous on a GET; a POST is then routed by location). An
unknown one → 404.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311 import parsing, views
from channels.open311.keys import children_of
from channels.open311.parsing import Fields, invalid
from channels.open311.settings import open311_settings
from identity.models import Tenant
from services.kernel.errors import NotFound, ValidationFailed
from workflows.procedures.street_reports.categories import get_category, list_categories
from workflows.procedures.street_reports.models import StreetCategory, StreetReport
from workflows.procedures.street_reports.queries import (
    ReportUpdate,
    find_reports,
    get_report,
    updates_between,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    tenant: Tenant
    tenant_ids: frozenset[uuid.UUID]
    explicit: bool
    """Named by the request (not the default)."""


def _unknown(ref: str) -> NotFound:
    return NotFound(
        f"jurisdiction_id « {ref[:64]} » inconnu : utilisez le code INSEE de la commune ou de "
        "la métropole (voir discovery)."
    )


async def _tenant(session: AsyncSession, ref: str) -> Tenant | None:
    found: Tenant | None = await session.scalar(
        select(Tenant).where((Tenant.insee_code == ref) | (Tenant.slug == ref))
    )
    return found


async def jurisdiction(
    session: AsyncSession, fields: Fields, *, required: bool = True
) -> Jurisdiction | None:
    """The jurisdiction of a request (module doc); None when absent, without default, and not
    ``required``."""
    raw = fields.text("jurisdiction_id", max_chars=200)
    if raw is not None:
        if len(raw) > 64:
            raise _unknown(raw)
        tenant = await _tenant(session, raw)
        if tenant is None:
            raise _unknown(raw)
        return Jurisdiction(tenant, await children_of(session, tenant.id), True)
    configured = open311_settings().default_jurisdiction
    if configured:
        tenant = await _tenant(session, configured)
        if tenant is None:
            raise ValidationFailed(
                "jurisdiction_id manquant, et la juridiction par défaut configurée "
                f"(GUICHET_OPEN311_DEFAULT_JURISDICTION={configured[:64]}) n'existe pas.",
                errors=[{"field": "jurisdiction_id", "message": "requis", "type": "missing"}],
            )
        return Jurisdiction(tenant, await children_of(session, tenant.id), False)
    roots = list(await session.scalars(select(Tenant).where(Tenant.kind == "metropole").limit(2)))
    if len(roots) == 1:
        return Jurisdiction(roots[0], await children_of(session, roots[0].id), False)
    if not required:
        return None
    raise ValidationFailed(
        "jurisdiction_id manquant : indiquez le code INSEE de la collectivité.",
        errors=[{"field": "jurisdiction_id", "message": "requis", "type": "missing"}],
    )


# ----- discovery and services ---------------------------------------------------------------------


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def discovery(session: AsyncSession, where: Jurisdiction) -> dict[str, Any]:
    """``changeset`` is the time of the last change of a category of the jurisdiction (sortable,
    in the past; the epoch when there is none): clients refresh their cached services then."""
    latest = await session.scalar(
        select(func.max(StreetCategory.updated_at)).where(
            StreetCategory.tenant_id.in_(where.tenant_ids)
        )
    )
    changeset = _utc(latest if isinstance(latest, datetime) else EPOCH)
    settings = open311_settings()
    tenant = where.tenant
    contact = settings.contact or f"{tenant.name} — {tenant.email} — {tenant.phone}"
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": settings.key_service,
        "max_requests": parsing.MAX_REQUESTS,
        "endpoints": [
            {
                "specification": views.SPECIFICATION,
                "url": views.base_url(),
                "changeset": changeset,
                "type": settings.endpoint_type,
                "formats": list(views.FORMATS),
            }
        ],
    }


async def services(session: AsyncSession, where: Jurisdiction) -> list[dict[str, Any]]:
    return [views.service(c) for c in await list_categories(session, where.tenant.id)]


async def service_definition(
    session: AsyncSession, where: Jurisdiction, code: str
) -> dict[str, Any]:
    if not code or len(code) > 60:
        raise NotFound(f"service_code « {code[:60]} » inconnu.")
    try:
        category = await get_category(session, where.tenant.id, code, active_only=True)
    except NotFound:
        raise NotFound(
            f"service_code « {code[:60]} » inconnu dans cette juridiction : voir services."
        ) from None
    return views.definition(category)


# ----- requests ------------------------------------------------------------------------------


def _merge(lists: Iterable[list[StreetReport]], limit: int) -> list[StreetReport]:
    merged = heapq.merge(*lists, key=lambda r: (r.submitted_at, r.reference))
    out: list[StreetReport] = []
    for report in merged:
        out.append(report)
        if len(out) >= limit:
            break
    return out


async def requests(
    session: AsyncSession, where: Jurisdiction, fields: Fields, now: datetime
) -> list[dict[str, Any]]:
    """GET requests: ``service_request_id`` (comma list) overrides every other filter; else
    ``service_code`` (comma list), ``start_date``/``end_date`` (90 days by default, at most 90)
    and ``status``. At most 1000, oldest first then by reference (stable). ``page`` and
    ``page_size`` (Open311 wiki extension) are not supported and ignored."""
    ids = parsing.comma_list(
        fields.text("service_request_id", max_chars=100_000), "service_request_id"
    )
    per_tenant: list[list[StreetReport]] = []
    if ids:
        for tenant_id in sorted(where.tenant_ids):
            per_tenant.append(await find_reports(session, tenant_id=tenant_id, references=ids))
    else:
        codes = parsing.comma_list(fields.text("service_code", max_chars=10_000), "service_code")
        status = parsing.statuses(fields.text("status", max_chars=100))
        start, end = parsing.window(
            parsing.instant(fields.text("start_date", max_chars=40), "start_date"),
            parsing.instant(fields.text("end_date", max_chars=40), "end_date"),
            now,
        )
        for tenant_id in sorted(where.tenant_ids):
            per_tenant.append(
                await find_reports(
                    session,
                    tenant_id=tenant_id,
                    category_codes=codes or None,
                    start=start,
                    end=end,
                    status=status,
                )
            )
    return await views.requests(session, _merge(per_tenant, parsing.MAX_REQUESTS))


async def one_request(session: AsyncSession, where: Jurisdiction, ref: str) -> list[dict[str, Any]]:
    """GET requests/{id}: a list of one; 404 for anything unknown or outside the jurisdiction."""
    report = await report_in(session, where, ref)
    return await views.requests(session, [report])


async def report_in(session: AsyncSession, where: Jurisdiction, ref: str) -> StreetReport:
    missing = NotFound(f"Demande « {ref[:60]} » introuvable dans cette juridiction.")
    if not ref or len(ref) > 40 or any(ord(ch) < 32 for ch in ref):
        raise missing
    try:
        report = await get_report(session, ref, None)
    except NotFound:
        raise missing from None
    if report.tenant_id not in where.tenant_ids:
        raise missing
    return report


async def token(session: AsyncSession, where: Jurisdiction, ref: str) -> list[dict[str, Any]]:
    """GET tokens/{token}. Every service is ``realtime``: a POST answers with the
    ``service_request_id`` at once and never with a token. For clients that poll tokens anyway,
    a token is the request id itself (a stable alias): the answer holds both; anything else is
    404."""
    report = await report_in(session, where, ref)
    return [{"service_request_id": report.reference, "token": report.reference}]


# ----- mySociety updates ---------------------------------------------------------------------


async def updates(
    session: AsyncSession, where: Jurisdiction, fields: Fields, now: datetime
) -> list[dict[str, Any]]:
    """GET servicerequestupdates: public changes and public comments between ``start_date`` and
    ``end_date`` (same window rules as GET requests), oldest first, at most 1000."""
    start, end = parsing.window(
        parsing.instant(fields.text("start_date", max_chars=40), "start_date"),
        parsing.instant(fields.text("end_date", max_chars=40), "end_date"),
        now,
    )
    per_tenant: list[list[ReportUpdate]] = [
        await updates_between(session, tenant_id, start, end)
        for tenant_id in sorted(where.tenant_ids)
    ]
    merged = heapq.merge(*per_tenant, key=lambda u: (u.at, u.update_id))
    out: list[dict[str, Any]] = []
    for item in merged:
        out.append(views.update(item))
        if len(out) >= parsing.MAX_REQUESTS:
            break
    return out


def require(fields: Fields, name: str, *, max_chars: int = 300) -> str:
    value = fields.text(name, max_chars=max_chars)
    if value is None:
        raise invalid(name, "obligatoire", f"Paramètre « {name} » obligatoire manquant.")
    return value
