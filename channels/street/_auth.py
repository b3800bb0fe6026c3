"""Who posts on the public report form: nobody (anonymous), or a signed-in person.

The form is public (``PUBLIC`` policy: the app-wide guard does not authenticate), so the handler
looks for a person itself: a browser session cookie (unsafe methods need the session's CSRF token
in ``X-CSRF-Token``, as everywhere else) or a bearer token. An agent or an API client is sent to
its own door (counter endpoint, Open311).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.guards import SESSION_STATE_KEY, CsrfRefused, bearer_token, cookie_actor
from identity.models import WebSession
from identity.service import TokenCache
from identity.sessions import CSRF_HEADER, csrf_matches
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden


async def optional_person(request: Request[Any, Any, Any]) -> Actor | None:
    state = request.app.state
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    clock: Clock = state.clock
    token = bearer_token(request)
    if token is not None:
        cache: TokenCache = state.token_cache
        actor = await cache.authenticate(sessionmaker, token, now=clock.now())
    else:
        found = await cookie_actor(request, sessionmaker, clock)
        if found is None:
            return None
        actor = found
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            record: WebSession = request.state[SESSION_STATE_KEY]
            if not csrf_matches(record.csrf_token, request.headers.get(CSRF_HEADER)):
                raise CsrfRefused(
                    "Jeton anti-falsification (CSRF) manquant ou invalide : rechargez la page "
                    "puis recommencez (en-tête X-CSRF-Token)."
                )
    if actor.kind is not ActorKind.PERSON:
        raise Forbidden(
            "Ce formulaire est celui des usagers : un agent saisit un signalement par "
            "POST /api/v1/signalements/guichet, une application par l'interface Open311."
        )
    return actor
