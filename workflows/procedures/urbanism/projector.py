"""Keeps ``urbanism_file`` in step with urbanism cases (the work is in ``service``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.runner import Step
from workflows.procedures.urbanism import service


class UrbanismProjector:
    async def opened(self, session: AsyncSession, case: Case) -> None:
        await service.opened(session, case)

    async def transitioned(self, session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
        await service.transitioned(session, case, steps)


PROJECTOR = UrbanismProjector()
