"""OAuth 2 token endpoint (client credentials) and who-am-I."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import URLEncodedBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from identity.service import issue_client_token
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Unauthenticated, ValidationFailed
from services.kernel.policy import PUBLIC, anyone_signed_in, policy_opt
from services.kernel.settings import api_settings


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grant_type: str = Field(max_length=40)
    client_id: str = Field(min_length=1, max_length=80)
    client_secret: str = Field(min_length=1, max_length=200)
    scope: str | None = Field(default=None, max_length=500)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class WhoAmI(BaseModel):
    id: str
    kind: str
    display_name: str
    roles: dict[str, list[str]]
    scopes: list[str]


class AuthController(Controller):
    path = "/auth"
    tags = ["Authentification"]

    @post(
        "/token",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Jeton OAuth 2 (client credentials)",
    )
    async def token(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        data: URLEncodedBody[TokenForm],
    ) -> TokenResponse:
        if data.grant_type != "client_credentials":
            raise ValidationFailed(
                f"grant_type « {data.grant_type} » non pris en charge : utilisez client_credentials.",
                errors=[{"field": "grant_type", "message": "valeur non permise", "type": "enum"}],
            )
        ttl = api_settings().token_ttl_seconds
        scopes = data.scope.split() if data.scope else None
        try:
            issued = await issue_client_token(
                session,
                now=clock.now(),
                client_id=data.client_id,
                client_secret=data.client_secret,
                requested_scopes=scopes,
                ttl=timedelta(seconds=ttl),
            )
        except Unauthenticated:
            # The request's transaction is rolled back on error: commit now so that the
            # ``auth.token.refused`` journal entry (the only change pending) is kept.
            await session.commit()
            raise
        return TokenResponse(
            access_token=issued.access_token, expires_in=ttl, scope=" ".join(issued.scopes)
        )

    @get(
        "/me",
        opt=policy_opt(anyone_signed_in(description="any account")),
        summary="Qui suis-je ?",
    )
    async def me(self, actor: NamedDependency[Actor]) -> WhoAmI:
        return WhoAmI(
            id=str(actor.id),
            kind=actor.kind.value,
            display_name=actor.display_name,
            roles={str(t): sorted(r) for t, r in actor.roles.items()},
            scopes=sorted(actor.scopes),
        )
