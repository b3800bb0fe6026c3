"""The public report form over HTTP: anonymous and signed-in reports, the public view without
personal data, idempotence, duplicate suggestions, following, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in
from tests.support.street_reports import (
    BASE,
    POINT_IN_B,
    POINT_IN_METROPOLE_ONLY,
    POINT_OUTSIDE,
    enable_territory,
    web_body,
)

pytestmark = pytest.mark.e2e
Client = AsyncTestClient[Any]


@pytest.fixture
async def street(seed: Seed, sessionmaker: Any, clock: FrozenClock) -> Seed:
    await enable_territory(sessionmaker, clock)
    return seed


async def test_anonymous_report_gets_reference_and_tracking_code(
    street: Seed, app_client: Client
) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["reference"].startswith("69001-2026-")
    assert body["tenant_id"] == str(street.commune_id)
    assert body["tracking_code"] and body["label"] == "À qualifier"
    shown = await app_client.get(f"{BASE}/{body['reference']}")
    assert shown.status_code == 200
    public = shown.json()
    assert public["status"] == "open" and public["category"]["code"] == "chaussee"
    text = shown.text
    assert "riverain@example.org" not in text and "tracking" not in text
    assert body["tracking_code"] not in text


async def test_signed_in_report_is_the_persons_case_and_needs_csrf(
    street: Seed, app_client: Client, sessionmaker: Any, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now(), email="marie@example.org")
    person = await sign_in(sessionmaker, person_id, now=clock.now())
    refused = await app_client.post(f"{BASE}/", json=web_body(), headers=person.cookies)
    assert_problem(refused, 403)
    r = await app_client.post(
        f"{BASE}/", json=web_body(email=None, public_name="Marie D."), headers=person.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["tracking_code"] is None  # an account holder follows it in their space
    mine = await app_client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=person.cookies)
    assert mine.status_code == 200, mine.text
    public = (await app_client.get(f"{BASE}/{r.json()['reference']}")).json()
    assert public["public_name"] == "Marie D."
    assert "Dupont" not in str(public) and "marie@example.org" not in str(public)


async def test_same_report_twice_within_a_minute_is_one_case(
    street: Seed, app_client: Client, clock: FrozenClock
) -> None:
    from datetime import timedelta

    first = await app_client.post(f"{BASE}/", json=web_body())
    clock.advance(timedelta(seconds=30))
    again = await app_client.post(f"{BASE}/", json=web_body())
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["case_id"] == first.json()["case_id"]
    clock.advance(timedelta(seconds=61))
    later = await app_client.post(f"{BASE}/", json=web_body())
    assert later.status_code == 201
    assert later.json()["case_id"] != first.json()["case_id"]
    # The earlier report (same category, same spot, still open) is suggested.
    assert first.json()["reference"] in [s["reference"] for s in later.json()["suggestions"]]


async def test_suggestions_before_submitting(street: Seed, app_client: Client) -> None:
    made = (await app_client.post(f"{BASE}/", json=web_body())).json()
    near = await app_client.get(
        f"{BASE}/suggestions", params={"category": "chaussee", "lat": "45.7515", "lon": "4.80"}
    )
    assert near.status_code == 200, near.text
    [found] = near.json()
    assert found["reference"] == made["reference"]
    assert 150 < found["distance_m"] < 180  # 0.0015° of latitude ≈ 167 m
    far = await app_client.get(
        f"{BASE}/suggestions", params={"category": "chaussee", "lat": "45.7550", "lon": "4.80"}
    )
    assert far.json() == []  # ≈ 556 m: beyond the 250 m radius
    other = await app_client.get(
        f"{BASE}/suggestions", params={"category": "graffiti", "lat": "45.75", "lon": "4.80"}
    )
    assert other.json() == []


async def test_points_route_to_commune_b_and_to_the_metropole(
    street: Seed, app_client: Client
) -> None:
    b = await app_client.post(f"{BASE}/", json=web_body(lat=POINT_IN_B[0], lon=POINT_IN_B[1]))
    m = await app_client.post(
        f"{BASE}/",
        json=web_body(lat=str(POINT_IN_METROPOLE_ONLY[0]), lon=str(POINT_IN_METROPOLE_ONLY[1])),
    )
    assert b.json()["tenant_id"] == str(street.other_commune_id)
    assert m.json()["tenant_id"] == str(street.metropole_id)
    assert m.json()["reference"].startswith("69000-")


async def test_follow_a_report(street: Seed, app_client: Client) -> None:
    made = (await app_client.post(f"{BASE}/", json=web_body())).json()
    r = await app_client.post(
        f"{BASE}/{made['reference']}/abonnement", json={"email": "voisin@example.org"}
    )
    assert r.status_code == 200 and r.json()["created"] is True
    again = await app_client.post(
        f"{BASE}/{made['reference']}/abonnement", json={"email": "VOISIN@example.org"}
    )
    assert again.json()["created"] is False
    bad = await app_client.post(f"{BASE}/{made['reference']}/abonnement", json={"email": "x"})
    assert_problem(bad, (400, 422))
    missing = await app_client.post(
        f"{BASE}/69001-2026-999999/abonnement", json={"email": "voisin@example.org"}
    )
    assert_problem(missing, 404)


@pytest.mark.parametrize(
    ("overrides", "field", "kind"),
    [
        ({"lat": 91}, "lat", "range"),
        ({"lon": -180.5}, "long", "range"),
        ({"lat": "abc"}, "lat", "number"),
        ({"lat": "NaN"}, "lat", "finite"),
        ({"lon": "Infinity"}, "long", "finite"),
        ({"lat": "1e400"}, "lat", "finite"),
        ({"lat": "48,85"}, "lat", "decimal_comma"),
        ({"lat": ""}, "lat", "missing"),
        ({"lat": None}, "lat", "missing"),
        ({"lat": True}, "lat", "number"),
        ({"lat": [45.7]}, "lat", "number"),
    ],
)
async def test_bad_coordinates_are_422_naming_the_field(
    street: Seed, app_client: Client, overrides: dict[str, Any], field: str, kind: str | None
) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body(**overrides))
    body = assert_problem(r, (400, 422))
    errors = body.get("errors") or []
    assert any(field in e["field"] for e in errors), body
    if kind is not None:
        assert {"field": field, "type": kind} in [
            {"field": e["field"], "type": e["type"]} for e in errors
        ], body


async def test_decimal_comma_message_says_what_to_do(street: Seed, app_client: Client) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body(lat="48,85"))
    assert "point" in assert_problem(r, 422)["detail"]


async def test_point_outside_every_tenant(street: Seed, app_client: Client) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body(lat=0, lon=0))
    body = assert_problem(r, 422)
    assert body["detail"].startswith("Ce point est hors du territoire")
    assert body["errors"][0]["type"] == "outside_territory"
    paris = await app_client.post(
        f"{BASE}/", json=web_body(lat=POINT_OUTSIDE[0], lon=POINT_OUTSIDE[1])
    )
    assert_problem(paris, 422)


async def test_unknown_category(street: Seed, app_client: Client) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body(category="soucoupe-volante"))
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "category"


async def test_description_limit_is_4000_characters(street: Seed, app_client: Client) -> None:
    ok = await app_client.post(f"{BASE}/", json=web_body(description="é" * 4000))
    assert ok.status_code == 201, ok.text
    too_long = await app_client.post(f"{BASE}/", json=web_body(description="é" * 4001))
    body = assert_problem(too_long, 422)
    assert body["errors"][0]["field"] == "description"
    assert "4001" in body["detail"]


async def test_unicode_and_emoji_in_every_text_field(street: Seed, app_client: Client) -> None:
    text = "Trou 🕳️ énorme — 深い 穴 שלום e\u0301"
    r = await app_client.post(
        f"{BASE}/",
        json=web_body(
            description=text + "\r\nligne 2",
            address="3 rue de l'Église 🏛️",
            public_name="Zoé 🌻",
            attributes={"dangerosite": "oui"},
        ),
    )
    assert r.status_code == 201, r.text
    public = (await app_client.get(f"{BASE}/{r.json()['reference']}")).json()
    assert public["description"] == text + "\r\nligne 2"
    assert public["address"] == "3 rue de l'Église 🏛️" and public["public_name"] == "Zoé 🌻"


async def test_nul_and_control_characters_are_refused(street: Seed, app_client: Client) -> None:
    r = await app_client.post(f"{BASE}/", json=web_body(description="trou\x00"))
    assert_problem(r, 422)
    r = await app_client.post(f"{BASE}/", json=web_body(address="rue\x07"))
    assert_problem(r, 422)


async def test_attributes_are_checked_against_the_category(
    street: Seed, app_client: Client
) -> None:
    bad = await app_client.post(f"{BASE}/", json=web_body(attributes={"dangerosite": "peut-être"}))
    assert assert_problem(bad, 422)["errors"][0]["field"] == "attributes.dangerosite"
    number = await app_client.post(
        f"{BASE}/", json=web_body(category="depot-sauvage", attributes={"volume": "abc"})
    )
    assert assert_problem(number, 422)["errors"][0]["type"] == "number"
    fine = await app_client.post(
        f"{BASE}/", json=web_body(category="depot-sauvage", attributes={"volume": "2.5"})
    )
    assert fine.status_code == 201, fine.text


async def test_unknown_reference_is_404(street: Seed, app_client: Client) -> None:
    for ref in ("69001-2026-999999", "../../etc/passwd", "' OR 1=1 --"):
        assert_problem(await app_client.get(f"{BASE}/{ref}"), 404)
