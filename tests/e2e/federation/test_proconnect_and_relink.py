"""Agents and business staff with ProConnect; a returning citizen whose FranceConnect sub changed.

#17 and #20 of identity.md §7.
"""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import FederatedIdentity, Mandate, Organisation, Person, RelinkRequest
from services.kernel.journal import JournalEntry
from tests.conftest import Seed
from tests.e2e.federation.conftest import GUICHET, Guichet, ShiftedClock, make_guichet
from tests.support.http import assert_problem
from tests.support.oidc_provider import COMPANY_SIRET, PC_AGENT_ID, PC_EMPLOYEE_ID, PC_FOREIGN_ID

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def mails(data_dir: Path) -> list[EmailMessage]:
    found = sorted((data_dir / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime)
    return [email.message_from_bytes(p.read_bytes(), policy=default) for p in found]  # type: ignore[misc]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def _events(sm: async_sessionmaker[AsyncSession], event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(await s.scalars(select(JournalEntry).where(JournalEntry.event == event)))


async def test_20_an_invited_agent_binds_proconnect_at_first_login(
    seed: Seed, guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """#20: the administrator invites by e-mail with roles; the first ProConnect login through the
    invitation link binds the identity; the next logins need no invitation."""
    r = await guichet.api.post(
        "/api/v1/admin/agents/invitations",
        headers=seed.auth(seed.admin_token),
        json={
            "email": "sophie.bernard@mairie-exemple.fr",
            "given_name": "Sophie",
            "family_name": "Bernard",
            "title": "Instructrice urbanisme",
            "roles": [{"tenant": "69001", "role": "instructor"}],
        },
    )
    assert r.status_code == 201, r.text
    invitation = mails(guichet.data_dir)[-1]
    token = re.search(r"invitation=([A-Za-z0-9_\-]+)", text_of(invitation))
    assert token, text_of(invitation)

    r = await guichet.login(PC_AGENT_ID, provider="proconnect", invitation=token.group(1))
    assert r.status_code == 303, r.text
    me = await guichet.browser.get(f"{GUICHET}/api/v1/auth/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["kind"] == "agent"
    assert body["roles"] == {str(seed.commune_id): ["instructor"]}

    # The invitation served once; the bound identity signs in on its own from now on.
    me_session = await guichet.session()
    await guichet.browser.post(
        f"{GUICHET}/api/v1/auth/logout", headers={"X-CSRF-Token": me_session["csrf_token"]}
    )
    guichet.browser.client.cookies.clear()
    r = await guichet.login(PC_AGENT_ID, provider="proconnect")
    assert r.status_code == 303
    assert (await guichet.session())["kind"] == "agent"
    async with sessionmaker() as s:
        identity = await s.scalar(select(FederatedIdentity))
        assert identity is not None and identity.agent_id is not None and identity.person_id is None
        assert identity.claims["siret"] == "21690123100011"


async def test_20_an_invitation_cannot_be_used_twice(
    seed: Seed, database_url: str, providers: Any, tmp_path: Path
) -> None:
    async with make_guichet(database_url, providers, tmp_path) as g:
        r = await g.api.post(
            "/api/v1/admin/agents/invitations",
            headers=seed.auth(seed.admin_token),
            json={
                "email": "x@mairie-exemple.fr",
                "given_name": "X",
                "family_name": "Y",
                "title": "Agent",
                "roles": [{"tenant": "69001", "role": "counter_agent"}],
            },
        )
        assert r.status_code == 201, r.text
        token = re.search(r"invitation=([A-Za-z0-9_\-]+)", text_of(mails(g.data_dir)[-1]))
        assert token
        assert (
            await g.login(PC_AGENT_ID, provider="proconnect", invitation=token.group(1))
        ).status_code == 303
    async with make_guichet(database_url, providers, tmp_path / "2") as g2:
        r = await g2.login(PC_EMPLOYEE_ID, provider="proconnect", invitation=token.group(1))
        assert_problem(r, (403, 422))


async def test_20_a_provider_outside_the_allow_list_is_refused(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await guichet.login(PC_FOREIGN_ID, provider="proconnect")
    body = assert_problem(r, 401)
    assert body["type"].endswith("idp_not_allowed")
    async with sessionmaker() as s:
        assert await s.scalar(select(FederatedIdentity)) is None


async def test_20_business_staff_get_membership_of_their_establishment_only(
    guichet: Guichet, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The ProConnect siret claim is affiliation (identity.md §3): a membership mandate that lets
    read the company's cases, not act for it."""
    r = await guichet.login(PC_EMPLOYEE_ID, provider="proconnect")
    assert r.status_code == 303, r.text
    me = await guichet.session()
    assert me["kind"] == "person"
    async with sessionmaker() as s:
        org = await s.scalar(select(Organisation).where(Organisation.siret == COMPANY_SIRET))
        assert org is not None and org.siren == COMPANY_SIRET[:9] and org.source == "proconnect"
        mandate = await s.scalar(select(Mandate))
        assert mandate is not None
        assert mandate.organisation_id == org.id
        assert mandate.basis == "proconnect_siret_membership"
        assert str(mandate.holder_person_id) == me["id"]
    from identity.organisations import mandate_allows

    now = ShiftedClock().now()
    assert mandate_allows(mandate, action="read", procedure_key="einvoice.invoice", now=now)
    assert not mandate_allows(mandate, action="act", procedure_key="einvoice.invoice", now=now)


async def test_17_a_changed_sub_is_never_merged_silently_and_relinks_with_an_email_code(
    database_url: str,
    providers: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """#17 (identity.md §4.6, ASVS 10.5.2): the same person after a birthdate correction comes back
    with a new sub: no second account, no merge; a code sent to the old account's verified
    address moves the link; the old (issuer, sub) stays, retired."""
    async with make_guichet(database_url, providers, tmp_path / "1") as g:
        assert (await g.login("marie")).status_code == 303
        first = await g.session()
    now = ShiftedClock().now()
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(Person).values(login_email="marie.dupont@example.fr", email_verified_at=now)
        )

    async with make_guichet(database_url, providers, tmp_path / "1") as g:
        r = await g.login("marie-corrected")
        body = assert_problem(r, 409)
        assert "rattach" in body["detail"]
        assert (await g.session())["authenticated"] is False
        async with sessionmaker() as s:
            assert len(list(await s.scalars(select(Person)))) == 1
        csrf = {"X-CSRF-Token": body["csrf_token"]}

        r = await g.browser.post(f"{GUICHET}/api/v1/auth/relink/code")
        assert_problem(r, 403)  # CSRF
        r = await g.browser.post(f"{GUICHET}/api/v1/auth/relink/code", headers=csrf)
        assert r.status_code == 200, r.text
        assert r.json()["sent_to"] == "m***@example.fr"
        code = re.search(r"\b(\d{6})\b", text_of(mails(g.data_dir)[-1]))
        assert code
        wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
        r = await g.browser.post(
            f"{GUICHET}/api/v1/auth/relink/confirm", headers=csrf, json={"code": wrong}
        )
        assert_problem(r, 422)
        r = await g.browser.post(
            f"{GUICHET}/api/v1/auth/relink/confirm", headers=csrf, json={"code": code.group(1)}
        )
        assert r.status_code == 200, r.text
        assert (await g.session())["id"] == first["id"]

    async with sessionmaker() as s:
        identities = list(
            await s.scalars(select(FederatedIdentity).order_by(FederatedIdentity.linked_at))
        )
        assert len(identities) == 2
        old, new = identities
        assert old.retired_at is not None and "état civil" in (old.retired_reason or "")
        assert new.retired_at is None and str(new.person_id) == first["id"]
        assert new.claims["birthdate"] == "1985-03-21"
    assert len(await _events(sessionmaker, "identity.relink.requested")) == 1
    assert len(await _events(sessionmaker, "identity.relinked")) == 1

    # The corrected identity now signs in directly; the old sub is refused.
    async with make_guichet(database_url, providers, tmp_path / "2") as g:
        assert (await g.login("marie-corrected")).status_code == 303
        assert (await g.session())["id"] == first["id"]
    async with make_guichet(database_url, providers, tmp_path / "3") as g:
        body = assert_problem(await g.login("marie"), 403)
        assert "remplacée" in body["detail"]


async def test_17_an_agent_checks_an_id_document_to_relink(
    seed: Seed,
    database_url: str,
    providers: Any,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with make_guichet(database_url, providers, tmp_path / "1") as g:
        assert (await g.login("marie")).status_code == 303
        first = await g.session()
    async with make_guichet(database_url, providers, tmp_path / "2") as g:
        r = await g.login("marie-corrected")
        assert_problem(r, 409)
        # No verified e-mail on the old account: the code path says to come to the counter.
        body = assert_problem(
            await g.browser.post(
                f"{GUICHET}/api/v1/auth/relink/code",
                headers={"X-CSRF-Token": r.json()["csrf_token"]},
            ),
            409,
        )
        assert "guichet" in body["detail"]

        listed = await g.api.get(
            "/api/v1/admin/relink-requests/", headers=seed.auth(seed.admin_token)
        )
        assert listed.status_code == 200, listed.text
        [request] = listed.json()
        assert request["recorded_identity"]["birthdate"] == "1985-03-12"
        assert request["new_identity"]["birthdate"] == "1985-03-21"
        denied = await g.api.post(
            f"/api/v1/admin/relink-requests/{request['id']}/approve",
            headers=seed.auth(seed.counter_token),
            json={"evidence": "CNI vue"},
        )
        assert_problem(denied, 403)
        ok = await g.api.post(
            f"/api/v1/admin/relink-requests/{request['id']}/approve",
            headers=seed.auth(seed.admin_token),
            json={"evidence": "CNI n° 123456 vue au guichet"},
        )
        assert ok.status_code == 200, ok.text
    async with make_guichet(database_url, providers, tmp_path / "3") as g:
        assert (await g.login("marie-corrected")).status_code == 303
        assert (await g.session())["id"] == first["id"]
    async with sessionmaker() as s:
        request_row = await s.scalar(select(RelinkRequest))
        assert request_row is not None and request_row.status == "approved"
        assert request_row.decided_by_agent_id == seed.admin_id
