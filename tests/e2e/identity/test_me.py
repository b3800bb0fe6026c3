"""``/me``: a person's profile (verified apart from declared), linked identities and the unlink
rule, mandates, the export of their data and the erasure of their account."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import FederatedIdentity, Mandate, Person, WebSession
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import Seed
from tests.support.citizens import (
    FC_ISSUER,
    INTAKE,
    add_identity,
    add_mandate,
    as_person,
    pivot_claims,
    web_request,
)
from tests.support.http import assert_problem
from tests.support.people import SignedIn, create_person, sign_in
from workflows.cases.models import Case

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
ME = "/api/v1/me/"


async def journal(sm: SM, event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == event).order_by(JournalEntry.at)
            )
        )


async def citizen(
    sm: SM, clock: FrozenClock, *, fc: bool = True, email: str = "marie@example.org", **names: str
) -> SignedIn:
    person_id = await create_person(sm, now=clock.now(), email=email, **names)
    if fc:
        await add_identity(sm, person_id, now=clock.now())
    return await sign_in(sm, person_id, now=clock.now())


async def file_case(client: AsyncTestClient[Any], person: SignedIn, **overrides: Any) -> str:
    r = await client.post(INTAKE, json=web_request(**overrides), headers=as_person(person))
    assert r.status_code == 201, r.text
    return str(r.json()["reference"])


# ----- profile ------------------------------------------------------------------------------------


async def test_profile_shows_verified_identity_apart_from_declared_details(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now(), email="marie@example.org")
    await add_identity(sessionmaker, person_id, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())

    r = await app_client.get(ME, headers=as_person(me, csrf=False))
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["id"] == str(person_id)
    assert profile["status"] == "active"
    verified = profile["verified"]
    assert verified["provider"] == "franceconnect"
    assert verified["issuer"] == FC_ISSUER
    assert verified["acr"] == "eidas1"
    assert verified["verified_at"].startswith("2026-03-02T09:00")
    assert verified["claims"]["given_name"] == "Marie Louise"
    assert verified["claims"]["family_name"] == "DUPONT"
    assert verified["claims"]["birthdate"] == "1980-06-15"
    # How the login went is not an attribute of the person.
    assert not {"sub", "acr", "amr"} & set(verified["claims"])
    assert profile["declared"] == {
        "contact_email": "marie@example.org",
        "phone": None,
        "postal_address": None,
    }


async def test_a_local_account_has_no_verified_block(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock, fc=False)
    profile = (await app_client.get(ME, headers=as_person(me))).json()
    assert profile["verified"] is None
    assert profile["account"]["given_name"] == "Marie"
    assert profile["account"]["has_password"] is False


async def test_a_retired_franceconnect_identity_is_not_the_verified_one(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    await add_identity(
        sessionmaker, person_id, now=clock.now(), claims=pivot_claims(given_name="Ancien")
    )
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(FederatedIdentity)
            .where(FederatedIdentity.person_id == person_id)
            .values(retired_at=clock.now())
        )
    clock.advance(timedelta(minutes=1))
    await add_identity(sessionmaker, person_id, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    profile = (await app_client.get(ME, headers=as_person(me))).json()
    assert profile["verified"]["claims"]["given_name"] == "Marie Louise"


async def test_patch_changes_declared_details_only(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.patch(
        ME,
        json={
            "phone": " 04 72 00 00 00 ",
            "postal_address": "3 rue de l’Église\n69001 Lyon",
            "contact_email": "marie.nouvelle@example.org",
        },
        headers=as_person(me),
    )
    assert r.status_code == 200, r.text
    assert r.json()["declared"] == {
        "contact_email": "marie.nouvelle@example.org",
        "phone": "04 72 00 00 00",
        "postal_address": "3 rue de l’Église\n69001 Lyon",
    }
    # null clears one field, the others stay.
    r = await app_client.patch(ME, json={"phone": None}, headers=as_person(me))
    assert r.json()["declared"]["phone"] is None
    assert r.json()["declared"]["contact_email"] == "marie.nouvelle@example.org"

    # Verified names are not the person's to edit: 422, naming the field, nothing changed.
    r = await app_client.patch(
        ME, json={"given_name": "Mallory", "phone": "0600000000"}, headers=as_person(me)
    )
    body = assert_problem(r, 422)
    assert [e["field"] for e in body["errors"]] == ["given_name"]
    assert "FranceConnect" in body["detail"]
    profile = (await app_client.get(ME, headers=as_person(me))).json()
    assert profile["verified"]["claims"]["given_name"] == "Marie Louise"
    assert profile["account"]["given_name"] == "Marie"
    assert profile["declared"]["phone"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"family_name": "X"}, "family_name"),
        ({"birthdate": "2000-01-01"}, "birthdate"),
        ({"login_email": "x@example.org"}, "login_email"),
        ({"is_admin": True}, "is_admin"),
        ({"contact_email": "pas-une-adresse"}, "contact_email"),
        ({"contact_email": "a" * 250 + "@b.fr"}, "contact_email"),
        ({"phone": "appelez-moi"}, "phone"),
        ({"phone": "1" * 31}, "phone"),
        ({"postal_address": "x" * 301}, "postal_address"),
        ({"postal_address": "1 rue\u0000 du Nul"}, "postal_address"),
        ({"phone": "04\t72"}, "phone"),
    ],
)
async def test_patch_refuses_bad_or_read_only_fields_with_422(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    body: dict[str, Any],
    field: str,
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.patch(ME, json=body, headers=as_person(me))
    problem = assert_problem(r, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    profile = (await app_client.get(ME, headers=as_person(me))).json()
    assert profile["declared"]["contact_email"] == "marie@example.org"


async def test_patch_with_wrong_types_or_garbage_is_a_4xx_problem(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    for content in (b'{"phone": 42}', b'{"phone": ["a"]}', b"[]", b"{", b"null", b"\xff\xfe"):
        r = await app_client.patch(
            ME, content=content, headers={**as_person(me), "Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (content, r.text)
        assert_problem(r, r.status_code)


async def test_patch_without_csrf_token_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.patch(ME, json={"phone": "0600000000"}, headers=as_person(me, csrf=False))
    assert_problem(r, 403)
    r = await app_client.patch(
        ME, json={"phone": "0600000000"}, headers={**as_person(me), "X-CSRF-Token": "forged"}
    )
    assert_problem(r, 403)
    assert (await app_client.get(ME, headers=as_person(me))).json()["declared"]["phone"] is None


async def test_me_is_for_people_only(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    assert_problem(await app_client.get(ME), 401)
    assert_problem(await app_client.get(ME, headers=seed.auth(seed.instructor_token)), 403)
    r = await app_client.get(ME, headers={"Cookie": "guichet_session=forged-session-value"})
    assert_problem(r, 401)


# ----- identities ---------------------------------------------------------------------------------


async def test_identities_are_listed_with_retired_ones_marked(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    old = await add_identity(
        sessionmaker, person_id, now=clock.now() - timedelta(days=400), retired_at=clock.now()
    )
    current = await add_identity(sessionmaker, person_id, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.get(f"{ME}identities", headers=as_person(me))
    assert r.status_code == 200, r.text
    listed = {i["id"]: i for i in r.json()}
    assert set(listed) == {str(old), str(current)}
    assert listed[str(old)]["status"] == "retired"
    assert listed[str(old)]["retired_reason"]
    assert listed[str(current)]["status"] == "active"
    assert listed[str(current)]["provider"] == "franceconnect"
    assert listed[str(current)]["issuer"] == FC_ISSUER
    assert listed[str(current)]["idp_id"] == "fip1"
    assert "claims" not in listed[str(current)] and "subject" not in listed[str(current)]


async def test_the_last_credential_cannot_be_unlinked(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    only = await add_identity(sessionmaker, person_id, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.delete(f"{ME}identities/{only}", headers=as_person(me))
    body = assert_problem(r, 409)
    assert "dernier moyen de connexion" in body["detail"]
    assert len((await app_client.get(f"{ME}identities", headers=as_person(me))).json()) == 1
    assert await journal(sessionmaker, "identity.unlinked") == []


async def test_unlink_when_another_identity_remains(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    fc = await add_identity(sessionmaker, person_id, now=clock.now())
    pc = await add_identity(
        sessionmaker,
        person_id,
        now=clock.now(),
        provider="proconnect",
        issuer="https://pc.test.invalid/api/v2",
        claims={"sub": str(uuid.uuid4()), "given_name": "Marie", "usual_name": "Dupont"},
    )
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    # Without the CSRF token: refused, nothing unlinked.
    r = await app_client.delete(f"{ME}identities/{fc}", headers=as_person(me, csrf=False))
    assert_problem(r, 403)
    r = await app_client.delete(f"{ME}identities/{fc}", headers=as_person(me))
    assert r.status_code == 204, r.text
    listed = (await app_client.get(f"{ME}identities", headers=as_person(me))).json()
    assert [i["id"] for i in listed] == [str(pc)]
    # The FranceConnect verified block went with it.
    assert (await app_client.get(ME, headers=as_person(me))).json()["verified"] is None
    [entry] = await journal(sessionmaker, "identity.unlinked")
    assert entry.actor_id == person_id
    assert entry.data["provider"] == "franceconnect"
    assert entry.data["identity_id"] == str(fc)
    assert entry.ip
    # The (issuer, sub) is free again: it may be linked later.
    async with sessionmaker() as s:
        assert await s.get(FederatedIdentity, fc) is None
    # Now ProConnect is the last credential.
    assert_problem(await app_client.delete(f"{ME}identities/{pc}", headers=as_person(me)), 409)


async def test_unlink_the_only_identity_when_a_verified_password_remains(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    fc = await add_identity(sessionmaker, person_id, now=clock.now())
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(
                login_email="marie@example.org", password_hash="$argon2id$v=19$m=65536,t=3,p=4$x$y"
            )
        )
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    # A password on an e-mail never verified is no credential.
    assert_problem(await app_client.delete(f"{ME}identities/{fc}", headers=as_person(me)), 409)
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(Person).where(Person.id == person_id).values(email_verified_at=clock.now())
        )
    r = await app_client.delete(f"{ME}identities/{fc}", headers=as_person(me))
    assert r.status_code == 204, r.text


async def test_unlink_refuses_retired_foreign_and_unknown_identities(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    retired = await add_identity(sessionmaker, person_id, now=clock.now(), retired_at=clock.now())
    await add_identity(sessionmaker, person_id, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    other_id = await create_person(sessionmaker, now=clock.now(), given_name="Bob")
    foreign = await add_identity(sessionmaker, other_id, now=clock.now())

    assert (
        "retirée"
        in assert_problem(
            await app_client.delete(f"{ME}identities/{retired}", headers=as_person(me)), 409
        )["detail"]
    )
    for target in (foreign, uuid.uuid4()):
        r = await app_client.delete(f"{ME}identities/{target}", headers=as_person(me))
        assert_problem(r, 404)
    r = await app_client.delete(f"{ME}identities/not-a-uuid", headers=as_person(me))
    assert_problem(r, (400, 404))
    async with sessionmaker() as s:
        assert await s.get(FederatedIdentity, foreign) is not None


# ----- mandates -----------------------------------------------------------------------------------


async def test_my_mandates_held_and_on_me_with_their_status(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    me_id = await create_person(sessionmaker, now=now, given_name="Aïcha", family_name="Benali")
    mother = await create_person(sessionmaker, now=now, given_name="Fatima", family_name="Benali")
    neighbour = await create_person(sessionmaker, now=now, given_name="Paul", family_name="Roux")
    valid = await add_mandate(
        sessionmaker, holder_person_id=me_id, represented_person_id=mother, now=now
    )
    expired = await add_mandate(
        sessionmaker,
        holder_person_id=me_id,
        represented_person_id=neighbour,
        now=now,
        valid_from=now - timedelta(days=100),
        valid_until=now - timedelta(days=1),
    )
    revoked = await add_mandate(
        sessionmaker,
        holder_person_id=neighbour,
        represented_person_id=me_id,
        now=now,
        revoked_at=now - timedelta(hours=1),
    )
    me = await sign_in(sessionmaker, me_id, now=now)
    r = await app_client.get(f"{ME}mandates", headers=as_person(me))
    assert r.status_code == 200, r.text
    body = r.json()
    held = {m["id"]: m for m in body["held"]}
    assert set(held) == {str(valid), str(expired)}
    assert held[str(valid)]["status"] == "valid"
    assert held[str(valid)]["represented"] == {
        "kind": "person",
        "id": str(mother),
        "name": "Fatima Benali",
        "siren": None,
        "siret": None,
    }
    assert held[str(expired)]["status"] == "expired"
    [on_me] = body["on_me"]
    assert on_me["id"] == str(revoked)
    assert on_me["status"] == "revoked"
    assert on_me["holder"]["name"] == "Paul Roux"
    # The mother sees the mandate held on her.
    mum = await sign_in(sessionmaker, mother, now=now)
    body = (await app_client.get(f"{ME}mandates", headers=as_person(mum))).json()
    assert [m["id"] for m in body["on_me"]] == [str(valid)] and body["held"] == []


# ----- export -------------------------------------------------------------------------------------


async def test_export_holds_my_data_and_my_cases_only(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    other = await citizen(sessionmaker, clock, email="bob@example.org", given_name="Bob")
    mine = await file_case(app_client, me)
    theirs = await file_case(app_client, other)
    await app_client.patch(ME, json={"phone": "0472000000"}, headers=as_person(me))
    async with sessionmaker() as s, s.begin():
        for who in (me, other):
            s.add(
                JournalEntry(
                    at=clock.now(),
                    event="identity.login",
                    actor_id=who.person_id,
                    actor_kind="person",
                    data={"provider": "franceconnect"},
                    ip="192.0.2.7",
                )
            )

    r = await app_client.get(f"{ME}export", headers=as_person(me, csrf=False))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".json" in disposition
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["profile"]["id"] == str(me.person_id)
    assert data["profile"]["phone"] == "0472000000"
    [identity] = data["identities"]
    assert identity["claims"]["family_name"] == "DUPONT"
    assert identity["subject"]
    assert data["sessions"] and "created_at" in data["sessions"][0]
    assert "csrf_token" not in json.dumps(data["sessions"])
    assert [c["reference"] for c in data["cases"]] == [mine]
    case = data["cases"][0]
    assert case["procedure"] == "test.permit"
    assert case["state"] == "submitted"
    assert case["payload"] == {"title": "Abri de jardin", "area_m2": 12, "urgent": False}
    assert [e["kind"] for e in case["timeline"]] == ["case.opened"]
    assert theirs not in r.text
    assert str(other.person_id) not in r.text
    assert sorted(e["event"] for e in data["journal"]) == [
        "identity.login",
        "identity.profile.updated",
    ]
    assert all(e["by_me"] for e in data["journal"])
    [exported] = await journal(sessionmaker, "identity.data.exported")
    assert exported.actor_id == me.person_id


async def test_export_shows_only_the_public_side_of_a_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.post(INTAKE, json=web_request(), headers=as_person(me))
    case_id = r.json()["case_id"]
    auth = seed.auth(seed.instructor_token)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/messages",
        json={"text": "Voisin mécontent, à vérifier", "public": False},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    data = (await app_client.get(f"{ME}export", headers=as_person(me))).json()
    assert "Voisin mécontent" not in json.dumps(data)


async def test_export_lists_cases_filed_for_others_briefly(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    helper = await citizen(sessionmaker, clock, email="aidant@example.org", given_name="Aidan")
    mother = await create_person(sessionmaker, now=clock.now(), given_name="Fatima")
    await add_mandate(
        sessionmaker,
        holder_person_id=helper.person_id,
        represented_person_id=mother,
        now=clock.now(),
    )
    reference = await file_case(
        app_client,
        helper,
        on_behalf_of={"person_id": str(mother)},
        submitter={"postal_address": "2 place du Marché, 69001 Lyon"},
    )
    data = (await app_client.get(f"{ME}export", headers=as_person(helper))).json()
    assert data["cases"] == []
    assert [c["reference"] for c in data["cases_filed_for_others"]] == [reference]
    assert "payload" not in data["cases_filed_for_others"][0]


# ----- erasure ------------------------------------------------------------------------------------


async def test_erase_needs_an_explicit_confirmation(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    for body in ({}, {"confirm": False}):
        assert_problem(await app_client.post(f"{ME}erase", json=body, headers=as_person(me)), 422)
    for body in ({"confirm": "true"}, {"confirm": 1}, {"confirm": True, "also": "x"}):
        r = await app_client.post(f"{ME}erase", json=body, headers=as_person(me))
        assert_problem(r, (400, 422))
    r = await app_client.post(
        f"{ME}erase", json={"confirm": True}, headers=as_person(me, csrf=False)
    )
    assert_problem(r, 403)
    assert (await app_client.get(ME, headers=as_person(me))).status_code == 200


async def test_erase_removes_the_account_and_keeps_the_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    person_id = await create_person(sessionmaker, now=now, email="marie@example.org")
    claims = pivot_claims()
    identity_id = await add_identity(sessionmaker, person_id, now=now, claims=claims)
    helper_id = await create_person(sessionmaker, now=now, given_name="Aidan")
    mandate_id = await add_mandate(
        sessionmaker, holder_person_id=helper_id, represented_person_id=person_id, now=now
    )
    me = await sign_in(sessionmaker, person_id, now=now)
    second_browser = await sign_in(sessionmaker, person_id, now=now)
    r = await app_client.post(INTAKE, json=web_request(), headers=as_person(me))
    assert r.status_code == 201, r.text
    case_id, reference = r.json()["case_id"], r.json()["reference"]
    await app_client.patch(
        ME, json={"phone": "0472000000", "postal_address": "1 rue A"}, headers=as_person(me)
    )

    r = await app_client.post(f"{ME}erase", json={"confirm": True}, headers=as_person(me))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "erased"
    assert r.json()["cases_kept"] == 1
    assert "conservés" in r.json()["message"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("guichet_session=") and "max-age=0" in cookie.lower()

    # Every session of the account is dead.
    for browser in (me, second_browser):
        assert_problem(await app_client.get(ME, headers=as_person(browser)), 401)
        assert_problem(await app_client.get("/api/v1/cases/", headers=as_person(browser)), 401)

    async with sessionmaker() as s:
        person = await s.get(Person, person_id)
        assert person is not None
        assert person.status == "erased"
        assert person.erased_at == now
        assert (person.given_name, person.family_name) == ("", "")
        assert person.contact_email is None and person.phone is None
        assert person.postal_address is None and person.login_email is None
        assert person.password_hash is None
        assert await s.get(FederatedIdentity, identity_id) is None
        mandate = await s.get(Mandate, mandate_id)
        assert mandate is not None and mandate.revoked_at == now
        sessions = list(
            await s.scalars(select(WebSession).where(WebSession.person_id == person_id))
        )
        assert sessions and all(w.ended_at is not None and w.ip is None for w in sessions)
        assert all(w.data == {} for w in sessions)
        case = await s.get(Case, uuid.UUID(case_id))
        assert case is not None and case.reference == reference

    # The case is still there for the instructor, with the identity the law needs (snapshot).
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    assert r.json()["reference"] == reference
    assert r.json()["submitter"]["family_name"] == "DUPONT"

    [entry] = await journal(sessionmaker, "identity.account.erased")
    assert entry.actor_id == person_id
    assert entry.data["cases_kept"] == 1
    assert entry.data["identities_deleted"] == 1
    assert entry.data["mandates_revoked"] == 1
    revoked = await journal(sessionmaker, "identity.mandate.revoked")
    assert [e.data["mandate_id"] for e in revoked] == [str(mandate_id)]

    # The FranceConnect (issuer, sub) is free: a later login may open a new account with it.
    newcomer = await create_person(sessionmaker, now=now)
    await add_identity(sessionmaker, newcomer, now=now, claims=claims)
    async with sessionmaker() as s:
        count = await s.scalar(
            select(func.count()).where(FederatedIdentity.subject == claims["sub"])
        )
        assert count == 1
