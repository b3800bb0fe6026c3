"""An Open311 client's whole life with Guichet, and the query side: discovery → services →
definition → POST → GET → an agent works on the case (case API) → GET shows the new status →
servicerequestupdates lists the change; comments and REOPEN from apps; GET requests filters,
the 90-day window, tokens (open311.md §2, §4, §6, §11, §12 items 26–32, 35–36)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.open311 import BASE, check_json, same_data, xml_data
from tests.support.street_reports import POINT_IN_A, POINT_IN_B
from workflows.procedures.street_reports.models import StreetReport

pytestmark = pytest.mark.e2e


def form(key: str, **overrides: Any) -> dict[str, str]:
    body = {
        "api_key": key,
        "service_code": "chaussee",
        "lat": str(POINT_IN_A[0]),
        "long": str(POINT_IN_A[1]),
        "description": "Nid-de-poule",
    }
    body.update(overrides)
    return body


async def post_report(client: AsyncTestClient[Any], key: str, **overrides: Any) -> str:
    r = await client.post(f"{BASE}/requests.json", data=form(key, **overrides))
    assert r.status_code == 200, r.text
    return str(check_json("post_reply", r.json())[0]["service_request_id"])


async def case_id(sm: async_sessionmaker[AsyncSession], ref: str) -> str:
    async with sm() as s:
        row = await s.scalar(select(StreetReport).where(StreetReport.reference == ref))
        assert row is not None
        return str(row.case_id)


async def transition(
    client: AsyncTestClient[Any], token: str, case: str, name: str, payload: Any = None
) -> None:
    r = await client.post(
        f"/api/v1/cases/{case}/transitions/{name}",
        json={"payload": payload},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


async def one(client: AsyncTestClient[Any], ref: str) -> dict[str, Any]:
    rj = await client.get(f"{BASE}/requests/{ref}.json")
    rx = await client.get(f"{BASE}/requests/{ref}.xml")
    assert rj.status_code == 200, rj.text
    body = check_json("requests.json", rj.json())
    same_data(rx.content, body)
    (item,) = body
    return dict(item)


async def updates(client: AsyncTestClient[Any], **params: str) -> list[dict[str, Any]]:
    rj = await client.get(f"{BASE}/servicerequestupdates.json", params=params)
    rx = await client.get(f"{BASE}/servicerequestupdates.xml", params=params)
    assert rj.status_code == 200, rj.text
    body = check_json("updates", rj.json())
    assert xml_data(rx.content) == [{k: v for k, v in u.items() if v is not None} for u in body]
    return list(body)


# ----- the whole flow -----------------------------------------------------------------------------


async def test_an_open311_client_creates_and_follows_a_report(
    client: AsyncTestClient[Any],
    key: str,
    territory: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    discovery = check_json("discovery", (await client.get(f"{BASE}/discovery.json")).json())
    assert discovery["endpoints"][0]["url"].endswith(BASE)
    services = check_json("services.json", (await client.get(f"{BASE}/services.json")).json())
    code = next(s["service_code"] for s in services if s["metadata"])
    definition = (await client.get(f"{BASE}/services/{code}.json")).json()
    check_json("service-definition.json", definition)
    attribute = definition["attributes"][0]
    answer = attribute["values"][0]["key"]
    ref = await post_report(client, key, **{f"attribute[{attribute['code']}]": answer})

    first = await one(client, ref)
    assert (first["status"], first["status_notes"]) == ("open", "À qualifier")
    case = await case_id(sessionmaker, ref)

    clock.advance(timedelta(hours=1))
    await transition(client, territory.instructor_token, case, "acknowledge", {"note": "Vu"})
    clock.advance(timedelta(hours=1))
    await transition(client, territory.instructor_token, case, "schedule", {"date": "2026-03-10"})
    scheduled = await one(client, ref)
    assert scheduled["status"] == "open"
    assert scheduled["status_notes"] == "Intervention programmée le 10 mars 2026"
    assert scheduled["expected_datetime"] == "2026-03-10T23:59:59+01:00"

    clock.advance(timedelta(days=2))
    await transition(client, territory.instructor_token, case, "fix", {"note": "Rebouché"})
    fixed = await one(client, ref)
    assert (fixed["status"], fixed["status_notes"]) == ("closed", "Résolu")
    assert fixed["updated_datetime"] == "2026-03-04T12:00:00+01:00"  # closing time
    assert "expected_datetime" not in fixed

    listed = await updates(client)
    mine = [u for u in listed if u["service_request_id"] == ref]
    assert [u["status"] for u in mine] == ["open", "action_scheduled", "fixed"]
    assert mine[-1]["description"] == "Rebouché"
    assert mine[-1]["updated_datetime"] == fixed["updated_datetime"]


async def test_a_rejection_is_closed_with_its_reason_never_fixed(
    client: AsyncTestClient[Any],
    key: str,
    territory: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ref = await post_report(client, key)
    case = await case_id(sessionmaker, ref)
    await transition(
        client, territory.instructor_token, case, "reject", {"reason": "domaine_prive"}
    )
    item = await one(client, ref)
    assert item["status"] == "closed"
    assert item["status_notes"].startswith("Non retenu : ")
    assert "Résolu" not in item["status_notes"]
    (update,) = [u for u in await updates(client) if u["service_request_id"] == ref]
    assert update["status"] == "no_further_action"


# ----- POST servicerequestupdates -------------------------------------------------------------


async def test_an_app_comment_is_recorded_once_per_update_id(
    client: AsyncTestClient[Any], key: str, clock: FrozenClock
) -> None:
    ref = await post_report(client, key)
    body = {
        "api_key": key,
        "service_request_id": ref,
        "update_id": "fms-1",
        "status": "open",
        "updated_datetime": "2026-03-02T10:30:00",
        "description": "Toujours là ce matin 😠",
        "first_name": "-",
        "last_name": "-",
    }
    clock.advance(timedelta(minutes=10))
    r1 = await client.post(f"{BASE}/servicerequestupdates.json", data=body)
    assert r1.status_code == 200, r1.text
    (reply,) = check_json("update_reply", r1.json())
    r2 = await client.post(f"{BASE}/servicerequestupdates.json", data=body)
    assert r2.json() == r1.json()
    rx = await client.post(f"{BASE}/servicerequestupdates.xml", data=body)
    assert xml_data(rx.content) == [reply]
    mine = [u for u in await updates(client) if u["service_request_id"] == ref]
    assert [u["description"] for u in mine] == ["Toujours là ce matin 😠"]
    assert mine[0]["update_id"] == reply["update_id"]


async def test_reopen_from_an_app_reopens_a_fixed_report(
    client: AsyncTestClient[Any],
    key: str,
    territory: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ref = await post_report(client, key)
    case = await case_id(sessionmaker, ref)
    await transition(client, territory.instructor_token, case, "fix")
    body = {
        "api_key": key,
        "service_request_id": ref,
        "update_id": "fms-reopen",
        "status": "REOPEN",
        "updated_datetime": "2026-03-02T11:00:00+01:00",
        "description": "Pas réparé",
    }
    r = await client.post(f"{BASE}/servicerequestupdates.json", data=body)
    assert r.status_code == 200, r.text
    item = await one(client, ref)
    assert (item["status"], item["status_notes"]) == ("open", "Pris en compte")


@pytest.mark.parametrize(
    ("changes", "status", "word"),
    [
        ({"status": "BROKEN"}, 400, "BROKEN"),
        ({"status": None}, 400, "status"),
        ({"update_id": None}, 400, "update_id"),
        ({"service_request_id": "69001-2026-999999"}, 404, "introuvable"),
        ({"service_request_id": "../../etc/passwd"}, 404, "introuvable"),
        ({"api_key": None}, 403, "api_key"),
        ({"updated_datetime": "2024-02-30T00:00:00Z"}, 400, "updated_datetime"),
    ],
)
async def test_bad_updates_are_refused(
    client: AsyncTestClient[Any], key: str, changes: dict[str, Any], status: int, word: str
) -> None:
    ref = await post_report(client, key)
    body = {
        "api_key": key,
        "service_request_id": ref,
        "update_id": "u1",
        "status": "OPEN",
        "updated_datetime": "2026-03-02T11:00:00Z",
        "description": "x",
    }
    body.update(changes)
    r = await client.post(
        f"{BASE}/servicerequestupdates.json", data={k: v for k, v in body.items() if v}
    )
    assert r.status_code == status, r.text
    text = " ".join(e["description"] for e in check_json("errors", r.json()))
    assert word in text


async def test_every_extended_status_is_accepted_lower_case_too(
    client: AsyncTestClient[Any], key: str
) -> None:
    ref = await post_report(client, key)
    for i, status in enumerate(
        ["unchanged", "In_Progress", "not councils responsibility", "FIXED"]
    ):
        r = await client.post(
            f"{BASE}/servicerequestupdates.json",
            data={
                "api_key": key,
                "service_request_id": ref,
                "update_id": f"s{i}",
                "status": status,
                "description": f"commentaire {i}",
            },
        )
        assert r.status_code == 200, (status, r.text)
    assert (await one(client, ref))["status"] == "open"  # an app comments, it does not decide


# ----- GET requests: filters and window -------------------------------------------------------


async def test_filters_status_service_code_and_id_list_overriding_everything(
    client: AsyncTestClient[Any],
    key: str,
    territory: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    a = await post_report(client, key)
    b = await post_report(client, key, service_code="eclairage", description="Lampadaire")
    c = await post_report(
        client, key, lat=str(POINT_IN_B[0]), long=str(POINT_IN_B[1]), description="Trou B"
    )
    await transition(client, territory.instructor_token, await case_id(sessionmaker, a), "fix")

    async def ids(**params: str) -> list[str]:
        r = await client.get(f"{BASE}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [i["service_request_id"] for i in check_json("requests.json", r.json())]

    assert await ids() == [a, b, c]  # oldest first, then reference
    assert await ids(status="closed") == [a]
    assert await ids(status="OPEN") == [b, c]
    assert await ids(status="open,closed") == [a, b, c]
    assert await ids(service_code="eclairage") == [b]
    assert await ids(service_code="eclairage, chaussee") == [a, b, c]
    assert await ids(jurisdiction_id="69002") == [c]
    assert await ids(jurisdiction_id="69001") == [a, b]
    listed = f"{c}, nope ,{a}"
    assert await ids(service_request_id=listed, status="closed", service_code="x") == [a, c]
    assert await ids(service_request_id=f"{c}", jurisdiction_id="69001") == []
    assert await ids(end_date="2026-03-02T09:59:59+01:00") == []


async def test_the_default_window_is_90_days_and_longer_spans_are_refused(
    client: AsyncTestClient[Any], key: str, clock: FrozenClock
) -> None:
    old = await post_report(client, key)
    clock.advance(timedelta(days=91))
    new = await post_report(client, key, description="Plus récent")
    r = await client.get(f"{BASE}/requests.json")
    assert [i["service_request_id"] for i in r.json()] == [new]
    r = await client.get(
        f"{BASE}/requests.json",
        params={"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-03-05"},
    )
    assert [i["service_request_id"] for i in r.json()] == [old]
    for params, word in [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90"),
        ({"start_date": "2026-03-05", "end_date": "2026-03-01"}, "start_date"),
        ({"start_date": "2024-02-30"}, "start_date"),
        ({"status": "foo"}, "status"),
    ]:
        bad = await client.get(f"{BASE}/requests.xml", params=params)
        assert bad.status_code == 400, bad.text
        (error,) = check_json("errors", xml_data(bad.content))
        assert word in error["description"]


async def test_at_most_the_limit_in_a_stable_order(
    client: AsyncTestClient[Any], key: str, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    from channels.open311 import parsing

    refs = []
    for i in range(3):
        refs.append(await post_report(client, key, description=f"Trou {i}"))
        clock.advance(timedelta(minutes=2))
    monkeypatch.setattr(parsing, "MAX_REQUESTS", 2)
    r = await client.get(f"{BASE}/requests.json", params={"page_size": "10000"})
    assert [i["service_request_id"] for i in r.json()] == refs[:2]


@pytest.mark.parametrize(
    "ref", ["69001-2026-999999", "1%27%20OR%20%271%27%3D%271", "..%2F..%2Fetc", "%00"]
)
async def test_unknown_or_hostile_request_ids_are_404(
    client: AsyncTestClient[Any], ref: str
) -> None:
    r = await client.get(f"{BASE}/requests/{ref}.json")
    assert r.status_code == 404, r.text
    check_json("errors", r.json())


async def test_a_request_outside_the_jurisdiction_is_404(
    client: AsyncTestClient[Any], key: str
) -> None:
    ref = await post_report(client, key)
    r = await client.get(f"{BASE}/requests/{ref}.json", params={"jurisdiction_id": "69002"})
    assert r.status_code == 404


# ----- tokens ------------------------------------------------------------------------------------


async def test_tokens_are_an_alias_of_the_request_id_unknown_ones_404(
    client: AsyncTestClient[Any], key: str
) -> None:
    ref = await post_report(client, key)
    r = await client.get(f"{BASE}/tokens/{ref}.json")
    assert r.status_code == 200, r.text
    assert check_json("token", r.json()) == [{"service_request_id": ref, "token": ref}]
    rx = await client.get(f"{BASE}/tokens/{ref}.xml")
    assert xml_data(rx.content) == r.json()
    missing = await client.get(f"{BASE}/tokens/no-such-token.xml")
    assert missing.status_code == 404
    check_json("errors", xml_data(missing.content))


async def test_updates_window_rules_match_requests(client: AsyncTestClient[Any]) -> None:
    r = await client.get(
        f"{BASE}/servicerequestupdates.json",
        params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"},
    )
    assert r.status_code == 400
    ok = await client.get(
        f"{BASE}/servicerequestupdates.json", params={"start_date": "2026-03-01T00:00:00Z"}
    )
    assert check_json("updates", ok.json()) == []
