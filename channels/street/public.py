"""The public view of a report: what anyone may read. Never the reporter's e-mail, phone, name
(unless they chose to show a public name), tracking code or the agents' internal notes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.street.service import Suggestion
from workflows.cases.models import CaseEvent
from workflows.procedures.street_reports.models import (
    StreetCategory,
    StreetReport,
    StreetReportPhoto,
)
from workflows.procedures.street_reports.states import label, public_status, state_title


class CategoryRef(BaseModel):
    code: str
    name: str
    group: str


class PublicStep(BaseModel):
    at: datetime
    state: str
    label: str
    note: str | None = None


class PublicReport(BaseModel):
    reference: str
    category: CategoryRef
    state: str
    status: str
    """open | closed (GeoReport v2)"""
    label: str
    """What the reporter reads: « Intervention programmée le 10 mars 2026 », « Non retenu : … »"""
    lat: float
    lon: float
    address: str
    description: str
    public_name: str | None
    channel: str
    submitted_at: datetime
    updated_at: datetime
    sla_due: date
    scheduled_for: date | None
    fixed_at: datetime | None
    closed_at: datetime | None
    duplicate_of: str | None
    transferred_to: str | None
    photos: int
    history: list[PublicStep]


class SuggestionRead(BaseModel):
    reference: str
    distance_m: float
    state: str
    label: str
    submitted_at: datetime
    address: str


def suggestion_read(s: Suggestion) -> SuggestionRead:
    return SuggestionRead(
        reference=s.reference,
        distance_m=s.distance_m,
        state=s.state,
        label=state_title(s.state),
        submitted_at=s.submitted_at,
        address=s.address,
    )


async def _history(session: AsyncSession, case_id: uuid.UUID) -> list[PublicStep]:
    events = await session.scalars(
        select(CaseEvent)
        .where(
            CaseEvent.case_id == case_id,
            CaseEvent.public.is_(True),
            CaseEvent.kind.in_(("case.opened", "case.transitioned")),
        )
        .order_by(CaseEvent.seq)
    )
    steps: list[PublicStep] = []
    for event in events:
        state = event.to_state or ""
        given = (event.data or {}).get("input") or {}
        note = given.get("note") or given.get("comment")
        steps.append(
            PublicStep(
                at=event.at,
                state=state,
                label=state_title(state),
                note=str(note) if note else None,
            )
        )
    return steps


async def public_report(session: AsyncSession, report: StreetReport) -> PublicReport:
    category = await session.get(StreetCategory, report.category_id)
    assert category is not None
    photos = await session.scalar(
        select(func.count())
        .select_from(StreetReportPhoto)
        .where(StreetReportPhoto.case_id == report.case_id)
    )
    return PublicReport(
        reference=report.reference,
        category=CategoryRef(code=category.code, name=category.name, group=category.group),
        state=report.state,
        status=public_status(report.state),
        label=label(report),
        lat=report.lat,
        lon=report.lon,
        address=report.address,
        description=report.description,
        public_name=report.public_name,
        channel=report.channel,
        submitted_at=report.submitted_at,
        updated_at=report.updated_at,
        sla_due=report.sla_due,
        scheduled_for=report.scheduled_for,
        fixed_at=report.fixed_at,
        closed_at=report.closed_at,
        duplicate_of=report.duplicate_reference,
        transferred_to=report.transferred_to,
        photos=int(photos or 0),
        history=await _history(session, report.case_id),
    )
