"""Guichet against the local FranceConnect-like and ProConnect-like providers (panva oidc-provider).

One provider process of each kind per test worker (module scope would restart them per file);
each test gets its own database, app and browser. Guichet runs on the real clock here: the
providers sign tokens with the real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from pydantic import SecretStr

from identity.oidc import ProviderConfig
from services.api.app import AppConfig, create_app
from services.kernel.clock import Clock
from services.kernel.settings import path_settings
from tests.support.browser import Browser
from tests.support.oidc_provider import (
    PC_IDP_ALLOWED,
    ProviderProcess,
    client_secret,
    guichet_client,
    start_provider,
)

GUICHET = "https://guichet.test"
SECRETS = {
    name: client_secret() for name in ("guichet", "guichet-other", "guichet-hs256", "guichet-plain")
}


def callback(provider: str) -> str:
    return f"{GUICHET}/api/v1/auth/{provider}/callback"


def post_logout(provider: str) -> str:
    return f"{GUICHET}/api/v1/auth/{provider}/logout/callback"


def _clients(provider: str, alg: str) -> list[dict[str, Any]]:
    cb, out = callback(provider), post_logout(provider)
    return [
        guichet_client("guichet", SECRETS["guichet"], cb, out, alg),
        guichet_client("guichet-other", SECRETS["guichet-other"], cb, out, alg),
        guichet_client("guichet-hs256", SECRETS["guichet-hs256"], cb, out, "HS256"),
        guichet_client(
            "guichet-plain", SECRETS["guichet-plain"], cb, out, alg, signed_userinfo=False
        ),
    ]


@pytest.fixture(scope="session")
def fc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    provider = start_provider(
        "franceconnect", tmp_path_factory.mktemp("fc"), clients=_clients("franceconnect", "ES256")
    )
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def pc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    provider = start_provider(
        "proconnect", tmp_path_factory.mktemp("pc"), clients=_clients("proconnect", "RS256")
    )
    yield provider
    provider.stop()


def fc_config(
    provider: ProviderProcess, client_id: str = "guichet", **overrides: Any
) -> ProviderConfig:
    values: dict[str, Any] = {
        "name": "franceconnect",
        "audience": "citizen",
        "issuer": provider.issuer,
        "client_id": client_id,
        "client_secret": SecretStr(SECRETS[client_id]),
        "redirect_uri": callback("franceconnect"),
        "post_logout_redirect_uri": post_logout("franceconnect"),
        "scopes": ("openid", "identite_pivot", "email", "preferred_username"),
        "acr_values": ("eidas1",),
        "acr_levels": ("eidas1", "eidas2", "eidas3"),
        "jwks_min_refresh_seconds": 0,
    }
    values.update(overrides)
    return ProviderConfig(**values)


def pc_config(
    provider: ProviderProcess, client_id: str = "guichet", **overrides: Any
) -> ProviderConfig:
    values: dict[str, Any] = {
        "name": "proconnect",
        "audience": "agent",
        "issuer": provider.issuer,
        "client_id": client_id,
        "client_secret": SecretStr(SECRETS[client_id]),
        "redirect_uri": callback("proconnect"),
        "post_logout_redirect_uri": post_logout("proconnect"),
        "scopes": ("openid", "given_name", "usual_name", "email", "uid", "siret", "idp_id"),
        "acr_values": ("eidas1",),
        "acr_levels": ("eidas0", "eidas1", "eidas2", "eidas3"),
        "allowed_idp_ids": PC_IDP_ALLOWED,
        "min_state_length": 32,
        "jwks_min_refresh_seconds": 0,
    }
    values.update(overrides)
    return ProviderConfig(**values)


class ShiftedClock:
    """The real time, shifted: a Guichet whose clock runs ahead of or behind the provider's."""

    def __init__(self, shift: timedelta = timedelta(0)) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass
class Guichet:
    app: Litestar
    browser: Browser
    api: httpx.AsyncClient
    data_dir: Path
    clock: ShiftedClock = field(default_factory=ShiftedClock)

    async def start_login(self, provider: str = "franceconnect", **params: str) -> Any:
        r = await self.browser.get(f"{GUICHET}/api/v1/auth/{provider}/login", params=params)
        assert r.status_code == 302, r.text
        return r

    async def login(
        self,
        account: str,
        provider: str = "franceconnect",
        at_level: str | None = None,
        **params: str,
    ) -> Any:
        """The whole browser flow; returns Guichet's last answer (303 after a success).
        ``at_level``: the acr the person reaches at the provider; ``params``: Guichet's login
        query (next, intent, acr asked, invitation)."""
        r = await self.start_login(provider, **params)
        r = await self.browser.login_at_provider(r, account, acr=at_level, follow=False)
        return await self.follow_to_guichet(r)

    async def follow_to_guichet(self, r: Any) -> Any:
        """Follow redirects until Guichet answers something other than a redirect to elsewhere."""
        for _ in range(20):
            if r.status_code not in (301, 302, 303, 307, 308):
                return r
            if str(r.url).startswith(GUICHET) and not str(r.headers["location"]).startswith("http"):
                return r  # Guichet's own final redirect (to "next")
            r = await self.browser.get(
                str(r.next_request.url) if r.next_request else r.headers["location"]
            )
        raise AssertionError("too many redirects")

    async def session(self) -> dict[str, Any]:
        r = await self.browser.get(f"{GUICHET}/api/v1/auth/session")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def cookie(self) -> str | None:
        for c in self.browser.cookies.jar:
            if c.name == "guichet_session":
                return c.value
        return None


@pytest.fixture
def providers(fc_provider: ProviderProcess, pc_provider: ProviderProcess) -> list[ProviderConfig]:
    return [fc_config(fc_provider), pc_config(pc_provider)]


@pytest.fixture
async def guichet(
    database_url: str, providers: list[ProviderConfig], tmp_path: Path
) -> AsyncIterator[Guichet]:
    async with make_guichet(database_url, providers, tmp_path) as g:
        yield g


class make_guichet:
    def __init__(
        self,
        database_url: str,
        providers: list[ProviderConfig],
        tmp_path: Path,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or ShiftedClock()
        self.app = create_app(
            AppConfig(database_url=database_url, clock=self.clock, oidc_providers=providers)
        )
        self.data_dir = path_settings().data_dir

    async def __aenter__(self) -> Guichet:
        # The app runs in the test's event loop (asyncpg connections belong to one loop):
        # its lifespan here, and plain ASGI transports for the browser and the API client.
        # The lifespan is entered and left by one task of its own (anyio cancel scopes require
        # it; pytest-asyncio finalises fixtures in another task).
        started, self._stop = asyncio.Event(), asyncio.Event()

        async def run_lifespan() -> None:
            async with self.app.lifespan():
                started.set()
                await self._stop.wait()

        self._lifespan_task = asyncio.create_task(run_lifespan())
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({waiter, self._lifespan_task}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            await self._lifespan_task  # raises the start-up error
        self.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=GUICHET)
        self.browser = Browser(self.app)
        clock = self.clock if isinstance(self.clock, ShiftedClock) else ShiftedClock()
        return Guichet(self.app, self.browser, self.api, self.data_dir, clock)

    async def __aexit__(self, *exc: Any) -> None:
        await self.browser.aclose()
        await self.api.aclose()
        self._stop.set()
        await self._lifespan_task
