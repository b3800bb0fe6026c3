"""What the projector's handlers share: the legal day of a step, earlier steps' data, refusals."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import ValidationFailed
from workflows.cases.models import Case, CaseEvent
from workflows.procedures.cemeteries.registry import local_date

Handler = Callable[[AsyncSession, Case, Mapping[str, Any]], Awaitable[None]]
"""(session, case, the step's data) → None; raises services.kernel.errors to refuse."""


def today(case: Case) -> date:
    """The legal day of the step being applied (the case is stamped with the step's instant)."""
    return local_date(case.updated_at)


def received_on(case: Case) -> date:
    return local_date(case.received_at)


def uid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "type": "rule"}])


def not_in_future(value: date, now_day: date, field: str) -> None:
    if value > now_day:
        raise invalid(field, "Cette date est dans le futur : enregistrez l'étape une fois faite.")


async def last_input(session: AsyncSession, case_id: uuid.UUID, transition: str) -> dict[str, Any]:
    """The data given with the last ``transition`` step of the case (empty when none)."""
    events = await session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.kind == "case.transitioned")
        .order_by(CaseEvent.seq.desc())
    )
    for event in events:
        if event.data.get("transition") == transition:
            found: dict[str, Any] = dict(event.data.get("input") or {})
            return found
    return {}
