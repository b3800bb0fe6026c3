"""identity.oidc against a simulated provider (httpx.MockTransport) and forged tokens.

The provider serves discovery, JWKS, token and userinfo like FranceConnect v2 (ES256, signed userinfo
JWT, RFC 9207 ``iss`` on the callback). Keys are generated with joserfc; tokens are forged with
``jwt.encode`` (or by hand for ``none`` and HS256, which joserfc rightly refuses to produce from an
asymmetric key). Each attack of identity.md §7 that can be expressed at this level has its test,
asserting the machine code, the HTTP status it maps to and that the message is French.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from pydantic import ValidationError

from identity.oidc import (
    AuthRequest,
    LoginResult,
    OidcClient,
    OidcError,
    ProviderConfig,
    provider_configs_from_settings,
)
from services.api.problems import status_of
from services.kernel.clock import FrozenClock

pytestmark = pytest.mark.unit

FC_ISSUER = "https://fc.example/api/v2"
PC_ISSUER = "https://pc.example/api/v2"
CLIENT_ID = "guichet-metropole"
CLIENT_SECRET = "un-secret-client-de-test-assez-long-0123456789"
REDIRECT_URI = "https://guichet.example/auth/franceconnect/callback"
POST_LOGOUT_URI = "https://guichet.example/auth/franceconnect/logged-out"
SUB = hashlib.sha256(b"Angela Claire Louise DUBOIS").hexdigest() + "v1"
T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

# Keys of the provider (es-1, rs-1), a rotated key (es-2) and an attacker's keys.
KEYS: dict[str, ECKey | RSAKey] = {
    "es-1": ECKey.generate_key("P-256", parameters={"kid": "es-1", "use": "sig"}),
    "rs-1": RSAKey.generate_key(2048, parameters={"kid": "rs-1", "use": "sig"}),
    "es-2": ECKey.generate_key("P-256", parameters={"kid": "es-2", "use": "sig"}),
    "evil": ECKey.generate_key("P-256", parameters={"kid": "evil"}),
}
# The attacker's key, but claiming the provider's kid.
IMPOSTOR = ECKey.generate_key("P-256", parameters={"kid": "es-1"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(claims: dict[str, Any], *, kid: str = "es-1", alg: str = "ES256") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, claims, KEYS[kid], algorithms=[alg])


def forge_hs256(claims: dict[str, Any], secret: bytes, kid: str | None = None) -> str:
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    ).encode()
    return signing_input.decode() + "." + b64url(hmac.new(secret, signing_input, "sha256").digest())


def forge_none(claims: dict[str, Any]) -> str:
    header = {"alg": "none", "typ": "JWT"}
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()) + "."


def flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[5] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def at_hash(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode()).digest()[:16])


class FakeProvider:
    """A FranceConnect-like provider behind httpx.MockTransport."""

    def __init__(self, clock: FrozenClock, issuer: str = FC_ISSUER) -> None:
        self.clock = clock
        self.issuer = issuer
        self.published = ["es-1", "rs-1"]
        self.extra_jwks: list[dict[str, Any]] = []
        self.discovery: dict[str, Any] = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "end_session_endpoint": f"{issuer}/session/end",
            "jwks_uri": f"{issuer}/jwks",
            "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
            "authorization_response_iss_parameter_supported": True,
            "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
        }
        self.discovery_status = 200
        self.hits: Counter[str] = Counter()
        self.token_calls: list[tuple[dict[str, str], httpx.Headers]] = []
        self.userinfo_auth: list[str | None] = []
        self.code = "code-0123456789"
        self.access_token = "access-token-0123456789"
        self.nonce: str | None = None
        self.id_claims: dict[str, Any] = {}  # overrides; None deletes a claim
        self.id_signer = {"kid": "es-1", "alg": "ES256"}
        self.raw_id_token: str | None = None  # replaces the whole ID token
        self.token_reply: tuple[int, dict[str, Any]] | None = None
        self.userinfo_claims: dict[str, Any] = {}
        self.userinfo_signer = {"kid": "es-1", "alg": "ES256"}
        self.userinfo_reply: tuple[str, str] | None = None  # (content type, body)

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def id_token(self, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": SUB,
            "aud": CLIENT_ID,
            "iat": self.now(),
            "exp": self.now() + 60,
            "auth_time": self.now() - 3,
            "nonce": self.nonce,
            "acr": "eidas1",
            "amr": ["pwd"],
            "at_hash": at_hash(self.access_token),
        }
        claims.update(self.id_claims)
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return sign(claims, **self.id_signer)

    def userinfo(self) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": SUB,
            "iat": self.now(),
            "exp": self.now() + 60,
            "given_name": "Angela Claire Louise",
            "family_name": "DUBOIS",
            "birthdate": "1962-08-24",
            "gender": "female",
            "birthplace": "75107",
            "birthcountry": "99100",
            "email": "angela.dubois@example.fr",
        }
        claims.update(self.userinfo_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        return sign(claims, **self.userinfo_signer)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(urlsplit(self.issuer).path)
        self.hits[path] += 1
        if path == "/.well-known/openid-configuration":
            return httpx.Response(self.discovery_status, json=self.discovery)
        if path == "/jwks":
            keys = [KEYS[kid].as_dict(private=False) for kid in self.published]
            keys += self.extra_jwks
            return httpx.Response(200, json={"keys": keys})
        if path == "/token" and request.method == "POST":
            self.token_calls.append((dict(parse_qsl(request.content.decode())), request.headers))
            if self.token_reply is not None:
                status, body = self.token_reply
                return httpx.Response(status, json=body)
            return httpx.Response(
                200,
                json={
                    "access_token": self.access_token,
                    "token_type": "Bearer",
                    "expires_in": 60,
                    "id_token": self.raw_id_token or self.id_token(),
                    "scope": "openid identite_pivot email",
                },
            )
        if path == "/userinfo":
            self.userinfo_auth.append(request.headers.get("authorization"))
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                return httpx.Response(401, json={"error": "invalid_token"})
            if self.userinfo_reply is not None:
                content_type, body = self.userinfo_reply
                return httpx.Response(200, content=body, headers={"content-type": content_type})
            return httpx.Response(
                200, content=self.userinfo(), headers={"content-type": "application/jwt"}
            )
        return httpx.Response(404)


def fc_config(**overrides: Any) -> ProviderConfig:
    values: dict[str, Any] = {
        "name": "franceconnect",
        "audience": "citizen",
        "issuer": FC_ISSUER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": POST_LOGOUT_URI,
        "scopes": ("openid", "identite_pivot", "email"),
        "acr_values": ("eidas1",),
        "acr_levels": ("eidas1", "eidas2", "eidas3"),
    }
    values.update(overrides)
    return ProviderConfig(**values)


def pc_config(**overrides: Any) -> ProviderConfig:
    return fc_config(
        name="proconnect",
        audience="agent",
        issuer=PC_ISSUER,
        redirect_uri="https://guichet.example/auth/proconnect/callback",
        scopes=("openid", "given_name", "usual_name", "email", "uid", "siret", "idp_id"),
        acr_levels=("eidas0", "eidas1", "eidas2", "eidas3"),
        **overrides,
    )


def assert_french(detail: str) -> None:
    assert any(word in detail for word in ("Recommencez", "recommencez", "Réessayez")), detail
    assert any(word in f" {detail} " for word in (" la ", " le ", " les ", " de ", " vous ")), (
        detail
    )


async def refused(awaitable: Awaitable[Any], code: str, status: int = 401) -> OidcError:
    with pytest.raises(OidcError) as info:
        await awaitable
    error = info.value
    assert error.code == code, error.detail
    assert status_of(error) == status
    assert_french(error.detail)
    return error


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def provider(clock: FrozenClock) -> FakeProvider:
    return FakeProvider(clock)


@pytest.fixture
async def http(provider: FakeProvider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider.handler)) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, clock: FrozenClock) -> OidcClient:
    return OidcClient(fc_config(), http=http, now=clock.now)


def make_client(
    http: httpx.AsyncClient, clock: FrozenClock, config: ProviderConfig | None = None
) -> OidcClient:
    return OidcClient(config or fc_config(), http=http, now=clock.now)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def start(client: OidcClient, provider: FakeProvider, **kwargs: Any) -> AuthRequest:
    """The browser goes to the provider, which remembers the nonce it was given."""
    auth = await client.authorization_request(**kwargs)
    provider.nonce = query(auth.url)["nonce"]
    return auth


async def finish(
    client: OidcClient,
    provider: FakeProvider,
    auth: AuthRequest,
    *,
    requested_acr: tuple[str, ...] | None = None,
    **callback: str | None,
) -> LoginResult:
    params = {"code": provider.code, "state": auth.state, "iss": provider.issuer}
    params.update({k: v for k, v in callback.items() if v is not None})
    for name in [k for k, v in callback.items() if v is None]:
        params.pop(name, None)
    return await client.complete(
        params=params,
        expected_state=auth.state,
        nonce=auth.nonce,
        code_verifier=auth.code_verifier,
        requested_acr=requested_acr,
    )


async def login(client: OidcClient, provider: FakeProvider, **callback: Any) -> LoginResult:
    return await finish(client, provider, await start(client, provider), **callback)


# ----- happy path and the authorization request ------------------------------------------------


async def test_franceconnect_login_returns_verified_identity(
    client: OidcClient, provider: FakeProvider
) -> None:
    result = await login(client, provider)

    assert result.issuer == FC_ISSUER
    assert result.subject == SUB
    assert result.acr == "eidas1"
    assert result.amr == ("pwd",)
    assert result.auth_time == provider.now() - 3
    assert result.idp_id is None
    assert result.userinfo["family_name"] == "DUBOIS"
    assert result.userinfo["birthplace"] == "75107"
    assert result.id_token_claims["sub"] == SUB
    assert result.id_token.count(".") == 2
    # client_secret_post, the registered redirect URI, no PKCE verifier when not configured
    form, headers = provider.token_calls[0]
    assert form == {
        "grant_type": "authorization_code",
        "code": provider.code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert "authorization" not in headers
    assert provider.userinfo_auth == [f"Bearer {provider.access_token}"]


async def test_authorization_url_carries_the_required_parameters(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await client.authorization_request()

    assert auth.url.startswith(f"{FC_ISSUER}/authorize?")
    params = query(auth.url)
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid identite_pivot email",
        "state": auth.state,
        "nonce": auth.nonce,
        "acr_values": "eidas1",
    }
    assert auth.code_verifier is None
    assert auth.acr_values == ("eidas1",)


async def test_state_and_nonce_are_long_random_and_fresh_each_time(client: OidcClient) -> None:
    first = await client.authorization_request()
    second = await client.authorization_request()

    for auth in (first, second):
        assert len(auth.state) >= 32 and len(auth.nonce) >= 32
        assert auth.state != auth.nonce
    assert first.state != second.state
    assert first.nonce != second.nonce


async def test_discovery_is_fetched_once(client: OidcClient, provider: FakeProvider) -> None:
    await client.authorization_request()
    await client.authorization_request()
    await login(client, provider)

    assert provider.hits["/.well-known/openid-configuration"] == 1


async def test_acr_values_can_be_raised_per_request(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await client.authorization_request(acr_values=["eidas2", "eidas3"])

    assert query(auth.url)["acr_values"] == "eidas2 eidas3"
    assert auth.acr_values == ("eidas2", "eidas3")


async def test_claims_parameter_is_sent_as_json_when_configured(
    http: httpx.AsyncClient, clock: FrozenClock
) -> None:
    claims = {"id_token": {"amr": {"essential": True}}}
    client = make_client(http, clock, fc_config(claims=claims))

    auth = await client.authorization_request()

    assert json.loads(query(auth.url)["claims"]) == claims


async def test_pkce_s256_when_configured_and_verifier_sent_to_token_endpoint(
    http: httpx.AsyncClient, clock: FrozenClock, provider: FakeProvider
) -> None:
    client = make_client(http, clock, fc_config(pkce=True))

    auth = await start(client, provider)
    params = query(auth.url)
    assert auth.code_verifier is not None
    assert 43 <= len(auth.code_verifier) <= 128
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == b64url(hashlib.sha256(auth.code_verifier.encode()).digest())

    await finish(client, provider, auth)
    assert provider.token_calls[0][0]["code_verifier"] == auth.code_verifier


async def test_no_code_challenge_without_pkce(client: OidcClient) -> None:
    params = query((await client.authorization_request()).url)

    assert "code_challenge" not in params
    assert "code_challenge_method" not in params


# ----- callback: provider errors, state, iss ---------------------------------------------------


async def test_access_denied_says_the_person_cancelled(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider)

    error = await refused(
        client.complete(
            params={"error": "access_denied", "state": auth.state},
            expected_state=auth.state,
            nonce=auth.nonce,
            code_verifier=None,
        ),
        "provider_error",
    )
    assert error.detail.startswith("Vous avez annulé la connexion FranceConnect")
    assert provider.token_calls == []


async def test_other_provider_error_is_shown_with_its_description(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider)

    error = await refused(
        finish(
            client,
            provider,
            auth,
            error="invalid_scope",
            error_description="scope « phone » non habilité",
        ),
        "provider_error",
    )
    assert "« invalid_scope »" in error.detail
    assert "scope « phone » non habilité" in error.detail
    assert error.extra["provider_error"] == "invalid_scope"


async def test_forged_error_link_does_not_show_attacker_text(
    client: OidcClient, provider: FakeProvider
) -> None:
    """Anyone can send a link to our callback with an error: without our state, its free text
    (a phishing phone number, say) and unknown codes are not echoed on our pages."""
    auth = await start(client, provider)

    error = await refused(
        client.complete(
            params={
                "error": "Appelez_le_08_99",
                "error_description": "Compte bloqué : appelez le 08 99 00 00 00",
                "state": "forged",
            },
            expected_state=auth.state,
            nonce=auth.nonce,
            code_verifier=None,
        ),
        "provider_error",
    )
    assert "08 99" not in error.detail and "Appelez" not in error.detail
    assert "« inconnue »" in error.detail

    error = await refused(
        client.complete(
            params={"error": "invalid_request", "error_description": "appelez le 08 99"},
            expected_state=auth.state,
            nonce=auth.nonce,
            code_verifier=None,
        ),
        "provider_error",
    )
    assert "08 99" not in error.detail
    assert "« invalid_request »" in error.detail


async def test_provider_temporarily_unavailable_maps_to_503(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider)

    await refused(
        finish(client, provider, auth, error="temporarily_unavailable"), "provider_error", 503
    )


@pytest.mark.parametrize("state", [None, "", "altered-state-0123456789-0123456789-0123"])
async def test_missing_or_altered_state_is_refused_before_any_token_call(
    client: OidcClient, provider: FakeProvider, state: str | None
) -> None:
    auth = await start(client, provider)
    params = {"code": provider.code, "iss": FC_ISSUER}
    if state is not None:
        params["state"] = state

    await refused(
        client.complete(
            params=params, expected_state=auth.state, nonce=auth.nonce, code_verifier=None
        ),
        "state_mismatch",
    )
    assert provider.token_calls == []


async def test_state_from_another_login_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    victim = await start(client, provider)
    attacker = await start(client, provider)

    await refused(finish(client, provider, victim, state=attacker.state), "state_mismatch")
    assert provider.token_calls == []


async def test_callback_from_another_issuer_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider)

    await refused(finish(client, provider, auth, iss=PC_ISSUER), "iss_mismatch")
    assert provider.token_calls == []


async def test_callback_without_iss_is_refused_when_the_provider_advertises_it(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider)

    await refused(finish(client, provider, auth, iss=None), "iss_mismatch")
    assert provider.token_calls == []


async def test_callback_without_iss_passes_when_the_provider_does_not_advertise_it(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.discovery["authorization_response_iss_parameter_supported"] = False

    result = await login(client, provider, iss=None)

    assert result.subject == SUB


async def test_callback_without_code_is_refused(client: OidcClient, provider: FakeProvider) -> None:
    auth = await start(client, provider)

    await refused(finish(client, provider, auth, code=None), "code_missing")


async def test_token_endpoint_invalid_grant(client: OidcClient, provider: FakeProvider) -> None:
    provider.token_reply = (400, {"error": "invalid_grant", "error_description": "code replayed"})

    error = await refused(login(client, provider), "token_exchange_failed")
    assert "invalid_grant" in error.detail
    assert error.extra["provider_error"] == "invalid_grant"


# ----- ID token ------------------------------------------------------------------------------


async def test_nonce_mismatch_is_refused(client: OidcClient, provider: FakeProvider) -> None:
    auth = await start(client, provider)
    provider.nonce = "another-nonce-from-another-flow-0123456789"

    await refused(finish(client, provider, auth), "nonce_mismatch")


async def test_replayed_id_token_from_an_earlier_login_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    earlier = await login(client, provider)
    auth = await start(client, provider)
    provider.raw_id_token = earlier.id_token

    await refused(finish(client, provider, auth), "nonce_mismatch")


async def test_id_token_without_nonce_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["nonce"] = None
    provider.nonce = None

    auth = await client.authorization_request()
    await refused(finish(client, provider, auth), "nonce_mismatch")


async def test_id_token_from_another_issuer_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["iss"] = PC_ISSUER

    await refused(login(client, provider), "iss_mismatch")


async def test_id_token_for_another_client_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["aud"] = "another-service"

    await refused(login(client, provider), "aud_mismatch")


async def test_id_token_with_several_audiences_and_no_azp_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["aud"] = [CLIENT_ID, "another-service"]

    await refused(login(client, provider), "azp_mismatch")


async def test_id_token_with_several_audiences_and_our_azp_passes(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims.update(aud=[CLIENT_ID, "another-service"], azp=CLIENT_ID)

    assert (await login(client, provider)).subject == SUB


async def test_expired_id_token_is_refused(
    client: OidcClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    auth = await start(client, provider)
    provider.id_claims.update(iat=provider.now() - 70, exp=provider.now() - 10)

    await refused(finish(client, provider, auth), "expired")


async def test_leeway_lets_a_token_four_seconds_late_pass(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims.update(iat=provider.now() - 64, exp=provider.now() - 4)

    assert (await login(client, provider)).subject == SUB


async def test_leeway_is_not_more_than_configured(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims.update(iat=provider.now() - 65, exp=provider.now() - 5)

    await refused(login(client, provider), "expired")


async def test_id_token_issued_in_the_future_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims.update(iat=provider.now() + 60, exp=provider.now() + 120)

    await refused(login(client, provider), "not_yet_valid")


async def test_id_token_not_valid_before_a_future_date_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["nbf"] = provider.now() + 30

    await refused(login(client, provider), "not_yet_valid")


async def test_id_token_without_exp_is_refused(client: OidcClient, provider: FakeProvider) -> None:
    provider.id_claims["exp"] = None

    await refused(login(client, provider), "claims_invalid")


async def test_id_token_with_alg_none_is_refused_without_looking_at_keys(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.nonce = "n" * 43
    claims = {"iss": FC_ISSUER, "sub": SUB, "aud": CLIENT_ID, "nonce": provider.nonce}
    claims.update(iat=provider.now(), exp=provider.now() + 60)

    error = await refused(
        client.verify_id_token(forge_none(claims), nonce=provider.nonce), "alg_not_allowed"
    )
    assert "« none »" in error.detail
    assert provider.hits["/jwks"] == 0


@pytest.mark.parametrize("secret_kind", ["client_secret", "public_key_pem", "public_jwk_json"])
async def test_id_token_signed_hs256_is_refused(
    client: OidcClient, provider: FakeProvider, secret_kind: str
) -> None:
    public = KEYS["es-1"]
    secret = {
        "client_secret": CLIENT_SECRET.encode(),
        "public_key_pem": public.as_pem(private=False),
        "public_jwk_json": json.dumps(public.as_dict(private=False)).encode(),
    }[secret_kind]
    nonce = "n" * 43
    claims = {"iss": FC_ISSUER, "sub": SUB, "aud": CLIENT_ID, "nonce": nonce}
    claims.update(iat=provider.now(), exp=provider.now() + 60)

    await refused(
        client.verify_id_token(forge_hs256(claims, secret, kid="es-1"), nonce=nonce),
        "alg_not_allowed",
    )


async def test_id_token_with_an_algorithm_outside_the_allowlist_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_signer = {"kid": "rs-1", "alg": "RS384"}  # a real provider key, wrong algorithm

    await refused(login(client, provider), "alg_not_allowed")


async def test_id_token_signed_rs256_with_the_provider_rsa_key_passes(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_signer = {"kid": "rs-1", "alg": "RS256"}

    assert (await login(client, provider)).subject == SUB


async def test_bad_signature_is_refused_after_exactly_one_jwks_reload(
    client: OidcClient, provider: FakeProvider
) -> None:
    await login(client, provider)  # JWKS now cached
    assert provider.hits["/jwks"] == 1
    await start(client, provider)
    tampered = flip_signature(provider.id_token())

    await refused(client.verify_id_token(tampered, nonce=provider.nonce or ""), "bad_signature")
    assert provider.hits["/jwks"] == 2


async def test_attacker_key_claiming_the_provider_kid_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    nonce = "n" * 43
    claims = {"iss": FC_ISSUER, "sub": SUB, "aud": CLIENT_ID, "nonce": nonce}
    claims.update(iat=provider.now(), exp=provider.now() + 60)
    token = jwt.encode({"alg": "ES256", "kid": "es-1"}, claims, IMPOSTOR, algorithms=["ES256"])

    await refused(client.verify_id_token(token, nonce=nonce), "bad_signature")


async def test_header_embedded_key_is_not_trusted(
    client: OidcClient, provider: FakeProvider
) -> None:
    nonce = "n" * 43
    claims = {"iss": FC_ISSUER, "sub": SUB, "aud": CLIENT_ID, "nonce": nonce}
    claims.update(iat=provider.now(), exp=provider.now() + 60)
    evil = KEYS["evil"]
    header = {"alg": "ES256", "kid": "evil", "jwk": evil.as_dict(private=False)}
    token = jwt.encode(header, claims, evil, algorithms=["ES256"])

    await refused(client.verify_id_token(token, nonce=nonce), "unknown_kid")


async def test_unknown_kid_triggers_one_rate_limited_jwks_reload(
    client: OidcClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    await login(client, provider)
    assert provider.hits["/jwks"] == 1
    provider.id_signer = {"kid": "evil", "alg": "ES256"}
    await start(client, provider)

    await refused(
        client.verify_id_token(provider.id_token(), nonce=provider.nonce or ""), "unknown_kid"
    )
    assert provider.hits["/jwks"] == 2

    # A flood of unknown kids does not hammer the provider: no new reload within 10 s.
    await refused(
        client.verify_id_token(provider.id_token(), nonce=provider.nonce or ""), "unknown_kid"
    )
    assert provider.hits["/jwks"] == 2

    clock.advance(timedelta(seconds=11))
    await refused(
        client.verify_id_token(provider.id_token(), nonce=provider.nonce or ""), "unknown_kid"
    )
    assert provider.hits["/jwks"] == 3


async def test_key_rotation_new_kid_accepted_after_reload_old_one_refused_once_removed(
    client: OidcClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    await login(client, provider)
    # The provider publishes a new key first and signs with it.
    provider.published = ["es-2", "es-1", "rs-1"]
    provider.id_signer = {"kid": "es-2", "alg": "ES256"}
    provider.userinfo_signer = {"kid": "es-2", "alg": "ES256"}

    result = await login(client, provider)
    assert result.subject == SUB
    assert provider.hits["/jwks"] == 2

    # Then the old key is removed; once the cached JWKS is stale, old-key tokens are refused.
    provider.published = ["es-2", "rs-1"]
    clock.advance(timedelta(seconds=301))
    await start(client, provider)
    old = sign(
        {
            "iss": FC_ISSUER,
            "sub": SUB,
            "aud": CLIENT_ID,
            "nonce": provider.nonce,
            "iat": provider.now(),
            "exp": provider.now() + 60,
        },
        kid="es-1",
    )
    await refused(client.verify_id_token(old, nonce=provider.nonce or ""), "unknown_kid")


async def test_keys_for_encryption_are_not_used_to_verify(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.extra_jwks = [{**KEYS["evil"].as_dict(private=False), "use": "enc"}]
    provider.id_signer = {"kid": "evil", "alg": "ES256"}

    await refused(login(client, provider), "unknown_kid")


async def test_access_token_not_bound_to_the_id_token_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["at_hash"] = at_hash("another-access-token")

    await refused(login(client, provider), "at_hash_mismatch")


# ----- acr -----------------------------------------------------------------------------------


async def test_acr_lower_than_requested_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    auth = await start(client, provider, acr_values=["eidas2"])
    provider.id_claims["acr"] = "eidas1"

    error = await refused(finish(client, provider, auth, requested_acr=("eidas2",)), "acr_too_low")
    assert "eidas1" in error.detail and "eidas2" in error.detail
    assert provider.userinfo_auth == []


async def test_acr_defaults_to_the_configured_request(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.id_claims["acr"] = None

    await refused(login(client, provider), "acr_too_low")


def test_check_acr_compares_with_the_lowest_requested_level(client: OidcClient) -> None:
    client.check_acr("eidas3", ["eidas2"])
    client.check_acr("eidas2", ["eidas2"])
    client.check_acr("eidas2", ["eidas3", "eidas2"])  # the lowest requested wins
    for returned in ("eidas1", None, "eidas9", ""):
        with pytest.raises(OidcError) as info:
            client.check_acr(returned, ["eidas2"])
        assert info.value.code == "acr_too_low"
        assert_french(info.value.detail)


async def test_acr_higher_than_requested_passes(client: OidcClient, provider: FakeProvider) -> None:
    auth = await start(client, provider, acr_values=["eidas2"])
    provider.id_claims["acr"] = "eidas3"

    result = await finish(client, provider, auth, requested_acr=("eidas2",))
    assert result.acr == "eidas3"


# ----- userinfo ------------------------------------------------------------------------------


async def test_userinfo_as_json_is_refused_even_when_valid(
    client: OidcClient, provider: FakeProvider
) -> None:
    body = json.dumps({"iss": FC_ISSUER, "aud": CLIENT_ID, "sub": SUB, "given_name": "Angela"})
    provider.userinfo_reply = ("application/json", body)

    await refused(login(client, provider), "userinfo_not_jwt")


async def test_userinfo_jwt_served_as_json_content_type_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_reply = ("application/json", json.dumps(provider.userinfo()))

    await refused(login(client, provider), "userinfo_not_jwt")


async def test_userinfo_about_another_person_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_claims["sub"] = hashlib.sha256(b"someone else").hexdigest() + "v1"

    await refused(login(client, provider), "userinfo_sub_mismatch")


async def test_userinfo_from_another_issuer_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_claims["iss"] = PC_ISSUER

    await refused(login(client, provider), "iss_mismatch")


async def test_userinfo_for_another_client_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_claims["aud"] = "another-service"

    await refused(login(client, provider), "aud_mismatch")


async def test_userinfo_signed_by_an_unknown_key_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_signer = {"kid": "evil", "alg": "ES256"}

    await refused(login(client, provider), "unknown_kid")


async def test_userinfo_signed_hs256_with_the_client_secret_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    claims = {"iss": FC_ISSUER, "aud": CLIENT_ID, "sub": SUB, "given_name": "Angela"}
    provider.userinfo_reply = ("application/jwt", forge_hs256(claims, CLIENT_SECRET.encode()))

    await refused(login(client, provider), "alg_not_allowed")


async def test_encrypted_userinfo_is_refused_clearly(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.userinfo_reply = ("application/jwt", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d")

    error = await refused(login(client, provider), "encrypted_not_supported")
    assert "chiffré" in error.detail


# ----- ProConnect: idp_id allow-list ---------------------------------------------------------


@pytest.fixture
def pc_provider(clock: FrozenClock) -> FakeProvider:
    provider = FakeProvider(clock, issuer=PC_ISSUER)
    provider.userinfo_claims.update(
        sub="2a9b8f1c-7d1e-4b6a-9f0e-3c5d7e9a1b2c",
        given_name="Camille",
        usual_name="Martin",
        email="camille.martin@mairie.example.fr",
        uid="cmartin",
        siret="21690123100011",
        idp_id="fia1v2",
    )
    provider.id_claims["sub"] = "2a9b8f1c-7d1e-4b6a-9f0e-3c5d7e9a1b2c"
    return provider


async def test_proconnect_agent_from_an_allowed_identity_provider(
    clock: FrozenClock, pc_provider: FakeProvider
) -> None:
    transport = httpx.MockTransport(pc_provider.handler)
    async with httpx.AsyncClient(transport=transport) as http:
        client = make_client(http, clock, pc_config(allowed_idp_ids=("fia1v2", "pcidentite")))
        result = await login(client, pc_provider)

    assert result.issuer == PC_ISSUER
    assert result.idp_id == "fia1v2"
    assert result.userinfo["siret"] == "21690123100011"


async def test_proconnect_identity_provider_outside_the_allow_list_is_refused(
    clock: FrozenClock, pc_provider: FakeProvider
) -> None:
    transport = httpx.MockTransport(pc_provider.handler)
    async with httpx.AsyncClient(transport=transport) as http:
        client = make_client(http, clock, pc_config(allowed_idp_ids=("pcidentite",)))
        error = await refused(login(client, pc_provider), "idp_not_allowed")

    assert error.detail.startswith("La connexion ProConnect a échoué")
    assert "fia1v2" in error.detail


# ----- discovery and network -----------------------------------------------------------------


async def test_discovery_announcing_another_issuer_is_refused(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.discovery["issuer"] = "https://evil.example/api/v2"

    await refused(client.authorization_request(), "discovery_issuer_mismatch", 503)


async def test_discovery_issuer_must_match_exactly(
    client: OidcClient, provider: FakeProvider
) -> None:
    provider.discovery["issuer"] = FC_ISSUER + "/"

    await refused(client.authorization_request(), "discovery_issuer_mismatch", 503)


async def test_unreachable_provider_maps_to_503(clock: FrozenClock) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        client = make_client(http, clock)
        await refused(client.authorization_request(), "provider_unreachable", 503)


async def test_discovery_error_page_maps_to_503(client: OidcClient, provider: FakeProvider) -> None:
    provider.discovery_status = 500

    await refused(client.authorization_request(), "discovery_failed", 503)


async def test_discovery_without_jwks_uri_maps_to_503(
    client: OidcClient, provider: FakeProvider
) -> None:
    del provider.discovery["jwks_uri"]

    await refused(client.authorization_request(), "discovery_failed", 503)


# ----- logout --------------------------------------------------------------------------------


async def test_end_session_url_carries_hint_state_and_configured_post_logout_uri(
    client: OidcClient, provider: FakeProvider
) -> None:
    result = await login(client, provider)

    url = await client.end_session_url(id_token_hint=result.id_token, state="logout-state-123")

    assert url.startswith(f"{FC_ISSUER}/session/end?")
    assert query(url) == {
        "id_token_hint": result.id_token,
        "state": "logout-state-123",
        "post_logout_redirect_uri": POST_LOGOUT_URI,
        "client_id": CLIENT_ID,
    }


def test_logout_state_is_checked(client: OidcClient) -> None:
    client.check_logout_state("expected-state", "expected-state")
    for returned in (None, "", "another-state"):
        with pytest.raises(OidcError) as info:
            client.check_logout_state(returned, "expected-state")
        assert info.value.code == "state_mismatch"
        assert status_of(info.value) == 401
        assert "déconnexion" in info.value.detail


# ----- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithms", [("none",), ("HS256",), ("ES256", "HS256"), ("RS256", "none"), ()]
)
def test_provider_config_refuses_none_and_hmac_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="algorithme"):
        fc_config(algorithms=algorithms)


def test_provider_config_requires_openid_scope() -> None:
    with pytest.raises(ValidationError, match="openid"):
        fc_config(scopes=("identite_pivot",))


def test_provider_config_requires_known_acr_values() -> None:
    with pytest.raises(ValidationError, match="acr_levels"):
        fc_config(acr_values=("eidas4",))


@pytest.mark.parametrize(
    "issuer", ["http://fc.example/api/v2", "ftp://fc.example", "fc.example/api/v2"]
)
def test_provider_config_requires_https_issuer_except_on_loopback(issuer: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        fc_config(issuer=issuer)
    assert fc_config(issuer="http://127.0.0.1:4010/api/v2").issuer.startswith("http://127")


def test_provider_configs_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix, host in (("FRANCECONNECT", "fc"), ("PROCONNECT", "pc")):
        monkeypatch.setenv(f"GUICHET_{prefix}_ENABLED", "true")
        monkeypatch.setenv(f"GUICHET_{prefix}_ISSUER", f"https://{host}.example/api/v2")
        monkeypatch.setenv(f"GUICHET_{prefix}_CLIENT_ID", f"{host}-client")
        monkeypatch.setenv(f"GUICHET_{prefix}_CLIENT_SECRET", "secret")
        monkeypatch.setenv(f"GUICHET_{prefix}_REDIRECT_URI", f"https://g.example/auth/{host}/cb")
        monkeypatch.setenv(f"GUICHET_{prefix}_POST_LOGOUT_REDIRECT_URI", "https://g.example/")
    monkeypatch.setenv("GUICHET_PROCONNECT_ALLOWED_IDP_IDS", "fia1v2, pcidentite")
    monkeypatch.setenv("GUICHET_PROCONNECT_CLAIMS", '{"id_token":{"amr":{"essential":true}}}')

    configs = provider_configs_from_settings()

    fc, pc = configs["franceconnect"], configs["proconnect"]
    assert fc.audience == "citizen" and pc.audience == "agent"
    assert fc.scopes == ("openid", "identite_pivot", "email", "preferred_username")
    assert fc.acr_values == ("eidas1",)
    assert fc.algorithms == ("ES256", "RS256")
    assert fc.allowed_idp_ids is None
    assert pc.scopes == ("openid", "given_name", "usual_name", "email", "uid", "siret", "idp_id")
    assert pc.allowed_idp_ids == ("fia1v2", "pcidentite")
    assert pc.claims == {"id_token": {"amr": {"essential": True}}}
    assert fc.client_secret.get_secret_value() == "secret"


def test_disabled_providers_are_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUICHET_FRANCECONNECT_ENABLED", raising=False)
    monkeypatch.delenv("GUICHET_PROCONNECT_ENABLED", raising=False)

    assert provider_configs_from_settings() == {}


def test_enabled_provider_without_its_registration_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_FRANCECONNECT_ENABLED", "true")
    monkeypatch.setenv("GUICHET_FRANCECONNECT_ISSUER", FC_ISSUER)

    with pytest.raises(ValidationError, match="GUICHET_FRANCECONNECT_CLIENT_ID"):
        provider_configs_from_settings()


def test_enabled_provider_with_hs256_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_FRANCECONNECT_ENABLED", "true")
    monkeypatch.setenv("GUICHET_FRANCECONNECT_ISSUER", FC_ISSUER)
    monkeypatch.setenv("GUICHET_FRANCECONNECT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GUICHET_FRANCECONNECT_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("GUICHET_FRANCECONNECT_REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("GUICHET_FRANCECONNECT_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_URI)
    monkeypatch.setenv("GUICHET_FRANCECONNECT_ALGORITHMS", "ES256 HS256")

    with pytest.raises(ValidationError, match="HS256"):
        provider_configs_from_settings()
