"""Queries on cases: filtered pages, timelines, deadlines, chain verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.errors import NotFound
from workflows.cases._store import GENESIS_HASH, event_hash, hashed_fields
from workflows.cases.models import Case, CaseEvent, Deadline

MAX_PAGE = 200
NOT_VISIBLE = "Dossier introuvable (ou hors de vos collectivités)."


async def visible_case(
    session: AsyncSession, case_id: uuid.UUID, actor: Actor, *, not_found: str = NOT_VISIBLE
) -> Case:
    """A case the actor may see: outside its tenants it does not exist (404, never 403)."""
    case = await session.get(Case, case_id)
    if case is None or not actor.can_act_in(case.tenant_id):
        raise NotFound(not_found)
    return case


async def list_cases(
    session: AsyncSession,
    *,
    tenant_ids: Sequence[uuid.UUID],
    procedure_key: str | None = None,
    state: str | None = None,
    assignee_id: uuid.UUID | None = None,
    deadline_before: date | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Case, date | None]], int]:
    next_due = (
        select(Deadline.case_id, func.min(Deadline.due_on).label("next_due_on"))
        .where(Deadline.status == "active")
        .group_by(Deadline.case_id)
        .subquery()
    )
    stmt = (
        select(Case, next_due.c.next_due_on)
        .outerjoin(next_due, next_due.c.case_id == Case.id)
        .where(Case.tenant_id.in_(list(tenant_ids)))
    )
    if procedure_key:
        stmt = stmt.where(Case.procedure_key == procedure_key)
    if state:
        stmt = stmt.where(Case.state == state)
    if assignee_id:
        stmt = stmt.where(Case.assignee_id == assignee_id)
    if deadline_before:
        stmt = stmt.where(next_due.c.next_due_on <= deadline_before)
    if text:
        like = f"%{text.lower()}%"
        stmt = stmt.where(or_(func.lower(Case.reference).like(like), Case.search_text.like(like)))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.execute(
        stmt.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    )
    return [(row[0], row[1]) for row in rows.all()], total


async def timeline(session: AsyncSession, case_id: uuid.UUID) -> list[CaseEvent]:
    rows = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
    )
    return list(rows)


async def deadlines(session: AsyncSession, case_id: uuid.UUID) -> list[Deadline]:
    rows = await session.scalars(
        select(Deadline)
        .where(Deadline.case_id == case_id)
        .order_by(Deadline.created_at, Deadline.kind)
    )
    return list(rows)


def verify_chain(events: Sequence[CaseEvent]) -> bool:
    """True when every event's hash matches its content and its predecessor."""
    prev = GENESIS_HASH
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq or event.prev_hash != prev:
            return False
        if event_hash(prev, hashed_fields(event)) != event.hash:
            return False
        prev = event.hash
    return True
