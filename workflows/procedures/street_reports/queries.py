"""Read side of street reports: public look-ups, updates, near-duplicates, department queues.

Every function here returns reports whatever the caller; callers decide what is public
(``channels.street.public`` projects a report without personal data).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import NotFound, ValidationFailed
from workflows.cases.models import CaseEvent
from workflows.procedures.street_reports.definition import CLOSED_STATES, KEY, OPEN_STATES
from workflows.procedures.street_reports.location import bounding_box, distance_m
from workflows.procedures.street_reports.models import StreetCategory, StreetReport
from workflows.procedures.street_reports.states import public_status

MAX_REPORTS = 1000


async def find_reports(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    references: list[str] | None = None,
    category_codes: Collection[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: set[str] | None = None,
    limit: int = MAX_REPORTS,
) -> list[StreetReport]:
    """Reports ordered by ``submitted_at`` then reference (stable). ``references`` given: only
    those (unknown ones skipped) and every other filter but the tenant ignored (GeoReport v2).
    ``status``: a set of ``open``/``closed`` (public statuses) or internal state names."""
    stmt = select(StreetReport)
    if tenant_id is not None:
        stmt = stmt.where(StreetReport.tenant_id == tenant_id)
    if references is not None:
        wanted = [r.strip() for r in references if r and r.strip()]
        stmt = stmt.where(StreetReport.reference.in_(wanted))
    else:
        if category_codes:
            stmt = stmt.join(StreetCategory, StreetCategory.id == StreetReport.category_id).where(
                StreetCategory.code.in_(list(category_codes))
            )
        if start is not None:
            stmt = stmt.where(StreetReport.submitted_at >= start)
        if end is not None:
            stmt = stmt.where(StreetReport.submitted_at <= end)
        if status:
            states: set[str] = set()
            for item in status:
                if item == "open":
                    states.update(OPEN_STATES)
                elif item == "closed":
                    states.update(CLOSED_STATES)
                else:
                    states.add(item)
            stmt = stmt.where(StreetReport.state.in_(sorted(states)))
    stmt = stmt.order_by(StreetReport.submitted_at, StreetReport.reference).limit(
        max(0, min(limit, MAX_REPORTS))
    )
    return list(await session.scalars(stmt))


async def get_report(
    session: AsyncSession, reference: str, tenant_id: uuid.UUID | None = None
) -> StreetReport:
    """A report by its reference (within a tenant when given); NotFound otherwise."""
    stmt = select(StreetReport).where(StreetReport.reference == reference.strip()[:40])
    if tenant_id is not None:
        stmt = stmt.where(StreetReport.tenant_id == tenant_id)
    found = list(await session.scalars(stmt.limit(2)))
    if len(found) != 1:
        raise NotFound(f"Signalement « {reference[:40]} » introuvable.")
    return found[0]


async def report_of_case(session: AsyncSession, case_id: uuid.UUID) -> StreetReport:
    found = await session.get(StreetReport, case_id)
    if found is None:
        raise NotFound("Signalement introuvable.")
    return found


@dataclass(frozen=True, slots=True)
class ReportUpdate:
    """A public change of a report (mySociety ``servicerequestupdates``)."""

    update_id: str
    """The case event's id."""
    case_id: uuid.UUID
    reference: str
    state: str
    """The report's state after this event."""
    status: str
    """open | closed"""
    at: datetime
    description: str
    """The agent's public note (empty when none)."""
    kind: str


async def updates_between(
    session: AsyncSession,
    tenant_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    *,
    limit: int = MAX_REPORTS,
) -> list[ReportUpdate]:
    """Public transitions and public messages of street reports, oldest first."""
    stmt = (
        select(CaseEvent, StreetReport.reference, StreetReport.tenant_id)
        .join(StreetReport, StreetReport.case_id == CaseEvent.case_id)
        .where(
            CaseEvent.public.is_(True),
            CaseEvent.kind.in_(("case.transitioned", "case.message")),
        )
    )
    if tenant_id is not None:
        stmt = stmt.where(StreetReport.tenant_id == tenant_id)
    if start is not None:
        stmt = stmt.where(CaseEvent.at >= start)
    if end is not None:
        stmt = stmt.where(CaseEvent.at <= end)
    stmt = stmt.order_by(CaseEvent.at, CaseEvent.case_id, CaseEvent.seq).limit(
        max(0, min(limit, MAX_REPORTS))
    )
    out: list[ReportUpdate] = []
    state_at: dict[uuid.UUID, str] = {}
    for event, reference, _tenant in (await session.execute(stmt)).all():
        if event.to_state:
            state_at[event.case_id] = event.to_state
        state = event.to_state or state_at.get(event.case_id) or await _state_before(session, event)
        state_at[event.case_id] = state
        data = event.data or {}
        text = ""
        if event.kind == "case.message":
            text = str(data.get("text") or "")
        else:
            given = data.get("input") or {}
            text = str(given.get("note") or given.get("comment") or "")
        out.append(
            ReportUpdate(
                update_id=str(event.id),
                case_id=event.case_id,
                reference=reference,
                state=state,
                status=public_status(state),
                at=event.at,
                description=text,
                kind=event.kind,
            )
        )
    return out


async def _state_before(session: AsyncSession, event: CaseEvent) -> str:
    found = await session.scalar(
        select(CaseEvent.to_state)
        .where(
            CaseEvent.case_id == event.case_id,
            CaseEvent.seq < event.seq,
            CaseEvent.to_state.is_not(None),
        )
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    return found or "submitted"


@dataclass(frozen=True, slots=True)
class Nearby:
    report: StreetReport
    distance_m: float


async def nearby_open(
    session: AsyncSession,
    *,
    tenant_ids: Collection[uuid.UUID],
    category_code: str,
    lat: float,
    lon: float,
    radius_m: float,
    exclude: uuid.UUID | None = None,
    limit: int = 10,
) -> list[Nearby]:
    """Open reports of the same category (by code, across the given tenants) within the radius,
    nearest first: possible duplicates."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    stmt = (
        select(StreetReport)
        .join(StreetCategory, StreetCategory.id == StreetReport.category_id)
        .where(
            StreetReport.tenant_id.in_(list(tenant_ids)),
            StreetCategory.code == category_code,
            StreetReport.state.in_(OPEN_STATES),
            StreetReport.lat.between(min_lat, max_lat),
            StreetReport.lon.between(min_lon, max_lon),
        )
        .limit(500)
    )
    found = [
        Nearby(r, distance_m(lat, lon, r.lat, r.lon))
        for r in await session.scalars(stmt)
        if r.case_id != exclude
    ]
    found = [n for n in found if n.distance_m <= radius_m]
    found.sort(key=lambda n: (n.distance_m, n.report.reference))
    return found[:limit]


@dataclass(frozen=True, slots=True)
class QueueItem:
    report: StreetReport
    category_code: str
    category_name: str
    overdue: bool


async def department_queue(
    session: AsyncSession,
    *,
    department_ids: Collection[uuid.UUID],
    today: date,
    include_closed: bool = False,
    limit: int = 500,
) -> list[QueueItem]:
    """The reports of these departments, most urgent first (service-level deadline, then age),
    with the overdue flag (deadline passed while still open)."""
    if limit < 1 or limit > 5000:
        raise ValidationFailed(
            "La limite doit être comprise entre 1 et 5000.",
            errors=[{"field": "limite", "message": "entre 1 et 5000", "type": "range"}],
        )
    stmt = (
        select(StreetReport, StreetCategory.code, StreetCategory.name)
        .join(StreetCategory, StreetCategory.id == StreetReport.category_id)
        .where(StreetReport.department_id.in_(list(department_ids)))
    )
    if not include_closed:
        stmt = stmt.where(StreetReport.state.in_(OPEN_STATES))
    stmt = stmt.order_by(
        StreetReport.sla_due, StreetReport.submitted_at, StreetReport.reference
    ).limit(limit)
    return [
        QueueItem(
            report=r,
            category_code=code,
            category_name=name,
            overdue=r.state in OPEN_STATES and r.sla_due < today,
        )
        for r, code, name in (await session.execute(stmt)).all()
    ]


__all__ = [
    "KEY",
    "Nearby",
    "QueueItem",
    "ReportUpdate",
    "department_queue",
    "find_reports",
    "get_report",
    "nearby_open",
    "report_of_case",
    "updates_between",
]
