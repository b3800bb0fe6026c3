"""The app-wide guard: default deny, bearer authentication, policy check.

Every route handler must declare ``opt={"policy": Policy(...)}`` (services.kernel.policy). A route
without one is refused for everybody. The Actor found is stored on the connection state, where the
``actor`` dependency picks it up.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.service import TokenCache
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, Unauthenticated
from services.kernel.policy import POLICY_KEY, Policy

ACTOR_STATE_KEY = "actor"


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
    if token is None:
        raise Unauthenticated(
            "Authentification requise : envoyez « Authorization: Bearer <jeton> »."
        )
    app_state = connection.app.state
    sessionmaker: async_sessionmaker[AsyncSession] = app_state.sessionmaker
    clock: Clock = app_state.clock
    cache: TokenCache = app_state.token_cache
    actor = await cache.authenticate(sessionmaker, token, now=clock.now())
    check_policy(policy, actor)
    connection.state[ACTOR_STATE_KEY] = actor
