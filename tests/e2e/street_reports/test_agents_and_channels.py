"""Reports entered at the counter, by phone and from a mail land in the right tenant and the
right department's queue; the queue, its CSV, bulk actions and tenant isolation over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from channels.mail.service import MailService, MailSettings
from channels.models import InboundMail, MailRoute
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.street_reports import (
    BASE,
    POINT_IN_A,
    POINT_IN_B,
    enable_territory,
    web_body,
)
from workflows.cases.models import Case
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e
Client = AsyncTestClient[Any]
STREET_ADDRESS = "signalements@metropole.invalid"


@pytest.fixture
async def street(seed: Seed, sessionmaker: Any, clock: FrozenClock) -> Seed:
    await enable_territory(sessionmaker, clock)
    return seed


def counter_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "counter",
        "category": "eclairage",
        "lat": POINT_IN_A[0],
        "lon": POINT_IN_A[1],
        "address": "Place de la Mairie",
        "description": "Lampadaire éteint depuis 3 jours",
        "attributes": {"numero_lampadaire": "EP-01234"},
        "caller": {"given_name": "Paul", "family_name": "Durand", "phone": "06 12 34 56 78"},
    }
    body.update(overrides)
    return body


async def _queue(client: Client, token: str, **params: str) -> Any:
    return await client.get(f"{BASE}/file", params=params, headers=Seed.auth(token))


async def test_counter_and_phone_reports_land_in_the_department_queue(
    street: Seed, app_client: Client, sessionmaker: Any
) -> None:
    counter = await app_client.post(
        f"{BASE}/guichet", json=counter_body(), headers=street.auth(street.counter_token)
    )
    assert counter.status_code == 201, counter.text
    phone = await app_client.post(
        f"{BASE}/guichet",
        json=counter_body(channel="phone", caller=None, caller_phone="0611223344"),
        headers=street.auth(street.counter_token),
    )
    assert phone.status_code == 201, phone.text
    async with sessionmaker() as s:
        cases = {
            c.channel: c
            for c in await s.scalars(
                select(Case).where(
                    Case.id.in_(
                        [uuid.UUID(counter.json()["case_id"]), uuid.UUID(phone.json()["case_id"])]
                    )
                )
            )
        }
    assert cases["counter"].tenant_id == street.commune_id
    assert cases["counter"].submitter["family_name"] == "Durand"
    assert cases["phone"].submitter == {
        "kind": "anonymous",
        "phone": "0611223344",
        "notification": "postal",
    }
    queue = await _queue(app_client, street.instructor_token, departement="eclairage")
    assert queue.status_code == 200, queue.text
    assert {r["reference"] for r in queue.json()} == {
        counter.json()["reference"],
        phone.json()["reference"],
    }
    assert "Durand" not in queue.text and "0611223344" not in queue.text


async def test_a_metropole_agent_files_in_commune_a(street: Seed, app_client: Client) -> None:
    r = await app_client.post(
        f"{BASE}/guichet",
        json=counter_body(category="chaussee", attributes={}),
        headers=street.auth(street.metropole_instructor_token),
    )
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == str(street.commune_id)
    assert r.json()["reference"].startswith("69001-")
    queue = await _queue(app_client, street.instructor_token, departement="voirie")
    assert [row["reference"] for row in queue.json()] == [r.json()["reference"]]


async def test_a_commune_a_agent_cannot_file_in_commune_b(street: Seed, app_client: Client) -> None:
    r = await app_client.post(
        f"{BASE}/guichet",
        json=counter_body(lat=POINT_IN_B[0], lon=POINT_IN_B[1]),
        headers=street.auth(street.counter_token),
    )
    assert_problem(r, 403)


async def test_idempotency_key_at_the_counter(street: Seed, app_client: Client) -> None:
    headers = {**street.auth(street.counter_token), "Idempotency-Key": "appel-17"}
    first = await app_client.post(f"{BASE}/guichet", json=counter_body(), headers=headers)
    again = await app_client.post(
        f"{BASE}/guichet", json=counter_body(description="Autre texte"), headers=headers
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["case_id"] == first.json()["case_id"]


async def test_mail_waits_in_triage_then_is_qualified_into_the_tenant_of_the_point(
    street: Seed, app_client: Client, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    msg = EmailMessage()
    msg["From"] = "Luc Bernard <luc@example.org>"
    msg["To"] = STREET_ADDRESS
    msg["Subject"] = "Dépôt sauvage 🗑️"
    msg["Message-ID"] = "<depot-1@example.org>"
    msg.set_content("Des encombrants devant le 3 rue des Lilas.")
    async with sessionmaker() as s, s.begin():
        s.add(
            MailRoute(
                address=STREET_ADDRESS,
                tenant_id=street.metropole_id,
                procedure_key="street_reports.report",
            )
        )
        await s.flush()
        service = MailService(s, engine, clock, storage_from_settings(), MailSettings())
        outcome = await service.receive(msg.as_bytes(), source="lmtp", recipients=[STREET_ADDRESS])
    assert outcome.status == "triage" and outcome.case_id is None
    clock.advance(timedelta(hours=2))
    # The generic qualification would skip the category's checks: it points to the right one.
    generic = await app_client.post(
        f"/api/v1/courriels/{outcome.inbound_mail_id}/qualifier",
        json={"procedure": "street_reports.report", "payload": {}},
        headers=street.auth(street.metropole_instructor_token),
    )
    assert "/signalements/courriels/" in assert_problem(generic, 422)["detail"]
    url = f"{BASE}/courriels/{outcome.inbound_mail_id}/qualifier"
    body = {"category": "depot-sauvage", "lat": POINT_IN_A[0], "lon": POINT_IN_A[1]}
    outsider = await app_client.post(url, json=body, headers=street.auth(street.instructor_token))
    assert_problem(outsider, 404)  # the mail is the métropole's, not commune A's
    r = await app_client.post(
        url, json=body, headers=street.auth(street.metropole_instructor_token)
    )
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == str(street.commune_id)
    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(r.json()["case_id"]))
        mail = await s.get(InboundMail, outcome.inbound_mail_id)
    assert case is not None and mail is not None
    assert case.channel == "mail" and case.received_at == mail.received_at
    assert case.payload["description"].startswith("Des encombrants")
    assert mail.status == "case_opened" and mail.case_id == case.id
    queue = await _queue(app_client, street.instructor_token, departement="proprete")
    assert [row["reference"] for row in queue.json()] == [r.json()["reference"]]
    again = await app_client.post(
        url, json=body, headers=street.auth(street.metropole_instructor_token)
    )
    assert_problem(again, 409)


async def test_queue_order_overdue_flags_and_csv(
    street: Seed, app_client: Client, clock: FrozenClock
) -> None:
    slow = (await app_client.post(f"{BASE}/", json=web_body(category="mobilier"))).json()
    fast = (
        await app_client.post(
            f"{BASE}/", json=web_body(category="signalisation", lat=45.76, description="Stop")
        )
    ).json()
    clock.advance(timedelta(days=10))  # past the 5 working days of signalisation, not 15
    rows = (await _queue(app_client, street.instructor_token, departement="voirie")).json()
    assert [r["reference"] for r in rows] == [fast["reference"], slow["reference"]]
    assert [r["overdue"] for r in rows] == [True, False]
    csv = await app_client.get(
        f"{BASE}/file.csv",
        params={"departement": "voirie"},
        headers=street.auth(street.instructor_token),
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("reference;category") and len(lines) == 3
    assert fast["reference"] in lines[1]


async def test_queue_access_and_tenant_isolation(street: Seed, app_client: Client) -> None:
    made = (await app_client.post(f"{BASE}/", json=web_body())).json()
    outsider = await _queue(
        app_client, street.other_instructor_token, departement="voirie", collectivite="69001"
    )
    assert_problem(outsider, 404)
    own = await _queue(app_client, street.other_instructor_token, departement="voirie")
    assert own.status_code == 200 and own.json() == []  # commune B's queue: empty
    not_member = await _queue(app_client, street.counter_token, departement="voirie")
    assert_problem(not_member, 404)
    unknown = await _queue(app_client, street.instructor_token, departement="inexistant")
    assert_problem(unknown, 404)
    add = await app_client.post(
        f"{BASE}/admin/69001/services/voirie/membres",
        json={"agent_id": str(street.counter_id)},
        headers=street.auth(street.admin_token),
    )
    assert add.status_code == 201, add.text
    member = await _queue(app_client, street.counter_token, departement="voirie")
    assert [r["reference"] for r in member.json()] == [made["reference"]]
    bulk = await app_client.post(
        f"{BASE}/actions",
        json={"action": "acknowledge", "case_ids": [made["case_id"]]},
        headers=street.auth(street.other_instructor_token),
    )
    assert bulk.status_code == 200
    assert bulk.json()[0]["ok"] is False and bulk.json()[0]["code"] == "not-found"
    merge = await app_client.post(
        f"{BASE}/{made['reference']}/fusion",
        json={"kept_reference": made["reference"]},
        headers=street.auth(street.other_instructor_token),
    )
    assert_problem(merge, 404)


async def test_bulk_actions_answer_per_case(
    street: Seed, app_client: Client, clock: FrozenClock
) -> None:
    refs = []
    for lat in (45.71, 45.72, 45.73):
        refs.append((await app_client.post(f"{BASE}/", json=web_body(lat=lat))).json())
    ids = [r["case_id"] for r in refs]
    headers = street.auth(street.instructor_token)
    first = await app_client.post(
        f"{BASE}/actions", json={"action": "acknowledge", "case_ids": ids[:1]}, headers=headers
    )
    assert first.json()[0]["ok"] is True
    both = await app_client.post(
        f"{BASE}/actions", json={"action": "acknowledge", "case_ids": ids}, headers=headers
    )
    results = both.json()
    assert [r["ok"] for r in results] == [False, True, True]
    assert results[0]["code"] == "invalid-transition" and results[0]["error"]
    no_date = await app_client.post(
        f"{BASE}/actions", json={"action": "schedule", "case_ids": ids[:1]}, headers=headers
    )
    assert no_date.json()[0]["ok"] is False
    scheduled = await app_client.post(
        f"{BASE}/actions",
        json={"action": "schedule", "case_ids": ids[:2], "date": "2026-03-20"},
        headers=headers,
    )
    assert [r["state"] for r in scheduled.json()] == ["scheduled", "scheduled"]
    shown = (await app_client.get(f"{BASE}/{refs[0]['reference']}")).json()
    assert shown["label"] == "Intervention programmée le 20 mars 2026"
    close = await app_client.post(
        f"{BASE}/actions", json={"action": "close", "case_ids": ids}, headers=headers
    )
    assert [r["ok"] for r in close.json()] == [False, False, False]  # none fixed, no reason
    closed = await app_client.post(
        f"{BASE}/actions",
        json={"action": "close", "case_ids": ids[2:], "reason": "domaine_prive"},
        headers=headers,
    )
    assert closed.json()[0]["state"] == "rejected"
    shown = (await app_client.get(f"{BASE}/{refs[2]['reference']}")).json()
    assert shown["label"] == "Non retenu : sur une propriété privée"
    assert shown["status"] == "closed"
    too_many = await app_client.post(
        f"{BASE}/actions", json={"action": "close", "case_ids": []}, headers=headers
    )
    assert_problem(too_many, (400, 422))


async def test_merge_over_http(street: Seed, app_client: Client) -> None:
    kept = (await app_client.post(f"{BASE}/", json=web_body())).json()
    dup = (
        await app_client.post(f"{BASE}/", json=web_body(lat=45.7502, email="b@example.org"))
    ).json()
    r = await app_client.post(
        f"{BASE}/{dup['reference']}/fusion",
        json={"kept_reference": kept["reference"]},
        headers=street.auth(street.instructor_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["label"] == f"Déjà signalé, n° {kept['reference']}"
    shown = (await app_client.get(f"{BASE}/{dup['reference']}")).json()
    assert shown["duplicate_of"] == kept["reference"] and shown["status"] == "closed"
