"""The app-wide guard: default deny, bearer or session-cookie authentication, CSRF, policy check.

Every route handler must declare ``opt={"policy": Policy(...)}`` (services.kernel.policy). A route
without one is refused for everybody. The Actor found is stored on the connection state, where the
``actor`` dependency picks it up.

Bearer tokens (APIs) win over the cookie. A request authenticated by the session cookie with an
unsafe method must carry the session's CSRF token in ``X-CSRF-Token``; handlers that receive HTML
forms declare ``opt={"csrf": "form"}`` and check the ``csrf_token`` field themselves.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import WebSession
from identity.service import TokenCache
from identity.sessions import (
    CSRF_HEADER,
    SAFE_METHODS,
    csrf_matches,
    load_session,
    session_actor,
    session_settings,
)
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, Unauthenticated
from services.kernel.policy import POLICY_KEY, Policy

ACTOR_STATE_KEY = "actor"
SESSION_STATE_KEY = "web_session"
CSRF_OPT = "csrf"


class CsrfRefused(Forbidden):
    code = "csrf"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "En-tête Authorization invalide : utilisez « Authorization: Bearer <jeton> »."
        )
    return value.strip()


def check_policy(policy: Policy, actor: Actor) -> None:
    if actor.kind not in policy.kinds:
        raise Forbidden("Ce point d'accès n'est pas ouvert à ce type de compte.")
    if actor.kind is ActorKind.API_CLIENT:
        missing = sorted(policy.scopes - actor.scopes)
        if missing:
            raise Forbidden(f"Portée(s) manquante(s) pour ce client API : {', '.join(missing)}.")
    if actor.kind is ActorKind.PERSON:
        return
    if actor.kind is ActorKind.AGENT:
        held = set().union(*actor.roles.values()) if actor.roles else set()
        if not held:
            raise Forbidden(
                "Votre compte agent n'a encore aucun rôle : voyez votre administrateur."
            )
        if policy.roles and not (held & policy.roles):
            raise Forbidden(
                f"Ce point d'accès demande l'un de ces rôles : {', '.join(sorted(policy.roles))}."
            )


async def enforce_policy(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    policy = handler.opt.get(POLICY_KEY)
    if not isinstance(policy, Policy):
        raise Forbidden("Accès refusé : ce point d'accès ne déclare aucune politique d'accès.")
    if policy.public:
        return
    token = bearer_token(connection)
    app_state = connection.app.state
    sessionmaker: async_sessionmaker[AsyncSession] = app_state.sessionmaker
    clock: Clock = app_state.clock
    if token is None:
        actor = await cookie_actor(connection, sessionmaker, clock)
        if actor is None:
            raise Unauthenticated(
                "Authentification requise : connectez-vous (FranceConnect, ProConnect ou compte "
                "Guichet), ou envoyez « Authorization: Bearer <jeton> »."
            )
        connection.state[ACTOR_STATE_KEY] = actor  # known even if refused below (journal)
        method = str(connection.scope.get("method", "GET"))
        if method not in SAFE_METHODS and handler.opt.get(CSRF_OPT) != "form":
            record: WebSession = connection.state[SESSION_STATE_KEY]
            if not csrf_matches(record.csrf_token, connection.headers.get(CSRF_HEADER)):
                raise CsrfRefused(
                    "Jeton anti-falsification (CSRF) manquant ou invalide : rechargez la page "
                    "puis recommencez (en-tête X-CSRF-Token)."
                )
    else:
        cache: TokenCache = app_state.token_cache
        actor = await cache.authenticate(sessionmaker, token, now=clock.now())
    connection.state[ACTOR_STATE_KEY] = actor
    check_policy(policy, actor)


async def cookie_actor(
    connection: ASGIConnection[Any, Any, Any, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> Actor | None:
    """The person or agent of a live session cookie (the session is kept on the state)."""
    cookie = connection.cookies.get(session_settings().cookie_name)
    if not cookie:
        return None
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        record = await load_session(session, cookie, now=now)
        if record is None:
            return None
        actor = await session_actor(session, record, now=now)
    if actor is None:
        return None
    connection.state[SESSION_STATE_KEY] = record
    return actor
