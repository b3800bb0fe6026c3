"""OpenID Connect relying party shared by FranceConnect v2 (citizens) and ProConnect (agents).

One ``OidcClient`` per provider lives as long as the application. It reads the provider's discovery
document (issuer checked exactly), builds the authorization request (``state``, ``nonce``, optional
PKCE S256), and completes the callback: provider error, ``state``, RFC 9207 ``iss``, code exchange
(``client_secret_post``), ID token, ``acr``, signed userinfo JWT, ``idp_id`` allow-list. It also builds
the RP-initiated logout URL.

Security choices (see /work/shared/domain/identity.md §1, §2, §5, §7):

- Signature algorithms are pinned in the configuration (default ES256, RS256), never read from
  discovery; ``none`` and HS* are refused by ``ProviderConfig`` itself (ANSSI PA-080, ASVS 9.1.2).
- Keys come only from the ``jwks_uri`` of the configured issuer's discovery document (ASVS 9.1.3),
  never from token headers (``jwk``, ``jku``, ``x5u`` are ignored). Only keys with ``use`` ``sig`` or
  no ``use`` are considered. On an unknown ``kid`` or a failed signature the JWKS is reloaded once,
  at most once per ``jwks_min_refresh_seconds``, then the token is refused.
- The userinfo response must be ``application/jwt`` and is verified like the ID token (signature,
  ``iss``, ``aud``, ``sub`` equal to the ID token's). Encrypted userinfo (JWE) is refused.
- The ``acr`` returned is compared with the requested level: ``acr_values`` is only a request.

authlib 1.9 is used for its OAuth 2.0 primitives (token request body, ``client_secret_post``
encoding, PKCE S256 challenge) over our own ``httpx.AsyncClient``: its ``AsyncOAuth2Client`` is a
separate HTTP client (it cannot share an injected one) and importing it warns about httpx2. Signature
verification is joserfc's.

This module knows nothing of Litestar or the database: the caller keeps ``state``, ``nonce`` and
the PKCE verifier in the server-side pre-login session and passes them back to ``complete``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NoReturn, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kernel.clock import SystemClock
from services.kernel.errors import Unauthenticated, Unavailable
from services.kernel.logging import get_logger

__all__ = [
    "AuthRequest",
    "FranceConnectSettings",
    "LoginResult",
    "OidcClient",
    "OidcError",
    "OidcProviderUnavailable",
    "ProConnectSettings",
    "ProviderConfig",
    "provider_configs_from_settings",
]

_log = get_logger("guichet.identity.oidc")

# Asymmetric JWS algorithms a configuration may pin. HS* (shared secret) and "none" never.
_ASYMMETRIC_ALGS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_KEY_TYPE_OF_ALG_PREFIX: dict[str, type[Key]] = {"ES": ECKey, "RS": RSAKey, "PS": RSAKey}
_LABELS = {"franceconnect": "FranceConnect", "proconnect": "ProConnect"}
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_RESPONSE_BYTES = 1_048_576
# Error codes a provider may return on the callback (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
_CALLBACK_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)


def _check_secure_url(value: str, field: str) -> str:
    """https, or http on a loopback address (tests and local development only)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value
    raise ValueError(
        f"{field} doit être une URL https (http n'est admis que sur 127.0.0.1 ou localhost) : "
        f"{value!r}"
    )


# ----- configuration -------------------------------------------------------------------------


class ProviderConfig(BaseModel):
    """What Guichet knows about one OpenID provider and its registration there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="Provider key, also the URL segment of /auth/{name}/login.",
    )
    audience: Literal["citizen", "agent"] = Field(
        description="Who signs in with it: citizens (FranceConnect) or agents (ProConnect)."
    )
    issuer: str = Field(description="Exact issuer, e.g. https://oidc.franceconnect.gouv.fr/api/v2.")
    client_id: str = Field(min_length=1, description="Client id registered at the provider.")
    client_secret: SecretStr = Field(description="Client secret (client_secret_post).")
    redirect_uri: str = Field(min_length=1, description="Registered callback URI, exact.")
    post_logout_redirect_uri: str = Field(
        min_length=1, description="Registered post-logout URI; never taken from user input."
    )
    scopes: tuple[str, ...] = Field(description="Requested scopes; must contain openid.")
    acr_values: tuple[str, ...] = Field(
        default=(), description="acr_values sent by default (FranceConnect: eidas1)."
    )
    acr_levels: tuple[str, ...] = Field(
        default=(),
        description="Known acr values ordered from the lowest to the highest level.",
    )
    algorithms: tuple[str, ...] = Field(
        default=("ES256", "RS256"),
        description="Accepted JWS algorithms, pinned here; none and HS* are refused.",
    )
    leeway_seconds: int = Field(
        default=5, ge=0, le=60, description="Clock skew tolerated on exp, iat and nbf."
    )
    pkce: bool = Field(
        default=False, description="Send a PKCE S256 code_challenge (if the provider accepts it)."
    )
    claims: dict[str, Any] | None = Field(
        default=None, description="OIDC claims request parameter, e.g. amr essential."
    )
    allowed_idp_ids: tuple[str, ...] | None = Field(
        default=None, description="ProConnect identity providers allowed (idp_id); None: any."
    )
    min_state_length: int = Field(
        default=32, ge=22, le=128, description="Minimal length of state and nonce."
    )
    http_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of each call to the provider."
    )
    jwks_min_refresh_seconds: float = Field(
        default=10.0, ge=0, description="Minimal delay between two forced JWKS reloads."
    )
    jwks_cache_seconds: float = Field(
        default=300.0,
        gt=0,
        description="JWKS kept this long before being fetched again (removed keys stop working).",
    )
    metadata_cache_seconds: float = Field(
        default=3600.0, gt=0, description="Discovery document kept this long."
    )
    display_name: str | None = Field(
        default=None, description="Name shown to people; default from the provider key."
    )

    @property
    def label(self) -> str:
        return self.display_name or _LABELS.get(self.name, self.name)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_secure(cls, value: str) -> str:
        return _check_secure_url(value, "issuer")

    @field_validator("scopes")
    @classmethod
    def _scopes_have_openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("les scopes doivent contenir « openid »")
        return value

    @field_validator("algorithms")
    @classmethod
    def _algorithms_are_asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("indiquez au moins un algorithme de signature (ES256 ou RS256)")
        for alg in value:
            if alg not in _ASYMMETRIC_ALGS:
                raise ValueError(
                    f"l'algorithme « {alg} » est refusé : seuls les algorithmes asymétriques "
                    f"({', '.join(sorted(_ASYMMETRIC_ALGS))}) sont admis ; « none » et HS* "
                    "(secret partagé) sont interdits (ANSSI PA-080)"
                )
        return value

    @model_validator(mode="after")
    def _acr_values_are_known(self) -> ProviderConfig:
        unknown = [acr for acr in self.acr_values if acr not in self.acr_levels]
        if unknown:
            raise ValueError(
                f"acr_values {unknown} absents de acr_levels {list(self.acr_levels)} : "
                "ajoutez-les à acr_levels, du plus faible au plus fort"
            )
        return self


def _words(value: str | None, sep: str | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(part.strip() for part in value.split(sep) if part.strip())


class _ProviderSettings(BaseSettings):
    enabled: bool = Field(default=False, description="Offer this provider's login button.")
    issuer: str | None = Field(default=None, description="Exact issuer (base of discovery).")
    client_id: str | None = Field(default=None, description="Client id given by the provider.")
    client_secret: SecretStr | None = Field(default=None, description="Client secret.")
    redirect_uri: str | None = Field(
        default=None,
        description="Callback URI registered at the provider, e.g. https://host/auth/NAME/callback.",
    )
    post_logout_redirect_uri: str | None = Field(
        default=None, description="Post-logout URI registered at the provider."
    )
    pkce: bool = Field(
        default=False,
        description="Send PKCE S256 (whether the provider accepts it is unverified: test first).",
    )
    algorithms: str = Field(
        default="ES256 RS256",
        description="Accepted signature algorithms, space separated (never none or HS*).",
    )
    leeway_seconds: int = Field(default=5, ge=0, le=60, description="Clock skew tolerated.")
    http_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of each call to the provider, in seconds."
    )
    claims: dict[str, Any] | None = Field(
        default=None,
        description='OIDC claims parameter as JSON, e.g. {"id_token":{"amr":{"essential":true}}}.',
    )

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> _ProviderSettings:
        if self.enabled:
            missing = [
                name
                for name in (
                    "issuer",
                    "client_id",
                    "client_secret",
                    "redirect_uri",
                    "post_logout_redirect_uri",
                )
                if getattr(self, name) is None
            ]
            if missing:
                prefix = str(self.model_config.get("env_prefix", ""))
                raise ValueError(
                    "fournisseur activé mais configuration incomplète : définissez "
                    + ", ".join(prefix + name.upper() for name in missing)
                )
        return self


class FranceConnectSettings(_ProviderSettings):
    """FranceConnect v2 (citizens). Production issuer: https://oidc.franceconnect.gouv.fr/api/v2;
    integration: https://fcp-low.sbx.dev-franceconnect.fr/api/v2."""

    model_config = SettingsConfigDict(
        env_prefix="GUICHET_FRANCECONNECT_", extra="ignore", env_file=None
    )

    scopes: str = Field(
        default="openid identite_pivot email preferred_username",
        description="Scopes, space separated; each must be in the DataPass habilitation.",
    )
    acr_values: str = Field(
        default="eidas1", description="acr_values sent, space separated (FC: eidas1)."
    )
    acr_levels: str = Field(
        default="eidas1 eidas2 eidas3",
        description="Known acr values from the lowest to the highest, space separated.",
    )


class ProConnectSettings(_ProviderSettings):
    """ProConnect (agents and business staff). Issuer: https://DOMAIN/api/v2 (see identity.md §2)."""

    model_config = SettingsConfigDict(
        env_prefix="GUICHET_PROCONNECT_", extra="ignore", env_file=None
    )

    scopes: str = Field(
        default="openid given_name usual_name email uid siret idp_id",
        description="Scopes, space separated.",
    )
    acr_values: str = Field(default="eidas1", description="acr_values sent, space separated.")
    acr_levels: str = Field(
        default="eidas0 eidas0-mfa eidas1 eidas1-mfa eidas2 eidas3",
        description=(
            "Known acr values from the lowest to the highest, space separated. The order of the "
            "-mfa variants is a project decision; certification-dirigeant is not a level."
        ),
    )
    allowed_idp_ids: str | None = Field(
        default=None,
        description="Identity providers (idp_id) allowed to log agents in, comma separated; unset: any.",
    )


def _config_from(
    settings: _ProviderSettings,
    *,
    name: str,
    audience: Literal["citizen", "agent"],
    scopes: str,
    acr_values: str,
    acr_levels: str,
    allowed_idp_ids: tuple[str, ...] | None,
) -> ProviderConfig:
    assert settings.client_secret is not None  # checked by _complete_when_enabled
    return ProviderConfig(
        name=name,
        audience=audience,
        issuer=settings.issuer or "",
        client_id=settings.client_id or "",
        client_secret=settings.client_secret,
        redirect_uri=settings.redirect_uri or "",
        post_logout_redirect_uri=settings.post_logout_redirect_uri or "",
        scopes=_words(scopes),
        acr_values=_words(acr_values),
        acr_levels=_words(acr_levels),
        algorithms=_words(settings.algorithms),
        leeway_seconds=settings.leeway_seconds,
        pkce=settings.pkce,
        claims=settings.claims,
        allowed_idp_ids=allowed_idp_ids,
        http_timeout_seconds=settings.http_timeout_seconds,
    )


def provider_configs_from_settings() -> dict[str, ProviderConfig]:
    """The enabled providers, keyed by name. Reads the environment; call it once at start-up."""
    configs: dict[str, ProviderConfig] = {}
    fc = FranceConnectSettings()
    if fc.enabled:
        configs["franceconnect"] = _config_from(
            fc,
            name="franceconnect",
            audience="citizen",
            scopes=fc.scopes,
            acr_values=fc.acr_values,
            acr_levels=fc.acr_levels,
            allowed_idp_ids=None,
        )
    pc = ProConnectSettings()
    if pc.enabled:
        idps = _words(pc.allowed_idp_ids, ",")
        configs["proconnect"] = _config_from(
            pc,
            name="proconnect",
            audience="agent",
            scopes=pc.scopes,
            acr_values=pc.acr_values,
            acr_levels=pc.acr_levels,
            allowed_idp_ids=idps if pc.allowed_idp_ids is not None else None,
        )
    return configs


# ----- errors and results ---------------------------------------------------------------------


class OidcError(Unauthenticated):
    """A federated login failed. ``code`` is a stable machine code (also the problem type);
    ``detail`` is French and tells the person what to do. HTTP 401."""

    title = "Connexion impossible"

    def __init__(
        self, code: str, detail: str, *, provider: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail, extra={"provider": provider, **(extra or {})})
        self.code = code
        self.provider = provider


class OidcProviderUnavailable(Unavailable, OidcError):
    """The provider cannot be reached or answers unusably. HTTP 503."""

    title = "Service d'identification indisponible"


@dataclass(frozen=True)
class AuthRequest:
    """Where to send the browser, and what to keep in the pre-login session (single use)."""

    url: str
    state: str
    nonce: str
    code_verifier: str | None
    acr_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoginResult:
    issuer: str
    subject: str
    acr: str
    amr: tuple[str, ...]
    id_token: str
    id_token_claims: dict[str, Any]
    userinfo: dict[str, Any]
    idp_id: str | None
    auth_time: int | None


# ----- helpers --------------------------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two non-empty strings."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _clean(value: object, limit: int = 120) -> str:
    """Untrusted text made safe to show: printable, short."""
    text = "".join(ch for ch in str(value) if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _b64_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _add_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _at_hash(access_token: str, alg: str) -> str:
    bits = int(alg[2:])
    digest = hashlib.new(f"sha{bits}", access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _is_secure_endpoint(url: object) -> TypeGuard[str]:
    if not isinstance(url, str):
        return False
    try:
        _check_secure_url(url, "endpoint")
    except ValueError:
        return False
    return True


# ----- the client -----------------------------------------------------------------------------


class OidcClient:
    """Relying party for one provider. Keeps discovery and JWKS in memory."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=config.http_timeout_seconds, follow_redirects=False
        )
        self._now = now or SystemClock().now
        self._metadata: dict[str, Any] | None = None
        self._metadata_at: datetime | None = None
        self._metadata_lock = asyncio.Lock()
        self._keys: list[Key] | None = None
        self._keys_at: datetime | None = None
        self._keys_generation = 0
        self._last_forced_reload: datetime | None = None
        self._keys_lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- errors

    def _fail(self, code: str, reason: str, *, extra: dict[str, Any] | None = None) -> NoReturn:
        label = self.config.label
        _log.warning("oidc login refused", provider=self.config.name, code=code)
        raise OidcError(
            code,
            f"La connexion {label} a échoué : {reason} "
            f"Recommencez la connexion depuis le bouton {label}.",
            provider=self.config.name,
            extra=extra,
        )

    def _unavailable(
        self, code: str, reason: str, *, extra: dict[str, Any] | None = None
    ) -> NoReturn:
        label = self.config.label
        _log.warning("oidc provider unavailable", provider=self.config.name, code=code)
        raise OidcProviderUnavailable(
            code,
            f"La connexion {label} est momentanément impossible : {reason} "
            "Réessayez dans quelques minutes ; si le problème persiste, signalez-le au support.",
            provider=self.config.name,
            extra=extra,
        )

    # --- HTTP

    async def _get(
        self, url: str, *, what: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return await self._http.get(
                url, headers=headers, timeout=self.config.http_timeout_seconds
            )
        except httpx.HTTPError:
            self._unavailable(
                "provider_unreachable", f"le fournisseur d'identité ne répond pas ({what})."
            )

    async def _get_json(self, url: str, *, what: str, code: str) -> dict[str, Any]:
        response = await self._get(url, what=what)
        if response.status_code != 200 or len(response.content) > _MAX_RESPONSE_BYTES:
            self._unavailable(
                code, f"le fournisseur d'identité a répondu HTTP {response.status_code} ({what})."
            )
        try:
            body = response.json()
        except ValueError:
            self._unavailable(code, f"la réponse du fournisseur est illisible ({what}).")
        if not isinstance(body, dict):
            self._unavailable(code, f"la réponse du fournisseur est illisible ({what}).")
        return body

    def _age(self, since: datetime | None) -> float:
        if since is None:
            return float("inf")
        return (self._now() - since).total_seconds()

    # --- discovery

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, cached; its issuer must equal ours exactly."""
        async with self._metadata_lock:
            if (
                self._metadata is not None
                and self._age(self._metadata_at) < self.config.metadata_cache_seconds
            ):
                return self._metadata
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            meta = await self._get_json(url, what="découverte", code="discovery_failed")
            if meta.get("issuer") != self.config.issuer:
                self._unavailable(
                    "discovery_issuer_mismatch",
                    "le document de découverte annonce un autre émetteur que celui configuré "
                    f"(« {_clean(meta.get('issuer'))} » au lieu de « {self.config.issuer} »).",
                )
            for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not _is_secure_endpoint(meta.get(endpoint)):
                    self._unavailable(
                        "discovery_failed",
                        f"le document de découverte n'indique pas de « {endpoint} » valide.",
                    )
            self._metadata, self._metadata_at = meta, self._now()
            return meta

    # --- keys

    async def _fetch_keys(self) -> list[Key]:
        meta = await self.metadata()
        body = await self._get_json(meta["jwks_uri"], what="clés publiques", code="jwks_failed")
        raw_keys = body.get("keys")
        if not isinstance(raw_keys, list):
            self._unavailable("jwks_failed", "le jeu de clés publiques (JWKS) est illisible.")
        keys: list[Key] = []
        for data in raw_keys:
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue
            try:
                key = JWKRegistry.import_key(data)
            except (JoseError, ValueError, TypeError):
                continue  # a key we cannot read is a key we do not trust
            if key.is_private:
                continue  # a provider publishing private keys is misconfigured; ignore them
            keys.append(key)
        if not keys:
            self._unavailable("jwks_failed", "le jeu de clés publiques (JWKS) est vide.")
        return keys

    async def _current_keys(self) -> tuple[list[Key], int, bool]:
        """(keys, generation, fetched by this call)."""
        async with self._keys_lock:
            if self._keys is not None and self._age(self._keys_at) < self.config.jwks_cache_seconds:
                return self._keys, self._keys_generation, False
            self._keys = await self._fetch_keys()
            self._keys_at = self._now()
            self._keys_generation += 1
            return self._keys, self._keys_generation, True

    async def _reload_keys(self, seen_generation: int) -> tuple[list[Key], int] | None:
        """Force one reload, rate-limited; None when not allowed now."""
        async with self._keys_lock:
            if self._keys is not None and self._keys_generation != seen_generation:
                return self._keys, self._keys_generation  # someone reloaded meanwhile
            if self._age(self._last_forced_reload) < self.config.jwks_min_refresh_seconds:
                return None
            self._last_forced_reload = self._now()
            self._keys = await self._fetch_keys()
            self._keys_at = self._now()
            self._keys_generation += 1
            return self._keys, self._keys_generation

    @staticmethod
    def _candidates(keys: list[Key], alg: str, kid: object) -> list[Key]:
        key_type = _KEY_TYPE_OF_ALG_PREFIX[alg[:2]]
        found = [
            key
            for key in keys
            if isinstance(key, key_type)
            and key.get("alg") in (None, alg)
            and (kid is None or key.kid == kid)
        ]
        if kid is None and len(found) != 1:
            return []  # OIDC Core §10.1: several keys need a kid
        return found

    # --- JWS verification

    async def _verify_jws(self, raw: str, *, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Signature only: returns (header, claims)."""
        segments = raw.split(".")
        if len(segments) == 5:
            self._fail(
                "encrypted_not_supported",
                f"{what} est chiffré (JWE), ce que ce service ne prend pas en charge ; "
                "la configuration du service auprès du fournisseur doit être corrigée.",
            )
        try:
            if len(segments) != 3:
                raise ValueError("not a compact JWS")
            header = _b64_json(segments[0])
            if not isinstance(header, dict):
                raise ValueError("header is not an object")
            obj = jws.extract_compact(raw.encode("ascii"))
        except (ValueError, UnicodeError, JoseError):
            self._fail("malformed_token", f"{what} est illisible.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            self._fail(
                "alg_not_allowed",
                f"{what} est signé avec un algorithme refusé (« {_clean(alg)} » ; "
                f"admis : {', '.join(self.config.algorithms)}).",
            )
        kid = header.get("kid")
        keys, generation, fresh = await self._current_keys()
        reloaded = fresh
        while True:
            candidates = self._candidates(keys, alg, kid)
            verified = False
            for key in candidates:
                try:
                    verified = jws.validate_compact(obj, key, algorithms=[alg])
                except (JoseError, ValueError):
                    verified = False
                if verified:
                    break
            if verified:
                break
            reload = None if reloaded else await self._reload_keys(generation)
            reloaded = True
            if reload is None:
                if not candidates:
                    self._fail(
                        "unknown_kid",
                        f"{what} est signé avec une clé que le fournisseur ne publie pas.",
                    )
                self._fail("bad_signature", f"{what} porte une signature invalide.")
            keys, generation = reload
        try:
            claims = json.loads(obj.payload or b"")
        except ValueError:
            self._fail("malformed_token", f"{what} est illisible.")
        if not isinstance(claims, dict):
            self._fail("malformed_token", f"{what} est illisible.")
        return header, claims

    def _check_claims(self, claims: dict[str, Any], *, what: str, id_token: bool) -> None:
        cfg = self.config
        if claims.get("iss") != cfg.issuer:
            self._fail(
                "iss_mismatch",
                f"{what} ne vient pas du fournisseur attendu (émetteur « iss » différent).",
            )
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if (
            not isinstance(audiences, list)
            or not all(isinstance(a, str) for a in audiences)
            or cfg.client_id not in audiences
        ):
            self._fail(
                "aud_mismatch",
                f"{what} n'est pas destiné à ce service (destinataire « aud » différent).",
            )
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != cfg.client_id:
            self._fail(
                "azp_mismatch",
                f"{what} a plusieurs destinataires sans désigner ce service (« azp »).",
            )
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            self._fail("claims_invalid", f"{what} ne contient pas d'identifiant « sub ».")
        now = self._now().timestamp()
        leeway = cfg.leeway_seconds
        for name in ("exp", "iat"):
            if (id_token or name in claims) and not _is_number(claims.get(name)):
                self._fail("claims_invalid", f"{what} a un champ « {name} » absent ou invalide.")
        if "nbf" in claims and not _is_number(claims["nbf"]):
            self._fail("claims_invalid", f"{what} a un champ « nbf » invalide.")
        if "exp" in claims and claims["exp"] <= now - leeway:
            self._fail("expired", f"{what} a expiré.")
        if "iat" in claims and claims["iat"] > now + leeway:
            self._fail("not_yet_valid", f"{what} est daté dans le futur.")
        if "nbf" in claims and claims["nbf"] > now + leeway:
            self._fail("not_yet_valid", f"{what} n'est pas encore valide.")

    async def _verify_id_token(
        self, raw: str, *, nonce: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        what = "le jeton d'identité"
        header, claims = await self._verify_jws(raw, what=what)
        self._check_claims(claims, what=what, id_token=True)
        returned = claims.get("nonce")
        if not isinstance(returned, str) or not _same(returned, nonce):
            self._fail(
                "nonce_mismatch",
                "le jeton d'identité ne correspond pas à cette demande de connexion "
                "(« nonce » différent ou déjà utilisé).",
            )
        return header, claims

    async def verify_id_token(self, raw: str, *, nonce: str) -> dict[str, Any]:
        """Verify signature and claims of an ID token (OIDC Core §3.1.3.7); returns its claims."""
        _, claims = await self._verify_id_token(raw, nonce=nonce)
        return claims

    # --- userinfo

    async def fetch_userinfo(self, access_token: str, *, expected_sub: str) -> dict[str, Any]:
        """The signed userinfo JWT, verified like the ID token; its sub must be expected_sub."""
        meta = await self.metadata()
        endpoint = meta.get("userinfo_endpoint")
        if not _is_secure_endpoint(endpoint):
            self._unavailable(
                "discovery_failed",
                "le document de découverte n'indique pas de « userinfo_endpoint » valide.",
            )
        what = "le jeton d'informations d'identité (userinfo)"
        response = await self._get(
            endpoint,
            what="userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/jwt"},
        )
        if response.status_code >= 500:
            self._unavailable(
                "provider_unreachable",
                f"le fournisseur d'identité a répondu HTTP {response.status_code} (userinfo).",
            )
        if response.status_code != 200:
            self._fail(
                "userinfo_failed",
                "le fournisseur a refusé de transmettre les informations d'identité "
                f"(HTTP {response.status_code}).",
                extra={"http_status": response.status_code},
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/jwt":
            self._fail(
                "userinfo_not_jwt",
                "les informations d'identité n'ont pas été transmises signées (JWT), "
                "comme ce service l'exige.",
            )
        if len(response.content) > _MAX_RESPONSE_BYTES:
            self._fail("malformed_token", f"{what} est trop volumineux.")
        _, claims = await self._verify_jws(response.text.strip(), what=what)
        self._check_claims(claims, what=what, id_token=False)
        if not _same(claims.get("sub"), expected_sub):
            self._fail(
                "userinfo_sub_mismatch",
                "les informations d'identité reçues concernent une autre personne que le jeton "
                "d'identité (« sub » différent).",
            )
        return claims

    # --- acr

    def check_acr(self, returned: str | None, requested: Sequence[str]) -> None:
        """The returned acr must be at least the lowest requested level (FC: eidas3 ≥ eidas2).

        Nothing requested: nothing to check. A requested value absent from ``acr_levels`` is a
        programming error (ValueError), not a login failure."""
        if not requested:
            return
        levels = self.config.acr_levels
        unknown = [acr for acr in requested if acr not in levels]
        if unknown:
            raise ValueError(f"acr {unknown} unknown to provider {self.config.name!r}")
        minimum = min(requested, key=levels.index)
        if (
            returned is None
            or returned not in levels
            or levels.index(returned) < levels.index(minimum)
        ):
            shown = _clean(returned) if returned else "aucun"
            self._fail(
                "acr_too_low",
                f"le niveau de garantie obtenu ({shown}) est inférieur au niveau exigé "
                f"({minimum}) ; choisissez un moyen d'identification de niveau {minimum} "
                "ou supérieur.",
                extra={"acr": returned, "required_acr": minimum},
            )

    # --- authorization request

    async def authorization_request(
        self, *, acr_values: Sequence[str] | None = None
    ) -> AuthRequest:
        """A fresh authorization request: random state and nonce, PKCE S256 if configured."""
        cfg = self.config
        acr = tuple(acr_values) if acr_values is not None else cfg.acr_values
        unknown = [value for value in acr if value not in cfg.acr_levels]
        if unknown:
            raise ValueError(f"acr {unknown} unknown to provider {cfg.name!r}")
        meta = await self.metadata()
        nbytes = max(32, (cfg.min_state_length * 3) // 4 + 1)
        state = secrets.token_urlsafe(nbytes)
        nonce = secrets.token_urlsafe(nbytes)
        params: list[tuple[str, str]] = [
            ("response_type", "code"),
            ("client_id", cfg.client_id),
            ("redirect_uri", cfg.redirect_uri),
            ("scope", " ".join(cfg.scopes)),
            ("state", state),
            ("nonce", nonce),
        ]
        if acr:
            params.append(("acr_values", " ".join(acr)))
        if cfg.claims is not None:
            params.append(("claims", json.dumps(cfg.claims, separators=(",", ":"))))
        code_verifier: str | None = None
        if cfg.pkce:
            code_verifier = secrets.token_urlsafe(64)  # 86 characters (RFC 7636: 43 to 128)
            params.append(("code_challenge", create_s256_code_challenge(code_verifier)))
            params.append(("code_challenge_method", "S256"))
        url = _add_query(meta["authorization_endpoint"], params)
        return AuthRequest(
            url=url, state=state, nonce=nonce, code_verifier=code_verifier, acr_values=acr
        )

    # --- callback

    def _provider_error(self, params: Mapping[str, str], *, state_ok: bool) -> NoReturn:
        """Error returned on the callback (OIDC Core §3.1.2.6). Anyone can forge such a link, so
        the provider's free-text description is shown only when ``state`` proves the response
        belongs to this browser's login, and unknown error codes are not echoed."""
        raw = params.get("error", "")
        error = raw if raw in _CALLBACK_ERRORS else "inconnue"
        label = self.config.label
        extra = {"provider_error": error}
        if error == "access_denied":
            _log.info("oidc login cancelled", provider=self.config.name)
            raise OidcError(
                "provider_error",
                f"Vous avez annulé la connexion {label} (ou refusé de transmettre vos "
                f"informations) : aucune donnée n'a été reçue. Pour vous connecter, recommencez "
                f"depuis le bouton {label}.",
                provider=self.config.name,
                extra=extra,
            )
        reason = f"le fournisseur d'identité a renvoyé l'erreur « {error} »"
        description = _clean(params.get("error_description") or "", 200)
        if description and state_ok:
            reason += f" ({description})"
        if error in ("temporarily_unavailable", "server_error"):
            self._unavailable("provider_error", reason + ".", extra=extra)
        self._fail("provider_error", reason + ".", extra=extra)

    async def _exchange_code(self, code: str, code_verifier: str | None) -> tuple[str, str]:
        """(id_token, access_token) from the token endpoint, client_secret_post."""
        cfg = self.config
        meta = await self.metadata()
        url = meta["token_endpoint"]
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=cfg.redirect_uri,
            code_verifier=code_verifier,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        auth = ClientAuth(cfg.client_id, cfg.client_secret.get_secret_value(), "client_secret_post")
        url, headers, body = auth.prepare("POST", url, headers, body)
        try:
            response = await self._http.post(
                url, content=body, headers=headers, timeout=cfg.http_timeout_seconds
            )
        except httpx.HTTPError:
            self._unavailable(
                "provider_unreachable", "le fournisseur d'identité ne répond pas (jeton)."
            )
        if response.status_code >= 500:
            self._unavailable(
                "provider_unreachable",
                f"le fournisseur d'identité a répondu HTTP {response.status_code} (jeton).",
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        if response.status_code != 200 or "error" in data:
            error = _clean(data.get("error") or f"HTTP {response.status_code}", 60)
            self._fail(
                "token_exchange_failed",
                f"le fournisseur a refusé le code de connexion ({error}) ; il a peut-être "
                "expiré ou déjà servi.",
                extra={"provider_error": error},
            )
        id_token, access_token = data.get("id_token"), data.get("access_token")
        token_type = data.get("token_type")
        if (
            not isinstance(id_token, str)
            or not isinstance(access_token, str)
            or not access_token
            or not isinstance(token_type, str)
            or token_type.lower() != "bearer"
        ):
            self._fail(
                "token_exchange_failed",
                "la réponse du fournisseur ne contient pas les jetons attendus.",
            )
        return id_token, access_token

    async def complete(
        self,
        *,
        params: Mapping[str, str],
        expected_state: str,
        nonce: str,
        code_verifier: str | None,
        requested_acr: Sequence[str] | None = None,
    ) -> LoginResult:
        """Finish the login from the callback's query parameters. Raises OidcError."""
        cfg = self.config
        if params.get("error"):
            self._provider_error(params, state_ok=_same(params.get("state"), expected_state))
        if not _same(params.get("state"), expected_state):
            self._fail(
                "state_mismatch",
                "la réponse reçue ne correspond pas à votre demande de connexion (paramètre "
                "« state » absent ou différent), ou cette demande a déjà servi.",
            )
        meta = await self.metadata()
        iss = params.get("iss")
        if iss is None and meta.get("authorization_response_iss_parameter_supported") is True:
            self._fail(
                "iss_mismatch",
                "la réponse ne précise pas quel fournisseur l'a émise (paramètre « iss » absent).",
            )
        if iss is not None and iss != cfg.issuer:
            self._fail(
                "iss_mismatch",
                "la réponse vient d'un autre fournisseur que celui choisi (paramètre « iss » "
                "différent).",
            )
        code = params.get("code")
        if not code:
            self._fail("code_missing", "la réponse ne contient pas de code d'autorisation.")
        id_token, access_token = await self._exchange_code(code, code_verifier)
        header, claims = await self._verify_id_token(id_token, nonce=nonce)
        at_hash = claims.get("at_hash")
        if at_hash is not None and not _same(
            str(at_hash), _at_hash(access_token, str(header["alg"]))
        ):
            self._fail(
                "at_hash_mismatch",
                "le jeton d'accès ne correspond pas au jeton d'identité (« at_hash »).",
            )
        requested = tuple(requested_acr) if requested_acr is not None else cfg.acr_values
        acr = claims.get("acr")
        self.check_acr(acr if isinstance(acr, str) else None, requested)
        subject = str(claims["sub"])
        userinfo = await self.fetch_userinfo(access_token, expected_sub=subject)
        idp_id = userinfo.get("idp_id", claims.get("idp_id"))
        idp = idp_id if isinstance(idp_id, str) and idp_id else None
        if cfg.allowed_idp_ids is not None and idp not in cfg.allowed_idp_ids:
            self._fail(
                "idp_not_allowed",
                f"le fournisseur d'identité utilisé ({_clean(idp) if idp else 'inconnu'}) "
                "n'est pas autorisé pour ce service ; connectez-vous avec un compte d'un "
                "fournisseur autorisé ou contactez votre administrateur.",
                extra={"idp_id": idp},
            )
        amr = claims.get("amr")
        amr_values: tuple[str, ...] = ()
        if isinstance(amr, str):
            amr_values = (amr,)
        elif isinstance(amr, list):
            amr_values = tuple(str(item) for item in amr)
        auth_time = claims.get("auth_time")
        return LoginResult(
            issuer=cfg.issuer,
            subject=subject,
            acr=acr if isinstance(acr, str) else "",
            amr=amr_values,
            id_token=id_token,
            id_token_claims=claims,
            userinfo=userinfo,
            idp_id=idp,
            auth_time=int(auth_time) if _is_number(auth_time) else None,
        )

    # --- logout

    async def end_session_url(self, *, id_token_hint: str, state: str) -> str:
        """RP-initiated logout URL: id_token_hint, state, the configured post-logout URI."""
        meta = await self.metadata()
        endpoint = meta.get("end_session_endpoint")
        if not _is_secure_endpoint(endpoint):
            self._unavailable(
                "logout_unsupported",
                "le fournisseur n'indique pas d'adresse de déconnexion (end_session_endpoint).",
            )
        return _add_query(
            endpoint,
            [
                ("id_token_hint", id_token_hint),
                ("state", state),
                ("post_logout_redirect_uri", self.config.post_logout_redirect_uri),
                ("client_id", self.config.client_id),
            ],
        )

    def check_logout_state(self, returned: str | None, expected: str) -> None:
        """The state echoed after logout must be the one we sent (constant-time)."""
        if not _same(returned, expected):
            label = self.config.label
            raise OidcError(
                "state_mismatch",
                f"Le retour de déconnexion {label} ne correspond pas à votre demande "
                "(paramètre « state » absent ou différent). Votre session Guichet est "
                f"bien fermée ; pour fermer aussi la session {label}, déconnectez-vous "
                "depuis le site du fournisseur.",
                provider=self.config.name,
            )
