"""The attacks of identity.md §7, each against Guichet and the real local providers.

Attacks that need a forged token (alg none, unknown kid, wrong aud, far-future iat…) are also in
tests/unit/identity/test_oidc_client.py, where the forger controls every byte; here the provider is
the real engine and Guichet is reached over HTTP as a browser would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import FederatedIdentity, Person, WebSession
from identity.sessions import hash_session_token
from services.kernel.journal import JournalEntry
from tests.e2e.federation.conftest import (
    GUICHET,
    Guichet,
    ShiftedClock,
    fc_config,
    make_guichet,
)
from tests.support.http import assert_problem
from tests.support.oidc_provider import ProviderProcess, generate_jwks

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def _journal(sm: async_sessionmaker[AsyncSession], event: str) -> list[dict[str, Any]]:
    async with sm() as s:
        rows = await s.scalars(select(JournalEntry).where(JournalEntry.event == event))
        return [dict(r.data) for r in rows]


def _with(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _callback_url(guichet: Guichet, account: str = "marie", **login: str) -> str:
    """Run the flow up to the provider's redirect to Guichet's callback; return that URL."""
    r = await guichet.start_login(**login)
    r = await guichet.browser.login_at_provider(r, account, follow=False)
    while not r.headers["location"].startswith(GUICHET):
        r = await guichet.browser.get(r.headers["location"])
    return str(r.headers["location"])


async def _people(sm: async_sessionmaker[AsyncSession]) -> int:
    async with sm() as s:
        return len(list(await s.scalars(select(Person))))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"state": None}, id="missing"),
        pytest.param({"state": "x" * 43}, id="altered"),
    ],
)
async def test_2_a_callback_whose_state_is_missing_or_altered_is_refused(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession], tamper: dict[str, Any]
) -> None:
    """#2 RFC 9700 §4.7, ASVS 10.1.2 / 10.2.1: 4xx, no session, no token call."""
    url = await _callback_url(guichet)
    r = await guichet.browser.get(_with(url, **tamper))
    body = assert_problem(r, 401)
    assert "state" in body["detail"]
    assert (await guichet.session())["authenticated"] is False
    assert await _people(sessionmaker) == 0
    assert [d["code"] for d in await _journal(sessionmaker, "identity.login.failed")] == [
        "state_mismatch"
    ]


async def test_2_12_a_replayed_callback_is_refused_even_after_a_success(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#2 replay and #12 code replay (RFC 9700 §2.1.1, §4.5): a state serves once; a used code,
    carried into a new flow of the same browser, fails at the provider's token endpoint."""
    url = await _callback_url(guichet)
    r = await guichet.browser.get(url)
    assert r.status_code == 303
    r = await guichet.browser.get(url)
    assert_problem(r, 401)

    # The same code injected into a fresh flow (valid state of this browser): invalid_grant.
    fresh = await guichet.start_login()
    state = parse_qs(urlsplit(fresh.headers["location"]).query)["state"][0]
    r = await guichet.browser.get(_with(url, state=state))
    body = assert_problem(r, 401)
    assert body["provider_error"] == "invalid_grant"
    codes = [d["code"] for d in await _journal(sessionmaker, "identity.login.failed")]
    assert codes == ["state_mismatch", "token_exchange_failed"]


async def test_12_a_victims_code_injected_into_an_attackers_flow_is_refused(
    database_url: str,
    providers: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """#12 code injection (RFC 9700 §4.5): the code was issued for the victim's nonce."""
    async with (
        make_guichet(database_url, providers, tmp_path / "v") as victim,
        make_guichet(database_url, providers, tmp_path / "a") as attacker,
    ):
        stolen = await _callback_url(victim)
        flow = await attacker.start_login()
        state = parse_qs(urlsplit(flow.headers["location"]).query)["state"][0]
        r = await attacker.browser.get(_with(stolen, state=state))
        body = assert_problem(r, 401)
        assert body["type"].endswith("nonce_mismatch") or "nonce" in body["detail"]
        assert (await attacker.session())["authenticated"] is False
    assert await _people(sessionmaker) == 0


async def test_3_an_altered_stored_nonce_is_refused(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#3 ASVS 10.5.1: the ID token's nonce must be the one kept in the pre-login session."""
    url = await _callback_url(guichet)
    async with sessionmaker() as s, s.begin():
        record = await s.scalar(
            select(WebSession).where(
                WebSession.id_hash == hash_session_token(guichet.cookie() or "")
            )
        )
        assert record is not None
        pending = {k: {**v, "nonce": "n" * 43} for k, v in record.data["oidc_pending"].items()}
        record.data = {**record.data, "oidc_pending": pending}
    r = await guichet.browser.get(url)
    body = assert_problem(r, 401)
    assert "nonce" in body["detail"]


async def test_4_a_callback_with_another_issuer_is_refused(guichet: Guichet) -> None:
    """#4 mix-up (RFC 9207, RFC 9700 §4.4, ASVS 10.2.2): the callback's iss must be ours."""
    url = await _callback_url(guichet)
    r = await guichet.browser.get(_with(url, iss="https://evil.example/api/v2"))
    body = assert_problem(r, 401)
    assert body["type"].endswith("iss_mismatch")
    r = await guichet.browser.get(_with(url, iss=None))  # state now spent anyway
    assert_problem(r, 401)


@pytest.mark.parametrize(
    ("shift", "code"),
    [
        pytest.param(timedelta(minutes=5), "expired", id="guichet-ahead-id-token-expired"),
        pytest.param(timedelta(minutes=-5), "not_yet_valid", id="guichet-behind-iat-in-future"),
    ],
)
async def test_6_an_expired_or_not_yet_valid_id_token_is_refused(
    database_url: str, providers: Any, tmp_path: Path, shift: timedelta, code: str
) -> None:
    """#6 ASVS 9.2.1: FranceConnect ID tokens live 60 s; the leeway is a few seconds."""
    async with make_guichet(database_url, providers, tmp_path, clock=ShiftedClock(shift)) as g:
        r = await g.login("marie")
        body = assert_problem(r, 401)
        assert body["type"].endswith(code), body


async def test_7_an_hs256_id_token_is_refused(
    database_url: str, fc_provider: ProviderProcess, tmp_path: Path
) -> None:
    """#7 ASVS 9.1.2, ANSSI PA-080: the provider signs with the client secret (HS256): refused,
    whatever the provider's discovery says it supports."""
    async with make_guichet(database_url, [fc_config(fc_provider, "guichet-hs256")], tmp_path) as g:
        r = await g.login("marie")
        body = assert_problem(r, 401)
        assert body["type"].endswith("alg_not_allowed")
        assert "HS256" in body["detail"]


async def test_9_a_rotated_signing_key_is_fetched_once_and_accepted(
    database_url: str, tmp_path: Path, fc_provider: ProviderProcess, pc_provider: ProviderProcess
) -> None:
    """#9 key rotation (OIDC Core §10.1.1, ASVS 9.1.3): a new kid makes Guichet reload the JWKS
    from the configured issuer, then accept it. Uses its own provider process (restarted)."""
    from tests.e2e.federation.conftest import _clients
    from tests.support.oidc_provider import start_provider

    provider = start_provider(
        "franceconnect", tmp_path / "rot", clients=_clients("franceconnect", "ES256")
    )
    try:
        async with make_guichet(database_url, [fc_config(provider)], tmp_path) as g:
            assert (await g.login("marie")).status_code == 303  # JWKS cached with es-1
            new_keys = generate_jwks(es_kid="es-2", rs_kid="rs-2")
            provider.restart(jwks=new_keys)
            g.browser.client.cookies.clear()
            r = await g.login("marie")
            assert r.status_code == 303, r.text
    finally:
        provider.stop()


async def test_10_a_plain_json_userinfo_is_refused(
    database_url: str, fc_provider: ProviderProcess, tmp_path: Path
) -> None:
    """#10 FranceConnect v2 signs userinfo (application/jwt); unsigned JSON is refused
    (OIDC Core §5.3.2, ASVS 6.8.2)."""
    async with make_guichet(database_url, [fc_config(fc_provider, "guichet-plain")], tmp_path) as g:
        r = await g.login("marie")
        body = assert_problem(r, 401)
        assert body["type"].endswith("userinfo_not_jwt")


async def test_11_an_acr_lower_than_requested_is_refused(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#11 ASVS 6.8.4: eidas2 asked, the person logged in at eidas1 → refused, journaled."""
    r = await guichet.login("marie", at_level="eidas1", acr="eidas2")
    body = assert_problem(r, 401)
    assert body["type"].endswith("acr_too_low")
    assert "eidas2" in body["detail"]
    assert await _people(sessionmaker) == 0
    assert [d["code"] for d in await _journal(sessionmaker, "identity.login.failed")] == [
        "acr_too_low"
    ]

    # eidas3 satisfies eidas2 ("si eidas2 est demandé, eidas3 doit être accepté").
    r = await guichet.login("marie", at_level="eidas3", acr="eidas2")
    assert r.status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=y",
    ],
)
async def test_13_next_never_leaves_guichet(guichet: Guichet, target: str) -> None:
    """#13 open redirect (RFC 9700 §4.11, ASVS 10.4.1)."""
    r = await guichet.login("marie", next=target)
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_14_logout_ends_the_local_session_then_the_provider_s(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#14 ASVS 7.4.1, 7.6.1: local session dead at once; redirect with id_token_hint, state and
    the registered post-logout URI; the state is checked on return."""
    assert (await guichet.login("marie")).status_code == 303
    me = await guichet.session()
    old_cookie = guichet.cookie()

    # CSRF: without the token, nothing happens.
    r = await guichet.browser.post(f"{GUICHET}/api/v1/auth/logout")
    assert_problem(r, 403)
    assert (await guichet.session())["authenticated"] is True

    r = await guichet.browser.post(
        f"{GUICHET}/api/v1/auth/logout?post_logout_redirect_uri=https://evil.example/",
        headers={"X-CSRF-Token": me["csrf_token"]},
    )
    assert r.status_code == 303
    end_url = r.headers["location"]
    end = urlsplit(end_url)
    query = parse_qs(end.query)
    assert end.path.endswith("/session/end")
    assert query["post_logout_redirect_uri"] == [
        f"{GUICHET}/api/v1/auth/franceconnect/logout/callback"
    ]
    assert query["id_token_hint"][0].count(".") == 2
    assert len(query["state"][0]) >= 32

    # The old cookie is dead, also for the API.
    dead = await guichet.api.get(
        "/api/v1/auth/me", headers={"Cookie": f"guichet_session={old_cookie}"}
    )
    assert_problem(dead, 401)

    # The provider asks to confirm, then comes back with the same state.
    page = await guichet.browser.follow(await guichet.browser.get(end_url))
    back = await guichet.browser.submit_first_form(page, follow=False)
    while not back.headers["location"].startswith(GUICHET):
        back = await guichet.browser.get(back.headers["location"])
    assert parse_qs(urlsplit(back.headers["location"]).query)["state"] == query["state"]
    done = await guichet.browser.get(back.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await guichet.session())["authenticated"] is False
    events = await _journal(sessionmaker, "identity.logout")
    assert events == [{"provider": "franceconnect"}]


async def test_14_a_logout_return_with_another_state_is_refused(guichet: Guichet) -> None:
    assert (await guichet.login("marie")).status_code == 303
    me = await guichet.session()
    r = await guichet.browser.post(
        f"{GUICHET}/api/v1/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert r.status_code == 303
    r = await guichet.browser.get(
        f"{GUICHET}/api/v1/auth/franceconnect/logout/callback?state=forged-state-value"
    )
    body = assert_problem(r, 401)
    assert "state" in body["detail"]


async def test_15_a_franceconnect_email_equal_to_a_local_account_s_does_not_link(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession], clock: Any
) -> None:
    """#15 ASVS 6.8.1, 10.5.2 — never link on e-mail (Keycloak #53041, CVE-2026-9087)."""
    async with sessionmaker() as s, s.begin():
        local = Person(
            login_email="collision@example.fr",
            email_verified_at=clock.now(),
            given_name="Jean",
            family_name="Martin",
            created_at=clock.now(),
        )
        s.add(local)
    r = await guichet.login("jean")
    assert r.status_code == 303
    me = await guichet.session()
    assert me["id"] != str(local.id)
    async with sessionmaker() as s:
        identity = await s.scalar(select(FederatedIdentity))
        assert identity is not None and identity.person_id != local.id
        assert (
            await s.scalar(select(FederatedIdentity).where(FederatedIdentity.person_id == local.id))
            is None
        )


async def test_16_linking_an_identity_bound_to_another_account_is_refused_and_journaled(
    database_url: str,
    providers: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Any,
) -> None:
    """#16 ASVS 10.5.2: one FranceConnect identity, one account."""
    from tests.support.people import create_person, sign_in

    async with make_guichet(database_url, providers, tmp_path / "a") as first:
        assert (await first.login("marie")).status_code == 303
    other = await create_person(sessionmaker, now=ShiftedClock().now(), given_name="Autre")
    signed = await sign_in(sessionmaker, other, now=ShiftedClock().now())
    async with make_guichet(database_url, providers, tmp_path / "b") as g:
        g.browser.client.cookies.set("guichet_session", signed.cookie, domain="guichet.test")
        r = await g.login("marie", intent="link")
        body = assert_problem(r, 409)
        assert "déjà liée" in body["detail"]
    refused = await _journal(sessionmaker, "identity.link.refused")
    assert len(refused) == 1
    async with sessionmaker() as s:
        assert (
            await s.scalar(select(FederatedIdentity).where(FederatedIdentity.person_id == other))
            is None
        )


async def test_a_signed_in_person_links_franceconnect_explicitly(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from tests.support.people import create_person, sign_in

    person = await create_person(sessionmaker, now=ShiftedClock().now(), given_name="Jean")
    signed = await sign_in(sessionmaker, person, now=ShiftedClock().now())
    guichet.browser.client.cookies.set("guichet_session", signed.cookie, domain="guichet.test")
    r = await guichet.login("jean", intent="link")
    assert r.status_code == 303
    assert (await guichet.session())["id"] == str(person)
    async with sessionmaker() as s:
        identity = await s.scalar(select(FederatedIdentity))
        assert identity is not None and identity.person_id == person
    assert len(await _journal(sessionmaker, "identity.linked")) == 1


async def test_a_link_needs_a_signed_in_person(guichet: Guichet) -> None:
    r = await guichet.browser.get(f"{GUICHET}/api/v1/auth/franceconnect/login?intent=link")
    body = assert_problem(r, 403)
    assert "Connectez-vous" in body["detail"]


async def test_19_a_planted_session_id_is_never_the_signed_in_one(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#19 session fixation (ASVS 7.2.4): the attacker obtains a real pre-login session and
    plants its cookie in the victim's browser; after the victim logs in, that id is dead."""
    planted_flow = await guichet.start_login()
    planted = guichet.cookie()
    assert planted
    r = await guichet.browser.login_at_provider(planted_flow, "marie", follow=False)
    r = await guichet.follow_to_guichet(r)
    assert r.status_code == 303
    assert guichet.cookie() != planted
    r = await guichet.api.get("/api/v1/auth/me", headers={"Cookie": f"guichet_session={planted}"})
    assert_problem(r, 401)
    # A made-up cookie value is ignored and replaced.
    guichet.browser.client.cookies.clear()
    guichet.browser.client.cookies.set("guichet_session", "attacker-chosen", domain="guichet.test")
    await guichet.start_login()
    assert guichet.cookie() != "attacker-chosen"
