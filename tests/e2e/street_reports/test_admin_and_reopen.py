"""Tenant administrators manage categories, departments and the territory; a reporter reopens a
fixed report from the web (signed in, or with the tracking code) within 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in
from tests.support.street_reports import BASE, enable_territory, web_body

pytestmark = pytest.mark.e2e
Client = AsyncTestClient[Any]
ADMIN_A = f"{BASE}/admin/69001"


@pytest.fixture
async def street(seed: Seed, sessionmaker: Any, clock: FrozenClock) -> Seed:
    await enable_territory(sessionmaker, clock)
    return seed


async def _fix(client: Client, seed: Seed, case_id: str) -> None:
    r = await client.post(
        f"/api/v1/cases/{case_id}/transitions/fix",
        json={"payload": {"note": "Rebouché ✅"}},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 200, r.text


async def test_reopen_with_the_tracking_code(
    street: Seed, app_client: Client, clock: FrozenClock
) -> None:
    made = (await app_client.post(f"{BASE}/", json=web_body())).json()
    await _fix(app_client, street, made["case_id"])
    url = f"{BASE}/{made['reference']}/rouvrir"
    wrong = await app_client.post(
        url, json={"code": made["tracking_code"], "contact": "autre@example.org"}
    )
    assert_problem(wrong, 404)
    nothing = await app_client.post(url, json={"comment": "pas réparé"})
    assert_problem(nothing, 403)
    clock.advance(timedelta(days=29))
    r = await app_client.post(
        url,
        json={
            "code": made["tracking_code"],
            "contact": "Riverain@Example.org",
            "comment": "Le trou est revenu 😞",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    history = (await app_client.get(f"{BASE}/{made['reference']}")).json()["history"]
    assert [h["state"] for h in history] == ["submitted", "fixed", "acknowledged"]
    assert history[-1]["note"] == "Le trou est revenu 😞"


async def test_reopen_signed_in_and_too_late(
    street: Seed, app_client: Client, sessionmaker: Any, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now(), email="marie@example.org")
    person = await sign_in(sessionmaker, person_id, now=clock.now())
    made = (
        await app_client.post(f"{BASE}/", json=web_body(email=None), headers=person.headers)
    ).json()
    await _fix(app_client, street, made["case_id"])
    url = f"{BASE}/{made['reference']}/rouvrir"
    stranger_id = await create_person(sessionmaker, now=clock.now(), given_name="Luc")
    stranger = await sign_in(sessionmaker, stranger_id, now=clock.now())
    assert_problem(await app_client.post(url, json={}, headers=stranger.headers), 403)
    clock.advance(timedelta(days=31))
    person = await sign_in(sessionmaker, person_id, now=clock.now())
    late = await app_client.post(url, json={}, headers=person.headers)
    assert "30 jours" in assert_problem(late, 409)["detail"]


async def test_admin_manages_categories_and_departments(street: Seed, app_client: Client) -> None:
    headers = street.auth(street.admin_token)
    dept = await app_client.post(
        f"{ADMIN_A}/services",
        json={"code": "assainissement", "name": "Assainissement 💧", "email": "eau@a.invalid"},
        headers=headers,
    )
    assert dept.status_code == 201, dept.text
    created = await app_client.post(
        f"{ADMIN_A}/categories",
        json={
            "code": "007",
            "name": "Bouche d'égout bouchée",
            "department": "assainissement",
            "sla_working_days": 2,
            "attributes": [
                {
                    "code": "odeur",
                    "description": "Mauvaise odeur ?",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "values": [{"key": "oui", "name": "Oui"}, {"key": "non", "name": "Non"}],
                }
            ],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "007"  # leading zeros kept
    missing = await app_client.post(f"{BASE}/", json=web_body(category="007"))
    assert assert_problem(missing, 422)["errors"][0]["field"] == "attributes.odeur"
    ok = await app_client.post(
        f"{BASE}/", json=web_body(category="007", attributes={"odeur": "oui"})
    )
    assert ok.status_code == 201, ok.text
    off = await app_client.patch(
        f"{ADMIN_A}/categories/007", json={"active": False}, headers=headers
    )
    assert off.status_code == 200 and off.json()["active"] is False
    gone = await app_client.post(
        f"{BASE}/", json=web_body(category="007", attributes={"odeur": "oui"})
    )
    assert_problem(gone, 422)
    bad = await app_client.post(
        f"{ADMIN_A}/categories",
        json={
            "code": "x",
            "name": "X",
            "department": "assainissement",
            "sla_working_days": 1,
            "attributes": [{"code": "a", "description": "A", "datatype": "singlevaluelist"}],
        },
        headers=headers,
    )
    assert_problem(bad, 422)
    dup = await app_client.post(
        f"{ADMIN_A}/services", json={"code": "assainissement", "name": "Bis"}, headers=headers
    )
    assert_problem(dup, 409)


async def test_other_tenants_admin_gets_404(street: Seed, app_client: Client) -> None:
    headers = street.auth(street.other_admin_token)
    for method, path, body in (
        ("GET", f"{ADMIN_A}/categories", None),
        ("POST", f"{ADMIN_A}/services", {"code": "x", "name": "X"}),
        ("PATCH", f"{ADMIN_A}/categories/chaussee", {"active": False}),
        ("PUT", f"{ADMIN_A}/territoire", {"geojson": {"type": "Polygon", "coordinates": []}}),
    ):
        r = await app_client.request(method, path, json=body, headers=headers)
        assert_problem(r, 404)
    instructor = await app_client.get(
        f"{ADMIN_A}/categories", headers=street.auth(street.instructor_token)
    )
    assert_problem(instructor, 403)


async def test_admin_sets_the_territory(street: Seed, app_client: Client) -> None:
    headers = street.auth(street.admin_token)
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    r = await app_client.put(f"{ADMIN_A}/territoire", json={"geojson": bowtie}, headers=headers)
    assert "non valide" in assert_problem(r, 422)["detail"]
    # Commune A now also covers a square far away: a point there becomes commune A's.
    square = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[4.75, 45.70], [4.85, 45.70], [4.85, 45.80], [4.75, 45.80], [4.75, 45.70]]],
            [[[1.0, 1.0], [1.1, 1.0], [1.1, 1.1], [1.0, 1.1], [1.0, 1.0]]],
        ],
    }
    ok = await app_client.put(f"{ADMIN_A}/territoire", json={"geojson": square}, headers=headers)
    assert ok.status_code == 200, ok.text
    far = await app_client.post(f"{BASE}/", json=web_body(lat=1.05, lon=1.05))
    assert far.status_code == 201 and far.json()["tenant_id"] == str(street.commune_id)
