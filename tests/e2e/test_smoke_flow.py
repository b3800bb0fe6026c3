"""The main path over HTTP: token, intake, list, transition, refusal, timeline."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import Seed, permit_request
from tests.support.http import client_token as api_token

pytestmark = pytest.mark.e2e


async def client_token(client: AsyncTestClient[Any], seed: Seed, *, other: bool = False) -> str:
    if other:
        return await api_token(client, seed.other_client_id, seed.other_client_secret)
    return await api_token(client, seed.client_id, seed.client_secret)


async def test_api_client_opens_a_case_and_an_instructor_decides(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    token = await client_token(app_client, seed)
    r = await app_client.post("/api/v1/intake/", json=permit_request(), headers=seed.auth(token))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["reference"] == "69001-2026-000001"
    assert created["aee"]["recu_le"].startswith("2026-03-02T09:00")
    case_id = created["case_id"]

    r = await app_client.get("/api/v1/cases/", headers=seed.auth(seed.instructor_token))
    assert [c["reference"] for c in r.json()["items"]] == ["69001-2026-000001"]

    r = await app_client.post(
        f"/api/v1/cases/{case_id}/transitions/start",
        json={},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "instruction"
    assert [d["due_on"] for d in body["deadlines"]] == ["2026-05-02"]
    assert body["chain_valid"] is True
    assert {t["name"] for t in body["available_transitions"]} == {
        "request_pieces",
        "extend",
        "accept",
        "reject",
        "withdraw",
    }

    r = await app_client.post(
        f"/api/v1/cases/{case_id}/transitions/start",
        json={},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 409
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert set(problem["allowed_transitions"]) == {
        "request_pieces",
        "extend",
        "accept",
        "reject",
        "withdraw",
    }
