"""The counter and the phone desk over HTTP: finding the person (accents, phone formats, e-mail,
duplicates), creating their record, entering their request (channel, identity check, backdated
paper, claim code on the receipt), noting a call and listing the caller's other cases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.models import TrackingCode
from identity import service as ids
from identity.models import Person, Tenant
from identity.person_search import reindex_all
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import TEST_EXTENSION, Seed, permit_request
from tests.support.citizens import add_identity, as_person
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in
from tests.support.procedures import DEFINITION as PERMIT
from workflows.cases.models import Case, CaseEvent
from workflows.engine.runner import Engine
from workflows.procedures import build_engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
PEOPLE = "/api/v1/guichet/personnes"
REQUESTS = "/api/v1/guichet/demandes"
PAYLOAD = {"title": "Abri de jardin", "area_m2": 12}


@pytest.fixture
def engine() -> Engine:
    """The test procedures plus one that phone agents may enter."""
    built = build_engine([TEST_EXTENSION])
    built.load(
        PERMIT.model_copy(
            update={"key": "test.phone", "intake_roles": ("counter_agent", "phone_agent")}
        )
    )
    return built


def hdr(seed: Seed, token: str) -> dict[str, str]:
    return seed.auth(token)


async def agent_with(sm: SM, clock: FrozenClock, email: str, *roles: Role) -> str:
    """A new agent of commune A with these roles; returns their bearer token."""
    async with sm() as s, s.begin():
        tenant = await s.scalar(select(Tenant).where(Tenant.insee_code == "69001"))
        assert tenant is not None
        agent = await ids.create_agent(
            s, now=clock.now(), email=email, given_name="Paul", family_name="Phone", title="Agent"
        )
        for role in roles:
            await ids.grant_role(s, agent, role, tenant, now=clock.now())
        issued = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=1))
        return issued.access_token


async def new_record(client: AsyncTestClient[Any], seed: Seed, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "given_name": "Hélène",
        "family_name": "Lefèvre",
        "birthdate": "1975-04-12",
        "phone": "+33 6 12 34 56 78",
        "email": "Helene.Lefevre@Example.org",
        "postal_address": "3 rue de l'Église, 69001 Lyon",
        "identity_check": "document_seen",
        "document": "CNI n°123456789012",
    }
    body.update(fields)
    r = await client.post(PEOPLE, json=body, headers=hdr(seed, seed.counter_token))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def found_ids(
    client: AsyncTestClient[Any], seed: Seed, token: str | None = None, **params: str
) -> list[str]:
    r = await client.get(PEOPLE, params=params, headers=hdr(seed, token or seed.counter_token))
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


def counter_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "69001",
        "procedure": "test.permit",
        "channel": "counter",
        "payload": PAYLOAD,
    }
    body.update(overrides)
    return body


async def enter(
    client: AsyncTestClient[Any], seed: Seed, token: str | None = None, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        REQUESTS, json=counter_request(**overrides), headers=hdr(seed, token or seed.counter_token)
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def journal(sm: SM, event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(await s.scalars(select(JournalEntry).where(JournalEntry.event == event)))


# ----- finding the person ---------------------------------------------------------------------


async def test_a_person_is_found_without_accents_by_phone_in_any_format_and_by_email(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    helene = (await new_record(app_client, seed))["id"]
    await new_record(
        app_client,
        seed,
        given_name="Paul",
        family_name="Martin",
        phone="04 78 00 00 00",
        email="paul@example.org",
        postal_address="8 place Bellecour, 69002 Lyon",
        document=None,
        identity_check="none",
    )

    assert await found_ids(app_client, seed, q="helene") == [helene]
    assert await found_ids(app_client, seed, q="HELENE lefevre") == [helene]
    assert await found_ids(app_client, seed, q="Lefèvre") == [helene]
    assert await found_ids(app_client, seed, phone="0612345678") == [helene]
    assert await found_ids(app_client, seed, phone="+33612345678") == [helene]
    assert await found_ids(app_client, seed, email="HELENE.LEFEVRE@example.ORG") == [helene]
    assert await found_ids(app_client, seed, q="eglise") == [helene]  # address words
    assert await found_ids(app_client, seed, q="helene", birthdate="1975-04-12") == [helene]
    assert await found_ids(app_client, seed, q="helene", birthdate="1975-04-13") == []
    assert await found_ids(app_client, seed, q="helene martin") == []

    r = await app_client.get(PEOPLE, params={"q": "helene"}, headers=hdr(seed, seed.counter_token))
    card = r.json()["items"][0]
    assert card["given_name"] == "Hélène"
    assert card["birthdate"] == "1975-04-12"
    assert card["email"] == "helene.lefevre@example.org"
    assert card["phone"] == "+33 6 12 34 56 78"
    assert card["identity_check"] == "document_seen"
    assert card["has_account"] is False
    assert card["possible_duplicates"] == []


async def test_duplicates_are_shown_but_a_homonym_may_be_created(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    first = await new_record(app_client, seed)
    homonym = await new_record(
        app_client,
        seed,
        given_name="HELENE",
        family_name="lefevre",
        phone=None,
        email=None,
        identity_check="none",
        document=None,
    )
    assert [d["id"] for d in homonym["possible_duplicates"]] == [first["id"]]
    assert homonym["possible_duplicates"][0]["reasons"] == ["same_name_and_birthdate"]

    same_phone = await new_record(
        app_client,
        seed,
        given_name="Jean",
        family_name="Autre",
        birthdate=None,
        phone="06.12.34.56.78",
        email=None,
    )
    assert [(d["id"], d["reasons"]) for d in same_phone["possible_duplicates"]] == [
        (first["id"], ["same_phone"])
    ]

    r = await app_client.get(PEOPLE, params={"q": "helene"}, headers=hdr(seed, seed.counter_token))
    cards = {c["id"]: c for c in r.json()["items"]}
    assert set(cards) == {first["id"], homonym["id"]}
    assert {d["id"] for d in cards[first["id"]]["possible_duplicates"]} == {
        homonym["id"],
        same_phone["id"],
    }


async def test_creating_a_record_keeps_the_agent_and_the_check_and_the_document_in_the_journal(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    created = await new_record(app_client, seed)
    assert created["created_by_agent_id"] == str(seed.counter_id)
    assert created["identity_check"] == "document_seen"
    assert created["has_account"] is False

    async with sessionmaker() as s:
        person = await s.get(Person, uuid.UUID(created["id"]))
        assert person is not None
        assert person.created_by_agent_id == seed.counter_id
        assert person.login_email is None and person.password_hash is None
        assert "123456789012" not in person.search_text
    entries = [
        e
        for e in await journal(sessionmaker, "identity.account.created")
        if e.data.get("person_id") == created["id"]
    ]
    assert len(entries) == 1
    assert entries[0].actor_id == seed.counter_id
    assert entries[0].data["document"] == "CNI n°123456789012"
    assert entries[0].data["identity_check"] == "document_seen"


async def test_people_with_accounts_are_found_after_reindexing(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """Records written elsewhere (FranceConnect, local accounts) join the search once indexed."""
    person_id = await create_person(
        sessionmaker, now=clock.now(), given_name="Zoé", family_name="Ançel"
    )
    await add_identity(sessionmaker, person_id, now=clock.now())
    assert await found_ids(app_client, seed, q="zoe") == []

    async with sessionmaker() as s, s.begin():
        assert await reindex_all(s) >= 1
    assert await found_ids(app_client, seed, q="zoe ancel") == [str(person_id)]
    # The verified names and birth date of FranceConnect are searchable too.
    assert await found_ids(app_client, seed, q="marie louise", birthdate="1980-06-15") == [
        str(person_id)
    ]
    r = await app_client.get(PEOPLE, params={"q": "zoe"}, headers=hdr(seed, seed.counter_token))
    card = r.json()["items"][0]
    assert card["has_account"] is True
    assert card["identity_check"] == "franceconnect"

    async with sessionmaker() as s, s.begin():
        person = await s.get(Person, person_id)
        assert person is not None
        person.status = "erased"
        await reindex_all(s)
    assert await found_ids(app_client, seed, q="zoe") == []


# ----- entering the request ------------------------------------------------------------------


async def test_a_counter_request_for_a_person_with_an_account_shows_in_their_account(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(
        sessionmaker,
        now=clock.now(),
        given_name="Marie",
        family_name="Dupont",
        email="marie@example.org",
    )
    await add_identity(sessionmaker, person_id, now=clock.now())
    created = await enter(app_client, seed, person_id=str(person_id))
    assert created["channel"] == "counter"
    assert created["claim_code"] is None  # they follow it in their account
    assert created["reference"] in created["receipt_text"]

    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(created["case_id"]))
        assert case is not None
        assert case.channel == "counter"
        assert case.submitter_id == person_id
        assert case.agent_id == seed.counter_id
        assert case.channel_data is not None
        assert case.channel_data["agent_id"] == str(seed.counter_id)
        assert case.channel_data["identity_check"] == "franceconnect"
        assert case.channel_data["counter"]["tenant"] == "Commune A"
        assert case.submitter["family_name"] == "Dupont"
        assert case.submitter["email"] == "marie@example.org"

    me = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.get("/api/v1/cases/", headers=as_person(me, csrf=False))
    assert r.status_code == 200, r.text
    assert [c["reference"] for c in r.json()["items"]] == [created["reference"]]


async def test_a_record_without_account_gets_a_claim_code_printed_once(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    record = await new_record(app_client, seed)
    created = await enter(app_client, seed, person_id=record["id"], notification="postal")
    code = created["claim_code"]
    assert code and len(code) == 14
    assert code in created["receipt_text"]
    assert "qu'une fois" in created["receipt_text"]
    assert created["notification"] == "postal"
    assert [letter["kind"] for letter in created["letters_to_print"]] == ["are"]

    async with sessionmaker() as s:
        rows = list(await s.scalars(select(TrackingCode)))
        assert [r.case_id for r in rows] == [uuid.UUID(created["case_id"])]
        assert code not in rows[0].code_hash  # only the hash is kept
        case = await s.get(Case, uuid.UUID(created["case_id"]))
        assert case is not None and case.channel_data is not None
        assert case.channel_data["identity_check"] == "document_seen"


async def test_a_request_without_record_takes_the_submitter_and_gives_the_code(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    created = await enter(
        app_client,
        seed,
        submitter={"given_name": "Luc", "family_name": "Sans", "phone": "06 00 00 00 01"},
    )
    assert created["claim_code"] and created["claim_code"] in created["receipt_text"]
    assert created["notification"] == "postal"  # no e-mail address: letters
    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(created["case_id"]))
        assert case is not None and case.channel_data is not None
        assert case.submitter_id is None
        assert case.channel_data["identity_check"] == "none"


async def test_paper_received_days_ago_needs_a_reason(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    record = await new_record(app_client, seed)
    three_days_ago = (clock.now() - timedelta(days=3)).isoformat()
    r = await app_client.post(
        REQUESTS,
        json=counter_request(person_id=record["id"], received_at=three_days_ago),
        headers=hdr(seed, seed.counter_token),
    )
    body = assert_problem(r, 422)
    assert "received_at_reason" in {e["field"] for e in body["errors"]}

    created = await enter(
        app_client,
        seed,
        person_id=record["id"],
        received_at=three_days_ago,
        received_at_reason="Dossier papier déposé dans la boîte aux lettres de la mairie",
    )
    assert created["received_at"].startswith((clock.now() - timedelta(days=3)).date().isoformat())
    entries = await journal(sessionmaker, "intake.receipt.backdated")
    assert [e.data["case_id"] for e in entries] == [created["case_id"]]
    assert entries[0].actor_id == seed.counter_id


async def test_phone_agents_use_the_phone_channel_only(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    phone = await agent_with(sessionmaker, clock, "phone@a.invalid", Role.PHONE_AGENT)
    record = await new_record(app_client, seed)
    r = await app_client.post(
        REQUESTS,
        json=counter_request(procedure="test.phone", person_id=record["id"]),
        headers=hdr(seed, phone),
    )
    assert "phone" in assert_problem(r, 403)["detail"]

    created = await enter(
        app_client,
        seed,
        phone,
        procedure="test.phone",
        channel="phone",
        person_id=record["id"],
        caller_phone="06 12 34 56 78",
    )
    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(created["case_id"]))
        assert case is not None and case.channel_data is not None
        assert case.channel == "phone"
        assert case.channel_data["caller_phone"] == "06 12 34 56 78"
        assert case.channel_data["agent_name"] == "Paul Phone"
        assert "phone" in case.channel_data

    # A counter agent cannot use the phone channel; an agent with both roles chooses.
    r = await app_client.post(
        REQUESTS,
        json=counter_request(channel="phone", person_id=record["id"]),
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, 403)
    both = await agent_with(
        sessionmaker, clock, "both@a.invalid", Role.PHONE_AGENT, Role.COUNTER_AGENT
    )
    await enter(app_client, seed, both, procedure="test.phone", person_id=record["id"])
    await enter(
        app_client, seed, both, procedure="test.phone", channel="phone", person_id=record["id"]
    )


# ----- call notes and the caller's other cases -------------------------------------------------


async def other_tenant_case(
    client: AsyncTestClient[Any], seed: Seed, sm: SM, person_id: str | None = None
) -> str:
    r = await client.post(
        "/api/v1/intake/",
        json=permit_request(tenant="69002"),
        headers=hdr(seed, seed.other_instructor_token),
    )
    assert r.status_code == 201, r.text
    case_id: str = r.json()["case_id"]
    if person_id is not None:
        async with sm() as s, s.begin():
            case = await s.get(Case, uuid.UUID(case_id))
            assert case is not None
            case.submitter_id = uuid.UUID(person_id)
    return case_id


async def test_a_call_note_stays_internal_and_other_tenants_cases_do_not_exist(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now(), email="marie@example.org")
    await add_identity(sessionmaker, person_id, now=clock.now())
    created = await enter(app_client, seed, person_id=str(person_id))
    note = f"/api/v1/guichet/dossiers/{created['case_id']}/notes"

    r = await app_client.post(
        note,
        json={"text": "Appelle pour savoir où en est son dossier.", "caller_phone": "0612345678"},
        headers=hdr(seed, seed.counter_token),
    )
    assert r.status_code == 201, r.text
    assert r.json()["public"] is False
    assert r.json()["kind"] == "call.note"

    async with sessionmaker() as s:
        events = list(
            await s.scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == uuid.UUID(created["case_id"]),
                    CaseEvent.kind == "call.note",
                )
            )
        )
        assert len(events) == 1 and events[0].public is False
        assert events[0].data["text"] == "Appelle pour savoir où en est son dossier."

    me = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.get(
        f"/api/v1/cases/{created['case_id']}", headers=as_person(me, csrf=False)
    )
    assert r.status_code == 200, r.text
    assert "call.note" not in {e["kind"] for e in r.json()["timeline"]}

    elsewhere = await other_tenant_case(app_client, seed, sessionmaker)
    r = await app_client.post(
        f"/api/v1/guichet/dossiers/{elsewhere}/notes",
        json={"text": "Je ne devrais pas pouvoir écrire ici."},
        headers=hdr(seed, seed.counter_token),
    )
    other = assert_problem(r, 404)
    r = await app_client.post(
        f"/api/v1/guichet/dossiers/{uuid.uuid4()}/notes",
        json={"text": "Dossier inexistant."},
        headers=hdr(seed, seed.counter_token),
    )
    assert assert_problem(r, 404)["detail"] == other["detail"]  # indistinguishable


async def test_the_callers_other_cases_are_listed_within_the_agents_tenants(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    record = await new_record(app_client, seed)
    first = await enter(app_client, seed, person_id=record["id"])
    second = await enter(app_client, seed, person_id=record["id"])
    await enter(
        app_client, seed, submitter={"given_name": "X", "family_name": "Y", "phone": "0600000000"}
    )
    await other_tenant_case(app_client, seed, sessionmaker, person_id=record["id"])

    r = await app_client.get(
        f"{PEOPLE}/{record['id']}/dossiers", headers=hdr(seed, seed.counter_token)
    )
    assert r.status_code == 200, r.text
    listed = r.json()
    assert {c["reference"] for c in listed} == {first["reference"], second["reference"]}
    assert all(c["procedure"] == "test.permit" and c["channel"] == "counter" for c in listed)
    assert all(c["state"] and c["received_at"] for c in listed)

    r = await app_client.get(
        f"{PEOPLE}/{uuid.uuid4()}/dossiers", headers=hdr(seed, seed.counter_token)
    )
    assert_problem(r, 404)


# ----- who may, and hostile input ---------------------------------------------------------------


async def test_only_counter_and_phone_agents_use_the_desk(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    for token in (seed.instructor_token, seed.roleless_token, seed.admin_token):
        r = await app_client.get(PEOPLE, params={"q": "dupont"}, headers=hdr(seed, token))
        assert_problem(r, 403)
    r = await app_client.get(PEOPLE, params={"q": "dupont"})
    assert_problem(r, 401)
    person_id = await create_person(sessionmaker, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.get(PEOPLE, params={"q": "dupont"}, headers=as_person(me, csrf=False))
    assert_problem(r, 403)
    # A counter agent of commune A does not enter requests for commune B.
    r = await app_client.post(
        REQUESTS,
        json=counter_request(
            tenant="69002", submitter={"given_name": "A", "family_name": "B", "phone": "0600000000"}
        ),
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, 403)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "a"},
        {"q": "%"},
        {"q": "_ %"},
        {"birthdate": "1975-04-12"},
        {"q": "x" * 101},
        {"q": "helene", "birthdate": "pas-une-date"},
        {"phone": "1" * 31},
    ],
)
async def test_hostile_or_empty_searches_are_refused(
    seed: Seed, app_client: AsyncTestClient[Any], params: dict[str, str]
) -> None:
    r = await app_client.get(PEOPLE, params=params, headers=hdr(seed, seed.counter_token))
    assert_problem(r, (400, 422))


async def test_like_wildcards_match_literally(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    await new_record(app_client, seed)
    assert await found_ids(app_client, seed, email="%@%") == []
    assert await found_ids(app_client, seed, email="_elene.lefevre@example.org") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"given_name": ""},
        {"given_name": "Hé\x00lène"},
        {"family_name": "A\nB"},
        {"identity_check": "trust_me"},
        {"email": "pas une adresse"},
        {"birthdate": "2999-01-01"},
        {"birthdate": "1800-01-01"},
        {"phone": "abc"},
        {"identity_check": "none"},  # with a document: inconsistent
        {"is_admin": True},
        {"given_name": "x" * 121},
    ],
)
async def test_hostile_records_are_refused(
    seed: Seed, app_client: AsyncTestClient[Any], fields: dict[str, Any]
) -> None:
    body: dict[str, Any] = {
        "given_name": "Hélène",
        "family_name": "Lefèvre",
        "identity_check": "document_seen",
        "document": "CNI",
    }
    body.update(fields)
    r = await app_client.post(PEOPLE, json=body, headers=hdr(seed, seed.counter_token))
    assert_problem(r, (400, 422))


@pytest.mark.parametrize(
    "overrides",
    [
        {"channel": "web"},
        {"person_id": "not-a-uuid"},
        {},  # neither person_id nor submitter
        {"submitter": {"given_name": "A", "family_name": "B"}},  # no contact
        {
            "payload": {"title": "A\x00", "area_m2": 12},
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
        {
            "payload": {"title": 3},
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
        {
            "tenant": "99999",
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
        {
            "procedure": "nope",
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
        {
            "caller_phone": "0" * 31,
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
        {
            "received_at": "2999-01-01T00:00:00+00:00",
            "submitter": {"given_name": "A", "family_name": "B", "phone": "0600000000"},
        },
    ],
)
async def test_hostile_requests_are_refused(
    seed: Seed, app_client: AsyncTestClient[Any], overrides: dict[str, Any]
) -> None:
    r = await app_client.post(
        REQUESTS, json=counter_request(**overrides), headers=hdr(seed, seed.counter_token)
    )
    assert_problem(r, (400, 404, 422))


async def test_unknown_person_and_both_person_and_submitter_are_refused(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    r = await app_client.post(
        REQUESTS,
        json=counter_request(person_id=str(uuid.uuid4())),
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, 404)
    record = await new_record(app_client, seed)
    r = await app_client.post(
        REQUESTS,
        json=counter_request(
            person_id=record["id"], submitter={"given_name": "A", "family_name": "B"}
        ),
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, 422)
    r = await app_client.post(
        f"/api/v1/guichet/dossiers/{uuid.uuid4()}/notes",
        json={"text": "   "},
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, (404, 422))


async def test_empty_note_is_refused(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    record = await new_record(app_client, seed)
    created = await enter(app_client, seed, person_id=record["id"])
    r = await app_client.post(
        f"/api/v1/guichet/dossiers/{created['case_id']}/notes",
        json={"text": "   "},
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, 422)
    r = await app_client.post(
        f"/api/v1/guichet/dossiers/{created['case_id']}/notes",
        json={"text": "x" * 5001},
        headers=hdr(seed, seed.counter_token),
    )
    assert_problem(r, (400, 422))


async def test_at_most_twenty_people_are_shown(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    for n in range(21):
        await new_record(
            app_client,
            seed,
            given_name=f"Prénom{n:02d}",
            family_name="Martin",
            birthdate=None,
            phone=None,
            email=None,
            postal_address=None,
        )
    r = await app_client.get(PEOPLE, params={"q": "martin"}, headers=hdr(seed, seed.counter_token))
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 20
    assert r.json()["more"] is True
    assert len(await found_ids(app_client, seed, q="martin prenom20")) == 1


async def test_a_replayed_request_does_not_open_a_second_case_nor_a_second_code(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    record = await new_record(app_client, seed)
    headers = {**hdr(seed, seed.counter_token), "Idempotency-Key": "guichet-42"}
    body = counter_request(person_id=record["id"])
    first = await app_client.post(REQUESTS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await app_client.post(REQUESTS, json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["case_id"] == first.json()["case_id"]
    assert first.json()["claim_code"] and again.json()["claim_code"] is None
    async with sessionmaker() as s:
        assert len(list(await s.scalars(select(TrackingCode)))) == 1
