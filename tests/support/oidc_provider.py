"""Local FranceConnect-like and ProConnect-like OpenID providers for the tests.

Each provider is one ``node tests/oidc/provider.mjs CONFIG.json`` process running panva's
oidc-provider (pinned in package.json), the engine FranceConnect and ProConnect run. This module
builds the JSON configuration (keys, clients, fixture accounts), starts the process on a free
port, waits until its discovery document answers, and stops it.

    with running_provider("franceconnect", tmp_path, clients=[guichet_client(...)]) as fc:
        discovery = httpx.get(fc.discovery_url).json()

No pytest fixture lives here: the conftest files decide the scopes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from joserfc.jwk import ECKey, RSAKey

Profile = Literal["franceconnect", "proconnect"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = REPO_ROOT / "tests" / "oidc" / "provider.mjs"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

# ----- keys ----------------------------------------------------------------------------------


def generate_jwks(es_kid: str = "es-1", rs_kid: str = "rs-1") -> list[dict[str, Any]]:
    """Private signing JWKs: an EC P-256 key (ES256) and an RSA 2048 key (RS256)."""
    ec = ECKey.generate_key("P-256")
    rsa = RSAKey.generate_key(2048)
    return [
        dict(ec.as_dict(private=True, kid=es_kid, alg="ES256", use="sig")),
        dict(rsa.as_dict(private=True, kid=rs_kid, alg="RS256", use="sig")),
    ]


def public_jwks(jwks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The public part of private JWKs, as a provider publishes them."""
    private_members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    return [{k: v for k, v in key.items() if k not in private_members} for key in jwks]


# ----- clients -------------------------------------------------------------------------------


def guichet_client(
    client_id: str,
    secret: str,
    redirect_uri: str,
    post_logout_uri: str | None,
    alg: str = "ES256",
    *,
    userinfo_alg: str | None = None,
    signed_userinfo: bool = True,
) -> dict[str, Any]:
    """Client metadata as FranceConnect and ProConnect register a confidential client.

    ``alg`` signs the ID token; the userinfo response is a JWT signed with ``userinfo_alg``
    (default: ``alg``), or plain JSON when ``signed_userinfo`` is false. HS256 needs a secret of
    at least 32 characters (the engine signs with the client secret).
    """
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": secret,
        "client_name": client_id,
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [post_logout_uri] if post_logout_uri else [],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_post",
        "id_token_signed_response_alg": alg,
    }
    if signed_userinfo:
        client["userinfo_signed_response_alg"] = userinfo_alg or alg
    return client


def client_secret() -> str:
    """A random secret long enough for every algorithm (HS256 included)."""
    return secrets.token_urlsafe(32)


# ----- fixture people ------------------------------------------------------------------------

FC_IDP_ID = "fip1-low"
MAIRIE_SIRET = "21690123100011"  # SIREN 216901231: a commune (catégorie juridique 72xx)
MAIRIE_SIREN = MAIRIE_SIRET[:9]
COMPANY_SIRET = "82316945300011"
COMPANY_SIREN = COMPANY_SIRET[:9]
FOREIGN_SIRET = "44306184100013"
PC_IDP_AGENTS = "71144ab3-ee1a-4401-b7b3-79b44f7daeeb"  # ProConnect Identité-like provider
PC_IDP_COMPANY = "b7c1f0d2-4a55-4e0c-9a52-6a1f8b1f4c11"
PC_IDP_FOREIGN = "0f3a9c5e-1d2b-4e7f-8a6c-5b4d3e2f1a09"  # outside any allow-list of the tests
PC_IDP_ALLOWED = (PC_IDP_AGENTS, PC_IDP_COMPANY)
PC_AGENT_ID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
PC_EMPLOYEE_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
PC_DIRIGEANT_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
PC_FOREIGN_ID = "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a"

_MARIE_PIVOT = {
    "given_name": "Marie-Claire",
    "given_name_array": ["Marie-Claire"],
    "family_name": "DUPONT",
    "birthdate": "1985-03-12",
    "gender": "female",
    "birthplace": "69123",
    "birthcountry": "99100",
}


def fc_accounts() -> dict[str, dict[str, Any]]:
    """FranceConnect fixture citizens: account id → claims (``sub`` is computed pairwise)."""
    return {
        "marie": {
            **_MARIE_PIVOT,
            "email": "marie.dupont@example.fr",
            "preferred_username": "MARTIN",
            "idp_id": FC_IDP_ID,
            "idp_birthdate": _MARIE_PIVOT["birthdate"],
        },
        # The same person after a civil-status correction of her birthdate: FranceConnect
        # derives the sub from the pivot identity, so the sub changes.
        "marie-corrected": {
            **_MARIE_PIVOT,
            "birthdate": "1985-03-21",
            "email": "marie.dupont@example.fr",
            "preferred_username": "MARTIN",
            "idp_id": FC_IDP_ID,
            "idp_birthdate": "1985-03-21",
        },
        # Tests use this e-mail for a local account too: it must never link by itself.
        "jean": {
            "given_name": "Jean Pierre",
            "given_name_array": ["Jean", "Pierre"],
            "family_name": "MARTIN",
            "birthdate": "1972-11-02",
            "gender": "male",
            "birthplace": "75056",
            "birthcountry": "99100",
            "email": "collision@example.fr",
            "preferred_username": "",
            "idp_id": FC_IDP_ID,
            "idp_birthdate": "1972-11-02",
        },
        # Born abroad: empty birthplace, foreign country code; birth day presumed (01).
        "amina": {
            "given_name": "Amina Leïla",
            "given_name_array": ["Amina", "Leïla"],
            "family_name": "BENALI",
            "birthdate": "1990-07-01",
            "gender": "female",
            "birthplace": "",
            "birthcountry": "99350",
            "email": "amina.benali@example.org",
            "preferred_username": "",
            "idp_id": FC_IDP_ID,
            "idp_birthdate": "1990-07-01",
        },
    }


def pc_accounts() -> dict[str, dict[str, Any]]:
    """ProConnect fixture staff: UUIDv4 account id (the public ``sub``) → claims."""
    return {
        PC_AGENT_ID: {
            "given_name": "Sophie",
            "usual_name": "BERNARD",
            "email": "sophie.bernard@mairie-exemple.fr",
            "uid": "sbernard",
            "siret": MAIRIE_SIRET,
            "siren": MAIRIE_SIREN,
            "idp_id": PC_IDP_AGENTS,
            "organizational_unit": "Service urbanisme",
            "belonging_population": "agent",
            "phone_number": "+33 4 72 00 00 01",
        },
        PC_EMPLOYEE_ID: {
            "given_name": "Karim",
            "usual_name": "LEFEBVRE",
            "email": "k.lefebvre@btp-exemple.fr",
            "uid": "klefebvre",
            "siret": COMPANY_SIRET,
            "siren": COMPANY_SIREN,
            "idp_id": PC_IDP_COMPANY,
            "organizational_unit": "Comptabilité",
            "belonging_population": "agent",
            "chorusdt": "",
        },
        PC_DIRIGEANT_ID: {
            "given_name": "Hélène",
            "usual_name": "ROUSSEAU",
            "email": "h.rousseau@btp-exemple.fr",
            "uid": "hrousseau",
            "siret": COMPANY_SIRET,
            "siren": COMPANY_SIREN,
            "idp_id": PC_IDP_COMPANY,
            "organizational_unit": "Direction",
            "belonging_population": "agent",
        },
        PC_FOREIGN_ID: {
            "given_name": "Paul",
            "usual_name": "DURAND",
            "email": "paul.durand@ailleurs.example",
            "uid": "pdurand",
            "siret": FOREIGN_SIRET,
            "siren": FOREIGN_SIRET[:9],
            "idp_id": PC_IDP_FOREIGN,
            "belonging_population": "prestataire",
        },
    }


PC_ACCOUNT_NAMES = {
    "agent": PC_AGENT_ID,
    "employee": PC_EMPLOYEE_ID,
    "dirigeant": PC_DIRIGEANT_ID,
    "foreign": PC_FOREIGN_ID,
}


# ----- the process ---------------------------------------------------------------------------


def free_port() -> int:
    """A port free right now on 127.0.0.1 (bound, read, closed: the provider reuses it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ProviderStartError(RuntimeError):
    """The provider process did not come up."""


@dataclass
class ProviderProcess:
    issuer: str
    port: int
    config_path: Path
    jwks: list[dict[str, Any]]
    process: subprocess.Popen[bytes]
    config: dict[str, Any] = field(repr=False)
    log_dir: Path = field(repr=False)

    @property
    def profile(self) -> Profile:
        profile: Profile = self.config["profile"]
        return profile

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/userinfo"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.issuer}/session/end"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def public_jwks(self) -> dict[str, Any]:
        return {"keys": public_jwks(self.jwks)}

    def stderr(self) -> str:
        """What the process wrote on stderr so far (warnings, stack traces)."""
        path = self.log_dir / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, jwks: list[dict[str, Any]] | None = None) -> None:
        """Stop and start again on the same port and issuer, with new keys (rotation tests).

        ``jwks=None`` generates a fresh ES256 + RS256 pair with new kids. The engine keeps its
        state in memory: sessions, codes and tokens of the previous run are gone.
        """
        self.stop()
        if jwks is None:
            tag = secrets.token_hex(3)
            jwks = generate_jwks(es_kid=f"es-{tag}", rs_kid=f"rs-{tag}")
        self.jwks = jwks
        self.config["jwks"] = jwks
        self.process = _spawn(self.config, self.config_path, self.log_dir)
        _wait_ready(self)


def _spawn(config: dict[str, Any], config_path: Path, log_dir: Path) -> subprocess.Popen[bytes]:
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NODE_ENV": "test"}
    with (
        (log_dir / "stdout.log").open("wb") as out,
        (log_dir / "stderr.log").open("wb") as err,
    ):
        return subprocess.Popen(
            ["node", str(PROVIDER_SCRIPT), str(config_path)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
        )


def _wait_ready(provider: ProviderProcess, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    stdout = provider.log_dir / "stdout.log"
    ready = f"READY {provider.issuer}"
    while ready not in stdout.read_text(errors="replace"):
        if provider.process.poll() is not None:
            raise ProviderStartError(
                f"the {provider.profile} provider exited with code {provider.process.returncode}:\n"
                f"{provider.stderr()}"
            )
        if time.monotonic() > deadline:
            provider.stop()
            raise ProviderStartError(
                f"the {provider.profile} provider did not print READY within {timeout:.0f} s:\n"
                f"{provider.stderr()}"
            )
        time.sleep(0.05)
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(provider.discovery_url, timeout=2.0)
            if r.status_code == 200 and r.json().get("issuer") == provider.issuer:
                return
            last_error = RuntimeError(f"discovery answered {r.status_code}: {r.text[:200]}")
        except httpx.HTTPError as exc:
            last_error = exc
        time.sleep(0.05)
    provider.stop()
    raise ProviderStartError(
        f"the {provider.profile} provider's discovery did not answer: {last_error}\n"
        f"{provider.stderr()}"
    )


def start_provider(
    profile: Profile,
    tmp_path: Path,
    *,
    clients: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    jwks: list[dict[str, Any]] | None = None,
    ttl: Mapping[str, int] | None = None,
    acr_values: Sequence[str] | None = None,
    pairwise_salt: str | None = None,
    port: int | None = None,
) -> ProviderProcess:
    """Start one provider and wait until its discovery document answers.

    ``accounts`` defaults to :func:`fc_accounts` / :func:`pc_accounts`, ``jwks`` to
    :func:`generate_jwks`. ``ttl`` overrides AuthorizationCode, AccessToken, IdToken, Session,
    Interaction (seconds). The caller must call :meth:`ProviderProcess.stop` (or use
    :func:`running_provider`).
    """
    if shutil.which("node") is None:
        raise ProviderStartError("node is not installed: run scripts/npm_ci.sh (Node.js >= 20)")
    if not (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        raise ProviderStartError("oidc-provider is not installed: run scripts/npm_ci.sh")
    attempts = 1 if port else 3
    for attempt in range(attempts):
        try:
            return _start_once(
                profile,
                tmp_path,
                port=port or free_port(),
                clients=clients,
                accounts=accounts,
                jwks=jwks,
                ttl=ttl,
                acr_values=acr_values,
                pairwise_salt=pairwise_salt,
            )
        except ProviderStartError as exc:
            # Another process took the free port between our probe and node's bind: retry.
            if "EADDRINUSE" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_once(
    profile: Profile,
    tmp_path: Path,
    *,
    port: int,
    clients: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, Any]] | None,
    jwks: list[dict[str, Any]] | None,
    ttl: Mapping[str, int] | None,
    acr_values: Sequence[str] | None,
    pairwise_salt: str | None,
) -> ProviderProcess:
    issuer = f"http://127.0.0.1:{port}/api/v2"
    if accounts is None:
        accounts = fc_accounts() if profile == "franceconnect" else pc_accounts()
    keys = jwks if jwks is not None else generate_jwks()
    config: dict[str, Any] = {
        "port": port,
        "issuer": issuer,
        "profile": profile,
        "jwks": keys,
        "clients": [dict(c) for c in clients],
        "accounts": {k: dict(v) for k, v in accounts.items()},
        "ttl": dict(ttl or {}),
        "cookie_keys": [secrets.token_urlsafe(24)],
    }
    if acr_values is not None:
        config["acr_values"] = list(acr_values)
    if pairwise_salt is not None:
        config["pairwise_salt"] = pairwise_salt
    workdir = tmp_path / f"oidc-{profile}-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.json"
    provider = ProviderProcess(
        issuer=issuer,
        port=port,
        config_path=config_path,
        jwks=keys,
        process=_spawn(config, config_path, workdir),
        config=config,
        log_dir=workdir,
    )
    try:
        _wait_ready(provider)
    except BaseException:
        provider.stop()
        raise
    return provider


@contextmanager
def running_provider(
    profile: Profile,
    tmp_path: Path,
    *,
    clients: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    jwks: list[dict[str, Any]] | None = None,
    ttl: Mapping[str, int] | None = None,
    acr_values: Sequence[str] | None = None,
    pairwise_salt: str | None = None,
) -> Iterator[ProviderProcess]:
    """:func:`start_provider` as a context manager: stopped on exit, whatever happens."""
    provider = start_provider(
        profile,
        tmp_path,
        clients=clients,
        accounts=accounts,
        jwks=jwks,
        ttl=ttl,
        acr_values=acr_values,
        pairwise_salt=pairwise_salt,
    )
    try:
        yield provider
    finally:
        provider.stop()
