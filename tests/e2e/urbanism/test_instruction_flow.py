"""A DP, a PCMI and a PC from filing (web and counter) to a decision, explicit and tacit, with
every letter generated and every date right (issue 7, "done when").

The dates are the worked examples of urbanism.md §12; each assertion names its article.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.models import StoredDocument
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.citizens import INTAKE, as_person
from tests.support.http import assert_problem
from tests.support.outbox import run_pending
from tests.support.people import create_person, sign_in
from tests.support.rendering import pdf_text
from tests.support.urbanism import (
    at_midnight,
    file_at_counter,
    fresh_token,
    legal_date,
    move_to,
    paris,
    payload,
    urbanism_file,
)
from workflows.cases.models import Case, Deadline
from workflows.engine.runner import Engine

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SM = async_sessionmaker[AsyncSession]


async def _documents(sm: SM, case_id: uuid.UUID) -> dict[str, StoredDocument]:
    async with sm() as s:
        rows = await s.scalars(select(StoredDocument).where(StoredDocument.case_id == case_id))
        return {d.kind: d for d in rows}


async def _state(sm: SM, case_id: uuid.UUID) -> str:
    async with sm() as s:
        case = await s.get(Case, case_id)
        assert case is not None
        return case.state


async def test_dp_filed_on_the_web_31_january_becomes_a_tacit_non_opposition_on_1_march(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """R423-23 a: one month, date to date; 31 Jan + 1 month = 28 Feb (no 31 Feb: end of month);
    the tacit non-opposition (R424-1) is born on 1 March at 00:00."""
    clock.set(paris(date(2026, 1, 31), 11))
    person_id = await create_person(
        sessionmaker, now=clock.now(), given_name="Jeanne", email="jeanne.dupont@example.fr"
    )
    jeanne = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.post(
        INTAKE,
        json={"tenant": "69001", "procedure": "urbanism.dp", "payload": payload("urbanism.dp")},
        headers=as_person(jeanne),
    )
    assert r.status_code == 201, r.text
    case_id = uuid.UUID(r.json()["case_id"])
    row = await urbanism_file(sessionmaker, case_id)
    assert row.number == "DP0690012600001"  # A423-1..3: DP + 069 + 001 + 26 + 00001
    assert legal_date(row, "completeness_limit") == date(2026, 2, 28)
    assert legal_date(row, "instruction_deadline") == date(2026, 2, 28)
    assert legal_date(row, "tacit_decision") == date(2026, 3, 1)
    assert row.tacit_on == date(2026, 3, 1)

    # The récépissé (ARE) and the avis de dépôt are rendered.
    await run_pending(sessionmaker, engine, clock)
    docs = await _documents(sessionmaker, case_id)
    assert {"are", "urbanism_filing_notice"} <= set(docs), sorted(docs)

    # The certificate cannot be asked before the tacit decision exists.
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/certificat-tacite", headers=as_person(jeanne)
    )
    assert_problem(r, 409)

    # 28 Feb 23:59: nothing yet. 1 March 00:00: deemed complete, then tacit non-opposition.
    await move_to(sessionmaker, engine, clock, at_midnight(date(2026, 3, 1)) - timedelta(minutes=1))
    # (for a DP the completeness window and the instruction deadline end the same day)
    assert await _state(sessionmaker, case_id) == "deposited"
    await move_to(sessionmaker, engine, clock, at_midnight(date(2026, 3, 1)))
    assert await _state(sessionmaker, case_id) == "tacit_granted"
    row = await urbanism_file(sessionmaker, case_id)
    assert row.decided_on == date(2026, 3, 1)

    # The declarant (signed in again: a month has passed) asks for the R424-13 certificate: it
    # states the day the decision was born.
    jeanne = await sign_in(sessionmaker, person_id, now=clock.now())
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/certificat-tacite", headers=as_person(jeanne)
    )
    assert r.status_code == 200, r.text
    assert r.json()["tacit_on"] == "2026-03-01"
    assert "mairie" in r.json()["message"]
    # The mairie issues it, under its agent's name and title.
    agent = await fresh_token(sessionmaker, seed.instructor_id, clock)
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/certificat-tacite", headers=agent
    )
    assert r.status_code == 200, r.text
    await run_pending(sessionmaker, engine, clock)
    docs = await _documents(sessionmaker, case_id)
    assert "urbanism_tacit_certificate" in docs


async def _act(
    client: AsyncTestClient[Any],
    headers: dict[str, str],
    case_id: uuid.UUID,
    route: str,
    body: dict[str, Any] | None = None,
    status: int = 200,
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/{route}", json=body or {}, headers=headers
    )
    assert r.status_code == status, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_pcmi_at_the_counter_incomplete_then_majorated_then_granted_with_prescriptions(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """PCMI handed in on paper on Monday 2 March 2026 (R423-23 b: 2 months).
    - 20 March: pieces request notified (within the month, R423-38): suspended, 3 months to answer
      (R423-39 a): until 20 June.
    - 25 March: majoration R423-24 (abords MH) notified within the month: +1 month.
    - 10 April: the applicant uploads the missing piece → complete; the full deadline restarts
      from receipt with the majoration (R423-39 c): 10 April + 3 months = 10 July.
    - arrêté (accord avec prescriptions) notified 1 July: before the deadline, it counts."""
    agent = seed.auth(seed.instructor_token)
    clock.set(paris(date(2026, 3, 4), 9))
    case_id = await file_at_counter(
        app_client,
        seed.auth(seed.counter_token),
        "urbanism.pcmi",
        received_at=paris(date(2026, 3, 2), 15),
    )
    row = await urbanism_file(sessionmaker, case_id)
    assert row.number == "PC0690012600001"
    assert legal_date(row, "instruction_deadline") == date(2026, 5, 2)
    assert legal_date(row, "completeness_limit") == date(2026, 4, 2)

    clock.set(paris(date(2026, 3, 23), 9))
    answer = await _act(
        app_client,
        agent,
        case_id,
        "pieces-demandees",
        {"pieces": ["PCMI5", "PCMI6"], "notified_on": "2026-03-20"},
    )
    assert answer["effective"] is True and answer["state"] == "incomplete"
    row = await urbanism_file(sessionmaker, case_id)
    assert legal_date(row, "pieces_limit") == date(2026, 6, 20)
    assert row.tacit_on is None or row.state == "incomplete"

    clock.set(paris(date(2026, 3, 26), 9))
    answer = await _act(
        app_client,
        agent,
        case_id,
        "majorations",
        {"ground": "R423-24", "notified_on": "2026-03-25"},
    )
    assert answer["effective"] is True
    # The letter goes out at once, while the pieces are awaited: no date can be given yet, it says
    # from when the majorated delay (2 + 1 months) will run (R423-39 c).
    assert set(await run_pending(sessionmaker, engine, clock)) == {"done"}
    letter = (await _documents(sessionmaker, case_id))["urbanism_majoration"]
    text = pdf_text(await storage_from_settings().get(letter.storage_key, sha256=letter.sha256))
    assert "porté à 3 mois" in text and "réception de la totalité de ces pièces" in text

    # A second majoration notified on 3 April (after the first month, R423-42): recorded, ignored.
    clock.set(paris(date(2026, 4, 6), 9))
    answer = await _act(
        app_client,
        agent,
        case_id,
        "majorations",
        {"ground": "R423-25", "notified_on": "2026-04-03"},
    )
    assert answer["effective"] is False
    assert answer["constats"] and "mois" in answer["message"]

    # The applicant hands in the two pieces at the counter on 10 April.
    clock.set(paris(date(2026, 4, 10), 11))
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/pieces",
        json={"pieces": [{"code": "PCMI5"}, {"code": "PCMI6"}], "received_on": "2026-04-10"},
        headers=seed.auth(seed.counter_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "under_instruction"
    row = await urbanism_file(sessionmaker, case_id)
    assert legal_date(row, "instruction_deadline") == date(2026, 7, 10)
    assert row.tacit_on == date(2026, 7, 11)

    clock.set(paris(date(2026, 6, 25), 9))
    await _act(
        app_client,
        agent,
        case_id,
        "arrete",
        {
            "kind": "accord_avec_prescriptions",
            "prescriptions": ["Les menuiseries seront en bois peint."],
            "reasons": ["Avis de l'architecte des Bâtiments de France."],
            "signatory_name": "Marie Curie",
            "signatory_title": "Maire",
        },
    )
    clock.set(paris(date(2026, 7, 2), 9))
    answer = await _act(
        app_client, agent, case_id, "notification-decision", {"notified_on": "2026-07-01"}
    )
    assert answer["state"] == "granted"
    row = await urbanism_file(sessionmaker, case_id)
    assert row.decided_on == date(2026, 7, 1)
    assert legal_date(row, "withdrawal_limit") == date(2026, 10, 1)  # L424-5: 3 months
    assert legal_date(row, "validity_end") == date(2029, 7, 1)  # R424-17: 3 years
    # Every letter of the file was generated (R423-38 letter, majoration letter, arrêté).
    assert set(await run_pending(sessionmaker, engine, clock)) == {"done"}
    docs = await _documents(sessionmaker, case_id)
    assert {
        "are",
        "urbanism_filing_notice",
        "urbanism_incompleteness",
        "urbanism_majoration",
        "urbanism_decision",
    } <= set(docs), sorted(docs)
    # The mayor's office sees the file among its commune's files, with its legal dates.
    r = await app_client.get("/api/v1/urbanisme/69001/dossiers", headers=agent)
    assert r.status_code == 200, r.text
    assert "PC 069 001 26 00001" in r.text
    # The tacit timer is gone: nothing fires on 11 July.
    await move_to(sessionmaker, engine, clock, at_midnight(date(2026, 7, 12)))
    assert await _state(sessionmaker, case_id) == "granted"

    # DOC then DAACT by the holder's agent; conformity acquired 3 months after (R462-6).
    clock.set(paris(date(2026, 9, 2), 9))
    agent = await fresh_token(sessionmaker, seed.instructor_id, clock)
    await _act(app_client, agent, case_id, "doc", {"opened_on": "2026-09-01"})
    clock.set(paris(date(2027, 5, 3), 9))
    agent = await fresh_token(sessionmaker, seed.instructor_id, clock)
    await _act(
        app_client,
        agent,
        case_id,
        "daact",
        {"completed_on": "2027-04-30", "received_on": "2027-05-03"},
    )
    row = await urbanism_file(sessionmaker, case_id)
    assert legal_date(row, "conformity_limit") == date(2027, 8, 3)
    await move_to(sessionmaker, engine, clock, at_midnight(date(2027, 8, 4)))
    assert await _state(sessionmaker, case_id) == "conformity_acquired"


async def test_pc_refusal_notified_after_the_tacit_date_is_refused_as_a_retrait(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """PC filed 30 November 2026 (3 months, R423-23 c) → last day 28 Feb 2027 (no 30 Feb), a
    Sunday: no extension; tacit permit born 1 March. A refusal signed 26 Feb but first presented
    on 1 March is a retrait needing the L424-5 procedure, not a decision."""
    agent = seed.auth(seed.instructor_token)
    clock.set(paris(date(2026, 11, 30), 10))
    case_id = await file_at_counter(app_client, seed.auth(seed.counter_token), "urbanism.pc")
    row = await urbanism_file(sessionmaker, case_id)
    assert legal_date(row, "instruction_deadline") == date(2027, 2, 28)
    clock.set(paris(date(2027, 2, 26), 10))
    await _act(
        app_client,
        agent,
        case_id,
        "arrete",
        {
            "kind": "refus",
            "reasons": ["Hauteur supérieure à celle du PLU (article UA 10)."],
            "signatory_name": "Marie Curie",
            "signatory_title": "Maire",
        },
    )
    await move_to(sessionmaker, engine, clock, at_midnight(date(2027, 3, 1)))
    assert await _state(sessionmaker, case_id) == "tacit_granted"
    agent = await fresh_token(sessionmaker, seed.instructor_id, clock)
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/notification-decision",
        json={"notified_on": "2027-03-01"},
        headers=agent,
    )
    body = assert_problem(r, 409)
    assert "retrait" in body["detail"].lower() or "L424-5" in body["detail"]
    assert await _state(sessionmaker, case_id) == "tacit_granted"
    async with sessionmaker() as s:
        live = list(
            await s.scalars(
                select(Deadline).where(Deadline.case_id == case_id, Deadline.status == "active")
            )
        )
    assert all(d.kind != "urbanism_tacit" for d in live)
