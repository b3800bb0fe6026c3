"""Helpers shared by the database tests: apply a transition in its own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from workflows.cases.models import Case
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine


async def apply(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    case_id: uuid.UUID,
    transition: str,
    actor: Actor,
    payload: dict[str, Any] | None = None,
) -> Case:
    async with sm() as s, s.begin():
        case, _ = await CaseService(s, engine, clock).apply(case_id, transition, actor, payload)
        return case
