"""Keeps ``urbanism_file`` in step with urbanism cases (see ``service``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.runner import Step


class UrbanismProjector:
    async def opened(self, session: AsyncSession, case: Case) -> None:
        return None

    async def transitioned(self, session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
        return None


PROJECTOR = UrbanismProjector()
