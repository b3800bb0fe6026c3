"""Local accounts over HTTP, as a citizen without FranceConnect uses them: register, open the
link received by e-mail, sign in with the password or with a one-time link; and as an attacker
tries them: guessing, account enumeration, pre-hijacking, link replay, session fixation, bad input.

E-mails are read where the embedded default writes them (``$GUICHET_DATA_DIR/mail/*.eml``), or
from a real SMTP server (aiosmtpd) where said so.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import throttle
from identity.models import LoginFailure, Person, WebSession
from identity.sessions import hash_session_token, session_settings
from services.api.app import AppConfig, create_app
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.kernel.settings import path_settings
from tests.support.http import PROBLEM, assert_problem
from tests.support.people import create_person, sign_in
from tests.support.smtp import SmtpSink, smtp_server
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

BASE = "/api/v1/auth/local"
PASSWORD = "cheval agrafe pile correcte"
LINK = re.compile(r"https?://\S+?(/api/v1/auth/local/\S+)")


# ----- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
async def web(
    database_url: str, clock: FrozenClock, engine: Engine
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app over HTTPS, so that the browser-like client keeps the Secure session cookie."""
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_throttle_settings() -> Any:
    throttle.throttle_settings.cache_clear()
    yield
    throttle.throttle_settings.cache_clear()


@dataclass
class Mailbox:
    """The .eml files written by the app; ``new(to)`` returns the messages not seen yet."""

    seen: set[str] = field(default_factory=set)

    def new(self, to: str) -> list[EmailMessage]:
        directory = path_settings().data_dir / "mail"
        found: list[EmailMessage] = []
        for path in sorted(directory.glob("*.eml")) if directory.exists() else []:
            if path.name in self.seen:
                continue
            message: Any = message_from_bytes(path.read_bytes(), policy=policy.default)
            if to in str(message["To"]):
                self.seen.add(path.name)
                found.append(message)
        return found


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    """The path and query of the Guichet link in a message."""
    found = LINK.search(body_of(message))
    assert found is not None, body_of(message)
    return found.group(1)


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


async def register(
    web: AsyncTestClient[Any], email: str, password: str = PASSWORD, **names: str
) -> Any:
    body = {"email": email, "password": password, "given_name": "Zoé", "family_name": "Ñúñez"}
    body.update(names)
    return await web.post(f"{BASE}/register", json=body)


async def login(web: AsyncTestClient[Any], email: str, password: str = PASSWORD) -> Any:
    return await web.post(f"{BASE}/login", json={"email": email, "password": password})


async def verified_account(
    web: AsyncTestClient[Any], mailbox: Mailbox, email: str, password: str = PASSWORD
) -> None:
    r = await register(web, email, password)
    assert r.status_code == 202, r.text
    [message] = mailbox.new(email)
    r = await web.post(f"{BASE}/verify", json={"token": token_of(link_in(message))})
    assert r.status_code == 200, r.text


async def events(sm: async_sessionmaker[AsyncSession], event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == event).order_by(JournalEntry.at)
            )
        )


async def person_by_email(sm: async_sessionmaker[AsyncSession], email: str) -> Person | None:
    async with sm() as s:
        return await s.scalar(select(Person).where(Person.login_email == email))


def cookie_value(response: Any) -> str | None:
    name = session_settings().cookie_name
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return str(header.split(";", 1)[0].split("=", 1)[1])
    return None


async def form_fields(page: Any) -> dict[str, str]:
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))


# ----- registration, verification, sign-in ------------------------------------------------------


async def test_register_verify_then_sign_in_and_use_the_session(
    web: AsyncTestClient[Any], mailbox: Mailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await register(web, "  Zoe.Nunez@Example.FR ")
    assert r.status_code == 202, r.text
    assert "courriel" in r.json()["message"]
    person = await person_by_email(sessionmaker, "zoe.nunez@example.fr")
    assert person is not None
    assert person.email_verified_at is None
    assert person.password_hash is None  # the password waits in the link, see pre-hijacking test

    [message] = mailbox.new("zoe.nunez@example.fr")
    assert "Confirmez votre adresse" in str(message["Subject"])
    assert "24 heures" in body_of(message)
    link = link_in(message)
    assert link.startswith("/api/v1/auth/local/verify?token=")

    # Opening the link (or a mail scanner fetching it) only shows a page with a button.
    page = await web.get(link)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Activer mon compte" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    person = await person_by_email(sessionmaker, "zoe.nunez@example.fr")
    assert person is not None
    assert person.email_verified_at is None

    fields = await form_fields(page)
    action = re.search(r'action="([^"]+)"', page.text)
    assert action is not None
    done = await web.post(action.group(1), data=fields)
    assert done.status_code == 200, done.text
    assert "Adresse vérifiée" in done.text
    person = await person_by_email(sessionmaker, "zoe.nunez@example.fr")
    assert person is not None
    assert person.email_verified_at is not None
    assert person.password_hash is not None and person.password_hash.startswith("$argon2id$")
    assert person.contact_email == "zoe.nunez@example.fr"

    r = await login(web, "ZOE.NUNEZ@example.fr")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["person"] == {"id": str(person.id), "display_name": "Zoé Ñúñez"}
    set_cookie = r.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "Secure" in set_cookie
    assert "SameSite=lax" in set_cookie or "samesite=lax" in set_cookie.lower()

    me = await web.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "person"
    assert me.json()["id"] == str(person.id)

    [created] = await events(sessionmaker, "identity.account.created")
    assert created.actor_id == person.id
    [verified] = await events(sessionmaker, "identity.email.verified")
    assert verified.actor_id == person.id
    [logged] = await events(sessionmaker, "identity.login")
    assert logged.data["method"] == "password"
    assert logged.actor_id == person.id
    assert logged.ip  # the client's address


async def test_verification_link_works_once_and_not_after_expiry(
    web: AsyncTestClient[Any], mailbox: Mailbox, clock: FrozenClock
) -> None:
    await register(web, "once@example.fr")
    [first] = mailbox.new("once@example.fr")
    token = token_of(link_in(first))
    assert (await web.post(f"{BASE}/verify", json={"token": token})).status_code == 200
    replay = await web.post(f"{BASE}/verify", json={"token": token})
    assert "déjà été utilisé" in assert_problem(replay, 400)["detail"]
    page = await web.get(link_in(first))
    assert page.status_code == 400
    assert "déjà été utilisé" in page.text

    await register(web, "late@example.fr")
    [late] = mailbox.new("late@example.fr")
    clock.advance(timedelta(hours=24, seconds=1))
    expired = await web.post(f"{BASE}/verify", json={"token": token_of(link_in(late))})
    assert "expiré" in assert_problem(expired, 400)["detail"]
    assert (await login(web, "late@example.fr")).status_code in (401, 403)

    forged = await web.post(f"{BASE}/verify", json={"token": "A" * 43})
    assert "pas valide" in assert_problem(forged, 400)["detail"]


async def test_unverified_account_cannot_sign_in(
    web: AsyncTestClient[Any], mailbox: Mailbox
) -> None:
    await register(web, "pending@example.fr")
    r = await login(web, "pending@example.fr")
    assert "vérifiez votre adresse" in assert_problem(r, 403)["detail"]
    wrong = await login(web, "pending@example.fr", "pas le bon mot de passe")
    unknown = await login(web, "nobody@example.fr", "pas le bon mot de passe")
    # A wrong password does not tell that the address is registered.
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


async def test_wrong_password_and_unknown_address_get_the_same_401(
    web: AsyncTestClient[Any], mailbox: Mailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await verified_account(web, mailbox, "known@example.fr")
    wrong = await login(web, "known@example.fr", "mauvais mot de passe")
    unknown = await login(web, "unknown@example.fr", PASSWORD)
    first, second = assert_problem(wrong, 401), assert_problem(unknown, 401)
    assert first["detail"] == second["detail"]
    assert "incorrect" in first["detail"]
    assert wrong.headers.get("set-cookie") is None
    failed = await events(sessionmaker, "identity.login.failed")
    assert [e.data["email"] for e in failed] == ["known@example.fr", "unknown@example.fr"]
    assert all(e.data["method"] == "password" and e.ip for e in failed)


# ----- throttling --------------------------------------------------------------------------------


async def test_sixth_attempt_is_throttled_even_with_the_right_password(
    web: AsyncTestClient[Any],
    mailbox: Mailbox,
    clock: FrozenClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await verified_account(web, mailbox, "target@example.fr")
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        assert_problem(await login(web, "target@example.fr", "devine devine devine"), 401)
    r = await login(web, "target@example.fr")  # the right password
    body = assert_problem(r, 429)
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    assert body["retry_after"] == retry_after
    assert "Trop de tentatives" in body["detail"]
    assert r.headers.get("set-cookie") is None
    [throttled] = await events(sessionmaker, "identity.login.throttled")
    assert throttled.data["email"] == "target@example.fr"

    # The throttled attempt was not counted: once the first failure leaves the window, one more
    # attempt is allowed, and the right password then clears the account's failures.
    clock.advance(timedelta(seconds=retry_after))
    assert (await login(web, "target@example.fr")).status_code == 200
    async with sessionmaker() as s:
        left = await s.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == "account:target@example.fr")
        )
    assert left == 0


async def test_success_clears_the_account_failures(
    web: AsyncTestClient[Any], mailbox: Mailbox
) -> None:
    await verified_account(web, mailbox, "forgetful@example.fr")
    for _ in range(4):
        assert_problem(await login(web, "forgetful@example.fr", "presque le bon"), 401)
    assert (await login(web, "forgetful@example.fr")).status_code == 200
    for _ in range(4):
        assert_problem(await login(web, "forgetful@example.fr", "presque le bon"), 401)
    assert (await login(web, "forgetful@example.fr")).status_code == 200


async def test_per_ip_limit_across_several_accounts(
    web: AsyncTestClient[Any], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_LOGIN_IP_MAX_FAILURES", "4")
    throttle.throttle_settings.cache_clear()
    await verified_account(web, mailbox, "real@example.fr")
    for n in range(4):  # one failure per account: no account is near its own limit
        assert_problem(await login(web, f"victim{n}@example.fr", "motdepasse-au-hasard"), 401)
    r = await login(web, "real@example.fr")
    body = assert_problem(r, 429)
    assert "adresse réseau" in body["detail"]
    assert int(r.headers["retry-after"]) > 0


# ----- enumeration and pre-hijacking -------------------------------------------------------------


async def test_registering_an_existing_address_reveals_nothing_and_warns_the_owner(
    web: AsyncTestClient[Any], mailbox: Mailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await verified_account(web, mailbox, "owner@example.fr")
    fresh = await register(web, "newcomer@example.fr", "une autre phrase de passe")
    again = await register(web, " OWNER@example.fr", "une autre phrase de passe")
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()

    [notice] = mailbox.new("owner@example.fr")
    assert "Tentative de création" in str(notice["Subject"])
    assert "aucun nouveau compte" in body_of(notice)
    assert "token=" not in body_of(notice)
    assert len(mailbox.new("newcomer@example.fr")) == 1

    # The account is untouched: the old password works, the one just sent does not.
    assert (await login(web, "owner@example.fr", "une autre phrase de passe")).status_code == 401
    assert (await login(web, "owner@example.fr")).status_code == 200
    async with sessionmaker() as s:
        count = await s.scalar(
            select(func.count()).select_from(Person).where(Person.login_email == "owner@example.fr")
        )
    assert count == 1


async def test_pre_registration_by_someone_else_cannot_hijack_the_account(
    web: AsyncTestClient[Any], mailbox: Mailbox
) -> None:
    """An attacker registers the victim's address first, with the attacker's password. The victim
    registers too and opens their own link: the attacker's password must never work."""
    attacker_password = "mot de passe de l'attaquant"
    await register(web, "victim@example.fr", attacker_password, given_name="Mallory")
    [attacker_mail] = mailbox.new("victim@example.fr")
    await register(web, "victim@example.fr", PASSWORD)
    [victim_mail] = mailbox.new("victim@example.fr")
    assert link_in(victim_mail) != link_in(attacker_mail)

    r = await web.post(f"{BASE}/verify", json={"token": token_of(link_in(victim_mail))})
    assert r.status_code == 200
    assert_problem(await login(web, "victim@example.fr", attacker_password), 401)
    ok = await login(web, "victim@example.fr")
    assert ok.status_code == 200
    assert ok.json()["person"]["display_name"] == "Zoé Ñúñez"
    # The link the attacker's registration produced is dead.
    late = await web.post(f"{BASE}/verify", json={"token": token_of(link_in(attacker_mail))})
    assert_problem(late, 400)


# ----- one-time sign-in links --------------------------------------------------------------------


async def test_magic_link_get_does_not_sign_in_post_does_once(
    web: AsyncTestClient[Any], mailbox: Mailbox, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await verified_account(web, mailbox, "link@example.fr")
    r = await web.post(f"{BASE}/magic-link", json={"email": "Link@example.fr"})
    unknown = await web.post(f"{BASE}/magic-link", json={"email": "ghost@example.fr"})
    assert r.status_code == unknown.status_code == 202
    assert r.json() == unknown.json()
    assert mailbox.new("ghost@example.fr") == []
    [message] = mailbox.new("link@example.fr")
    assert "15 minutes" in body_of(message)
    link = link_in(message)

    page = await web.get(link)  # what a mail scanner does
    assert page.status_code == 200
    assert "Me connecter" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    async with sessionmaker() as s:
        signed_in = await s.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.person_id.is_not(None))
        )
    assert signed_in == 0
    assert (await web.get("/api/v1/auth/me")).status_code == 401

    fields = await form_fields(page)
    assert set(fields) == {"token", "csrf_token"}
    done = await web.post(urlsplit(link).path, data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"
    assert cookie_value(done)
    me = await web.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "person"
    [logged] = await events(sessionmaker, "identity.login")
    assert logged.data["method"] == "magic_link"

    again = await web.post(urlsplit(link).path, data=fields, follow_redirects=False)
    assert again.status_code in (400, 403)
    assert again.headers.get("location") is None


async def test_magic_link_post_needs_the_page_of_the_same_browser(
    web: AsyncTestClient[Any],
    mailbox: Mailbox,
    database_url: str,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """Login CSRF: a form posted from elsewhere (no session cookie, or another one's token) fails,
    and the link stays usable by its owner."""
    await verified_account(web, mailbox, "csrf@example.fr")
    await web.post(f"{BASE}/magic-link", json={"email": "csrf@example.fr"})
    [message] = mailbox.new("csrf@example.fr")
    link = link_in(message)
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app, base_url="https://testserver.local") as other_browser:
        refused = await other_browser.post(
            urlsplit(link).path,
            data={"token": token_of(link), "csrf_token": "forged"},
            follow_redirects=False,
        )
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    page = await web.get(link)
    done = await web.post(urlsplit(link).path, data=await form_fields(page), follow_redirects=False)
    assert done.status_code == 303


async def test_magic_link_expires_and_keeps_a_safe_next_page(
    web: AsyncTestClient[Any], mailbox: Mailbox, clock: FrozenClock
) -> None:
    await verified_account(web, mailbox, "next@example.fr")
    await web.post(
        f"{BASE}/magic-link", json={"email": "next@example.fr", "next": "//evil.example"}
    )
    await web.post(f"{BASE}/magic-link", json={"email": "next@example.fr", "next": "/mes-dossiers"})
    evil, good = mailbox.new("next@example.fr")
    links = {link_in(evil), link_in(good)}
    targets = set()
    for link in links:
        page = await web.get(link)
        done = await web.post(
            urlsplit(link).path, data=await form_fields(page), follow_redirects=False
        )
        assert done.status_code == 303
        targets.add(done.headers["location"])
    assert targets == {"/", "/mes-dossiers"}

    await web.post(f"{BASE}/magic-link", json={"email": "next@example.fr"})
    [late] = mailbox.new("next@example.fr")
    clock.advance(timedelta(minutes=15, seconds=1))
    page = await web.get(link_in(late))
    assert page.status_code == 400
    assert "expiré" in page.text


async def test_mails_to_one_address_are_capped(
    web: AsyncTestClient[Any], mailbox: Mailbox, clock: FrozenClock
) -> None:
    await verified_account(web, mailbox, "flood@example.fr")
    for _ in range(8):
        r = await web.post(f"{BASE}/magic-link", json={"email": "flood@example.fr"})
        assert r.status_code == 202
    # Five e-mails per hour at most: the verification e-mail and four links.
    assert len(mailbox.new("flood@example.fr")) == 4
    clock.advance(timedelta(hours=1, seconds=1))
    await web.post(f"{BASE}/magic-link", json={"email": "flood@example.fr"})
    assert len(mailbox.new("flood@example.fr")) == 1


# ----- sessions ----------------------------------------------------------------------------------


async def test_login_gives_a_new_session_id_and_kills_the_old_one(
    web: AsyncTestClient[Any],
    mailbox: Mailbox,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    database_url: str,
    engine: Engine,
) -> None:
    """Session fixation (ASVS 7.2.4): whatever cookie the browser had before, login replaces it."""
    await verified_account(web, mailbox, "fixation@example.fr")
    someone = await create_person(sessionmaker, now=clock.now(), given_name="Planted")
    planted = await sign_in(sessionmaker, someone, now=clock.now())
    planted_header = {"cookie": f"{session_settings().cookie_name}={planted.cookie}"}
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app, base_url="https://testserver.local") as other:
        before = await other.get("/api/v1/auth/me", headers=planted_header)
        assert before.status_code == 200, before.text

    r = await web.post(
        f"{BASE}/login",
        json={"email": "fixation@example.fr", "password": PASSWORD},
        headers=planted_header,
    )
    assert r.status_code == 200
    fresh = cookie_value(r)
    assert fresh and fresh != planted.cookie
    async with sessionmaker() as s:
        old = await s.scalar(
            select(WebSession).where(WebSession.id_hash == hash_session_token(planted.cookie))
        )
    assert old is not None and old.ended_at is not None
    async with AsyncTestClient(app, base_url="https://testserver.local") as other:
        assert_problem(await other.get("/api/v1/auth/me", headers=planted_header), 401)
    me = await web.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["display_name"] == "Zoé Ñúñez"


async def test_login_refuses_a_cross_site_form_body(
    web: AsyncTestClient[Any], mailbox: Mailbox
) -> None:
    """Login CSRF: a cross-site form can post text/plain that looks like JSON; it is refused."""
    await verified_account(web, mailbox, "plain@example.fr")
    r = await web.post(
        f"{BASE}/login",
        content=b'{"email": "plain@example.fr", "password": "' + PASSWORD.encode() + b'"}',
        headers={"content-type": "text/plain"},
    )
    assert_problem(r, (400, 415))
    assert r.headers.get("set-cookie") is None


async def test_an_old_hash_is_upgraded_at_login(
    web: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with sessionmaker() as s, s.begin():
        s.add(
            Person(
                login_email="old@example.fr",
                email_verified_at=clock.now(),
                password_hash=weak,
                given_name="Ancien",
                family_name="Compte",
                created_at=clock.now(),
            )
        )
    assert (await login(web, "old@example.fr")).status_code == 200
    person = await person_by_email(sessionmaker, "old@example.fr")
    assert person is not None and person.password_hash is not None
    assert person.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(person.password_hash)
    assert (await login(web, "old@example.fr")).status_code == 200


# ----- password policy and hostile input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("onze-carac.", "too_short"),
        ("x" * 257, "too_long"),
        ("policy@example.fr", "same_as_email"),
        ("POLICY@Example.FR", "same_as_email"),
        ("a\x00" * 10, "format"),
    ],
)
async def test_password_policy(web: AsyncTestClient[Any], password: str, kind: str) -> None:
    r = await register(web, "policy@example.fr", password)
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "password"
    assert body["errors"][0]["type"] == kind


@pytest.mark.parametrize(
    "password", ["douze-carac.", "motdepasse sans majuscule ni chiffre", "é" * 256, "🔑" * 12]
)
async def test_password_policy_has_no_composition_rules(
    web: AsyncTestClient[Any], mailbox: Mailbox, password: str
) -> None:
    assert (await register(web, "free@example.fr", password)).status_code == 202
    [message] = mailbox.new("free@example.fr")
    await web.post(f"{BASE}/verify", json={"token": token_of(link_in(message))})
    assert (await login(web, "free@example.fr", password)).status_code == 200


HUGE = "é" * 10_000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "register",
            {
                "email": "zoé@exämple.fr",
                "password": PASSWORD,
                "given_name": "Z",
                "family_name": "N",
            },
        ),
        ("register", {"email": "a@b", "password": PASSWORD, "given_name": "Z", "family_name": "N"}),
        (
            "register",
            {"email": "a@@b.fr", "password": PASSWORD, "given_name": "Z", "family_name": "N"},
        ),
        (
            "register",
            {"email": "a b@c.fr", "password": PASSWORD, "given_name": "Z", "family_name": "N"},
        ),
        ("register", {"email": HUGE, "password": PASSWORD, "given_name": "Z", "family_name": "N"}),
        ("register", {"email": "x@y.fr", "password": HUGE, "given_name": "Z", "family_name": "N"}),
        (
            "register",
            {"email": "x@y.fr", "password": PASSWORD, "given_name": HUGE, "family_name": "N"},
        ),
        (
            "register",
            {"email": "x@y.fr", "password": PASSWORD, "given_name": "Z\x00", "family_name": "N"},
        ),
        (
            "register",
            {"email": "x\x00@y.fr", "password": PASSWORD, "given_name": "Z", "family_name": "N"},
        ),
        (
            "register",
            {"email": "x@y.fr", "password": PASSWORD, "given_name": "Z\u202e", "family_name": "N"},
        ),
        (
            "register",
            {"email": "x@y.fr", "password": PASSWORD, "given_name": "  ", "family_name": "N"},
        ),
        ("register", {"email": 12, "password": PASSWORD, "given_name": "Z", "family_name": "N"}),
        (
            "register",
            {"email": ["x@y.fr"], "password": PASSWORD, "given_name": "Z", "family_name": "N"},
        ),
        ("register", {"email": "x@y.fr", "password": None, "given_name": "Z", "family_name": "N"}),
        (
            "register",
            {"email": "x@y.fr", "password": {"a": 1}, "given_name": "Z", "family_name": "N"},
        ),
        (
            "register",
            {
                "email": "x@y.fr",
                "password": PASSWORD,
                "given_name": "Z",
                "family_name": "N",
                "admin": True,
            },
        ),
        ("register", {"email": "x@y.fr"}),
        ("register", []),
        ("login", {"email": HUGE, "password": PASSWORD}),
        ("login", {"email": "x@y.fr", "password": HUGE}),
        ("login", {"email": "x\x00@y.fr", "password": PASSWORD}),
        ("login", {"email": "x@y.fr", "password": 123456789012}),
        ("login", {"email": "zoé@example.fr", "password": PASSWORD}),
        ("login", {}),
        ("agent-login", {"email": "x@y.fr", "password": True}),
        ("agent-login", {"email": "\u0000", "password": PASSWORD}),
        ("verify", {"token": HUGE}),
        ("verify", {"token": 5}),
        ("verify", {"token": "../../etc/passwd"}),
        ("verify", {"token": "\x00" * 30}),
        ("magic-link", {"email": HUGE}),
        ("magic-link", {"email": "x@y.fr", "next": HUGE}),
        ("magic-link", {"email": None}),
    ],
)
async def test_hostile_input_gets_a_4xx_problem_never_a_500(
    web: AsyncTestClient[Any], path: str, body: Any
) -> None:
    r = await web.post(f"{BASE}/{path}", json=body)
    assert_problem(r, (400, 401, 422))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "x@y.fr", "password": "\\ud800\\udfff\\ud800 surrogates seuls", '
        b'"given_name": "Z", "family_name": "N"}',
        b'{"email": "x@y.fr", "password": "abcdefghijklmnop", "given_name": "\\ud800", '
        b'"family_name": "N"}',
        b"not json at all",
        b'{"email": "x@y.fr", "password": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"\xff\xfe\xfd",
        b"",
    ],
)
async def test_malformed_bodies_get_a_4xx_problem(web: AsyncTestClient[Any], raw: bytes) -> None:
    for path in ("register", "login"):
        r = await web.post(
            f"{BASE}/{path}", content=raw, headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, r.text
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_hostile_tokens_on_the_link_pages(web: AsyncTestClient[Any]) -> None:
    for path in ("verify", "magic-link/consume"):
        for token in ("<script>alert(1)</script>", "A" * 43, "%00", "é" * 100):
            r = await web.get(f"{BASE}/{path}", params={"token": token})
            assert r.status_code == 400
            assert "<script>" not in r.text
        assert_problem(await web.get(f"{BASE}/{path}", params={"token": "x" * 600}), 400)
        missing = await web.get(f"{BASE}/{path}")
        assert missing.status_code == 400
        assert "incomplet" in missing.text
    r = await web.post(f"{BASE}/magic-link/consume", data={"token": "A" * 43, "csrf_token": "x"})
    assert r.status_code == 403


# ----- a real SMTP server ------------------------------------------------------------------------


@pytest.fixture
async def smtp_web(
    database_url: str, clock: FrozenClock, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncTestClient[Any], SmtpSink]]:
    with smtp_server(monkeypatch) as sink:
        app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
        async with AsyncTestClient(app, base_url="https://testserver.local") as client:
            yield client, sink


async def test_registration_over_a_real_smtp_server_and_when_it_is_down(
    smtp_web: tuple[AsyncTestClient[Any], SmtpSink], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    web, sink = smtp_web
    sink.stop()
    down = await register(web, "smtp@example.fr")
    assert "réessayez" in assert_problem(down, 503)["detail"]
    assert await person_by_email(sessionmaker, "smtp@example.fr") is None  # rolled back

    sink.start()
    assert (await register(web, "smtp@example.fr")).status_code == 202
    [message] = [m for m in sink.messages() if "smtp@example.fr" in str(m["To"])]
    assert message["Content-Language"] == "fr"
    r = await web.post(f"{BASE}/verify", json={"token": token_of(link_in(message))})
    assert r.status_code == 200
    assert (await login(web, "smtp@example.fr")).status_code == 200
