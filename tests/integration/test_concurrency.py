"""Two agents deciding the same case at once: the row lock lets exactly one through.

Each contender has its own session and transaction (like two HTTP requests); asyncio.gather runs them
at the same time against the real database (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, IntakeResult, submit
from identity.service import authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict, InvalidTransition, StaleVersion
from tests.conftest import Seed, permit_request
from workflows.cases.models import Case, CaseEvent, Deadline, Outbox
from workflows.cases.repository import timeline, verify_chain
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
DECISIONS = ("accept", "reject")
PAYLOADS: dict[str, dict[str, Any] | None] = {
    "accept": None,
    "reject": {"reason": "Le terrain est en zone inondable"},
}


async def actor_of(sm: SM, token: str, clock: FrozenClock) -> Actor:
    async with sm() as s:
        return await authenticate(s, token, now=clock.now())


def intake(actor: Actor, tenant: str = "69001", **overrides: Any) -> IntakeRequest:
    fields: dict[str, Any] = {
        "tenant": tenant,
        "procedure_key": "test.permit",
        "channel": "counter",
        "submitter": {"given_name": "Alex", "family_name": "Dupont", "phone": "0600000000"},
        "payload": {"title": "Abri de jardin", "area_m2": 12},
        "actor": actor,
    }
    fields.update(overrides)
    return IntakeRequest(**fields)


async def submit_in_own_session(
    sm: SM, engine: Engine, clock: FrozenClock, request: IntakeRequest
) -> IntakeResult:
    async with sm() as s, s.begin():
        return await submit(s, engine, clock, request)


async def apply_in_own_session(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    case_id: uuid.UUID,
    transition: str,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Case:
    async with sm() as s, s.begin():
        case, _ = await CaseService(s, engine, clock).apply(
            case_id,
            transition,
            actor,
            PAYLOADS.get(transition),
            expected_version=expected_version,
        )
        return case


@pytest.fixture
async def agents(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> tuple[Actor, Actor]:
    return (
        await actor_of(sessionmaker, seed.instructor_token, clock),
        await actor_of(sessionmaker, seed.instructor2_token, clock),
    )


@pytest.fixture
async def started_case(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agents: tuple[Actor, Actor]
) -> uuid.UUID:
    """A test.permit case in instruction: opened and started in two separate sessions."""
    opened = await submit_in_own_session(sessionmaker, engine, clock, intake(agents[0]))
    await apply_in_own_session(sessionmaker, engine, clock, opened.case_id, "start", agents[0])
    return opened.case_id


async def decision_events(sm: SM, case_id: uuid.UUID) -> list[CaseEvent]:
    async with sm() as s:
        events = await timeline(s, case_id)
    assert verify_chain(events) is True
    return [e for e in events if e.data.get("transition") in DECISIONS]


def split(results: list[Any]) -> tuple[list[Case], list[BaseException]]:
    wins = [r for r in results if isinstance(r, Case)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) + len(losses) == len(results)
    return wins, losses


# ----- two agents, one case ----------------------------------------------------------------------


async def test_accept_and_reject_at_once_exactly_one_wins(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    results = await asyncio.gather(
        apply_in_own_session(sessionmaker, engine, clock, started_case, "accept", agents[0]),
        apply_in_own_session(sessionmaker, engine, clock, started_case, "reject", agents[1]),
        return_exceptions=True,
    )

    wins, losses = split(results)
    assert len(wins) == 1, results
    assert len(losses) == 1, results
    assert isinstance(losses[0], Conflict)
    assert isinstance(losses[0], InvalidTransition | StaleVersion)

    events = await decision_events(sessionmaker, started_case)
    assert len(events) == 1
    async with sessionmaker() as s:
        case = await s.get(Case, started_case)
    assert case is not None
    assert case.state == events[0].to_state == wins[0].state
    assert case.state in {"accepted", "rejected"}
    assert case.version == 3  # opened, started, decided once


async def test_the_loser_gets_the_allowed_transitions_of_the_new_state(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    results = await asyncio.gather(
        apply_in_own_session(sessionmaker, engine, clock, started_case, "accept", agents[0]),
        apply_in_own_session(sessionmaker, engine, clock, started_case, "accept", agents[1]),
        return_exceptions=True,
    )

    wins, losses = split(results)
    assert len(wins) == 1, results
    assert len(losses) == 1
    loser = losses[0]
    assert isinstance(loser, InvalidTransition)
    assert loser.allowed == []  # accepted is terminal
    assert "accepted" in loser.detail
    assert len(await decision_events(sessionmaker, started_case)) == 1


async def test_only_one_decision_document_and_one_deadline_outcome(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    await asyncio.gather(
        apply_in_own_session(sessionmaker, engine, clock, started_case, "accept", agents[0]),
        apply_in_own_session(sessionmaker, engine, clock, started_case, "reject", agents[1]),
        return_exceptions=True,
    )

    async with sessionmaker() as s:
        kinds = list(
            await s.scalars(
                select(Outbox.payload).where(
                    Outbox.case_id == started_case, Outbox.kind == "document.render"
                )
            )
        )
        deadlines = list(await s.scalars(select(Deadline).where(Deadline.case_id == started_case)))
    assert sorted(p["kind"] for p in kinds) == ["are", "decision", "recepisse"]
    assert [d.status for d in deadlines] == ["cancelled"]


async def test_same_expected_version_one_wins_the_other_is_stale(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    async with sessionmaker() as s:
        case = await s.get(Case, started_case)
        assert case is not None
        seen = case.version

    results = await asyncio.gather(
        apply_in_own_session(
            sessionmaker, engine, clock, started_case, "accept", agents[0], expected_version=seen
        ),
        apply_in_own_session(
            sessionmaker, engine, clock, started_case, "reject", agents[1], expected_version=seen
        ),
        return_exceptions=True,
    )

    wins, losses = split(results)
    assert len(wins) == 1, results
    assert len(losses) == 1, results
    stale = losses[0]
    assert isinstance(stale, StaleVersion)
    assert stale.extra["current_version"] == seen + 1
    assert stale.extra["state"] == wins[0].state
    assert wins[0].version == seen + 1
    assert len(await decision_events(sessionmaker, started_case)) == 1


async def test_same_expected_version_on_a_repeatable_transition(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    """``extend`` is allowed twice in a row: only the version tells the second agent it is late."""
    async with sessionmaker() as s:
        case = await s.get(Case, started_case)
        assert case is not None
        seen = case.version

    results = await asyncio.gather(
        *(
            apply_in_own_session(
                sessionmaker, engine, clock, started_case, "extend", a, expected_version=seen
            )
            for a in agents
        ),
        return_exceptions=True,
    )

    wins, losses = split(results)
    assert len(wins) == 1, results
    assert [type(e) for e in losses] == [StaleVersion]
    async with sessionmaker() as s:
        deadline = await s.scalar(select(Deadline).where(Deadline.case_id == started_case))
    assert deadline is not None
    assert deadline.due_on == date(2026, 6, 2)  # extended once: 2 May + 1 month


async def test_concurrent_repeatable_transitions_without_version_are_serialised(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agents: tuple[Actor, Actor],
    started_case: uuid.UUID,
) -> None:
    """Without a version both go through, one after the other: no lost update, no seq clash."""
    results = await asyncio.gather(
        *(
            apply_in_own_session(sessionmaker, engine, clock, started_case, "extend", a)
            for a in (*agents, *agents)
        ),
        return_exceptions=True,
    )

    wins, losses = split(results)
    assert losses == []
    assert len(wins) == 4
    async with sessionmaker() as s:
        case = await s.get(Case, started_case)
        deadline = await s.scalar(select(Deadline).where(Deadline.case_id == started_case))
        events = await timeline(s, started_case)
    assert case is not None and deadline is not None
    assert case.version == 2 + 4
    assert deadline.due_on == date(2026, 9, 2)  # 2 May + 4 × 1 month
    assert len(deadline.rule["extensions"]) == 4
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert verify_chain(events) is True


# ----- over HTTP -------------------------------------------------------------------------------


async def test_two_agents_decide_over_http_one_200_one_409(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    first, second = seed.auth(seed.instructor_token), seed.auth(seed.instructor2_token)
    r = await app_client.post("/api/v1/intake/", json=permit_request(), headers=first)
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    r = await app_client.post(f"/api/v1/cases/{case_id}/transitions/start", json={}, headers=first)
    assert r.status_code == 200, r.text

    responses = await asyncio.gather(
        app_client.post(f"/api/v1/cases/{case_id}/transitions/accept", json={}, headers=first),
        app_client.post(
            f"/api/v1/cases/{case_id}/transitions/reject",
            json={"payload": PAYLOADS["reject"]},
            headers=second,
        ),
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    won = next(r for r in responses if r.status_code == 200)
    lost = next(r for r in responses if r.status_code == 409)
    assert lost.headers["content-type"].startswith("application/problem+json")
    problem = lost.json()
    assert problem["status"] == 409
    assert problem["type"].endswith(("invalid-transition", "stale-version"))
    assert problem["detail"]
    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=first)
    body = r.json()
    assert body["state"] == won.json()["state"]
    assert body["chain_valid"] is True
    decisions = [e for e in body["timeline"] if e["data"].get("transition") in DECISIONS]
    assert len(decisions) == 1


async def test_two_agents_with_the_same_version_over_http(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    first, second = seed.auth(seed.instructor_token), seed.auth(seed.instructor2_token)
    r = await app_client.post("/api/v1/intake/", json=permit_request(), headers=first)
    case_id = r.json()["case_id"]
    r = await app_client.post(f"/api/v1/cases/{case_id}/transitions/start", json={}, headers=first)
    version = r.json()["version"]

    responses = await asyncio.gather(
        app_client.post(
            f"/api/v1/cases/{case_id}/transitions/extend",
            json={"version": version},
            headers=first,
        ),
        app_client.post(
            f"/api/v1/cases/{case_id}/transitions/extend",
            json={"version": version},
            headers=second,
        ),
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    lost = next(r for r in responses if r.status_code == 409).json()
    assert lost["type"].endswith("stale-version")
    assert lost["current_version"] == version + 1


# ----- gap-free references -----------------------------------------------------------------------


async def test_twenty_concurrent_intakes_get_gap_free_unique_references(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agents: tuple[Actor, Actor]
) -> None:
    results = await asyncio.gather(
        *(
            submit_in_own_session(sessionmaker, engine, clock, intake(agents[i % 2]))
            for i in range(20)
        )
    )

    references = sorted(r.reference for r in results)
    assert references == [f"69001-2026-{n:06d}" for n in range(1, 21)]
    async with sessionmaker() as s:
        stored = sorted(await s.scalars(select(Case.reference)))
        outbox_rows = dict(
            (await s.execute(select(Outbox.kind, func.count()).group_by(Outbox.kind))).all()
        )
    assert stored == references
    # Per case, none lost: the récépissé and the ARE to render, the opening event to publish.
    assert outbox_rows == {"document.render": 40, "case.event": 20}


async def test_references_are_gap_free_per_tenant_under_concurrency(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed
) -> None:
    metro = await actor_of(sessionmaker, seed.metropole_instructor_token, clock)

    results = await asyncio.gather(
        *(
            submit_in_own_session(
                sessionmaker, engine, clock, intake(metro, tenant=("69001", "69002")[i % 2])
            )
            for i in range(12)
        )
    )

    references = sorted(r.reference for r in results)
    assert references == sorted(
        [f"69001-2026-{n:06d}" for n in range(1, 7)] + [f"69002-2026-{n:06d}" for n in range(1, 7)]
    )


async def test_a_rolled_back_intake_leaves_no_gap(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agents: tuple[Actor, Actor]
) -> None:
    class Abort(Exception):
        pass

    async def submit_then_fail() -> None:
        async with sessionmaker() as s, s.begin():
            await submit(s, engine, clock, intake(agents[0]))
            raise Abort

    with pytest.raises(Abort):
        await submit_then_fail()

    results = await asyncio.gather(
        *(submit_in_own_session(sessionmaker, engine, clock, intake(agents[0])) for _ in range(3))
    )
    assert sorted(r.reference for r in results) == [f"69001-2026-{n:06d}" for n in (1, 2, 3)]
