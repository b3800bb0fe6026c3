"""A citizen signs in and out with FranceConnect (v2) against the local FranceConnect-like provider.

The numbered cases are identity.md §7 (ASVS 5.0 / RFC 9700 references in each test's docstring).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import FederatedIdentity, Person, WebSession
from identity.sessions import hash_session_token
from services.kernel.journal import JournalEntry
from tests.e2e.federation.conftest import GUICHET, Guichet
from tests.support.http import assert_problem

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def _events(sm: async_sessionmaker[AsyncSession], prefix: str) -> list[JournalEntry]:
    async with sm() as s:
        rows = await s.scalars(
            select(JournalEntry)
            .where(JournalEntry.event.like(f"{prefix}%"))
            .order_by(JournalEntry.at)
        )
        return list(rows)


async def test_1_citizen_signs_in_with_franceconnect_and_gets_a_fresh_session(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#1 happy path: account created, verified attributes stored, session id rotated
    (ASVS 10.5.2, 7.2.4)."""
    r = await guichet.start_login(next="/mes-demarches")
    pre_login = guichet.cookie()
    assert pre_login, "the pre-login state lives in a session"
    authorize = urlsplit(r.headers["location"])
    query = parse_qs(authorize.query)
    assert query["acr_values"] == ["eidas1"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["response_type"] == ["code"]

    r = await guichet.browser.login_at_provider(r, "marie", follow=False)
    r = await guichet.follow_to_guichet(r)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/mes-demarches"
    after = guichet.cookie()
    assert after and after != pre_login

    me = await guichet.session()
    assert me["authenticated"] is True and me["kind"] == "person"
    assert me["display_name"] == "Marie-Claire DUPONT"
    assert me["provider"] == "franceconnect"

    async with sessionmaker() as s:
        old = await s.scalar(
            select(WebSession).where(WebSession.id_hash == hash_session_token(pre_login))
        )
        assert old is not None and old.ended_at is not None
        identity = await s.scalar(select(FederatedIdentity))
        assert identity is not None
        assert identity.subject.endswith("v1") and identity.issuer.endswith("/api/v2")
        assert identity.claims["birthdate"] == "1985-03-12"
        assert identity.claims["birthplace"] == "69123"
        assert identity.acr == "eidas1"
        person = await s.get(Person, identity.person_id)
        assert person is not None and person.password_hash is None
        # The counter finds her by her verified names and birth date.
        assert "marie" in person.search_text and "dupont" in person.search_text
        assert "d19850312" in person.search_text
    assert [e.event for e in await _events(sessionmaker, "identity.")] == [
        "identity.account.created",
        "identity.login",
    ]

    # A second login finds the same account (keyed on issuer + sub).
    await guichet.browser.post(
        f"{GUICHET}/api/v1/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]}
    )
    r = await guichet.login("marie")
    assert r.status_code == 303
    async with sessionmaker() as s:
        assert len(list(await s.scalars(select(Person)))) == 1


async def test_18_cancel_at_the_provider_is_explained_in_french_with_a_way_back(
    guichet: Guichet,
) -> None:
    """#18 provider error on the callback (OIDC Core §3.1.2.6): clear message, no session."""
    r = await guichet.start_login()
    r = await guichet.browser.abort_at_provider(r)
    assert "error=access_denied" in str(r.url)
    body = assert_problem(r, 401)
    assert "annulé" in body["detail"]
    assert (await guichet.session())["authenticated"] is False

    r = await guichet.start_login()
    r = await guichet.browser.follow(r)
    r = await guichet.browser.submit(
        r, next(f for f in guichet.browser.forms(r) if f.action.endswith("/abort")), follow=False
    )
    while not r.headers["location"].startswith(GUICHET):
        r = await guichet.browser.get(r.headers["location"])
    r = await guichet.browser.get(r.headers["location"], headers={"Accept": "text/html"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/html")
    assert "annulé" in r.text and 'href="/api/v1/auth/franceconnect/login"' in r.text
