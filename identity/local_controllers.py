"""Local accounts over HTTP: registration, e-mail verification, password and e-mail-link sign-in,
break-glass administrator sign-in. The decisions are in ``identity.local_accounts``.

Links sent by e-mail never act on GET: mail scanners open them. The GET shows a small page whose
form POSTs the token (verification: ``/verify/confirm``; sign-in: ``/magic-link/consume``, bound
to the browser's session by its CSRF token, so that nobody can sign a victim into the attacker's
account). Password sign-in accepts JSON only (a cross-site form cannot send it without CORS).
Failures are journaled and counted in the request's transaction, which is committed before the
error is raised (otherwise it would be rolled back).
"""

from __future__ import annotations

import html
import uuid
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter, URLEncodedBody
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from identity import local_accounts as la
from identity.sessions import load_session, start_session
from identity.web import (
    check_form_csrf,
    client_ip,
    public_base_url,
    safe_next,
    session_cookie,
    session_token,
    user_agent,
)
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, GuichetError, TooManyRequests, Unauthenticated
from services.kernel.journal import JournalEvent, record
from services.kernel.policy import PUBLIC, policy_opt
from services.kernel.ports import Mailer

NO_STORE = {"Cache-Control": "no-store"}
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
REGISTERED = (
    "Demande enregistrée. Si cette adresse peut être utilisée, un courriel vient d'y être envoyé : "
    "ouvrez le lien qu'il contient pour activer votre compte (pensez à vérifier les indésirables)."
)
LINK_SENT = (
    "Si un compte vérifié utilise cette adresse, un lien de connexion vient d'y être envoyé. Il est "
    "valable peu de temps et ne sert qu'une fois."
)


INCOMPLETE = (
    "Ce lien est incomplet : copiez l'adresse entière reçue par courriel dans la barre d'adresse "
    "de votre navigateur."
)


class LocalJsonOnly(GuichetError):
    code = "json-required"
    title = "Corps JSON attendu"


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=1000, description="Adresse électronique (identifiant)")
    password: str = Field(max_length=4096, description="Au moins 12 caractères, 256 au plus")
    given_name: str = Field(max_length=1000, description="Prénom")
    family_name: str = Field(max_length=1000, description="Nom")


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=1000)
    password: str = Field(max_length=4096)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=500, description="Le jeton reçu dans le lien")


class MagicLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=1000)
    next: str | None = Field(
        default=None, max_length=500, description="Page de Guichet où aller après la connexion"
    )


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(max_length=500)
    csrf_token: str = Field(default="", max_length=200)


class Message(BaseModel):
    message: str


class AccountSummary(BaseModel):
    id: uuid.UUID
    display_name: str


class PersonLogin(BaseModel):
    csrf_token: str = Field(description="À renvoyer dans l'en-tête X-CSRF-Token")
    person: AccountSummary


class AgentLogin(BaseModel):
    csrf_token: str = Field(description="À renvoyer dans l'en-tête X-CSRF-Token")
    agent: AccountSummary


def _require_json(request: Request[Any, Any, Any]) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise LocalJsonOnly(
            "Envoyez les identifiants en JSON, avec l'en-tête « Content-Type: application/json »."
        )


def _page(
    title: str,
    text: str,
    *,
    status: int = 200,
    form: tuple[str, dict[str, str], str] | None = None,
    cookies: list[Any] | None = None,
) -> Response[str]:
    """A minimal French HTML page; ``form`` = (action, hidden fields, button label)."""
    body = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>\n"
    if form is not None:
        action, fields, label = form
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in fields.items()
        )
        body += (
            f'<form method="post" action="{html.escape(action)}">{hidden}'
            f'<button type="submit">{html.escape(label)}</button></form>\n'
        )
    page = (
        '<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)} — Guichet</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5}button{font-size:1.1rem;padding:.6rem 1.2rem}</style>"
        f"</head><body><main>\n{body}</main></body></html>\n"
    )
    return Response(
        page,
        status_code=status,
        media_type=MediaType.HTML,
        headers=PAGE_HEADERS,
        cookies=cookies or [],
    )


class LocalAccountController(Controller):
    path = "/auth/local"
    tags = ["Authentification"]

    @post(
        "/register",
        opt=policy_opt(PUBLIC),
        status_code=202,
        summary="Créer un compte local (adresse électronique et mot de passe)",
        description=(
            "Envoie un lien de vérification. La réponse est la même que l'adresse soit nouvelle "
            "ou déjà utilisée (le titulaire d'un compte existant est prévenu par courriel)."
        ),
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        mailer: NamedDependency[Mailer],
        data: JSONBody[Register],
    ) -> Message:
        await la.register(
            session,
            mailer,
            now=clock.now(),
            email=data.email,
            password=data.password,
            given_name=data.given_name,
            family_name=data.family_name,
            base_url=public_base_url(),
            ip=client_ip(request),
        )
        return Message(message=REGISTERED)

    @get(
        "/verify",
        opt=policy_opt(PUBLIC),
        media_type=MediaType.HTML,
        summary="Page du lien de vérification (confirmer pour activer le compte)",
    )
    async def verify_page(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        token: Annotated[str | None, QueryParameter(name="token", max_length=500)] = None,
    ) -> Response[str]:
        if not token:
            return _page("Lien incomplet", INCOMPLETE, status=400)
        try:
            await la.find_token(session, la.VERIFY_EMAIL, token, now=clock.now())
        except la.LinkUnusable as exc:
            return _page("Lien inutilisable", exc.detail, status=400)
        return _page(
            "Activer votre compte Guichet",
            "Appuyez sur le bouton pour confirmer votre adresse électronique et activer votre "
            "compte. Si vous n'avez pas demandé la création d'un compte, fermez simplement cette "
            "page.",
            form=(f"{request.url.path}/confirm", {"token": token}, "Activer mon compte"),
        )

    @post(
        "/verify/confirm",
        opt=policy_opt(PUBLIC),
        status_code=200,
        media_type=MediaType.HTML,
        summary="Activer le compte (formulaire de la page du lien)",
    )
    async def verify_form(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: URLEncodedBody[TokenForm],
    ) -> Response[str]:
        try:
            await la.verify_email(session, now=clock.now(), token=data.token, ip=client_ip(request))
        except la.LinkUnusable as exc:
            return _page("Lien inutilisable", exc.detail, status=400)
        return _page(
            "Adresse vérifiée",
            "Votre adresse électronique est vérifiée et votre compte est actif : vous pouvez "
            "maintenant vous connecter avec votre mot de passe.",
        )

    @post(
        "/verify",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Vérifier l'adresse (jeton du lien, en JSON)",
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: JSONBody[TokenBody],
    ) -> Message:
        await la.verify_email(session, now=clock.now(), token=data.token, ip=client_ip(request))
        return Message(
            message="Adresse vérifiée : vous pouvez maintenant vous connecter avec votre mot de "
            "passe."
        )

    @post(
        "/login",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Se connecter avec un compte local (mot de passe)",
        description=(
            "Limité par compte et par adresse IP (429 avec Retry-After). Ouvre une nouvelle "
            "session (cookie) et termine celle du cookie envoyé, le cas échéant."
        ),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: JSONBody[Credentials],
    ) -> Response[PersonLogin]:
        _require_json(request)
        now, ip = clock.now(), client_ip(request)
        try:
            person = await la.password_login(
                session, now=now, email=data.email, password=data.password, ip=ip
            )
        except (Unauthenticated, TooManyRequests):
            await session.commit()  # keep the counted failure and the journal entry
            raise
        started = await la.open_session(
            session,
            now=now,
            previous_token=session_token(request),
            method="password",
            person=person,
            ip=ip,
            user_agent=user_agent(request),
        )
        body = PersonLogin(
            csrf_token=started.record.csrf_token,
            person=AccountSummary(id=person.id, display_name=person.display_name),
        )
        return Response(body, headers=NO_STORE, cookies=[session_cookie(started.token)])

    @post(
        "/magic-link",
        opt=policy_opt(PUBLIC),
        status_code=202,
        summary="Recevoir un lien de connexion à usage unique par courriel",
    )
    async def magic_link(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        mailer: NamedDependency[Mailer],
        data: JSONBody[MagicLinkRequest],
    ) -> Message:
        next_path = safe_next(data.next) if data.next else None
        await la.request_magic_link(
            session,
            mailer,
            now=clock.now(),
            email=data.email,
            base_url=public_base_url(),
            next_path=next_path,
            ip=client_ip(request),
        )
        return Message(message=LINK_SENT)

    @get(
        "/magic-link/consume",
        opt=policy_opt(PUBLIC),
        media_type=MediaType.HTML,
        summary="Page du lien de connexion (ne connecte pas : confirmer par le bouton)",
    )
    async def magic_link_page(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        token: Annotated[str | None, QueryParameter(name="token", max_length=500)] = None,
    ) -> Response[str]:
        if not token:
            return _page("Lien incomplet", INCOMPLETE, status=400)
        now = clock.now()
        try:
            await la.find_token(session, la.MAGIC_LINK, token, now=now)
        except la.LinkUnusable as exc:
            return _page("Lien inutilisable", exc.detail, status=400)
        # The form is bound to this browser's session (its CSRF token); a browser without one
        # gets an anonymous session for the purpose.
        current = await load_session(session, session_token(request), now=now)
        cookies = []
        if current is None:
            started = await start_session(
                session,
                now=now,
                data={"pending": "magic_link"},
                ip=client_ip(request),
                user_agent=user_agent(request),
            )
            current = started.record
            cookies.append(session_cookie(started.token))
        return _page(
            "Connexion à Guichet",
            "Appuyez sur le bouton pour vous connecter. Ce lien ne sert qu'une fois.",
            form=(
                request.url.path,
                {"token": token, "csrf_token": current.csrf_token},
                "Me connecter",
            ),
            cookies=cookies,
        )

    @post(
        "/magic-link/consume",
        opt={**policy_opt(PUBLIC), "csrf": "form"},
        status_code=303,
        media_type=MediaType.HTML,
        summary="Se connecter avec le lien reçu (formulaire de la page du lien)",
    )
    async def magic_link_consume(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: URLEncodedBody[TokenForm],
    ) -> Response[Any]:
        now, ip = clock.now(), client_ip(request)
        previous = session_token(request)
        current = await load_session(session, previous, now=now)
        try:
            check_form_csrf(current, data.csrf_token)
        except Forbidden as exc:
            record(
                session,
                JournalEvent.CSRF_REFUSED,
                at=now,
                data={"path": request.url.path, "method": "magic_link"},
                ip=ip,
            )
            return _page(
                "Connexion refusée",
                f"{exc.detail} Rouvrez le lien reçu par courriel dans ce navigateur.",
                status=403,
            )
        try:
            person, next_path = await la.consume_magic_link(session, now=now, token=data.token)
        except la.LinkUnusable as exc:
            record(
                session,
                JournalEvent.LOGIN_FAILED,
                at=now,
                data={"method": "magic_link", "reason": "link"},
                ip=ip,
            )
            return _page("Lien inutilisable", exc.detail, status=400)
        started = await la.open_session(
            session,
            now=now,
            previous_token=previous,
            method="magic_link",
            person=person,
            ip=ip,
            user_agent=user_agent(request),
        )
        return Redirect(
            path=safe_next(next_path),
            status_code=303,
            headers=NO_STORE,
            cookies=[session_cookie(started.token)],
        )

    @post(
        "/agent-login",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Connexion de l'administrateur de secours (créé par la ligne de commande)",
        description=(
            "Seulement pour les agents ayant un mot de passe local (« guichet agent "
            "break-glass ») ; les autres agents se connectent avec ProConnect."
        ),
    )
    async def agent_login(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: JSONBody[Credentials],
    ) -> Response[AgentLogin]:
        _require_json(request)
        now, ip = clock.now(), client_ip(request)
        try:
            agent = await la.agent_password_login(
                session, now=now, email=data.email, password=data.password, ip=ip
            )
        except (Unauthenticated, TooManyRequests):
            await session.commit()
            raise
        started = await la.open_session(
            session,
            now=now,
            previous_token=session_token(request),
            method="break_glass",
            agent=agent,
            ip=ip,
            user_agent=user_agent(request),
        )
        body = AgentLogin(
            csrf_token=started.record.csrf_token,
            agent=AccountSummary(id=agent.id, display_name=agent.display_name),
        )
        return Response(body, headers=NO_STORE, cookies=[session_cookie(started.token)])
