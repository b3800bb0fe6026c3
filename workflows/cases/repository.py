"""Queries on cases: who sees what, filtered pages, timelines, deadlines, chain verification.

Who sees a case:
- an agent with a role in the case's tenant (a role on the métropole covers its communes), an API
  client of that tenant (its scopes are checked by the route's policy);
- a person (citizen, business staff) when the case concerns them (``case.submitter_id``), someone
  they hold a valid mandate for, or an organisation they hold a mandate for (``actor.represents``,
  built at sign-in from unrevoked, unexpired mandates: when the mandate ends, so does the view).

Anything else does not exist for the actor: 404, never 403 (``HiddenDenial``, which the app
journals as a denial), so that case ids cannot be probed across tenants or between citizens.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind
from services.kernel.errors import HiddenDenial, NotFound
from workflows.cases._store import GENESIS_HASH, event_hash, hashed_fields
from workflows.cases.models import Case, CaseEvent, Deadline

MAX_PAGE = 200
NOT_VISIBLE = "Dossier introuvable (ou hors de vos collectivités)."


def can_see(actor: Actor, case: Case) -> bool:
    """Whether the actor may see this case at all (module docstring)."""
    if actor.kind is ActorKind.PERSON:
        return actor.sees_person(case.submitter_id, case.organisation_id)
    return actor.can_act_in(case.tenant_id)


async def visible_case(
    session: AsyncSession, case_id: uuid.UUID, actor: Actor, *, not_found: str = NOT_VISIBLE
) -> Case:
    """A case the actor may see: otherwise it does not exist (404, never 403)."""
    case = await session.get(Case, case_id)
    if case is None:
        raise NotFound(not_found)
    if not can_see(actor, case):
        raise HiddenDenial(not_found)
    return case


async def list_cases(
    session: AsyncSession,
    *,
    tenant_ids: Sequence[uuid.UUID] | None = None,
    person_ids: Sequence[uuid.UUID] | None = None,
    organisation_ids: Sequence[uuid.UUID] | None = None,
    procedure_key: str | None = None,
    state: str | None = None,
    assignee_id: uuid.UUID | None = None,
    deadline_before: date | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Case, date | None]], int]:
    """A page of cases and the total. Agents and API clients: ``tenant_ids``. People: the cases
    concerning ``person_ids`` or ``organisation_ids`` (with ``tenant_ids``, also within those
    tenants). Nothing given: nothing seen."""
    next_due = (
        select(Deadline.case_id, func.min(Deadline.due_on).label("next_due_on"))
        .where(Deadline.status == "active")
        .group_by(Deadline.case_id)
        .subquery()
    )
    stmt = select(Case, next_due.c.next_due_on).outerjoin(next_due, next_due.c.case_id == Case.id)
    if person_ids is not None or organisation_ids is not None:
        stmt = stmt.where(
            or_(
                Case.submitter_id.in_(list(person_ids or ())),
                Case.organisation_id.in_(list(organisation_ids or ())),
            )
        )
        if tenant_ids is not None:
            stmt = stmt.where(Case.tenant_id.in_(list(tenant_ids)))
    else:
        stmt = stmt.where(Case.tenant_id.in_(list(tenant_ids or ())))
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


async def active_deadlines(session: AsyncSession, case_ids: Sequence[uuid.UUID]) -> list[Deadline]:
    if not case_ids:
        return []
    rows = await session.scalars(
        select(Deadline).where(Deadline.case_id.in_(list(case_ids)), Deadline.status == "active")
    )
    return list(rows)


async def last_public_states(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The state each case reached with its last public event: what people are shown while a
    case sits in an internal state (the runner makes an event public only when its transition
    and its target state are both public)."""
    if not case_ids:
        return {}
    rows = await session.execute(
        select(CaseEvent.case_id, CaseEvent.to_state)
        .where(
            CaseEvent.case_id.in_(list(case_ids)),
            CaseEvent.public.is_(True),
            CaseEvent.to_state.is_not(None),
        )
        .order_by(CaseEvent.case_id, CaseEvent.seq.desc())
    )
    found: dict[uuid.UUID, str] = {}
    for case_id, to_state in rows.all():
        if case_id not in found and to_state is not None:
            found[case_id] = to_state
    return found


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
