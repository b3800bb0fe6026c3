"""Federated sign-in over HTTP: /auth/{provider}/login, /callback, logout, re-link, session.

Network calls to the provider (discovery, token, userinfo, JWKS) run outside any database
transaction; the pre-login state is taken out of the session in its own transaction first, so a
failed or replayed callback can never use it again. Failures are journaled in their own transaction
(the request's would be rolled back with the error).
"""

from __future__ import annotations

import html
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.federation import (
    LOGIN_KEY,
    LOGOUT_KEY,
    RELINK_KEY,
    PendingLogin,
    approve_relink,
    confirm_relink_code,
    login_data,
    oidc_refusal,
    refuse_relink,
    remember_pending,
    resolve_login,
    send_relink_code,
    take_pending,
)
from identity.models import FederatedIdentity, RelinkRequest, WebSession
from identity.oidc import OidcClient, OidcError, OidcProviderUnavailable
from identity.sessions import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    csrf_matches,
    end_session,
    load_session,
    session_actor,
    set_data,
    start_session,
)
from identity.web import (
    client_ip,
    expired_session_cookie,
    safe_next,
    session_cookie,
    session_token,
    user_agent,
)
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import (
    Conflict,
    Forbidden,
    GuichetError,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from services.kernel.journal import JournalEvent, record
from services.kernel.policy import PUBLIC, agents, policy_opt
from services.kernel.ports import Mailer

T = TypeVar("T")
_ERROR_STATUS: tuple[tuple[type[GuichetError], int], ...] = (
    (OidcProviderUnavailable, 503),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
    (TooManyRequests, 429),
    (Unavailable, 503),
)
_STATUS = {401: "Connexion impossible", 403: "Accès refusé", 409: "Action impossible"}


def _clients(request: Request[Any, Any, Any]) -> dict[str, OidcClient]:
    clients: dict[str, OidcClient] = request.app.state.oidc_clients
    return clients


def _client(request: Request[Any, Any, Any], provider: str) -> OidcClient:
    client = _clients(request).get(provider)
    if client is None:
        known = ", ".join(sorted(_clients(request))) or "aucun n'est configuré"
        raise NotFound(f"Fournisseur d'identité « {provider[:40]} » inconnu ({known}).")
    return client


def _sessionmaker(request: Request[Any, Any, Any]) -> async_sessionmaker[AsyncSession]:
    sm: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sm


async def _in_tx(
    request: Request[Any, Any, Any], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    async with _sessionmaker(request)() as session, session.begin():
        return await work(session)


async def _journal_failure(
    request: Request[Any, Any, Any],
    clock: Clock,
    event: JournalEvent,
    data: dict[str, Any],
) -> None:
    async def write(session: AsyncSession) -> None:
        record(session, event, at=clock.now(), ip=client_ip(request), data=data)

    await _in_tx(request, write)


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _error_page(exc: GuichetError, status: int, back: str) -> Response[str]:
    """The callback is reached by a browser: a French page with the reason and a way back."""
    title = _STATUS.get(status, "Erreur")
    body = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} — Guichet</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(exc.detail)}</p>"
        f'<p><a href="{html.escape(back)}">Revenir à la page de connexion</a></p>'
        "</main></body></html>"
    )
    return Response(body, status_code=status, media_type=MediaType.HTML)


def _status_of(exc: GuichetError) -> int:
    for cls, status in _ERROR_STATUS:
        if isinstance(exc, cls):
            return status
    return 400


class SessionInfo(BaseModel):
    authenticated: bool
    csrf_token: str | None = None
    kind: str | None = None
    id: str | None = None
    display_name: str | None = None
    provider: str | None = None


class RelinkCodeSent(BaseModel):
    sent_to: str
    message: str


class RelinkConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class SignedInPerson(BaseModel):
    csrf_token: str
    person_id: str


class FederationController(Controller):
    path = "/auth"
    tags = ["Authentification"]

    @get("/session", opt=policy_opt(PUBLIC), summary="Session du navigateur et jeton CSRF")
    async def session_info(
        self, request: Request[Any, Any, Any], clock: NamedDependency[Clock]
    ) -> SessionInfo:
        async def read(session: AsyncSession) -> SessionInfo:
            now = clock.now()
            record_ = await load_session(session, session_token(request), now=now)
            if record_ is None:
                return SessionInfo(authenticated=False)
            actor = await session_actor(session, record_, now=now)
            login = record_.data.get(LOGIN_KEY) or {}
            if actor is None:
                return SessionInfo(authenticated=False, csrf_token=record_.csrf_token)
            return SessionInfo(
                authenticated=True,
                csrf_token=record_.csrf_token,
                kind=actor.kind.value,
                id=str(actor.id),
                display_name=actor.display_name,
                provider=login.get("provider"),
            )

        return await _in_tx(request, read)

    @get(
        "/{provider:str}/login",
        opt=policy_opt(PUBLIC),
        summary="Se connecter avec FranceConnect ou ProConnect (redirection)",
        status_code=302,
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        clock: NamedDependency[Clock],
        provider: FromPath[str],
        next_: Annotated[str | None, QueryParameter(name="next", max_length=500)] = None,
        intent: Annotated[str, QueryParameter(max_length=10)] = "login",
        acr: Annotated[str | None, QueryParameter(max_length=120)] = None,
        invitation: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[Any]:
        client = _client(request, provider)
        cfg = client.config
        if intent not in ("login", "link"):
            raise ValidationFailed(
                "Paramètre « intent » invalide : « login » ou « link ».",
                errors=[{"field": "intent", "message": "valeur non permise", "type": "enum"}],
            )
        requested: tuple[str, ...] | None = None
        if acr is not None:
            if acr not in cfg.acr_levels:
                raise ValidationFailed(
                    f"Niveau « {acr} » inconnu pour {cfg.label} : {', '.join(cfg.acr_levels)}.",
                    errors=[{"field": "acr", "message": "niveau inconnu", "type": "enum"}],
                )
            requested = (acr,)
        if invitation is not None and cfg.audience != "agent":
            raise ValidationFailed(
                "Une invitation d'agent se présente avec ProConnect.",
                errors=[{"field": "invitation", "message": "fournisseur inadapté", "type": "enum"}],
            )
        auth = await client.authorization_request(acr_values=requested)
        now = clock.now()
        pending = PendingLogin(
            provider=cfg.name,
            state=auth.state,
            nonce=auth.nonce,
            code_verifier=auth.code_verifier,
            acr_values=auth.acr_values,
            next=safe_next(next_),
            intent="link" if intent == "link" else "login",
            invitation=invitation,
            created_at=now.isoformat(),
        )

        async def store(session: AsyncSession) -> str | None:
            current = await load_session(session, session_token(request), now=now)
            if intent == "link":
                actor = await session_actor(session, current, now=now) if current else None
                if actor is None or actor.kind.value != "person":
                    raise Forbidden(
                        "Connectez-vous d'abord à votre compte Guichet pour y lier une identité "
                        f"{cfg.label}."
                    )
            new_token: str | None = None
            if current is None:
                started = await start_session(
                    session, now=now, ip=client_ip(request), user_agent=user_agent(request)
                )
                current, new_token = started.record, started.token
            remember_pending(current, pending)
            return new_token

        new_token = await _in_tx(request, store)
        cookies = [session_cookie(new_token)] if new_token else []
        return Redirect(auth.url, status_code=302, cookies=cookies)

    @get(
        "/{provider:str}/callback",
        opt=policy_opt(PUBLIC),
        summary="Retour du fournisseur d'identité",
        status_code=303,
    )
    async def callback(
        self,
        request: Request[Any, Any, Any],
        clock: NamedDependency[Clock],
        provider: FromPath[str],
    ) -> Response[Any]:
        client = _client(request, provider)
        back = f"/api/v1/auth/{client.config.name}/login"
        try:
            return await self._callback(request, clock, client)
        except GuichetError as exc:
            if _wants_html(request):
                return _error_page(exc, _status_of(exc), back)
            raise

    async def _callback(
        self, request: Request[Any, Any, Any], clock: Clock, client: OidcClient
    ) -> Response[Any]:
        cfg = client.config
        params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        if any(len(v) > 4096 for v in params.values()):
            raise ValidationFailed(
                "Paramètres de retour trop longs : recommencez la connexion.",
                errors=[{"field": "query", "message": "trop long", "type": "too_long"}],
            )
        now = clock.now()
        ip = client_ip(request)
        cookie = session_token(request)

        async def take(session: AsyncSession) -> tuple[PendingLogin | None, Actor | None]:
            current = await load_session(session, cookie, now=now)
            pending = take_pending(current, params.get("state"))
            actor = await session_actor(session, current, now=now) if current else None
            return pending, actor

        pending, current_actor = await _in_tx(request, take)
        if pending is None or pending.provider != cfg.name:
            error = OidcError(
                "state_mismatch",
                f"La connexion {cfg.label} ne correspond à aucune demande en cours dans ce "
                "navigateur (paramètre « state » absent, différent ou déjà utilisé). "
                f"Recommencez depuis le bouton {cfg.label}.",
                provider=cfg.name,
            )
            await _journal_failure(
                request,
                clock,
                JournalEvent.LOGIN_FAILED,
                {"provider": cfg.name, "code": "state_mismatch"},
            )
            raise error
        try:
            result = await client.complete(
                params=params,
                expected_state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
                requested_acr=pending.acr_values,
            )
        except GuichetError as exc:
            await _journal_failure(
                request,
                clock,
                JournalEvent.LOGIN_FAILED,
                {"provider": cfg.name, "code": oidc_refusal(exc)},
            )
            raise

        async def decide(session: AsyncSession) -> Response[Any]:
            outcome = await resolve_login(
                session,
                client=client,
                result=result,
                pending=pending,
                current=current_actor,
                now=now,
                ip=ip,
            )
            current = await load_session(session, cookie, now=now, touch=False)
            if current is not None:
                await end_session(session, current, now=now)
            if outcome.relink_request_id is not None:
                started = await start_session(
                    session,
                    now=now,
                    data={RELINK_KEY: str(outcome.relink_request_id)},
                    ip=ip,
                    user_agent=user_agent(request),
                )
                body = {
                    "type": "https://guichet.example/problemes/relink-required",
                    "title": "Identité à rattacher",
                    "status": 409,
                    "detail": (
                        f"Votre identité {cfg.label} a changé (par exemple après une "
                        "rectification d'état civil) et ressemble à celle d'un compte existant. "
                        "Pour votre sécurité, elle n'y est pas rattachée automatiquement : "
                        "recevez un code à l'adresse électronique vérifiée de ce compte, ou "
                        "présentez une pièce d'identité au guichet."
                    ),
                    "csrf_token": started.record.csrf_token,
                    "relink": {
                        "send_code": "/api/v1/auth/relink/code",
                        "confirm": "/api/v1/auth/relink/confirm",
                    },
                }
                return Response(
                    body,
                    status_code=409,
                    media_type="application/problem+json",
                    cookies=[session_cookie(started.token)],
                )
            started = await start_session(
                session,
                now=now,
                person_id=outcome.person_id,
                agent_id=outcome.agent_id,
                data=login_data(cfg.name, result),
                ip=ip,
                user_agent=user_agent(request),
            )
            record(
                session,
                JournalEvent.LOGIN,
                at=now,
                ip=ip,
                data={
                    "provider": cfg.name,
                    "method": "oidc",
                    "acr": result.acr,
                    "person_id": str(outcome.person_id) if outcome.person_id else None,
                    "agent_id": str(outcome.agent_id) if outcome.agent_id else None,
                    "created": outcome.created,
                },
            )
            return Redirect(pending.next, status_code=303, cookies=[session_cookie(started.token)])

        try:
            return await _in_tx(request, decide)
        except GuichetError as exc:
            event = getattr(exc, "journal_event", JournalEvent.LOGIN_FAILED)
            await _journal_failure(
                request,
                clock,
                event,
                {
                    "provider": cfg.name,
                    "code": exc.code,
                    "reason": exc.detail[:200],
                    "person_id": str(current_actor.id) if current_actor else None,
                },
            )
            raise

    @post(
        "/logout",
        opt={**policy_opt(PUBLIC), "csrf": "form"},
        summary="Se déconnecter (et du fournisseur d'identité)",
        status_code=303,
    )
    async def logout(
        self, request: Request[Any, Any, Any], clock: NamedDependency[Clock]
    ) -> Response[Any]:
        now = clock.now()
        ip = client_ip(request)
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            given = value if isinstance(value, str) else None

        async def end(session: AsyncSession) -> tuple[bool, dict[str, Any] | None]:
            current = await load_session(session, session_token(request), now=now, touch=False)
            if current is None:
                return False, None
            if not csrf_matches(current.csrf_token, given):
                return True, {"csrf": False}
            actor = await session_actor(session, current, now=now)
            await end_session(session, current, now=now)
            record(
                session,
                JournalEvent.LOGOUT,
                at=now,
                actor=actor,
                ip=ip,
                data={"provider": (current.data.get(LOGIN_KEY) or {}).get("provider")},
            )
            return True, dict(current.data.get(LOGIN_KEY) or {})

        had_session, login = await _in_tx(request, end)
        if had_session and login == {"csrf": False}:
            await _journal_failure(
                request, clock, JournalEvent.CSRF_REFUSED, {"path": request.url.path}
            )
            raise Forbidden(
                "Jeton anti-falsification (CSRF) manquant ou invalide : la déconnexion n'a pas "
                "été faite. Rechargez la page puis recommencez."
            )
        cookies: list[Cookie] = [expired_session_cookie()]
        provider = (login or {}).get("provider")
        id_token = (login or {}).get("id_token")
        client = _clients(request).get(provider) if isinstance(provider, str) else None
        if client is None or not isinstance(id_token, str):
            return Redirect("/", status_code=303, cookies=cookies)
        state = secrets.token_urlsafe(32)
        url = await client.end_session_url(id_token_hint=id_token, state=state)

        async def remember(session: AsyncSession) -> str:
            started = await start_session(
                session,
                now=now,
                data={LOGOUT_KEY: {"provider": client.config.name, "state": state}},
                ip=ip,
                user_agent=user_agent(request),
            )
            return started.token

        token = await _in_tx(request, remember)
        return Redirect(url, status_code=303, cookies=[session_cookie(token)])

    @get(
        "/{provider:str}/logout/callback",
        opt=policy_opt(PUBLIC),
        summary="Retour de déconnexion du fournisseur d'identité",
        status_code=303,
    )
    async def logout_callback(
        self,
        request: Request[Any, Any, Any],
        clock: NamedDependency[Clock],
        provider: FromPath[str],
        returned_state: Annotated[str | None, QueryParameter(name="state", max_length=500)] = None,
    ) -> Response[Any]:
        client = _client(request, provider)
        now = clock.now()

        async def take(session: AsyncSession) -> str:
            current = await load_session(session, session_token(request), now=now, touch=False)
            pending = (current.data.get(LOGOUT_KEY) or {}) if current else {}
            if current is not None:
                set_data(current, LOGOUT_KEY, None)
                if current.person_id is None and current.agent_id is None:
                    await end_session(session, current, now=now)
            if pending.get("provider") != client.config.name:
                return ""
            return str(pending.get("state") or "")

        expected = await _in_tx(request, take)
        try:
            client.check_logout_state(returned_state, expected or secrets.token_urlsafe(32))
        except OidcError as exc:
            await _journal_failure(
                request,
                clock,
                JournalEvent.LOGIN_FAILED,
                {"provider": client.config.name, "code": "logout_state_mismatch"},
            )
            if _wants_html(request):
                return _error_page(exc, 401, "/")
            raise
        return Redirect("/", status_code=303, cookies=[expired_session_cookie()])

    # ----- re-link after a FranceConnect sub change ---------------------------------------------

    @post(
        "/relink/code",
        opt=policy_opt(PUBLIC),
        summary="Recevoir un code de rattachement",
        status_code=200,
    )
    async def relink_code(
        self,
        request: Request[Any, Any, Any],
        clock: NamedDependency[Clock],
        mailer: NamedDependency[Mailer],
    ) -> RelinkCodeSent:
        now = clock.now()

        async def send(session: AsyncSession) -> str:
            current = await _relink_session(session, request, now)
            request_id = uuid.UUID(str(current.data[RELINK_KEY]))
            return await send_relink_code(session, request_id=request_id, mailer=mailer, now=now)

        sent_to = await _in_tx(request, send)
        return RelinkCodeSent(
            sent_to=sent_to,
            message=f"Un code à 6 chiffres a été envoyé à {sent_to}. Il est valable 15 minutes.",
        )

    @post(
        "/relink/confirm",
        opt=policy_opt(PUBLIC),
        summary="Confirmer le rattachement avec le code reçu",
        status_code=200,
    )
    async def relink_confirm(
        self,
        request: Request[Any, Any, Any],
        clock: NamedDependency[Clock],
        data: JSONBody[RelinkConfirm],
    ) -> Response[SignedInPerson]:
        now = clock.now()
        ip = client_ip(request)

        async def confirm(session: AsyncSession) -> tuple[str, str, uuid.UUID] | None:
            current = await _relink_session(session, request, now)
            request_id = uuid.UUID(str(current.data[RELINK_KEY]))
            person_id = await confirm_relink_code(
                session, request_id=request_id, code=data.code, now=now, ip=ip
            )
            if person_id is None:
                return None
            await end_session(session, current, now=now)
            started = await start_session(
                session, now=now, person_id=person_id, ip=ip, user_agent=user_agent(request)
            )
            record(
                session,
                JournalEvent.LOGIN,
                at=now,
                ip=ip,
                data={"method": "relink", "person_id": str(person_id)},
            )
            return started.token, started.record.csrf_token, person_id

        done = await _in_tx(request, confirm)
        if done is None:
            raise ValidationFailed(
                "Code incorrect : vérifiez le message reçu et recommencez.",
                errors=[{"field": "code", "message": "code incorrect", "type": "mismatch"}],
            )
        token, csrf, person_id = done
        return Response(
            SignedInPerson(csrf_token=csrf, person_id=str(person_id)),
            cookies=[session_cookie(token)],
        )


async def _relink_session(
    session: AsyncSession, request: Request[Any, Any, Any], now: Any
) -> WebSession:
    current = await load_session(session, session_token(request), now=now)
    if current is None or RELINK_KEY not in current.data:
        raise NotFound("Aucune demande de rattachement en cours : reconnectez-vous.")
    if not csrf_matches(current.csrf_token, request.headers.get(CSRF_HEADER)):
        raise Forbidden(
            "Jeton anti-falsification (CSRF) manquant ou invalide : reprenez depuis la page de "
            "connexion."
        )
    return current


# ----- agents: re-link requests checked on an ID document ---------------------------------------


class RelinkRequestRead(BaseModel):
    id: str
    person_id: str
    provider: str
    status: str
    created_at: str
    recorded_identity: dict[str, Any]
    new_identity: dict[str, Any]


class RelinkDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evidence: str = Field(min_length=3, max_length=1000)
    """What was checked (e.g. "CNI n° …, vue au guichet le …")."""


_CHECKERS = agents(Role.ADMIN, Role.IDENTITY_CHECKER, description="identity checkers")


class RelinkAdminController(Controller):
    path = "/admin/relink-requests"
    tags = ["Administration"]

    @get("/", opt=policy_opt(_CHECKERS), summary="Demandes de rattachement en attente")
    async def list_requests(
        self, session: NamedDependency[AsyncSession]
    ) -> list[RelinkRequestRead]:
        rows = await session.scalars(
            select(RelinkRequest)
            .where(RelinkRequest.status == "pending")
            .order_by(RelinkRequest.created_at)
            .limit(200)
        )
        out: list[RelinkRequestRead] = []
        for row in rows:
            old = await session.get(FederatedIdentity, row.old_identity_id)
            out.append(
                RelinkRequestRead(
                    id=str(row.id),
                    person_id=str(row.person_id),
                    provider=row.provider,
                    status=row.status,
                    created_at=row.created_at.isoformat(),
                    recorded_identity=dict(old.claims) if old else {},
                    new_identity=dict(row.claims),
                )
            )
        return out

    @post(
        "/{request_id:uuid}/approve",
        opt=policy_opt(_CHECKERS),
        summary="Rattacher après vérification d'une pièce d'identité",
        status_code=200,
    )
    async def approve(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        actor: NamedDependency[Actor],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[RelinkDecision],
    ) -> dict[str, str]:
        row = await session.get(RelinkRequest, request_id)
        if row is None or row.status != "pending":
            raise NotFound("Demande de rattachement introuvable ou déjà traitée.")
        await approve_relink(
            session,
            request=row,
            now=clock.now(),
            ip=client_ip(request),
            evidence=data.evidence,
            agent=actor,
        )
        return {"status": "approved"}

    @post(
        "/{request_id:uuid}/refuse",
        opt=policy_opt(_CHECKERS),
        summary="Refuser une demande de rattachement",
        status_code=200,
    )
    async def refuse(
        self,
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        actor: NamedDependency[Actor],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[RelinkDecision],
    ) -> dict[str, str]:
        row = await session.get(RelinkRequest, request_id)
        if row is None or row.status != "pending":
            raise NotFound("Demande de rattachement introuvable ou déjà traitée.")
        await refuse_relink(
            session, request=row, now=clock.now(), agent=actor, reason=data.evidence
        )
        return {"status": "refused"}
