"""The intake door attacked: who may file where, every invalid input, odd bodies, idempotency."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import Seed, permit_request
from tests.support.http import assert_problem
from tests.support.http import client_token as api_token
from workflows.cases.models import Case

pytestmark = pytest.mark.e2e

INTAKE = "/api/v1/intake/"


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def client_token(client: AsyncTestClient[Any], seed: Seed, *, other: bool = False) -> str:
    if other:
        return await api_token(client, seed.other_client_id, seed.other_client_secret)
    return await api_token(client, seed.client_id, seed.client_secret)


async def count_cases(sm: async_sessionmaker[AsyncSession]) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(Case)) or 0)


async def post_raw(
    client: AsyncTestClient[Any], token: str, content: bytes, content_type: str = "application/json"
) -> Any:
    return await client.post(
        INTAKE,
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )


# ----- where and what ------------------------------------------------------------------------------


async def test_unknown_procedure_is_404_naming_known_ones(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(procedure="urbanisme.permis_de_voler"),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 404)
    assert "urbanisme.permis_de_voler" in body["detail"]
    assert {"general.request", "test.permit"} <= set(body["known_procedures"])
    assert await count_cases(sessionmaker) == 0


async def test_unknown_tenant_is_404(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    for tenant in ("99999", "commune-z", "00000000-0000-7000-8000-000000000001"):
        r = await app_client.post(
            INTAKE, json=permit_request(tenant=tenant), headers=seed.auth(seed.instructor_token)
        )
        body = assert_problem(r, 404)
        assert tenant in body["detail"]


async def test_tenant_by_insee_slug_or_id(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    refs = []
    for tenant in ("69001", "commune-a", str(seed.commune_id)):
        r = await app_client.post(
            INTAKE, json=permit_request(tenant=tenant), headers=seed.auth(seed.instructor_token)
        )
        assert r.status_code == 201, r.text
        refs.append(r.json()["reference"])
    assert refs == ["69001-2026-000001", "69001-2026-000002", "69001-2026-000003"]


async def test_api_client_of_commune_b_may_not_file_for_commune_a(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token = await client_token(app_client, seed, other=True)
    r = await app_client.post(INTAKE, json=permit_request(), headers=seed.auth(token))
    body = assert_problem(r, 403)
    assert "Commune A" in body["detail"]
    assert await count_cases(sessionmaker) == 0
    r = await app_client.post(INTAKE, json=permit_request(tenant="69002"), headers=seed.auth(token))
    assert r.status_code == 201, r.text
    assert r.json()["reference"] == "69002-2026-000001"


async def test_agent_with_a_role_only_in_commune_b_is_403(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        INTAKE, json=permit_request(), headers=seed.auth(seed.other_instructor_token)
    )
    body = assert_problem(r, 403)
    assert "aucun rôle" in body["detail"]
    assert await count_cases(sessionmaker) == 0


async def test_roleless_agent_is_403(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.post(INTAKE, json=permit_request(), headers=seed.auth(seed.roleless_token))
    assert_problem(r, 403)


async def test_counter_agent_files_for_commune_a_on_the_counter_channel(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE, json=permit_request(channel="counter"), headers=seed.auth(seed.counter_token)
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(seed.instructor_token))
    case = r.json()
    assert case["channel"] == "counter"
    assert case["agent_id"] == str(seed.counter_id)
    assert case["timeline"][0]["channel"] == "counter"


async def test_api_client_cannot_pretend_to_be_the_counter(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    token = await client_token(app_client, seed)
    r = await app_client.post(
        INTAKE, json=permit_request(channel="counter"), headers=seed.auth(token)
    )
    assert r.status_code == 201, r.text
    r = await app_client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=seed.auth(token))
    assert r.json()["channel"] == "api"


async def test_metropole_instructor_files_and_acts_in_its_communes_only(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    from identity import service as ids

    async with sessionmaker() as s, s.begin():
        await ids.create_tenant(
            s,
            now=clock.now(),
            insee_code="38185",
            slug="hors-metropole",
            name="Commune hors métropole",
            kind="commune",
            address="1 rue",
            postal_code="38000",
            city="Ailleurs",
            phone="04 00 00 00 03",
            email="hors@test.invalid",
        )
    metro = seed.auth(seed.metropole_instructor_token)
    r = await app_client.post(INTAKE, json=permit_request(), headers=metro)
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    r = await app_client.post(f"/api/v1/cases/{case_id}/transitions/start", json={}, headers=metro)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "instruction"

    r = await app_client.post(INTAKE, json=permit_request(tenant="38185"), headers=metro)
    body = assert_problem(r, 403)
    assert "hors métropole" in body["detail"]


# ----- invalid content ---------------------------------------------------------------------------


async def test_invalid_payload_lists_every_field_error(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(payload={"area_m2": "douze", "colour": "rouge"}),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 422)
    assert fields(body) == {"payload.title", "payload.area_m2", "payload.colour"}
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["payload.title"]["type"] == "missing"
    assert by_field["payload.colour"]["type"] == "extra_forbidden"
    assert by_field["payload.area_m2"]["message"] == "doit être un nombre entier"
    assert "3 erreur(s)" in body["detail"]
    assert await count_cases(sessionmaker) == 0


async def test_area_zero_is_refused_with_the_bound(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(payload={"title": "Abri de jardin", "area_m2": 0}),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {
            "field": "payload.area_m2",
            "message": "doit être supérieur ou égal à 1",
            "type": "greater_than_equal",
        }
    ]


async def test_submitter_payload_and_date_errors_are_listed_together(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(
            submitter={"given_name": "Alex", "family_name": "Dupont", "email": "pas-une-adresse"},
            payload={"title": "x", "area_m2": 0},
            received_at="2027-01-01T00:00:00Z",
        ),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 422)
    assert fields(body) == {
        "submitter.email",
        "payload.title",
        "payload.area_m2",
        "received_at",
    }


INVALID_SUBMITTERS: list[tuple[dict[str, Any], str]] = [
    ({"email": "alex@example.org"}, "nom et son prénom"),
    ({"given_name": "Alex", "email": "alex@example.org"}, "nom et son prénom"),
    (
        {
            "kind": "organisation",
            "organisation_name": "ACME",
            "siret": "12345678901234",
            "email": "contact@acme.example",
        },
        "SIRET",
    ),
    ({"kind": "organisation", "organisation_name": "ACME", "email": "c@acme.example"}, "SIREN"),
    ({"kind": "association", "email": "c@asso.example"}, "RNA"),
    ({"given_name": "Alex", "family_name": "Dupont"}, "moyen de contact"),
    ({"given_name": "   ", "family_name": "Dupont", "phone": "0600000000"}, "prénom"),
    ({"kind": "robot", "given_name": "R2", "family_name": "D2", "email": "r@b.fr"}, "valeur"),
]


async def test_invalid_submitter_is_422(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for submitter, needle in INVALID_SUBMITTERS:
        r = await app_client.post(
            INTAKE,
            json=permit_request(submitter=submitter),
            headers=seed.auth(seed.instructor_token),
        )
        body = assert_problem(r, 422)
        assert fields(body) and all(f.startswith("submitter") for f in fields(body)), body
        assert any(needle in e["message"] for e in body["errors"]), (submitter, body)
    assert await count_cases(sessionmaker) == 0


async def test_valid_organisation_is_accepted(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(
            submitter={
                "kind": "organisation",
                "organisation_name": "ACME",
                "siret": "73282932000074",
                "phone": "04 00 00 00 10",
            }
        ),
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 201, r.text


async def test_unknown_submitter_field_is_422(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    submitter = {"given_name": "A", "family_name": "B", "email": "a@b.fr", "password": "x"}
    r = await app_client.post(
        INTAKE, json=permit_request(submitter=submitter), headers=seed.auth(seed.instructor_token)
    )
    body = assert_problem(r, 422)
    assert fields(body) == {"submitter.password"}


async def test_strings_beyond_max_length_are_422(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(
            submitter={"given_name": "A" * 121, "family_name": "Dupont", "email": "a@b.fr"},
            payload={"title": "T" * 201, "area_m2": 12},
        ),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 422)
    assert fields(body) == {"submitter.given_name", "payload.title"}
    assert {e["type"] for e in body["errors"]} == {"string_too_long"}
    assert any("au plus 200" in e["message"] for e in body["errors"])


async def test_envelope_strings_beyond_max_length_are_refused(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for field, value in (
        ("external_ref", "r" * 201),
        ("received_at_reason", "p" * 501),
        ("tenant", "6" * 61),
        ("procedure", "p" * 81),
    ):
        r = await app_client.post(
            INTAKE, json=permit_request(**{field: value}), headers=seed.auth(seed.instructor_token)
        )
        body = assert_problem(r, (400, 422))
        assert field in {f.removeprefix("body.") for f in fields(body)}, body
    assert await count_cases(sessionmaker) == 0


async def test_unknown_top_level_field_is_refused(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE, json=permit_request(priority="high"), headers=seed.auth(seed.instructor_token)
    )
    body = assert_problem(r, (400, 422))
    assert any("priority" in f for f in fields(body))


# ----- odd bodies ------------------------------------------------------------------------------------


async def test_oversized_body_is_413(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    big = permit_request(payload={"title": "Abri", "area_m2": 12, "notes": "x" * (2 * 1024**2)})
    r = await post_raw(app_client, seed.instructor_token, json.dumps(big).encode())
    assert_problem(r, 413)
    assert await count_cases(sessionmaker) == 0


async def test_body_just_under_the_limit_is_not_413(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    body = permit_request(payload={"title": "Abri", "area_m2": 12, "notes": "x" * 900_000})
    r = await post_raw(app_client, seed.instructor_token, json.dumps(body).encode())
    # Read and validated (the schema forbids "notes"), not cut off for its size.
    problem = assert_problem(r, 422)
    assert fields(problem) == {"payload.notes"}


async def test_malformed_json_is_400(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    for raw in (
        b'{"tenant": "69001",',
        b"{'tenant': '69001'}",
        b"not json",
        b'{"a":1}}',
        b"\xff\xfe",
        b'{"tenant": "69001", "tenant": }',
    ):
        r = await post_raw(app_client, seed.instructor_token, raw)
        assert_problem(r, 400)


async def test_deeply_nested_json_is_400_not_500(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    depth = 5000
    raw = json.dumps(permit_request()).encode()[:-1] + b',"deep":' + b"[" * depth + b"]" * depth
    r = await post_raw(app_client, seed.instructor_token, raw + b"}")
    assert_problem(r, 400)


async def test_wrong_json_types_are_4xx_never_500(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for raw in (
        json.dumps(permit_request(payload=["title", "area_m2"])),
        json.dumps(permit_request(tenant=69001)),
        json.dumps(permit_request(procedure=None)),
        json.dumps(permit_request(submitter="Alex Dupont")),
        json.dumps(permit_request(received_at=[2026, 3, 1])),
        json.dumps(permit_request(received_at="hier")),
        json.dumps(permit_request(channel=7)),
        json.dumps(permit_request(payload={"title": ["Abri"], "area_m2": {"n": 1}})),
        json.dumps([permit_request()]),
        "null",
        '"intake"',
        "42",
        "",
    ):
        r = await post_raw(app_client, seed.instructor_token, raw.encode())
        assert_problem(r, (400, 422))
    assert await count_cases(sessionmaker) == 0


async def test_type_errors_name_the_field(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(payload=[1, 2], tenant=69001),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, (400, 422))
    assert {"payload", "tenant"} <= {f.removeprefix("body.") for f in fields(body)}


async def test_wrong_content_type_is_4xx(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await post_raw(
        app_client,
        seed.instructor_token,
        b"tenant=69001&procedure=test.permit",
        "application/x-www-form-urlencoded",
    )
    assert_problem(r, (400, 415, 422))


# ----- unicode ---------------------------------------------------------------------------------------


async def test_unicode_is_stored_faithfully(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    submitter = {
        "given_name": "Zoe\u0308 🌻",  # combining diaeresis, emoji
        "family_name": "مريم العربي",  # right-to-left
        "email": "zoe@example.org",
        "postal_address": "1 rue de l’Église, 69001 Lyon \u202e 漢字",
    }
    payload = {"title": "Abri 🏡 de jardin \u200fשלום\u200e", "area_m2": 12}
    r = await app_client.post(
        INTAKE,
        json=permit_request(submitter=submitter, payload=payload),
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(seed.instructor_token))
    case = r.json()
    assert case["payload"]["title"] == payload["title"]
    for key, value in submitter.items():
        assert case["submitter"][key] == value
    r = await app_client.get(
        "/api/v1/cases/", params={"q": "مريم"}, headers=seed.auth(seed.instructor_token)
    )
    assert r.json()["total"] == 1


NUL_INPUTS: list[dict[str, Any]] = [
    {"payload": {"title": "Abri\u0000 de jardin", "area_m2": 12}},
    {"submitter": {"given_name": "Al\u0000ex", "family_name": "Dupont", "email": "a@b.fr"}},
    {"external_ref": "ref-\u0000-1"},
    {"tenant": "69\u0000001"},
    {"procedure": "test.permit\u0000"},
    {"received_at": "2026-03-01T10:00:00Z", "received_at_reason": "papier\u0000"},
    {"on_behalf_of": {"name": "\u0000"}},
]


async def test_nul_character_is_stored_faithfully_or_refused_never_500(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    auth = seed.auth(seed.instructor_token)
    for override in NUL_INPUTS:
        before = await count_cases(sessionmaker)
        r = await app_client.post(INTAKE, json=permit_request(**override), headers=auth)
        if r.status_code != 201:
            assert_problem(r, (400, 404, 422))
            assert await count_cases(sessionmaker) == before
            continue
        case = (await app_client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=auth)).json()
        if "payload" in override:
            assert case["payload"]["title"] == override["payload"]["title"]
        if "submitter" in override:
            assert case["submitter"]["given_name"] == override["submitter"]["given_name"]
        if "external_ref" in override:
            assert case["external_ref"] == override["external_ref"]
        if "on_behalf_of" in override:
            assert case["on_behalf_of"] == override["on_behalf_of"]
    # The app is still healthy afterwards.
    r = await app_client.post(INTAKE, json=permit_request(), headers=auth)
    assert r.status_code == 201, r.text


# ----- dates of receipt -------------------------------------------------------------------------------


async def test_received_at_in_the_future_is_422(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(received_at="2026-03-02T09:10:00Z"),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "received_at"
    assert "futur" in body["errors"][0]["message"]


async def test_received_at_within_clock_skew_is_accepted(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(received_at="2026-03-02T09:04:00Z"),
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 201, r.text


async def test_past_received_at_without_reason_is_422(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    for reason in (None, "   "):
        r = await app_client.post(
            INTAKE,
            json=permit_request(received_at="2026-02-27T10:00:00+01:00", received_at_reason=reason),
            headers=seed.auth(seed.instructor_token),
        )
        body = assert_problem(r, 422)
        assert fields(body) == {"received_at_reason"}


async def test_backdated_paper_deposit_takes_the_year_of_receipt_and_is_journaled(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(
            received_at="2025-12-31T23:30:00+01:00",
            received_at_reason="Dépôt papier en mairie le 31 décembre",
            channel="counter",
        ),
        headers=seed.auth(seed.counter_token),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["reference"] == "69001-2025-000001"
    assert parse(created["received_at"]) == datetime(2025, 12, 31, 22, 30, tzinfo=UTC)
    assert parse(created["registered_at"]) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    async with sessionmaker() as s:
        entries = list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == "intake.receipt.backdated")
            )
        )
    assert len(entries) == 1
    assert entries[0].data["case_id"] == created["case_id"]
    assert entries[0].data["reason"] == "Dépôt papier en mairie le 31 décembre"
    assert entries[0].actor_id == seed.counter_id
    assert entries[0].tenant_id == seed.commune_id

    # The 2026 sequence is independent of 2025's.
    r = await app_client.post(INTAKE, json=permit_request(), headers=seed.auth(seed.counter_token))
    assert r.json()["reference"] == "69001-2026-000001"


async def test_new_year_in_paris_counts_not_utc(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    # 31 Dec 2025 23:30 UTC is already 1 Jan 2026 00:30 in Paris.
    r = await app_client.post(
        INTAKE,
        json=permit_request(received_at="2025-12-31T23:30:00Z", received_at_reason="courrier"),
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 201, r.text
    assert r.json()["reference"] == "69001-2026-000001"


async def test_naive_received_at_is_refused(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(received_at="2026-03-01T10:00:00", received_at_reason="papier"),
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, (400, 422))
    assert "received_at" in {f.removeprefix("body.") for f in fields(body)}
    assert await count_cases(sessionmaker) == 0


# ----- idempotency and references ------------------------------------------------------------------


async def test_idempotency_key_replay_returns_the_same_case(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token = await client_token(app_client, seed)
    headers = {**seed.auth(token), "Idempotency-Key": "portail-a-req-0001"}
    first = await app_client.post(INTAKE, json=permit_request(), headers=headers)
    assert first.status_code == 201, first.text
    again = await app_client.post(INTAKE, json=permit_request(), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["case_id"] == first.json()["case_id"]
    assert again.json()["reference"] == first.json()["reference"]
    assert await count_cases(sessionmaker) == 1

    other = await app_client.post(
        INTAKE, json=permit_request(), headers={**headers, "Idempotency-Key": "portail-a-req-0002"}
    )
    assert other.status_code == 201
    assert other.json()["reference"] == "69001-2026-000002"
    assert await count_cases(sessionmaker) == 2


async def test_another_client_s_idempotency_key_never_returns_its_case(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    """Two portals of one commune may pick the same key: the second gets a 409, never the
    first one's case (its reference, its applicant)."""
    from identity import service as ids
    from identity.models import Tenant

    async with sessionmaker() as s, s.begin():
        tenant = await s.scalar(select(Tenant).where(Tenant.insee_code == "69001"))
        assert tenant is not None
        other, secret = await ids.create_api_client(
            s, now=clock.now(), tenant=tenant, name="Portail B de A", scopes=["intake:write"]
        )
    key = {"Idempotency-Key": "req-0001"}
    first = await app_client.post(
        INTAKE,
        json=permit_request(),
        headers={**seed.auth(await client_token(app_client, seed)), **key},
    )
    assert first.status_code == 201, first.text
    second = await app_client.post(
        INTAKE,
        json=permit_request(),
        headers={**seed.auth(await api_token(app_client, other.client_id, secret)), **key},
    )
    body = assert_problem(second, 409)
    assert first.json()["reference"] not in second.text
    assert "autre client" in body["detail"]
    assert await count_cases(sessionmaker) == 1


async def test_overlong_idempotency_key_is_refused(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        INTAKE,
        json=permit_request(),
        headers={**seed.auth(seed.instructor_token), "Idempotency-Key": "k" * 201},
    )
    assert_problem(r, (400, 422))


async def test_references_are_sequential_per_tenant_and_year(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    refs = []
    for token, tenant in (
        (seed.instructor_token, "69001"),
        (seed.counter_token, "69001"),
        (seed.other_instructor_token, "69002"),
        (seed.metropole_instructor_token, "69001"),
        (seed.metropole_instructor_token, "69002"),
    ):
        r = await app_client.post(
            INTAKE, json=permit_request(tenant=tenant), headers=seed.auth(token)
        )
        assert r.status_code == 201, r.text
        refs.append(r.json()["reference"])
    assert refs == [
        "69001-2026-000001",
        "69001-2026-000002",
        "69002-2026-000001",
        "69001-2026-000003",
        "69002-2026-000002",
    ]


async def test_refused_intake_does_not_consume_a_reference(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    auth = seed.auth(seed.instructor_token)
    r = await app_client.post(INTAKE, json=permit_request(), headers=auth)
    assert r.json()["reference"] == "69001-2026-000001"
    r = await app_client.post(
        INTAKE, json=permit_request(payload={"title": "Abri", "area_m2": -1}), headers=auth
    )
    assert r.status_code == 422
    r = await app_client.post(INTAKE, json=permit_request(), headers=auth)
    assert r.json()["reference"] == "69001-2026-000002"


async def test_a_commune_without_the_service_in_charge_cannot_receive_the_procedure(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: Any
) -> None:
    """The ARE must name the service in charge with its address and phone (R112-11-1 2° CRPA):
    a commune that has not declared it cannot receive the procedure."""
    from sqlalchemy import delete

    from identity.models import TenantService

    async with sessionmaker() as s, s.begin():
        await s.execute(
            delete(TenantService).where(
                TenantService.tenant_id == seed.commune_id, TenantService.code == "urbanisme"
            )
        )
    r = await app_client.post(
        "/api/v1/intake/", json=permit_request(), headers=seed.auth(seed.counter_token)
    )
    body = assert_problem(r, 409)
    assert "« urbanisme »" in body["detail"]
    assert "R112-11-1" in body["detail"]
