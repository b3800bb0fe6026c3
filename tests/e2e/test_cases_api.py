"""The agents' case API, the procedure catalogue, health, readiness, OpenAPI and request ids."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from services.api.app import AppConfig, create_app
from services.kernel.clock import FrozenClock
from tests.conftest import Seed, permit_request
from tests.support.http import PROBLEM, assert_problem
from tests.support.http import client_token as api_token
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

CASES = "/api/v1/cases/"
INSTRUCTOR_ONLY = {"start", "request_pieces", "extend", "accept", "reject", "withdraw"}


def general_request(**overrides: Any) -> dict[str, Any]:
    return permit_request(
        procedure="general.request",
        payload={"subject": "Horaires de la piscine", "message": "Bonjour, quels horaires ?"},
        **overrides,
    )


async def client_token(client: AsyncTestClient[Any], seed: Seed, *, other: bool = False) -> str:
    if other:
        return await api_token(client, seed.other_client_id, seed.other_client_secret)
    return await api_token(client, seed.client_id, seed.client_secret)


async def file(client: AsyncTestClient[Any], token: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/intake/", json=body, headers=Seed.auth(token))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def fire(
    client: AsyncTestClient[Any], token: str, case_id: str, name: str, **body: Any
) -> Any:
    return await client.post(
        f"{CASES}{case_id}/transitions/{name}", json=body, headers=Seed.auth(token)
    )


async def agent_id(client: AsyncTestClient[Any], token: str) -> str:
    r = await client.get("/api/v1/auth/me", headers=Seed.auth(token))
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def list_cases(client: AsyncTestClient[Any], token: str, **params: Any) -> dict[str, Any]:
    r = await client.get(CASES, params=params, headers=Seed.auth(token))
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def refs(page: dict[str, Any]) -> set[str]:
    return {c["reference"] for c in page["items"]}


@pytest.fixture
async def portfolio(
    app_client: AsyncTestClient[Any], seed: Seed, clock: FrozenClock
) -> dict[str, str]:
    """Four cases in commune A, one in commune B, in various states, with an assignee.

    A1 test.permit in instruction (decision due 2026-05-02), assigned to instructor 2
    A2 test.permit submitted, filed by Jeanne Martin
    A3 general.request received
    A4 test.permit incomplete (pieces requested)
    B1 test.permit in commune B
    """
    instr = seed.instructor_token
    ids: dict[str, str] = {}
    ids["A1"] = (await file(app_client, instr, permit_request()))["case_id"]
    clock.advance(timedelta(minutes=1))
    jeanne = {"given_name": "Jeanne", "family_name": "Martin", "email": "jeanne@example.org"}
    ids["A2"] = (await file(app_client, instr, permit_request(submitter=jeanne)))["case_id"]
    clock.advance(timedelta(minutes=1))
    ids["A3"] = (await file(app_client, seed.counter_token, general_request()))["case_id"]
    clock.advance(timedelta(minutes=1))
    ids["A4"] = (await file(app_client, instr, permit_request()))["case_id"]
    clock.advance(timedelta(minutes=1))
    ids["B1"] = (
        await file(app_client, seed.other_instructor_token, permit_request(tenant="69002"))
    )["case_id"]
    assert (await fire(app_client, instr, ids["A1"], "start")).status_code == 200
    r = await fire(app_client, instr, ids["A4"], "request_pieces", payload={"pieces": ["plan"]})
    assert r.status_code == 200, r.text
    second = await agent_id(app_client, seed.instructor2_token)
    r = await app_client.post(
        f"{CASES}{ids['A1']}/assignment", json={"assignee_id": second}, headers=seed.auth(instr)
    )
    assert r.status_code == 200, r.text
    ids["instructor2"] = second
    return ids


# ----- list: filters and pagination ------------------------------------------------------------------


async def test_list_is_scoped_to_the_actors_tenants(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    page = await list_cases(app_client, seed.instructor_token)
    assert page["total"] == 4
    assert refs(page) == {f"69001-2026-00000{i}" for i in range(1, 5)}
    # Newest first.
    assert [c["id"] for c in page["items"]] == [
        portfolio["A4"],
        portfolio["A3"],
        portfolio["A2"],
        portfolio["A1"],
    ]
    page = await list_cases(app_client, seed.other_instructor_token)
    assert refs(page) == {"69002-2026-000001"}
    page = await list_cases(app_client, seed.metropole_instructor_token)
    assert page["total"] == 5
    page = await list_cases(app_client, await client_token(app_client, seed))
    assert page["total"] == 4


async def test_list_filters(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    tok = seed.instructor_token
    page = await list_cases(app_client, tok, procedure="general.request")
    assert [c["id"] for c in page["items"]] == [portfolio["A3"]]
    assert page["items"][0]["state"] == "received"

    page = await list_cases(app_client, tok, procedure="test.permit", state="instruction")
    assert [c["id"] for c in page["items"]] == [portfolio["A1"]]
    assert page["items"][0]["next_due_on"] == "2026-05-02"

    page = await list_cases(app_client, tok, state="incomplete")
    assert [c["id"] for c in page["items"]] == [portfolio["A4"]]

    page = await list_cases(app_client, tok, assignee_id=portfolio["instructor2"])
    assert [c["id"] for c in page["items"]] == [portfolio["A1"]]
    assert page["items"][0]["assignee_id"] == portfolio["instructor2"]

    page = await list_cases(app_client, tok, assignee_id=str(seed.counter_id))
    assert page["total"] == 0

    page = await list_cases(app_client, tok, procedure="no.such.procedure")
    assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_deadline_before_filter(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    tok = seed.instructor_token
    page = await list_cases(app_client, tok, deadline_before="2026-05-02")
    assert portfolio["A1"] in {c["id"] for c in page["items"]}
    assert portfolio["A2"] not in {c["id"] for c in page["items"]}
    assert all(c["next_due_on"] and c["next_due_on"] <= "2026-05-02" for c in page["items"])
    page = await list_cases(app_client, tok, deadline_before="2026-05-01", procedure="test.permit")
    assert page["total"] == 0


async def test_q_matches_reference_and_submitter(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    tok = seed.instructor_token
    assert refs(await list_cases(app_client, tok, q="69001-2026-000002")) == {"69001-2026-000002"}
    assert [c["id"] for c in (await list_cases(app_client, tok, q="MARTIN"))["items"]] == [
        portfolio["A2"]
    ]
    assert (await list_cases(app_client, tok, q="jeanne@example"))["total"] == 1
    assert (await list_cases(app_client, tok, q="dupont"))["total"] == 3
    assert (await list_cases(app_client, tok, q="personne-inconnue"))["total"] == 0
    # Odd search text never fails with a 500.
    for odd in ("%_\\", "'; DROP TABLE case; --", "\u0000"):
        r = await app_client.get(CASES, params={"q": odd}, headers=seed.auth(tok))
        if r.status_code != 200:
            assert_problem(r, (400, 422))
    assert (await list_cases(app_client, tok))["total"] == 4


async def test_tenant_filter(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    page = await list_cases(
        app_client, seed.metropole_instructor_token, tenant_id=str(seed.other_commune_id)
    )
    assert refs(page) == {"69002-2026-000001"}
    r = await app_client.get(
        CASES,
        params={"tenant_id": str(seed.other_commune_id)},
        headers=seed.auth(seed.instructor_token),
    )
    body = assert_problem(r, 403)
    assert "collectivité" in body["detail"]
    r = await app_client.get(
        CASES, params={"tenant_id": str(uuid.uuid4())}, headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, 403)


async def test_pagination(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    tok = seed.instructor_token
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = await list_cases(app_client, tok, limit=2, offset=offset)
        assert page["total"] == 4
        assert page["limit"] == 2
        assert page["offset"] == offset
        seen.extend(c["id"] for c in page["items"])
    assert len(seen) == 4
    assert set(seen) == {portfolio[k] for k in ("A1", "A2", "A3", "A4")}
    page = await list_cases(app_client, tok, limit=200, offset=100)
    assert page["items"] == []
    assert page["total"] == 4


async def test_bad_list_parameters_are_400_problems(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "dix"},
        {"offset": "-1"},
        {"tenant_id": "pas-un-uuid"},
        {"assignee_id": "42"},
        {"deadline_before": "demain"},
        {"q": "x" * 201},
    ):
        r = await app_client.get(CASES, params=params, headers=seed.auth(seed.instructor_token))
        body = assert_problem(r, 400)
        assert body["errors"], params
        assert any(next(iter(params)) in e["field"] for e in body["errors"]), body


# ----- detail ----------------------------------------------------------------------------------------


async def test_detail_shows_timeline_deadlines_and_chain(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    r = await app_client.get(f"{CASES}{portfolio['A1']}", headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["reference"] == "69001-2026-000001"
    assert case["state"] == "instruction"
    assert case["state_title"] == "En instruction"
    assert case["tenant_id"] == str(seed.commune_id)
    assert case["chain_valid"] is True
    timeline = case["timeline"]
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    assert [e["kind"] for e in timeline][:2] == ["case.opened", "case.transitioned"]
    assert "case.assigned" in [e["kind"] for e in timeline]
    assert timeline[1]["from_state"] == "submitted"
    assert timeline[1]["to_state"] == "instruction"
    assert all(len(e["hash"]) == 64 for e in timeline)
    assert [(d["kind"], d["status"], d["due_on"]) for d in case["deadlines"]] == [
        ("decision", "active", "2026-05-02")
    ]
    assert case["next_due_on"] == "2026-05-02"
    assert case["assignee_id"] == portfolio["instructor2"]
    assert case["version"] == 3


async def test_available_transitions_depend_on_the_actor(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    async def available(token: str, key: str) -> set[str]:
        r = await app_client.get(f"{CASES}{portfolio[key]}", headers=seed.auth(token))
        assert r.status_code == 200, r.text
        return {t["name"] for t in r.json()["available_transitions"]}

    assert await available(seed.instructor_token, "A2") >= {"start", "request_pieces"}
    assert await available(seed.counter_token, "A2") == set()
    assert await available(seed.counter_token, "A4") == {"pieces_received"}
    assert not (await available(seed.counter_token, "A1")) & INSTRUCTOR_ONLY
    # withdraw: instructors of the commune, or the case's assignee.
    assert "withdraw" in await available(seed.instructor2_token, "A1")
    # API clients read, they do not act.
    assert await available(await client_token(app_client, seed), "A1") == set()


async def test_transition_options_carry_their_payload_schema(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    r = await app_client.get(f"{CASES}{portfolio['A1']}", headers=seed.auth(seed.instructor_token))
    options = {t["name"]: t for t in r.json()["available_transitions"]}
    assert options["reject"]["payload_schema"]["required"] == ["reason"]
    assert options["accept"]["payload_schema"] is None
    assert options["accept"]["target"] == "accepted"


async def test_case_of_another_tenant_is_404(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    for token, key in (
        (seed.other_instructor_token, "A1"),
        (seed.instructor_token, "B1"),
        (await client_token(app_client, seed), "B1"),
    ):
        r = await app_client.get(f"{CASES}{portfolio[key]}", headers=seed.auth(token))
        body = assert_problem(r, 404)
        assert "introuvable" in body["detail"].lower()
    r = await app_client.get(f"{CASES}{uuid.uuid4()}", headers=seed.auth(seed.instructor_token))
    assert_problem(r, 404)
    r = await app_client.get(f"{CASES}pas-un-uuid", headers=seed.auth(seed.instructor_token))
    assert_problem(r, (400, 404))


# ----- transitions -----------------------------------------------------------------------------------


async def test_stale_version_is_409_naming_the_current_version(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    tok = seed.instructor_token
    case_id = (await file(app_client, tok, permit_request()))["case_id"]
    r = await fire(app_client, tok, case_id, "start", version=1)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    r = await fire(app_client, tok, case_id, "request_pieces", payload={"pieces": ["a"]}, version=1)
    body = assert_problem(r, 409)
    assert body["type"].endswith("/stale-version")
    assert body["current_version"] == 2
    assert "version 2" in body["detail"]
    r = await app_client.get(f"{CASES}{case_id}", headers=seed.auth(tok))
    assert r.json()["state"] == "instruction"
    assert r.json()["version"] == 2


async def test_refused_transitions(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    tok = seed.instructor_token
    a1 = portfolio["A1"]
    # reject needs a reason
    body = assert_problem(await fire(app_client, tok, a1, "reject"), 422)
    assert [e["field"] for e in body["errors"]] == ["payload.reason"]
    body = assert_problem(await fire(app_client, tok, a1, "reject", payload={"reason": "ab"}), 422)
    assert body["errors"][0]["type"] == "string_too_short"
    body = assert_problem(
        await fire(app_client, tok, a1, "reject", payload={"reason": "Hors zone", "x": 1}), 422
    )
    assert {e["field"] for e in body["errors"]} == {"payload.x"}
    # a transition that expects no data
    assert_problem(await fire(app_client, tok, a1, "extend", payload={"months": 3}), 422)
    # unknown and impossible transitions
    body = assert_problem(await fire(app_client, tok, a1, "teleport"), 409)
    assert "teleport" in body["detail"]
    assert "reject" in body["allowed_transitions"]
    body = assert_problem(await fire(app_client, tok, a1, "start"), 409)
    assert body["type"].endswith("/invalid-transition")
    # an automatic transition cannot be fired by hand
    assert_problem(await fire(app_client, tok, portfolio["A4"], "resume"), 409)
    # the counter agent may not decide
    body = assert_problem(await fire(app_client, seed.counter_token, a1, "accept"), 403)
    assert body["transition"] == "accept"
    # nothing changed
    r = await app_client.get(f"{CASES}{a1}", headers=seed.auth(tok))
    assert r.json()["state"] == "instruction"
    assert r.json()["version"] == 3


async def test_reject_with_a_reason_succeeds(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    r = await fire(
        app_client,
        seed.instructor_token,
        portfolio["A1"],
        "reject",
        payload={"reason": "Hors zone constructible"},
        version=3,
    )
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["state"] == "rejected"
    assert case["available_transitions"] == []
    assert case["timeline"][-1]["kind"] == "case.transitioned"
    assert case["timeline"][-1]["data"]["input"] == {"reason": "Hors zone constructible"}
    assert case["chain_valid"] is True


async def test_transition_request_with_unknown_field_or_bad_types(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    url = f"{CASES}{portfolio['A2']}/transitions/start"
    auth = seed.auth(seed.instructor_token)
    for body in (
        {"payload": {}, "force": True},
        {"version": "deux"},
        {"payload": ["x"]},
        [1, 2],
    ):
        r = await app_client.post(url, json=body, headers=auth)
        assert_problem(r, (400, 422))
    r = await app_client.post(
        url, content=b"{", headers={**auth, "Content-Type": "application/json"}
    )
    assert_problem(r, 400)
    r = await app_client.get(f"{CASES}{portfolio['A2']}", headers=auth)
    assert r.json()["state"] == "submitted"


async def test_transition_on_another_tenants_case_is_404(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    r = await fire(app_client, seed.other_instructor_token, portfolio["A2"], "start")
    assert_problem(r, 404)
    r = await fire(app_client, seed.instructor_token, str(uuid.uuid4()), "start")
    assert_problem(r, 404)


# ----- messages and assignment -----------------------------------------------------------------------


async def test_add_a_message(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    url = f"{CASES}{portfolio['A2']}/messages"
    r = await app_client.post(
        url,
        json={"text": "  Pièces reçues au guichet 📎  ", "public": False},
        headers=seed.auth(seed.counter_token),
    )
    assert r.status_code in (200, 201), r.text
    event = r.json()
    assert event["kind"] == "case.message"
    assert event["data"] == {"text": "Pièces reçues au guichet 📎"}
    assert event["public"] is False
    r = await app_client.get(f"{CASES}{portfolio['A2']}", headers=seed.auth(seed.instructor_token))
    case = r.json()
    assert case["timeline"][-1]["kind"] == "case.message"
    assert case["timeline"][-1]["seq"] == event["seq"]
    assert case["chain_valid"] is True
    assert case["state"] == "submitted"


async def test_bad_messages_are_refused(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    url = f"{CASES}{portfolio['A2']}/messages"
    auth = seed.auth(seed.instructor_token)
    for body in ({"text": ""}, {"text": "   \n\t "}, {}, {"text": "x" * 10_001}, {"text": 3}):
        r = await app_client.post(url, json=body, headers=auth)
        assert_problem(r, (400, 422))
    r = await app_client.post(url, json={"text": "Bonjour"}, headers=seed.auth(seed.roleless_token))
    assert_problem(r, 403)
    r = await app_client.post(
        url, json={"text": "Bonjour"}, headers=seed.auth(seed.other_instructor_token)
    )
    assert_problem(r, 404)
    r = await app_client.get(f"{CASES}{portfolio['A2']}", headers=auth)
    assert [e["kind"] for e in r.json()["timeline"]] == ["case.opened"]


async def test_instructor_assigns_and_unassigns(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    url = f"{CASES}{portfolio['A2']}/assignment"
    auth = seed.auth(seed.instructor_token)
    second = portfolio["instructor2"]
    r = await app_client.post(url, json={"assignee_id": second, "version": 1}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == second
    assert r.json()["version"] == 2
    page = await list_cases(app_client, seed.instructor_token, assignee_id=second)
    assert {c["id"] for c in page["items"]} == {portfolio["A1"], portfolio["A2"]}

    r = await app_client.post(url, json={"assignee_id": None}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] is None
    r = await app_client.get(f"{CASES}{portfolio['A2']}", headers=auth)
    kinds = [e["kind"] for e in r.json()["timeline"]]
    assert kinds == ["case.opened", "case.assigned", "case.assigned"]
    assert r.json()["chain_valid"] is True


async def test_assignment_refusals(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    url = f"{CASES}{portfolio['A2']}/assignment"
    second = portfolio["instructor2"]
    body = assert_problem(
        await app_client.post(
            url, json={"assignee_id": second}, headers=seed.auth(seed.counter_token)
        ),
        403,
    )
    assert "instructeurs" in body["detail"]
    auth = seed.auth(seed.instructor_token)
    body = assert_problem(
        await app_client.post(url, json={"assignee_id": str(uuid.uuid4())}, headers=auth), 404
    )
    assert "introuvable" in body["detail"]
    body = assert_problem(
        await app_client.post(url, json={"assignee_id": second, "version": 7}, headers=auth), 409
    )
    assert body["current_version"] == 1
    for bad in ({"assignee_id": "nobody"}, {}, {"assignee_id": second, "note": "x"}):
        assert_problem(await app_client.post(url, json=bad, headers=auth), (400, 422))
    r = await app_client.get(f"{CASES}{portfolio['A2']}", headers=auth)
    assert r.json()["assignee_id"] is None
    assert r.json()["version"] == 1
    assert [e["kind"] for e in r.json()["timeline"]] == ["case.opened"]


async def test_a_case_is_assigned_only_to_an_agent_of_its_commune(
    app_client: AsyncTestClient[Any], seed: Seed, portfolio: dict[str, str]
) -> None:
    """An agent of commune B cannot be put in charge of a commune A case."""
    url = f"{CASES}{portfolio['A2']}/assignment"
    auth = seed.auth(seed.instructor_token)
    outsider = await agent_id(app_client, seed.other_instructor_token)
    body = assert_problem(
        await app_client.post(url, json={"assignee_id": outsider}, headers=auth), 422
    )
    assert "aucun rôle dans la collectivité" in body["detail"]
    # An instructor of the métropole covers its communes and may be put in charge.
    metro = await agent_id(app_client, seed.metropole_instructor_token)
    r = await app_client.post(url, json={"assignee_id": metro}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == metro


# ----- procedures ------------------------------------------------------------------------------------


async def test_procedure_catalogue(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    auth = seed.auth(seed.counter_token)
    r = await app_client.get("/api/v1/procedures/", headers=auth)
    assert r.status_code == 200, r.text
    listed = {p["key"]: p for p in r.json()}
    assert {"general.request", "test.permit"} <= set(listed)
    assert listed["test.permit"]["versions"] == [1]
    assert listed["test.permit"]["title"] == "Permis de test"

    r = await app_client.get("/api/v1/procedures/test.permit", headers=auth)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["key"] == "test.permit"
    assert d["version"] == 1
    assert d["initial_state"] == "submitted"
    assert {s["name"] for s in d["states"]} >= {"submitted", "instruction", "tacit_accepted"}
    assert {t["name"] for t in d["transitions"]} >= INSTRUCTOR_ONLY | {"resume"}
    assert [t["kind"] for t in d["timers"]] == ["decision"]
    assert set(d["payload_schema"]["required"]) == {"title", "area_m2"}
    assert d["mermaid"].startswith("stateDiagram-v2")
    assert (
        await app_client.get("/api/v1/procedures/test.permit?version=1", headers=auth)
    ).json() == d


async def test_procedure_diagram(app_client: AsyncTestClient[Any], seed: Seed) -> None:
    r = await app_client.get(
        "/api/v1/procedures/test.permit/diagram", headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/vnd.mermaid")
    text = r.text
    assert text.startswith("stateDiagram-v2\n")
    assert "[*] --> submitted" in text
    assert "submitted --> instruction: Commencer l'instruction" in text
    assert "accepted --> [*]" in text


async def test_unknown_procedure_or_version_is_404(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    auth = seed.auth(seed.instructor_token)
    for path in (
        "/api/v1/procedures/no.such",
        "/api/v1/procedures/no.such/diagram",
        "/api/v1/procedures/test.permit?version=99",
        "/api/v1/procedures/test.permit/diagram?version=99",
    ):
        r = await app_client.get(path, headers=auth)
        body = assert_problem(r, 404)
        assert "démarche" in body["detail"]
    r = await app_client.get("/api/v1/procedures/no.such", headers=auth)
    assert "test.permit" in r.json()["known_procedures"]
    r = await app_client.get("/api/v1/procedures/test.permit?version=99", headers=auth)
    assert r.json()["versions"] == [1]
    r = await app_client.get("/api/v1/procedures/test.permit?version=0", headers=auth)
    assert_problem(r, 400)


# ----- health, readiness, OpenAPI, request ids -------------------------------------------------------


async def test_openapi_is_public_and_3_1(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "Guichet"
    assert "/api/v1/intake" in spec["paths"]
    assert "/api/v1/cases/{case_id}/transitions/{name}" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_health(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_unknown_path_and_method_are_problems(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/api/v1/nothing-here")
    assert_problem(r, 404)
    r = await app_client.delete("/health")
    assert_problem(r, 405)


@pytest.fixture
async def ready_client(
    database_url: str, redis_url: str, clock: FrozenClock, engine: Engine
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(
        AppConfig(database_url=database_url, redis_url=redis_url, clock=clock, engine=engine)
    )
    async with AsyncTestClient(app) as client:
        yield client


async def test_ready_with_database_and_redis(ready_client: AsyncTestClient[Any]) -> None:
    r = await ready_client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_ready_with_redis_down_is_503(
    database_url: str, clock: FrozenClock, engine: Engine
) -> None:
    app = create_app(
        AppConfig(
            database_url=database_url,
            redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
            clock=clock,
            engine=engine,
        )
    )
    async with AsyncTestClient(app) as client:
        r = await client.get("/ready")
        body = assert_problem(r, 503)
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("erreur")
        assert "redis" in body["detail"]
        r = await client.get("/health")
        assert r.status_code == 200


async def test_every_response_carries_a_request_id(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    responses = [
        await app_client.get("/health"),
        await app_client.get("/schema/openapi.json"),
        await app_client.get(CASES),
        await app_client.get(CASES, headers=seed.auth(seed.instructor_token)),
        await app_client.get(f"{CASES}{uuid.uuid4()}", headers=seed.auth(seed.instructor_token)),
        await app_client.post(
            "/api/v1/intake/", content=b"{", headers=seed.auth(seed.instructor_token)
        ),
        await app_client.get("/nowhere"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)
    for r in responses:
        if r.headers["content-type"].startswith(PROBLEM):
            assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_incoming_request_id_is_echoed_when_valid(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/health", headers={"X-Request-ID": "front-42.abc_DEF-9"})
    assert r.headers["x-request-id"] == "front-42.abc_DEF-9"
    r = await app_client.get(CASES, headers={"X-Request-ID": "trace-7"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "trace-7"
    assert r.json()["request_id"] == "trace-7"
    for bad in ("has spaces", "x" * 65, "<script>", "é"):
        r = await app_client.get("/health", headers={"X-Request-ID": bad.encode()})
        assert r.headers["x-request-id"] != bad
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
