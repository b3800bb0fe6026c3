"""The cemetery projector: decided cases applied to the registry, in the case's transaction.

``CaseService`` calls it after a case opens (the references given must exist in the tenant: 404
otherwise; the ex officio procedures check their preconditions) and after every step. Each
(procedure, transition) with a registry effect or a legal rule has a handler; a handler that
refuses raises a ``services.kernel.errors`` error, which rolls back the whole transition (422 with
the French reason and the article, 409 when the registry's state forbids it). Handlers only read
what the step and earlier steps recorded, so replaying a step is refused by the registry itself
(a place already attributed, a concession already renewed) rather than applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.runner import Step
from workflows.procedures.cemeteries import _projector_concessions as concessions
from workflows.procedures.cemeteries import _projector_operations as operations
from workflows.procedures.cemeteries._projector_common import Handler

HANDLERS: dict[tuple[str, str], Handler] = {**concessions.HANDLERS, **operations.HANDLERS}


class CemeteryProjector:
    async def opened(self, session: AsyncSession, case: Case) -> None:
        key = case.procedure_key
        if key in {"cemeteries.renewal", "cemeteries.conversion"}:
            await concessions.concession_exists(session, case)
        elif key == "cemeteries.reprise":
            await concessions.reprise_opened(session, case)
        elif key == "cemeteries.abandon":
            await concessions.abandon_opened(session, case)
        elif key != "cemeteries.concession":
            await operations.operation_opened(session, case)

    async def transitioned(self, session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
        for step in steps:
            handler = HANDLERS.get((case.procedure_key, step.transition))
            if handler is not None:
                await handler(session, case, step.data)


PROJECTOR = CemeteryProjector()
