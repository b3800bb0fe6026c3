"""Citizens and their cases over HTTP: filing on the web (for themselves, or for someone under a
mandate), seeing only their own cases and their public side, their documents, and nothing else."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import TEST_EXTENSION, Seed, permit_request
from tests.support.cases import apply
from tests.support.citizens import (
    INTAKE,
    add_identity,
    add_mandate,
    add_organisation,
    as_person,
    pivot_claims,
    store_document,
    web_request,
)
from tests.support.http import assert_problem
from tests.support.people import SignedIn, create_person, sign_in
from tests.support.procedures import DEFINITION as PERMIT
from workflows.cases.models import Case
from workflows.engine.runner import Engine
from workflows.procedures import build_engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
CASES = "/api/v1/cases/"


@pytest.fixture
def engine() -> Engine:
    """The test procedures plus one that is not published (agents enter it at the counter)."""
    built = build_engine([TEST_EXTENSION])
    built.load(PERMIT.model_copy(update={"key": "test.internal", "public": False}))
    return built


async def citizen(
    sm: SM,
    clock: FrozenClock,
    *,
    fc: bool = True,
    email: str | None = "marie@example.org",
    given_name: str = "Marie",
    family_name: str = "Dupont",
    claims: dict[str, Any] | None = None,
) -> SignedIn:
    person_id = await create_person(
        sm, now=clock.now(), email=email, given_name=given_name, family_name=family_name
    )
    if fc:
        await add_identity(sm, person_id, now=clock.now(), claims=claims)
    return await sign_in(sm, person_id, now=clock.now())


async def file(client: AsyncTestClient[Any], person: SignedIn, **overrides: Any) -> dict[str, Any]:
    r = await client.post(INTAKE, json=web_request(**overrides), headers=as_person(person))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def get_case(client: AsyncTestClient[Any], person: SignedIn, case_id: str) -> Any:
    return await client.get(f"{CASES}{case_id}", headers=as_person(person, csrf=False))


async def my_references(client: AsyncTestClient[Any], person: SignedIn, **params: Any) -> set[str]:
    r = await client.get(CASES, params=params, headers=as_person(person, csrf=False))
    assert r.status_code == 200, r.text
    return {c["reference"] for c in r.json()["items"]}


# ----- filing on the web ----------------------------------------------------------------------------


async def test_a_franceconnect_citizen_files_and_follows_their_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(app_client, me)
    assert created["reference"] == "69001-2026-000001"
    assert created["aee"]["titre"] == "Accusé d'enregistrement électronique"

    r = await get_case(app_client, me, created["case_id"])
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["channel"] == "web"
    assert case["state"] == "submitted"
    # R112-9-1: the identification is the one FranceConnect verified, not what was typed.
    assert case["submitter"]["given_name"] == "Marie Louise"
    assert case["submitter"]["family_name"] == "DUPONT"
    assert case["submitter"]["email"] == "marie@example.org"
    assert case["submitter"]["identification"]["method"] == "franceconnect"
    assert case["submitter"]["identification"]["acr"] == "eidas1"
    assert case["on_behalf_of"] is None
    assert await my_references(app_client, me) == {created["reference"]}

    async with sessionmaker() as s:
        stored = await s.get(Case, uuid.UUID(created["case_id"]))
        assert stored is not None
        assert stored.submitter_id == me.person_id
        assert stored.mandate_id is None and stored.agent_id is None

    # The instructor sees it too, with the same identification.
    r = await app_client.get(
        f"{CASES}{created['case_id']}", headers=seed.auth(seed.instructor_token)
    )
    assert r.json()["submitter"]["family_name"] == "DUPONT"


async def test_a_local_account_files_with_its_declared_names(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock, fc=False, given_name="Léa", family_name="Martin")
    case = (await get_case(app_client, me, (await file(app_client, me))["case_id"])).json()
    assert (case["submitter"]["given_name"], case["submitter"]["family_name"]) == (
        "Léa",
        "Martin",
    )
    assert case["submitter"]["identification"] == {"method": "account", "email_verified": False}


async def test_the_person_chooses_only_the_contact_details_of_the_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(
        app_client,
        me,
        submitter={"postal_address": "3 rue du Lac, 69001 Lyon", "notification": "postal"},
    )
    case = (await get_case(app_client, me, created["case_id"])).json()
    assert case["submitter"]["postal_address"] == "3 rue du Lac, 69001 Lyon"
    assert case["submitter"]["notification"] == "postal"
    assert case["submitter"]["family_name"] == "DUPONT"

    r = await app_client.post(
        INTAKE,
        json=web_request(submitter={"given_name": "Mallory", "family_name": "X", "kind": "person"}),
        headers=as_person(me),
    )
    body = assert_problem(r, 422)
    assert {e["field"] for e in body["errors"]} == {
        "submitter.family_name",
        "submitter.given_name",
        "submitter.kind",
    }
    assert await my_references(app_client, me) == {created["reference"]}


async def test_a_citizen_without_any_contact_is_told_what_to_add(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock, email=None, claims=pivot_claims(email=None))
    r = await app_client.post(INTAKE, json=web_request(), headers=as_person(me))
    body = assert_problem(r, 422)
    assert any("moyen de contact" in e["message"] for e in body["errors"])
    r = await app_client.post(
        INTAKE, json=web_request(submitter={"phone": "0472000000"}), headers=as_person(me)
    )
    assert r.status_code == 201, r.text


async def test_web_intake_without_csrf_token_is_refused_and_journaled(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    for headers in (as_person(me, csrf=False), {**as_person(me), "X-CSRF-Token": "forged"}):
        r = await app_client.post(INTAKE, json=web_request(), headers=headers)
        assert "CSRF" in assert_problem(r, 403)["detail"]
    assert await my_references(app_client, me) == set()
    async with sessionmaker() as s:
        refused = list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == "identity.csrf.refused")
            )
        )
    assert len(refused) == 2


async def test_a_citizen_files_only_published_procedures_on_the_web_channel(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.post(
        INTAKE, json=web_request(procedure="test.internal"), headers=as_person(me)
    )
    assert "accueil" in assert_problem(r, 403)["detail"]
    # What agents may set is refused to a person, never silently ignored.
    for extra, field in (
        ({"channel": "counter"}, "channel"),
        ({"received_at": "2026-02-01T10:00:00Z", "received_at_reason": "papier"}, "received_at"),
    ):
        r = await app_client.post(INTAKE, json=web_request(**extra), headers=as_person(me))
        body = assert_problem(r, 422)
        assert field in {e["field"] for e in body["errors"]}
    assert await my_references(app_client, me) == set()


async def test_the_same_idempotency_key_from_two_people_opens_two_cases(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    alice = await citizen(sessionmaker, clock, email="alice@example.org")
    bob = await citizen(sessionmaker, clock, email="bob@example.org", given_name="Bob")
    key = {"Idempotency-Key": "formulaire-42"}
    r1 = await app_client.post(INTAKE, json=web_request(), headers={**as_person(alice), **key})
    again = await app_client.post(INTAKE, json=web_request(), headers={**as_person(alice), **key})
    r2 = await app_client.post(INTAKE, json=web_request(), headers={**as_person(bob), **key})
    assert (r1.status_code, again.status_code, r2.status_code) == (201, 200, 201)
    assert again.json()["case_id"] == r1.json()["case_id"]
    assert r2.json()["case_id"] != r1.json()["case_id"]
    assert_problem(await get_case(app_client, bob, r1.json()["case_id"]), 404)


@pytest.mark.parametrize(
    "body",
    [
        web_request(payload={"title": "x" * 201, "area_m2": 12}),
        web_request(payload={"title": ["Abri"], "area_m2": {"n": 1}}),
        web_request(tenant="69001'; DROP TABLE case; --"),
        web_request(procedure="../../etc/passwd"),
        web_request(submitter="Marie Dupont"),
        web_request(submitter={"email": "pas-une-adresse"}),
        web_request(on_behalf_of={"person_id": "pas-un-uuid"}),
        web_request(on_behalf_of={"person_id": str(uuid.uuid4()), "organisation_id": None, "x": 1}),
        web_request(on_behalf_of={}),
        web_request(on_behalf_of="quelqu'un"),
    ],
)
async def test_hostile_web_intake_is_a_4xx_problem_never_a_case(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    body: dict[str, Any],
) -> None:
    me = await citizen(sessionmaker, clock)
    r = await app_client.post(INTAKE, json=body, headers=as_person(me))
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)
    async with sessionmaker() as s:
        assert list(await s.scalars(select(Case.id))) == []


async def test_nul_character_in_web_intake_is_kept_faithfully_or_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """SQLite stores U+0000, PostgreSQL refuses it in text: 422 there, never a 500."""
    me = await citizen(sessionmaker, clock)
    title = "Abri\u0000 de jardin"
    r = await app_client.post(
        INTAKE, json=web_request(payload={"title": title, "area_m2": 12}), headers=as_person(me)
    )
    if r.status_code == 201:
        case = (await get_case(app_client, me, r.json()["case_id"])).json()
        assert case["payload"]["title"] == title
    else:
        assert_problem(r, 422)


# ----- under a mandate ------------------------------------------------------------------------------


async def test_a_helper_files_for_a_person_who_then_sees_the_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    mother_id = await create_person(
        sessionmaker, now=now, given_name="Fatima", family_name="Benali", email="f@example.org"
    )
    await add_identity(
        sessionmaker,
        mother_id,
        now=now,
        claims=pivot_claims(given_name="Fatima Zohra", family_name="BENALI"),
    )
    helper = await citizen(
        sessionmaker, clock, given_name="Aïcha", family_name="Benali", email="a@example.org"
    )
    mandate_id = await add_mandate(
        sessionmaker,
        holder_person_id=helper.person_id,
        represented_person_id=mother_id,
        now=now,
        procedures=["test.permit"],
        tenant_id=seed.commune_id,
    )
    created = await file(app_client, helper, on_behalf_of={"person_id": str(mother_id)})

    async with sessionmaker() as s:
        stored = await s.get(Case, uuid.UUID(created["case_id"]))
        assert stored is not None
        assert stored.submitter_id == mother_id
        assert stored.mandate_id == mandate_id
        assert stored.on_behalf_of == {
            "helper": {"kind": "person", "id": str(helper.person_id), "name": "Aïcha Benali"},
            "mandate_id": str(mandate_id),
            "basis": "person_consent",
            "role": "aidant",
        }
    # The submitter is the person concerned, with her own verified identity and contact.
    case = (await get_case(app_client, helper, created["case_id"])).json()
    assert case["submitter"]["given_name"] == "Fatima Zohra"
    assert case["submitter"]["email"] == "f@example.org"
    assert case["submitter"]["identification"]["mandate_id"] == str(mandate_id)

    mother = await sign_in(sessionmaker, mother_id, now=now)
    assert await my_references(app_client, mother) == {created["reference"]}
    r = await get_case(app_client, mother, created["case_id"])
    assert r.status_code == 200, r.text
    assert r.json()["on_behalf_of"]["helper"]["name"] == "Aïcha Benali"
    # The helper sees it while the mandate lasts; a stranger never does.
    assert await my_references(app_client, helper) == {created["reference"]}
    stranger = await citizen(sessionmaker, clock, email="s@example.org")
    assert_problem(await get_case(app_client, stranger, created["case_id"]), 404)
    assert await my_references(app_client, stranger) == set()


async def test_when_the_mandate_ends_the_helper_no_longer_sees_the_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    mother_id = await create_person(sessionmaker, now=now, email="f@example.org")
    helper = await citizen(sessionmaker, clock, email="a@example.org")
    await add_mandate(
        sessionmaker,
        holder_person_id=helper.person_id,
        represented_person_id=mother_id,
        now=now,
        valid_until=now + timedelta(hours=1),
    )
    created = await file(app_client, helper, on_behalf_of={"person_id": str(mother_id)})
    clock.advance(timedelta(hours=2))
    helper_again = await sign_in(sessionmaker, helper.person_id, now=clock.now())
    assert_problem(await get_case(app_client, helper_again, created["case_id"]), 404)
    assert await my_references(app_client, helper_again) == set()
    mother = await sign_in(sessionmaker, mother_id, now=clock.now())
    assert await my_references(app_client, mother) == {created["reference"]}


@pytest.mark.parametrize(
    ("mandate", "reason"),
    [
        (None, "aucun mandat"),
        ({"valid_from_days": -100, "valid_until_days": -1}, "expiré le 01/03/2026"),
        ({"revoked": True}, "révoqué le 02/03/2026"),
        ({"procedures": ["general.request"]}, "ne couvre pas la démarche test.permit"),
        ({"other_tenant": True}, "ne couvre pas cette collectivité"),
        ({"valid_from_days": 2, "valid_until_days": 30}, "ne prend effet que le 04/03/2026"),
    ],
)
async def test_filing_for_someone_without_a_valid_mandate_is_403(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    mandate: dict[str, Any] | None,
    reason: str,
) -> None:
    now = clock.now()
    mother_id = await create_person(sessionmaker, now=now, email="f@example.org")
    helper = await citizen(sessionmaker, clock, email="a@example.org")
    if mandate is not None:
        await add_mandate(
            sessionmaker,
            holder_person_id=helper.person_id,
            represented_person_id=mother_id,
            now=now,
            valid_from=now + timedelta(days=mandate.get("valid_from_days", -1)),
            valid_until=now + timedelta(days=mandate.get("valid_until_days", 30)),
            revoked_at=now if mandate.get("revoked") else None,
            procedures=mandate.get("procedures"),
            tenant_id=seed.other_commune_id if mandate.get("other_tenant") else None,
        )
    r = await app_client.post(
        INTAKE,
        json=web_request(on_behalf_of={"person_id": str(mother_id)}),
        headers=as_person(helper),
    )
    body = assert_problem(r, 403)
    assert reason in body["detail"], body["detail"]
    async with sessionmaker() as s:
        assert list(await s.scalars(select(Case.id))) == []


async def test_a_mandate_held_by_someone_else_does_not_count(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    mother_id = await create_person(sessionmaker, now=now, email="f@example.org")
    sister = await create_person(sessionmaker, now=now, email="s@example.org")
    await add_mandate(
        sessionmaker, holder_person_id=sister, represented_person_id=mother_id, now=now
    )
    intruder = await citizen(sessionmaker, clock, email="i@example.org")
    r = await app_client.post(
        INTAKE,
        json=web_request(on_behalf_of={"person_id": str(mother_id)}),
        headers=as_person(intruder),
    )
    assert "aucun mandat" in assert_problem(r, 403)["detail"]


async def test_staff_files_for_their_company_only_with_the_power_to_act(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    now = clock.now()
    organisation_id = await add_organisation(sessionmaker, now=now)
    employee = await citizen(sessionmaker, clock, email="e@durand.example")
    boss = await citizen(sessionmaker, clock, email="boss@durand.example", given_name="Jean")
    await add_mandate(
        sessionmaker,
        holder_person_id=employee.person_id,
        organisation_id=organisation_id,
        now=now,
        basis="proconnect_siret_membership",
        role="membre",
    )
    await add_mandate(
        sessionmaker,
        holder_person_id=boss.person_id,
        organisation_id=organisation_id,
        now=now,
        basis="certification_dirigeant",
        role="dirigeant",
    )
    on_behalf = {"organisation_id": str(organisation_id)}
    # Membership (a ProConnect siret) lets staff read the company's cases, not file for it.
    r = await app_client.post(
        INTAKE, json=web_request(on_behalf_of=on_behalf), headers=as_person(employee)
    )
    assert "consulter" in assert_problem(r, 403)["detail"]

    created = await file(app_client, boss, on_behalf_of=on_behalf)
    case = (await get_case(app_client, boss, created["case_id"])).json()
    assert case["submitter"]["kind"] == "organisation"
    assert case["submitter"]["siret"] == "73282932000074"
    assert case["submitter"]["organisation_name"] == "Menuiserie Durand"
    async with sessionmaker() as s:
        stored = await s.get(Case, uuid.UUID(created["case_id"]))
        assert stored is not None
        assert stored.organisation_id == organisation_id and stored.submitter_id is None
    # Every member sees the company's case.
    assert await my_references(app_client, employee) == {created["reference"]}


# ----- what a person sees -----------------------------------------------------------------------------


async def test_people_never_see_each_others_cases(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    alice = await citizen(sessionmaker, clock, email="alice@example.org", given_name="Alice")
    bob = await citizen(sessionmaker, clock, email="bob@example.org", given_name="Bob")
    a = await file(app_client, alice)
    b = await file(app_client, bob)
    # An agent's case for a caller with the same name concerns no account.
    r = await app_client.post(INTAKE, json=permit_request(), headers=seed.auth(seed.counter_token))
    counter_case = r.json()

    assert await my_references(app_client, alice) == {a["reference"]}
    assert await my_references(app_client, bob) == {b["reference"]}
    assert await my_references(app_client, alice, q=b["reference"]) == set()
    assert await my_references(app_client, alice, tenant_id=str(seed.commune_id)) == {
        a["reference"]
    }
    document_id = await store_document(sessionmaker, b["case_id"], now=clock.now())
    for case_id in (b["case_id"], counter_case["case_id"]):
        for url in (f"{CASES}{case_id}", f"{CASES}{case_id}/documents"):
            body = assert_problem(
                await app_client.get(url, headers=as_person(alice, csrf=False)), 404
            )
            assert b["reference"] not in body["detail"]
    r = await app_client.get(f"/api/v1/documents/{document_id}", headers=as_person(alice))
    assert_problem(r, 404)
    assert b"%PDF" not in r.content
    # The denial is journaled, as any hidden case.
    async with sessionmaker() as s:
        denied = list(
            await s.scalars(select(JournalEntry).where(JournalEntry.event == "auth.access.denied"))
        )
    assert any(e.actor_id == alice.person_id for e in denied)


async def test_a_person_reads_and_downloads_the_documents_of_their_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(app_client, me)
    content = b"%PDF-1.7\n% accuse de reception\n%%EOF\n"
    document_id = await store_document(
        sessionmaker, created["case_id"], now=clock.now(), data=content
    )
    r = await app_client.get(
        f"{CASES}{created['case_id']}/documents", headers=as_person(me, csrf=False)
    )
    assert r.status_code == 200, r.text
    [listed] = r.json()
    assert listed["id"] == str(document_id)
    r = await app_client.get(listed["download_url"], headers=as_person(me, csrf=False))
    assert r.status_code == 200, r.text
    assert r.content == content
    assert r.headers["content-disposition"].startswith("attachment;")


async def test_a_person_sees_only_the_public_side_of_their_case(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(
        app_client,
        me,
        procedure="general.request",
        payload={
            "subject": "Horaires de la piscine",
            "message": "Bonjour, quels sont les horaires ?",
        },
    )
    case_id = created["case_id"]
    auth = seed.auth(seed.instructor_token)
    for text, public in (
        ("Note interne : voisin connu", False),
        ("Nous étudions votre demande", True),
    ):
        r = await app_client.post(
            f"{CASES}{case_id}/messages", json={"text": text, "public": public}, headers=auth
        )
        assert r.status_code == 201, r.text
    r = await app_client.post(
        f"{CASES}{case_id}/assignment", json={"assignee_id": str(seed.instructor_id)}, headers=auth
    )
    assert r.status_code == 200, r.text
    r = await app_client.post(f"{CASES}{case_id}/transitions/take", json={}, headers=auth)
    assert r.status_code == 200, r.text
    # The answer objective is an internal target: when missed, the case goes "late" inside.
    await apply(sessionmaker, engine, clock, uuid.UUID(case_id), "flag_late", SYSTEM_ACTOR)

    agent_view = (await app_client.get(f"{CASES}{case_id}", headers=auth)).json()
    assert agent_view["state"] == "late"
    assert agent_view["assignee_id"] == str(seed.instructor_id)

    r = await get_case(app_client, me, case_id)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["state"] == "in_progress"
    assert case["state_title"] == "En cours de traitement"
    assert case["assignee_id"] is None and case["agent_id"] is None
    assert [e["kind"] for e in case["timeline"]] == [
        "case.opened",
        "case.message",
        "case.transitioned",
    ]
    assert all(e["public"] for e in case["timeline"])
    assert "voisin" not in r.text
    assert case["deadlines"] == [] and case["next_due_on"] is None
    assert case["available_transitions"] == []
    [summary] = (await app_client.get(CASES, headers=as_person(me))).json()["items"]
    assert summary["state"] == "in_progress"
    assert summary["assignee_id"] is None and summary["next_due_on"] is None
    # Filters that would reveal internal data are for agents.
    for params in ({"state": "late"}, {"assignee_id": str(seed.instructor_id)}):
        r = await app_client.get(CASES, params=params, headers=as_person(me))
        assert_problem(r, 422)


async def test_a_person_sees_the_legal_deadline_of_their_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(app_client, me)
    r = await app_client.post(
        f"{CASES}{created['case_id']}/transitions/start",
        json={},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 200, r.text
    case = (await get_case(app_client, me, created["case_id"])).json()
    assert [d["kind"] for d in case["deadlines"]] == ["decision"]
    assert case["next_due_on"] == "2026-05-02"


async def test_a_person_writes_messages_but_cannot_decide_nor_assign(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me = await citizen(sessionmaker, clock)
    created = await file(app_client, me)
    case_url = f"{CASES}{created['case_id']}"
    r = await app_client.post(
        f"{case_url}/messages", json={"text": "Voici une précision"}, headers=as_person(me)
    )
    assert r.status_code == 201, r.text
    assert r.json()["public"] is True and r.json()["channel"] == "web"
    r = await app_client.post(
        f"{case_url}/messages", json={"text": "note", "public": False}, headers=as_person(me)
    )
    assert_problem(r, 422)
    r = await app_client.post(
        f"{case_url}/messages", json={"text": "sans jeton"}, headers=as_person(me, csrf=False)
    )
    assert_problem(r, 403)

    r = await app_client.post(f"{case_url}/transitions/accept", json={}, headers=as_person(me))
    assert_problem(r, (403, 409))
    r = await app_client.post(
        f"{case_url}/assignment",
        json={"assignee_id": str(seed.instructor_id)},
        headers=as_person(me),
    )
    assert_problem(r, 403)
    agent_view = (await app_client.get(case_url, headers=seed.auth(seed.instructor_token))).json()
    assert agent_view["state"] == "submitted" and agent_view["assignee_id"] is None
    assert [e["kind"] for e in agent_view["timeline"]] == ["case.opened", "case.message"]
    assert agent_view["timeline"][-1]["actor_kind"] == "person"
