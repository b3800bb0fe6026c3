"""Procedure projections: a procedure keeps its own tables in step with its cases.

A procedure package (street reports, cemeteries…) registers a ``Projector`` for its procedure key;
``CaseService`` calls it in the same transaction as the case change — after a case is opened and
after every transition (agent, person or timer) — so that the procedure's own rows (a report's
location, a concession's holder) can never disagree with the case history.

A projector must not commit, must be idempotent on replay of the same step, and raises
``services.kernel.errors`` subclasses to refuse (the whole transition is then rolled back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.runner import Step


class Projector(Protocol):
    async def opened(self, session: AsyncSession, case: Case) -> None: ...

    async def transitioned(
        self, session: AsyncSession, case: Case, steps: Sequence[Step]
    ) -> None: ...


_PROJECTORS: dict[str, Projector] = {}


def register(procedure_key: str, projector: Projector) -> None:
    """Register (or replace) the projector of a procedure key."""
    _PROJECTORS[procedure_key] = projector


def projector_for(procedure_key: str) -> Projector | None:
    return _PROJECTORS.get(procedure_key)


async def project_opened(session: AsyncSession, case: Case) -> None:
    projector = _PROJECTORS.get(case.procedure_key)
    if projector is not None:
        await projector.opened(session, case)


async def project_transitioned(session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
    projector = _PROJECTORS.get(case.procedure_key)
    if projector is not None and steps:
        await projector.transitioned(session, case, steps)
