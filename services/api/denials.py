"""Every denial is journaled: refused policies, CSRF refusals and cases hidden from an actor.

An ``after_exception`` hook, because the request's own transaction is rolled back with the error:
the journal entry is written in a transaction of its own.
"""

from __future__ import annotations

from typing import Any

from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.guards import ACTOR_STATE_KEY, CsrfRefused
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, HiddenDenial
from services.kernel.journal import JournalEvent, record
from services.kernel.logging import get_logger

_log = get_logger("guichet.api")


async def journal_denial(exception: Exception, scope: Scope) -> None:
    if not isinstance(exception, Forbidden | HiddenDenial):
        return
    app = scope.get("app")
    state: Any = getattr(app, "state", None)
    sessionmaker: async_sessionmaker[AsyncSession] | None = getattr(state, "sessionmaker", None)
    clock: Clock | None = getattr(state, "clock", None)
    if sessionmaker is None or clock is None:
        return
    actor = scope.get("state", {}).get(ACTOR_STATE_KEY)
    client = scope.get("client")
    event = (
        JournalEvent.CSRF_REFUSED
        if isinstance(exception, CsrfRefused)
        else (JournalEvent.ACCESS_DENIED)
    )
    try:
        async with sessionmaker() as session, session.begin():
            record(
                session,
                event,
                at=clock.now(),
                actor=actor if isinstance(actor, Actor) else None,
                ip=client[0] if client else None,
                data={
                    "method": str(scope.get("method", "")),
                    "path": str(scope.get("path", ""))[:300],
                    "reason": exception.detail[:300],
                    "hidden": isinstance(exception, HiddenDenial),
                },
            )
    except Exception:  # noqa: BLE001 - journaling must not turn a 403 into a 500
        _log.exception("denial not journaled")
