"""Urbanism files by every door, the applicant completing their own file, and a modificatif.

- web and counter give the same file (number, legal dates): one door (DESIGN §4);
- the applicant uploads the missing piece and declares it: the deadline restarts from that day
  (R423-39 c), and a piece the instructor did not ask for changes nothing;
- a permis modificatif of a granted permit is numbered after it (A423-4: ``…M01``)."""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from pypdf import PdfWriter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.citizens import INTAKE, as_person
from tests.support.http import assert_problem
from tests.support.people import SignedIn, create_person, sign_in
from tests.support.urbanism import (
    file_at_counter,
    legal_date,
    paris,
    payload,
    urbanism_file,
)
from workflows.engine.runner import Engine

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SM = async_sessionmaker[AsyncSession]


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def _citizen(sm: SM, clock: FrozenClock) -> SignedIn:
    person_id = await create_person(
        sm, now=clock.now(), given_name="Jeanne", email="jeanne.dupont@example.fr"
    )
    return await sign_in(sm, person_id, now=clock.now())


async def _web(client: AsyncTestClient[Any], me: SignedIn, key: str) -> uuid.UUID:
    r = await client.post(
        INTAKE,
        json={"tenant": "69001", "procedure": key, "payload": payload(key)},
        headers=as_person(me),
    )
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["case_id"])


@pytest.mark.parametrize(
    ("key", "nature", "deadline"),
    [
        # Filed Monday 2 March 2026 (R423-23): DP 1 month, PCMI 2 months, PC 3 months.
        ("urbanism.dp", "DP", date(2026, 4, 2)),
        ("urbanism.pcmi", "PC", date(2026, 5, 2)),
        ("urbanism.pc", "PC", date(2026, 6, 2)),
    ],
)
async def test_web_and_counter_filings_give_the_same_file(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    key: str,
    nature: str,
    deadline: date,
) -> None:
    clock.set(paris(date(2026, 3, 2), 10))
    me = await _citizen(sessionmaker, clock)
    web = await urbanism_file(sessionmaker, await _web(app_client, me, key))
    counter = await urbanism_file(
        sessionmaker,
        await file_at_counter(app_client, seed.auth(seed.counter_token), key),
    )
    # A423-1..3: the same series, numbered one after the other.
    assert (web.number, counter.number) == (f"{nature}0690012600001", f"{nature}0690012600002")
    for row in (web, counter):
        assert legal_date(row, "instruction_deadline") == deadline
        assert row.tacit_on == date.fromordinal(deadline.toordinal() + 1)
        assert row.applicant_name.startswith(("Jeanne", "Mme", "DUPONT", "Dupont", "SCI"))
    assert web.timeline["dates"] == counter.timeline["dates"]


async def test_the_applicant_uploads_the_missing_piece_and_the_deadline_restarts(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """PCMI filed 2 March 2026; PCMI6 asked, letter notified 10 March (R423-38). The applicant
    uploads it on 20 April: complete that day, decision due 20 June (2 months, R423-39 c)."""
    clock.set(paris(date(2026, 3, 2), 10))
    me = await _citizen(sessionmaker, clock)
    case_id = await _web(app_client, me, "urbanism.pcmi")
    clock.set(paris(date(2026, 3, 11), 10))
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces-demandees",
        json={"pieces": ["PCMI6"], "notified_on": "2026-03-10"},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "incomplete"

    clock.set(paris(date(2026, 4, 20), 18))
    me = await sign_in(sessionmaker, me.person_id, now=clock.now())
    # What the applicant sees: the file is suspended, PCMI6 is missing (with its title).
    r = await app_client.get("/api/v1/urbanisme/mes-dossiers", headers=as_person(me))
    assert r.status_code == 200, r.text
    assert "PCMI6" in r.text

    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=_pdf(),
        headers={**as_person(me), "Content-Type": "application/pdf", "X-Filename": "insertion.pdf"},
    )
    assert r.status_code == 201, r.text
    attachment_id = r.json()["id"]

    # An applicant cannot backdate the receipt, nor declare a piece without its file.
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces",
        json={
            "pieces": [{"code": "PCMI6", "attachment_id": attachment_id}],
            "received_on": "2026-03-20",
        },
        headers=as_person(me),
    )
    assert_problem(r, 422)
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces",
        json={"pieces": [{"code": "PCMI6"}]},
        headers=as_person(me),
    )
    assert_problem(r, 422)
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces",
        json={"pieces": [{"code": "PCMI6", "attachment_id": str(uuid.uuid4())}]},
        headers=as_person(me),
    )
    assert_problem(r, 409)

    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces",
        json={"pieces": [{"code": "PCMI6", "attachment_id": attachment_id}]},
        headers=as_person(me),
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "under_instruction"
    assert "20/04/2026" in r.json()["message"]
    row = await urbanism_file(sessionmaker, case_id)
    assert legal_date(row, "instruction_deadline") == date(2026, 6, 20)


async def test_a_modificatif_of_a_granted_permit_is_numbered_m01_and_refused_on_a_pending_one(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
) -> None:
    counter = seed.auth(seed.counter_token)
    agent = seed.auth(seed.instructor_token)
    clock.set(paris(date(2026, 3, 2), 10))
    parent_id = await file_at_counter(app_client, counter, "urbanism.pcmi")
    parent = await urbanism_file(sessionmaker, parent_id)
    follow_up = {
        "parent_number": parent.number,
        "applicants": payload("urbanism.pcmi")["applicants"],
        "changes": "Ajout d'une fenêtre en façade sud",
        "maison_individuelle": True,
    }
    r = await app_client.post(
        "/api/v1/guichet/demandes",
        headers=counter,
        json={
            "tenant": "69001",
            "procedure": "urbanism.modificatif",
            "channel": "counter",
            "payload": follow_up,
            "submitter": {
                "given_name": "Jeanne",
                "family_name": "Dupont",
                "email": "jeanne.dupont@example.fr",
            },
            "identity_check": "document_seen",
        },
    )
    body = assert_problem(r, 409)
    assert "validité" in body["detail"]

    clock.set(paris(date(2026, 4, 1), 10))
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{parent_id}/arrete",
        json={"kind": "accord", "signatory_name": "Marie Curie", "signatory_title": "Maire"},
        headers=agent,
    )
    assert r.status_code == 200, r.text
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{parent_id}/notification-decision",
        json={"notified_on": "2026-04-01"},
        headers=agent,
    )
    assert r.status_code == 200, r.text

    r = await app_client.post(
        "/api/v1/guichet/demandes",
        headers=counter,
        json={
            "tenant": "69001",
            "procedure": "urbanism.modificatif",
            "channel": "counter",
            "payload": follow_up,
            "submitter": {
                "given_name": "Jeanne",
                "family_name": "Dupont",
                "email": "jeanne.dupont@example.fr",
            },
            "identity_check": "document_seen",
        },
    )
    assert r.status_code == 201, r.text
    child = await urbanism_file(sessionmaker, uuid.UUID(r.json()["case_id"]))
    assert child.number == f"{parent.number}M01"
    assert child.parent_id == parent.id
    # A modificatif of a maison individuelle: 2 months from its own filing (R423-23 b).
    assert legal_date(child, "instruction_deadline") == date(2026, 6, 1)


async def test_the_counter_sees_the_bordereau_and_the_pieces_missing_from_a_file(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """PCMI1 to PCMI8 are the mandatory pieces of a maison individuelle (R431-7 to R431-10); a
    file handed in with PCMI1 to PCMI4 lacks PCMI5 to PCMI8."""
    r = await app_client.get("/api/v1/urbanisme/pieces", params={"type": "PCMI"})
    assert r.status_code == 200, r.text
    mandatory = [p["code"] for p in r.json() if p["obligatoire"]]
    assert mandatory[:8] == [f"PCMI{i}" for i in range(1, 9)]
    r = await app_client.get("/api/v1/urbanisme/pieces", params={"type": "XX"})
    assert_problem(r, 400)

    case_id = await file_at_counter(app_client, seed.auth(seed.counter_token), "urbanism.pcmi")
    r = await app_client.get(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces", headers=seed.auth(seed.counter_token)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["code"] for p in body["pieces_manquantes"]] == [f"PCMI{i}" for i in range(5, 9)]
    assert body["pieces_manquantes"][0]["titre"].startswith("Plan des façades")
    assert body["pieces_demandees_non_recues"] == []
