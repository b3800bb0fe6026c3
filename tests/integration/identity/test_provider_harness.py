"""The local OpenID providers behave like FranceConnect v2 and ProConnect.

The relying party here is written inline (httpx + joserfc), not Guichet's code: these tests pin
what the harness gives to Guichet's own federation tests — discovery, the code flow with the
rules the real platforms add (acr_values, state, nonce, forced prompt, strict parameters),
signed ID tokens and userinfo, pairwise or public subjects, logout and key rotation.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import KeySet, OctKey

from identity.siret import is_valid_siren, is_valid_siret
from tests.support.browser import Browser
from tests.support.oidc_provider import (
    COMPANY_SIRET,
    MAIRIE_SIRET,
    PC_AGENT_ID,
    PC_DIRIGEANT_ID,
    PC_EMPLOYEE_ID,
    PC_FOREIGN_ID,
    PC_IDP_AGENTS,
    PC_IDP_ALLOWED,
    PC_IDP_FOREIGN,
    ProviderProcess,
    client_secret,
    fc_accounts,
    generate_jwks,
    guichet_client,
    pc_accounts,
    running_provider,
    start_provider,
)

pytestmark = pytest.mark.integration

RP = "https://rp.test"
CALLBACK = f"{RP}/callback"
LOGGED_OUT = f"{RP}/logged-out"
FC_SCOPE = "openid identite_pivot email preferred_username idp_id"
PC_SCOPE = "openid given_name usual_name email uid siret siren idp_id belonging_population"
CERTIFICATION_DIRIGEANT = "https://proconnect.gouv.fr/assurance/certification-dirigeant"


# ----- the inline relying party ------------------------------------------------------------------


class RecordingRP:
    """A tiny ASGI relying party: answers 200 to everything and records what it received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
        self.calls.append((scope["path"], {k: v[0] for k, v in query.items()}))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def last(self, path: str) -> dict[str, str]:
        matching = [query for p, query in self.calls if p == path]
        assert matching, f"the RP never received {path}: {self.calls}"
        return matching[-1]


class Client:
    def __init__(self, client_id: str, alg: str = "ES256", **options: Any) -> None:
        self.client_id = client_id
        self.secret = client_secret()
        self.metadata = guichet_client(client_id, self.secret, CALLBACK, LOGGED_OUT, alg, **options)


FC_MAIN = Client("guichet-fc")
FC_OTHER = Client("other-fc")
FC_HS256 = Client("guichet-fc-hs256", "HS256")
FC_PLAIN_USERINFO = Client("guichet-fc-plain", signed_userinfo=False)
PC_MAIN = Client("guichet-pc", "RS256", userinfo_alg="ES256")


def authorize_url(
    provider: ProviderProcess,
    client: Client,
    *,
    scope: str,
    acr_values: str | None = "eidas1",
    state: str | None = None,
    nonce: str | None = None,
    **extra: str,
) -> str:
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": state if state is not None else secrets.token_urlsafe(32),
        "nonce": nonce if nonce is not None else secrets.token_urlsafe(32),
    }
    if acr_values is not None:
        params["acr_values"] = acr_values
    params.update(extra)
    return f"{provider.authorization_endpoint}?{urlencode(params)}"


async def sign_in(
    browser: Browser,
    rp: RecordingRP,
    provider: ProviderProcess,
    client: Client,
    account: str,
    *,
    scope: str,
    acr_values: str = "eidas1",
    acr: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Authorize, log in at the provider, land on the RP callback; return its query."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    url = authorize_url(
        provider, client, scope=scope, acr_values=acr_values, state=state, nonce=nonce, **extra
    )
    landed = await browser.login_at_provider(await browser.get(url), account, acr=acr)
    assert landed.status_code == 200
    assert str(landed.url).startswith(CALLBACK)
    callback = rp.last("/callback")
    assert callback["state"] == state
    return {**callback, "nonce": nonce}


async def exchange(provider: ProviderProcess, client: Client, code: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "client_id": client.client_id,
                "client_secret": client.secret,
            },
        )


async def userinfo(provider: ProviderProcess, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(
            provider.userinfo_endpoint, headers={"authorization": f"Bearer {access_token}"}
        )


async def published_keys(provider: ProviderProcess) -> KeySet:
    async with httpx.AsyncClient() as http:
        r = await http.get(provider.jwks_uri)
    assert r.status_code == 200
    return KeySet.import_key_set(r.json())


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


async def tokens_for(
    browser: Browser,
    rp: RecordingRP,
    provider: ProviderProcess,
    client: Client,
    account: str,
    *,
    scope: str,
    acr_values: str = "eidas1",
    acr: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A whole code flow; returns (token response, verified ID token claims, nonce)."""
    callback = await sign_in(
        browser, rp, provider, client, account, scope=scope, acr_values=acr_values, acr=acr
    )
    r = await exchange(provider, client, callback["code"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    keys = await published_keys(provider)
    token = jwt.decode(body["id_token"], keys, algorithms=["ES256", "RS256"])
    return body, dict(token.claims), callback["nonce"]


# ----- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    clients = [FC_MAIN.metadata, FC_OTHER.metadata, FC_HS256.metadata, FC_PLAIN_USERINFO.metadata]
    with running_provider(
        "franceconnect", tmp_path_factory.mktemp("fc"), clients=clients
    ) as provider:
        yield provider
        assert "provider error" not in provider.stderr()


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    with running_provider(
        "proconnect", tmp_path_factory.mktemp("pc"), clients=[PC_MAIN.metadata]
    ) as provider:
        yield provider
        assert "provider error" not in provider.stderr()


@pytest.fixture
def rp() -> RecordingRP:
    return RecordingRP()


@pytest.fixture
async def browser(rp: RecordingRP) -> AsyncIterator[Browser]:
    async with Browser(mounts={RP: rp}) as b:
        yield b


# ----- fixture data ------------------------------------------------------------------------------


def test_fixture_organisations_have_valid_identifiers() -> None:
    for claims in pc_accounts().values():
        assert is_valid_siret(claims["siret"]), claims
        assert is_valid_siren(claims["siren"]), claims
        assert claims["siret"].startswith(claims["siren"])
    assert pc_accounts()[PC_AGENT_ID]["siret"] == MAIRIE_SIRET
    assert pc_accounts()[PC_EMPLOYEE_ID]["siret"] == COMPANY_SIRET
    assert pc_accounts()[PC_DIRIGEANT_ID]["siret"] == COMPANY_SIRET
    assert pc_accounts()[PC_FOREIGN_ID]["idp_id"] not in PC_IDP_ALLOWED
    assert fc_accounts()["jean"]["email"] == "collision@example.fr"


# ----- FranceConnect-like ------------------------------------------------------------------------


async def test_fc_discovery_looks_like_franceconnect_v2(fc: ProviderProcess) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(fc.discovery_url)
    assert r.status_code == 200
    d = r.json()
    assert d["issuer"] == fc.issuer
    assert urlsplit(d["issuer"]).path == "/api/v2"
    assert d["authorization_endpoint"] == f"{fc.issuer}/authorize"
    assert d["token_endpoint"] == f"{fc.issuer}/token"
    assert d["userinfo_endpoint"] == f"{fc.issuer}/userinfo"
    assert d["end_session_endpoint"] == f"{fc.issuer}/session/end"
    assert d["jwks_uri"] == f"{fc.issuer}/jwks"
    assert d["acr_values_supported"] == ["eidas1", "eidas2", "eidas3"]
    assert d["subject_types_supported"] == ["pairwise"]
    assert d["authorization_response_iss_parameter_supported"] is True
    assert d["response_types_supported"] == ["code"]
    assert d["grant_types_supported"] == ["authorization_code"]
    assert "identite_pivot" in d["scopes_supported"]
    assert d["claims_parameter_supported"] is True
    # Like FC core, the engine advertises HS256 too: clients must pin their own allowlist.
    assert {"ES256", "RS256"} <= set(d["id_token_signing_alg_values_supported"])


async def test_fc_code_flow_gives_signed_id_token_and_userinfo(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    callback = await sign_in(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    assert callback["iss"] == fc.issuer
    assert callback["code"]

    r = await exchange(fc, FC_MAIN, callback["code"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] <= 60
    assert "refresh_token" not in body

    id_token = body["id_token"]
    assert header_of(id_token)["alg"] == "ES256"
    assert header_of(id_token)["kid"] == "es-1"
    claims = jwt.decode(id_token, await published_keys(fc), algorithms=["ES256"]).claims
    assert claims["iss"] == fc.issuer
    assert claims["aud"] == FC_MAIN.client_id
    assert claims["acr"] == "eidas1"
    assert claims["nonce"] == callback["nonce"]
    assert claims["exp"] == claims["iat"] + 60
    assert claims["sub"].endswith("v1")
    assert len(claims["sub"]) == 66
    int(claims["sub"][:64], 16)
    assert "auth_time" in claims

    info = await userinfo(fc, body["access_token"])
    assert info.status_code == 200
    assert info.headers["content-type"].startswith("application/jwt")
    assert header_of(info.text)["alg"] == "ES256"
    user = jwt.decode(info.text, await published_keys(fc), algorithms=["ES256"]).claims
    assert user["sub"] == claims["sub"]
    assert user["iss"] == fc.issuer
    assert user["aud"] == FC_MAIN.client_id
    marie = fc_accounts()["marie"]
    for name in (
        "given_name",
        "given_name_array",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
        "preferred_username",
        "idp_id",
    ):
        assert user[name] == marie[name], name

    replay = await exchange(fc, FC_MAIN, callback["code"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


async def test_fc_userinfo_gives_only_the_requested_scopes(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, fc, FC_MAIN, "amina", scope="openid given_name")
    info = await userinfo(fc, body["access_token"])
    user = jwt.decode(info.text, await published_keys(fc), algorithms=["ES256"]).claims
    assert user["given_name"] == "Amina Leïla"
    assert user["given_name_array"] == ["Amina", "Leïla"]
    assert "family_name" not in user
    assert "email" not in user


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"acr_values": None}, "acr_values is required"),
        ({"state": ""}, "state is required"),
        ({"nonce": ""}, "nonce is required"),
        ({"nonce": "x" * 21}, "nonce must be at least 22 characters long"),
    ],
)
async def test_fc_authorize_refuses_what_franceconnect_refuses(
    fc: ProviderProcess, browser: Browser, change: dict[str, Any], reason: str
) -> None:
    r = await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE, **change))
    assert r.status_code == 400
    assert "location" not in r.headers
    assert reason in r.text


async def test_fc_accepts_a_22_character_nonce(fc: ProviderProcess, browser: Browser) -> None:
    r = await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE, nonce="n" * 22))
    assert r.status_code == 303
    assert "/interaction/" in r.headers["location"]


async def test_fc_unregistered_redirect_uri_is_an_error_page(
    fc: ProviderProcess, browser: Browser
) -> None:
    url = authorize_url(fc, FC_MAIN, scope=FC_SCOPE, redirect_uri="https://evil.test/callback")
    r = await browser.get(url)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "redirect_uri" in r.text


async def test_fc_forces_a_new_login_every_time(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    await sign_in(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    # Same browser, provider session alive, and the RP even asks for prompt=none: no SSO.
    again = await browser.follow(
        await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE, prompt="none"))
    )
    assert again.status_code == 200
    assert "/interaction/" in str(again.url)
    assert any("account" in form.inputs for form in browser.forms(again))


async def test_fc_unknown_account_shows_the_form_again(
    fc: ProviderProcess, browser: Browser
) -> None:
    page = await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE))
    again = await browser.login_at_provider(page, "nobody")
    assert again.status_code == 200
    assert "Compte inconnu" in again.text
    assert "/interaction/" in str(again.url)


async def test_fc_cancel_returns_access_denied_to_the_callback(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    state = secrets.token_urlsafe(32)
    page = await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE, state=state))
    landed = await browser.abort_at_provider(page)
    assert str(landed.url).startswith(CALLBACK)
    callback = rp.last("/callback")
    assert callback["error"] == "access_denied"
    assert callback["error_description"] == "L'usager a annulé"
    assert callback["state"] == state
    assert callback["iss"] == fc.issuer
    assert "code" not in callback


async def test_fc_acr_downgrade_is_visible_in_the_id_token(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    _, claims, _ = await tokens_for(
        browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE, acr_values="eidas2", acr="eidas1"
    )
    assert claims["acr"] == "eidas1"


async def test_fc_login_form_defaults_to_the_requested_level(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    _, claims, _ = await tokens_for(
        browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE, acr_values="eidas2 eidas3"
    )
    assert claims["acr"] == "eidas2"


async def test_fc_civil_status_correction_changes_the_sub(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    _, before, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    _, same, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    _, after, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie-corrected", scope=FC_SCOPE)
    assert same["sub"] == before["sub"]
    assert after["sub"] != before["sub"]
    assert after["sub"].endswith("v1")


async def test_fc_second_client_gets_its_own_audience(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    _, claims, _ = await tokens_for(browser, rp, fc, FC_OTHER, "marie", scope=FC_SCOPE)
    assert claims["aud"] == FC_OTHER.client_id


async def test_fc_hs256_client_gets_hs256_tokens(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    callback = await sign_in(browser, rp, fc, FC_HS256, "marie", scope=FC_SCOPE)
    r = await exchange(fc, FC_HS256, callback["code"])
    assert r.status_code == 200, r.text
    id_token = r.json()["id_token"]
    assert header_of(id_token)["alg"] == "HS256"
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(id_token, await published_keys(fc), algorithms=["ES256", "RS256"])
    key = OctKey.import_key(FC_HS256.secret)
    assert jwt.decode(id_token, key, algorithms=["HS256"]).claims["aud"] == FC_HS256.client_id


async def test_fc_client_without_signed_userinfo_gets_plain_json(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, claims, _ = await tokens_for(browser, rp, fc, FC_PLAIN_USERINFO, "marie", scope=FC_SCOPE)
    info = await userinfo(fc, body["access_token"])
    assert info.status_code == 200
    assert info.headers["content-type"].startswith("application/json")
    assert info.json()["sub"] == claims["sub"]


async def test_fc_logout_redirects_back_with_the_same_state(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    state = secrets.token_urlsafe(32)
    query = urlencode(
        {
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
            "state": state,
        }
    )
    confirm = await browser.get(f"{fc.end_session_endpoint}?{query}")
    assert confirm.status_code == 200
    done = await browser.submit_first_form(confirm, follow=False)
    assert done.status_code == 303
    target = urlsplit(done.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LOGGED_OUT
    assert parse_qs(target.query) == {"state": [state]}
    landed = await browser.follow(done)
    assert landed.status_code == 200
    assert rp.last("/logged-out") == {"state": state}

    # The provider session is gone: a new authorization asks for a login again.
    again = await browser.follow(await browser.get(authorize_url(fc, FC_MAIN, scope=FC_SCOPE)))
    assert any("account" in form.inputs for form in browser.forms(again))


async def test_fc_logout_without_redirect_shows_a_success_page(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    confirm = await browser.get(
        f"{fc.end_session_endpoint}?{urlencode({'id_token_hint': body['id_token']})}"
    )
    done = await browser.submit_first_form(confirm)
    assert done.status_code == 200
    assert "Vous êtes déconnecté" in done.text


async def test_fc_logout_refuses_unregistered_uri_and_missing_hint(
    fc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, fc, FC_MAIN, "marie", scope=FC_SCOPE)
    evil = urlencode(
        {
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "https://evil.test/",
            "state": "s",
        }
    )
    r = await browser.get(f"{fc.end_session_endpoint}?{evil}")
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "post_logout_redirect_uri not registered" in r.text

    no_hint = urlencode({"post_logout_redirect_uri": LOGGED_OUT, "state": "s"})
    r = await browser.get(f"{fc.end_session_endpoint}?{no_hint}")
    assert r.status_code == 400
    assert "id_token_hint is required" in r.text

    garbage = urlencode({"id_token_hint": "not-a-jwt", "post_logout_redirect_uri": LOGGED_OUT})
    r = await browser.get(f"{fc.end_session_endpoint}?{garbage}")
    assert r.status_code == 400
    assert "id_token_hint" in r.text


# ----- ProConnect-like ---------------------------------------------------------------------------


async def test_pc_discovery_looks_like_proconnect(pc: ProviderProcess) -> None:
    async with httpx.AsyncClient() as http:
        d = (await http.get(pc.discovery_url)).json()
    assert d["issuer"] == pc.issuer
    assert urlsplit(d["issuer"]).path == "/api/v2"
    assert d["subject_types_supported"] == ["public"]
    assert {"eidas1", "eidas2", "eidas3", CERTIFICATION_DIRIGEANT} <= set(d["acr_values_supported"])
    assert {"usual_name", "siret", "siren", "idp_id", "uid", "phone", "chorusdt"} <= set(
        d["scopes_supported"]
    )
    assert "phone_number" in d["claims_supported"]


async def test_pc_code_flow_gives_public_sub_and_affiliation_claims(
    pc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, claims, nonce = await tokens_for(browser, rp, pc, PC_MAIN, PC_AGENT_ID, scope=PC_SCOPE)
    assert header_of(body["id_token"])["alg"] == "RS256"
    assert header_of(body["id_token"])["kid"] == "rs-1"
    assert claims["sub"] == PC_AGENT_ID
    assert claims["iss"] == pc.issuer
    assert claims["aud"] == PC_MAIN.client_id
    assert claims["acr"] == "eidas1"
    assert claims["nonce"] == nonce

    info = await userinfo(pc, body["access_token"])
    assert info.headers["content-type"].startswith("application/jwt")
    user = jwt.decode(info.text, await published_keys(pc), algorithms=["ES256"]).claims
    assert user["sub"] == PC_AGENT_ID
    assert user["usual_name"] == "BERNARD"
    assert user["given_name"] == "Sophie"
    assert user["siret"] == MAIRIE_SIRET
    assert user["idp_id"] == PC_IDP_AGENTS
    assert user["uid"] == "sbernard"
    assert user["belonging_population"] == "agent"


async def test_pc_amr_and_dirigeant_acr_through_the_claims_parameter(
    pc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    claims_param = json.dumps(
        {
            "id_token": {
                "amr": {"essential": True},
                "acr": {"essential": True, "value": CERTIFICATION_DIRIGEANT},
            }
        }
    )
    callback = await sign_in(
        browser,
        rp,
        pc,
        PC_MAIN,
        PC_DIRIGEANT_ID,
        scope=PC_SCOPE,
        acr_values=CERTIFICATION_DIRIGEANT,
        claims=claims_param,
    )
    r = await exchange(pc, PC_MAIN, callback["code"])
    claims = jwt.decode(r.json()["id_token"], await published_keys(pc), algorithms=["RS256"]).claims
    assert claims["acr"] == CERTIFICATION_DIRIGEANT
    assert claims["amr"] == ["pwd"]


async def test_pc_foreign_idp_is_reported_as_is(
    pc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, pc, PC_MAIN, PC_FOREIGN_ID, scope=PC_SCOPE)
    info = await userinfo(pc, body["access_token"])
    user = jwt.decode(info.text, await published_keys(pc), algorithms=["ES256"]).claims
    assert user["idp_id"] == PC_IDP_FOREIGN


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"foo": "bar"}, "unknown parameter(s) foo"),
        ({"response_mode": "fragment"}, "unknown parameter(s) response_mode"),
        ({"nonce": "n" * 31}, "nonce must be at least 32 characters long"),
        ({"state": "s" * 31}, "state must be at least 32 characters long"),
        ({"acr_values": None}, "acr_values is required"),
    ],
)
async def test_pc_authorize_refuses_what_proconnect_refuses(
    pc: ProviderProcess, browser: Browser, change: dict[str, Any], reason: str
) -> None:
    r = await browser.get(authorize_url(pc, PC_MAIN, scope=PC_SCOPE, **change))
    assert r.status_code == 400
    assert "location" not in r.headers
    assert reason in r.text


async def test_pc_allows_silent_sso(pc: ProviderProcess, browser: Browser, rp: RecordingRP) -> None:
    await sign_in(browser, rp, pc, PC_MAIN, PC_EMPLOYEE_ID, scope=PC_SCOPE)
    state = secrets.token_urlsafe(32)
    r = await browser.follow(
        await browser.get(authorize_url(pc, PC_MAIN, scope=PC_SCOPE, state=state, prompt="none"))
    )
    assert str(r.url).startswith(CALLBACK)
    callback = rp.last("/callback")
    assert callback["state"] == state
    assert "code" in callback


async def test_pc_logout_requires_all_three_parameters(
    pc: ProviderProcess, browser: Browser, rp: RecordingRP
) -> None:
    body, _, _ = await tokens_for(browser, rp, pc, PC_MAIN, PC_AGENT_ID, scope=PC_SCOPE)
    full = {
        "id_token_hint": body["id_token"],
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": secrets.token_urlsafe(32),
    }
    for missing in full:
        partial = {k: v for k, v in full.items() if k != missing}
        r = await browser.get(f"{pc.end_session_endpoint}?{urlencode(partial)}")
        assert r.status_code == 400, missing
        assert f"{missing} is required" in r.text

    confirm = await browser.get(f"{pc.end_session_endpoint}?{urlencode(full)}")
    done = await browser.submit_first_form(confirm, follow=False)
    assert done.status_code == 303
    assert parse_qs(urlsplit(done.headers["location"]).query) == {"state": [full["state"]]}


# ----- key rotation ------------------------------------------------------------------------------


async def test_restart_with_rotated_keys_publishes_the_new_kid(
    tmp_path: Path, browser: Browser, rp: RecordingRP
) -> None:
    provider = start_provider("franceconnect", tmp_path, clients=[FC_MAIN.metadata])
    try:
        before = {key.kid for key in await published_keys(provider)}
        assert before == {"es-1", "rs-1"}
        issuer, port = provider.issuer, provider.port

        new_keys = generate_jwks(es_kid="es-2", rs_kid="rs-2")
        provider.restart(jwks=new_keys + provider.jwks)  # new key first, old still published
        assert (provider.issuer, provider.port) == (issuer, port)
        assert {key.kid for key in await published_keys(provider)} == {
            "es-1",
            "rs-1",
            "es-2",
            "rs-2",
        }
        callback = await sign_in(browser, rp, provider, FC_MAIN, "marie", scope=FC_SCOPE)
        r = await exchange(provider, FC_MAIN, callback["code"])
        assert header_of(r.json()["id_token"])["kid"] == "es-2"  # the first key signs

        provider.restart(jwks=new_keys)  # old key removed
        after = {key.kid for key in await published_keys(provider)}
        assert after == {"es-2", "rs-2"}
        callback = await sign_in(browser, rp, provider, FC_MAIN, "marie", scope=FC_SCOPE)
        r = await exchange(provider, FC_MAIN, callback["code"])
        assert header_of(r.json()["id_token"])["kid"] == "es-2"

        provider.restart()  # fresh random kids
        assert not {key.kid for key in await published_keys(provider)} & after
    finally:
        provider.stop()
    assert provider.process.poll() is not None
