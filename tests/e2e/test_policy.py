"""Access control over HTTP: default deny, bearer authentication, policies, the token endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.guards import enforce_policy
from services.api.app import AppConfig, create_app
from services.api.problems import EXCEPTION_HANDLERS
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.kernel.policy import POLICY_KEY, PUBLIC, Policy, policy_opt
from tests.conftest import Seed, permit_request
from tests.support.http import assert_problem
from tests.support.http import client_token as api_token
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

TOKEN_URL = "/api/v1/auth/token"


def token_form(seed: Seed, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": seed.client_id,
        "client_secret": seed.client_secret,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def client_token(client: AsyncTestClient[Any], seed: Seed, *, other: bool = False) -> str:
    if other:
        return await api_token(client, seed.other_client_id, seed.other_client_secret)
    return await api_token(client, seed.client_id, seed.client_secret)


async def open_case(client: AsyncTestClient[Any], seed: Seed) -> str:
    r = await client.post(
        "/api/v1/intake/", json=permit_request(), headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


async def journal_events(sm: async_sessionmaker[AsyncSession], event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(await s.scalars(select(JournalEntry).where(JournalEntry.event == event)))


# ----- (1) every route declares a policy; a route without one is refused ---------------------------


def _is_litestar_auto_options(handler: Any) -> bool:
    """The OPTIONS handler Litestar adds on its own to every path (litestar.routes.http)."""
    return (
        isinstance(handler, HTTPRouteHandler)
        and handler.fn.__module__ == "litestar.routes.http"
        and handler.http_methods == {"OPTIONS"}
    )


def test_every_handler_we_wrote_declares_a_policy(engine: Engine) -> None:
    app = create_app(AppConfig(database_url="sqlite+aiosqlite:///:memory:", engine=engine))
    missing: list[str] = []
    checked = 0
    auto_options = 0
    for route in app.routes:
        for handler in route.route_handlers:
            if _is_litestar_auto_options(handler):
                auto_options += 1
                continue
            checked += 1
            if not isinstance(handler.opt.get(POLICY_KEY), Policy):
                missing.append(f"{route.path} {sorted(getattr(handler, 'http_methods', []))}")
    assert not missing, f"handlers without a policy: {missing}"
    # The walk really saw our endpoints (not an empty table)...
    paths = {route.path for route in app.routes}
    assert {
        "/health",
        "/ready",
        "/api/v1/auth/token",
        "/api/v1/auth/me",
        "/api/v1/intake",
        "/api/v1/cases",
        "/api/v1/cases/{case_id:uuid}",
        "/api/v1/cases/{case_id:uuid}/transitions/{name:str}",
        "/api/v1/cases/{case_id:uuid}/messages",
        "/api/v1/cases/{case_id:uuid}/assignment",
        "/api/v1/procedures",
        "/api/v1/procedures/{key:str}",
        "/api/v1/procedures/{key:str}/diagram",
        "/schema/openapi.json",
    } <= paths
    assert checked >= len(paths)
    # ...and skipped at most one automatic OPTIONS handler per path.
    assert 0 < auto_options <= len(paths)


@get("/unguarded", sync_to_thread=False)
def _unguarded() -> dict[str, str]:
    return {"leak": "secret"}


@get("/bad-policy", opt={POLICY_KEY: {"public": True}}, sync_to_thread=False)
def _bad_policy() -> dict[str, str]:
    return {"leak": "secret"}


@get("/nobody", opt=policy_opt(Policy()), sync_to_thread=False)
def _nobody() -> dict[str, str]:
    return {"leak": "secret"}


@get("/open", opt=policy_opt(PUBLIC), sync_to_thread=False)
def _open() -> dict[str, str]:
    return {"ok": "yes"}


async def test_route_without_policy_is_refused_for_everybody(
    database_url: str, clock: FrozenClock, engine: Engine, seed: Seed
) -> None:
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    app.register(_unguarded)
    app.register(_bad_policy)
    app.register(_open)
    async with AsyncTestClient(app) as client:
        r = await client.get("/open")
        assert r.status_code == 200, r.text
        for path in ("/unguarded", "/bad-policy"):
            for headers in (
                {},
                seed.auth(seed.instructor_token),
                seed.auth(seed.metropole_instructor_token),
                seed.auth(await client_token(client, seed)),
                seed.auth("garbage"),
            ):
                r = await client.get(path, headers=headers)
                body = assert_problem(r, 403)
                assert "leak" not in r.text
                assert "politique" in body["detail"]


async def test_guard_refuses_unguarded_handler_on_a_minimal_app() -> None:
    app = Litestar(
        route_handlers=[_unguarded],
        guards=[enforce_policy],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app) as client:
        r = await client.get("/unguarded")
        assert_problem(r, 403)
        assert r.json()["type"].endswith("/forbidden")


async def test_policy_admitting_no_kind_refuses_authenticated_agents(
    database_url: str, clock: FrozenClock, engine: Engine, seed: Seed
) -> None:
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    app.register(_nobody)
    async with AsyncTestClient(app) as client:
        r = await client.get("/nobody")
        assert_problem(r, 401)
        r = await client.get("/nobody", headers=seed.auth(seed.instructor_token))
        assert_problem(r, 403)
        r = await client.get("/nobody", headers=seed.auth(await client_token(client, seed)))
        assert_problem(r, 403)


# ----- (2) authentication and policies -------------------------------------------------------------


async def test_no_authorization_header_is_401_with_bearer_challenge(
    app_client: AsyncTestClient[Any],
) -> None:
    r = await app_client.get("/api/v1/cases/")
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in body["detail"]
    assert body["type"].endswith("/unauthenticated")


async def test_wrong_scheme_is_401(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get(
        "/api/v1/cases/", headers={"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}
    )
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]


async def test_malformed_bearer_header_is_401(app_client: AsyncTestClient[Any]) -> None:
    for header in ("Bearer", "Bearer   ", "bearer", "Token abc", "Bearer a b c"):
        r = await app_client.get("/api/v1/auth/me", headers={"Authorization": header})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_lowercase_bearer_scheme_is_accepted(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.get(
        "/api/v1/auth/me", headers={"Authorization": f"bearer {seed.instructor_token}"}
    )
    assert r.status_code == 200, r.text


async def test_unknown_token_is_401(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/api/v1/auth/me", headers=Seed.auth("gch_not-a-real-token"))
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "inconnu" in body["detail"]


async def test_expired_agent_token_is_401_saying_it_expired(
    app_client: AsyncTestClient[Any], seed: Seed, clock: FrozenClock
) -> None:
    r = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    clock.advance(timedelta(days=365))
    r = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.instructor_token))
    body = assert_problem(r, 401)
    assert "expiré" in body["detail"]
    assert body["expired_at"].startswith("2027-03-02")


async def test_expired_client_token_is_401_saying_it_expired(
    app_client: AsyncTestClient[Any], seed: Seed, clock: FrozenClock
) -> None:
    token = await client_token(app_client, seed)
    clock.advance(timedelta(seconds=3599))
    r = await app_client.get("/api/v1/cases/", headers=seed.auth(token))
    assert r.status_code == 200, r.text
    clock.advance(timedelta(seconds=1))
    r = await app_client.get("/api/v1/cases/", headers=seed.auth(token))
    body = assert_problem(r, 401)
    assert "expiré" in body["detail"]


async def test_agent_without_any_role_is_403(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    for method, path in (("GET", "/api/v1/cases/"), ("GET", "/api/v1/auth/me")):
        r = await app_client.request(method, path, headers=seed.auth(seed.roleless_token))
        body = assert_problem(r, 403)
        assert "aucun rôle" in body["detail"]


async def test_api_client_may_not_fire_transitions(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    case_id = await open_case(app_client, seed)
    token = await client_token(app_client, seed)
    for path in (
        f"/api/v1/cases/{case_id}/transitions/start",
        f"/api/v1/cases/{case_id}/messages",
        f"/api/v1/cases/{case_id}/assignment",
    ):
        r = await app_client.post(path, json={}, headers=seed.auth(token))
        assert_problem(r, 403)
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(token))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "submitted"
    assert len(r.json()["timeline"]) == 1


async def test_api_client_without_scope_is_403_naming_it(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    token = await client_token(app_client, seed, other=True)
    r = await app_client.get("/api/v1/cases/", headers=seed.auth(token))
    body = assert_problem(r, 403)
    assert "cases:read" in body["detail"]
    r = await app_client.get("/api/v1/procedures/", headers=seed.auth(token))
    assert_problem(r, 403)


async def test_me_describes_agents_and_clients(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["kind"] == "agent"
    assert me["id"] == str(seed.instructor_id)
    assert me["roles"] == {str(seed.commune_id): ["instructor"]}
    r = await app_client.get(
        "/api/v1/auth/me", headers=seed.auth(await client_token(app_client, seed))
    )
    assert r.json()["kind"] == "api_client"
    assert r.json()["scopes"] == ["cases:read", "intake:write"]


async def test_public_endpoints_ignore_a_bad_token(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/health", headers=Seed.auth("whatever"))
    assert r.status_code == 200


# ----- (3) the token endpoint ----------------------------------------------------------------------


async def test_token_is_issued_with_granted_scopes(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(TOKEN_URL, data=token_form(seed))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "cases:read intake:write"
    assert body["access_token"].startswith("gch_")


async def test_token_with_a_narrower_scope(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.post(TOKEN_URL, data=token_form(seed, scope="intake:write"))
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "intake:write"


async def test_wrong_secret_is_401_and_journaled(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(TOKEN_URL, data=token_form(seed, client_secret="not-the-secret"))
    body = assert_problem(r, 401)
    assert "secret" in body["detail"]
    refused = await journal_events(sessionmaker, "auth.token.refused")
    assert [e.data["client_id"] for e in refused] == [seed.client_id]
    issued_for_client = [
        e
        for e in await journal_events(sessionmaker, "auth.token.issued")
        if e.data.get("client_id") == seed.client_id
    ]
    assert issued_for_client == []


async def test_unknown_client_is_401_and_journaled(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(TOKEN_URL, data=token_form(seed, client_id="nobody-1234"))
    assert_problem(r, 401)
    refused = await journal_events(sessionmaker, "auth.token.refused")
    assert [e.data["client_id"] for e in refused] == ["nobody-1234"]


async def test_wrong_grant_type_is_422(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.post(TOKEN_URL, data=token_form(seed, grant_type="password"))
    body = assert_problem(r, 422)
    assert "client_credentials" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["grant_type"]


async def test_missing_token_fields_are_a_problem(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    for missing in ("grant_type", "client_id", "client_secret"):
        form = token_form(seed)
        del form[missing]
        r = await app_client.post(TOKEN_URL, data=form)
        body = assert_problem(r, (400, 422))
        assert any(missing in e["field"] for e in body["errors"]), body
    r = await app_client.post(
        TOKEN_URL, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_problem(r, (400, 422))


async def test_scope_not_granted_is_403(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        TOKEN_URL,
        data=token_form(
            seed,
            client_id=seed.other_client_id,
            client_secret=seed.other_client_secret,
            scope="intake:write cases:read",
        ),
    )
    body = assert_problem(r, 403)
    assert "cases:read" in body["detail"]
    assert body["granted_scopes"] == ["intake:write"]
    r = await app_client.post(TOKEN_URL, data=token_form(seed, scope="admin:all"))
    assert "admin:all" in assert_problem(r, 403)["detail"]


async def test_json_body_instead_of_form_is_a_4xx_problem(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(TOKEN_URL, json=token_form(seed))
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)


async def test_odd_token_bodies_are_4xx_problems(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    for content, content_type in (
        ("\x00\xff%%%=&&=".encode("latin-1"), "application/x-www-form-urlencoded"),
        (
            b"grant_type=client_credentials&client_id=" + b"x" * 5000,
            "application/x-www-form-urlencoded",
        ),
        (
            b"grant_type=client_credentials&client_id=a%00b&client_secret=x%00",
            "application/x-www-form-urlencoded",
        ),
        (b"<xml/>", "application/xml"),
        (b"--b\r\n", "multipart/form-data; boundary=b"),
    ):
        r = await app_client.post(
            TOKEN_URL, content=content, headers={"Content-Type": content_type}
        )
        assert 400 <= r.status_code < 500, (content[:40], r.text)
        assert_problem(r, r.status_code)


async def test_token_endpoint_refuses_get(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.get(TOKEN_URL)
    assert_problem(r, 405)


async def test_a_revoked_token_stops_working_within_the_auth_cache_delay(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: Any, clock: Any
) -> None:
    """Tokens are cached in memory for GUICHET_AUTH_CACHE_SECONDS (30 s by default): a revoked
    token keeps working at most that long, never longer."""
    from sqlalchemy import update

    from identity.models import AccessToken
    from identity.service import hash_token

    auth = seed.auth(seed.instructor_token)
    assert (await app_client.get("/api/v1/auth/me", headers=auth)).status_code == 200
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == hash_token(seed.instructor_token))
            .values(revoked=True)
        )
    assert (await app_client.get("/api/v1/auth/me", headers=auth)).status_code == 200
    clock.advance(timedelta(seconds=31))
    r = await app_client.get("/api/v1/auth/me", headers=auth)
    assert r.status_code == 401
    assert "révoqué" in r.json()["detail"]


async def test_litestar_validation_errors_are_in_french(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        "/api/v1/intake/",
        json={"tenant": 69001, "procedure": "test.permit", "submitter": {}, "payload": {}},
        headers=seed.auth(seed.counter_token),
    )
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "tenant", "message": "doit être un texte", "type": "invalid"}
    ]
