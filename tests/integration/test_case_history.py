"""A case's history is append-only and hash-chained; the case row is a projection of it."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from identity.service import IdentityDirectory, authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.cases import apply
from workflows.cases.models import Case, CaseEvent
from workflows.cases.repository import timeline, verify_chain
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]


async def actor_of(sm: SM, token: str, clock: FrozenClock) -> Actor:
    async with sm() as s:
        return await authenticate(s, token, now=clock.now())


async def open_case(sm: SM, engine: Engine, clock: FrozenClock, actor: Actor) -> uuid.UUID:
    async with sm() as s, s.begin():
        result = await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key="test.permit",
                channel="counter",
                submitter={"given_name": "Alex", "family_name": "Dupont", "phone": "0600000000"},
                payload={"title": "Abri de jardin", "area_m2": 12},
                actor=actor,
            ),
        )
        return result.case_id


async def events_of(sm: SM, case_id: uuid.UUID) -> list[CaseEvent]:
    async with sm() as s:
        events = await timeline(s, case_id)
        s.expunge_all()  # detached: tampering below never reaches the database
        return events


@pytest.fixture
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    return await actor_of(sessionmaker, seed.instructor_token, clock)


@pytest.fixture
async def decided_case(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> uuid.UUID:
    """A case with a full history: opened, started, pieces requested and received, extended, accepted."""

    case_id = await open_case(sessionmaker, engine, clock, instructor)
    clock.advance(timedelta(hours=1))
    await apply(sessionmaker, engine, clock, case_id, "start", instructor)
    clock.advance(timedelta(days=1))
    await apply(
        sessionmaker, engine, clock, case_id, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    clock.advance(timedelta(days=5))
    await apply(sessionmaker, engine, clock, case_id, "pieces_received", instructor)
    clock.advance(timedelta(days=1))
    await apply(sessionmaker, engine, clock, case_id, "extend", instructor)
    clock.advance(timedelta(days=1))
    await apply(sessionmaker, engine, clock, case_id, "accept", instructor)
    return case_id


# ----- append-only -----------------------------------------------------------------------------


async def test_raw_update_of_an_event_is_refused_by_the_database(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    async with sessionmaker() as s:
        with pytest.raises(DBAPIError, match="append-only"):
            async with s.begin():
                await s.execute(
                    text("UPDATE case_event SET kind = 'forged' WHERE case_id = :c").bindparams(
                        bindparam("c", decided_case, type_=Uuid)
                    )
                )
    async with sessionmaker() as s:
        kinds = set(await s.scalars(select(CaseEvent.kind)))
    assert "forged" not in kinds


async def test_raw_update_of_event_data_is_refused_by_the_database(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    async with sessionmaker() as s:
        with pytest.raises(DBAPIError, match="append-only"):
            async with s.begin():
                await s.execute(text("UPDATE case_event SET data = '{}' WHERE seq = 1"))


async def test_raw_delete_of_an_event_is_refused_by_the_database(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    async with sessionmaker() as s:
        before = await s.scalar(select(func.count()).select_from(CaseEvent))
    async with sessionmaker() as s:
        with pytest.raises(DBAPIError, match="append-only"):
            async with s.begin():
                await s.execute(
                    text("DELETE FROM case_event WHERE case_id = :c AND seq > 1").bindparams(
                        bindparam("c", decided_case, type_=Uuid)
                    )
                )
    async with sessionmaker() as s:
        after = await s.scalar(select(func.count()).select_from(CaseEvent))
    assert after == before


async def test_changing_an_event_through_the_orm_is_refused_too(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    async with sessionmaker() as s, s.begin():
        event = await s.scalar(
            select(CaseEvent).where(CaseEvent.case_id == decided_case, CaseEvent.seq == 2)
        )
        assert event is not None
        event.to_state = "accepted"
        with pytest.raises(DBAPIError, match="append-only"):
            await s.flush()
        await s.rollback()
    assert verify_chain(await events_of(sessionmaker, decided_case)) is True


# ----- hash chain ------------------------------------------------------------------------------


async def test_chain_is_valid_after_several_transitions(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    events = await events_of(sessionmaker, decided_case)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.kind, e.data.get("transition")) for e in events] == [
        ("case.opened", "open"),
        ("case.transitioned", "start"),
        ("case.transitioned", "request_pieces"),
        ("case.transitioned", "pieces_received"),
        ("case.transitioned", "resume"),
        ("case.transitioned", "extend"),
        ("case.transitioned", "accept"),
    ]
    assert events[0].prev_hash == "0" * 64
    for prev, event in itertools.pairwise(events):
        assert event.prev_hash == prev.hash
    assert len({e.hash for e in events}) == len(events)
    assert verify_chain(events) is True


async def test_chain_detects_tampered_event_data(sessionmaker: SM, decided_case: uuid.UUID) -> None:
    events = await events_of(sessionmaker, decided_case)
    events[2].data = {**events[2].data, "input": {"pieces": ["autre chose"]}}

    assert verify_chain(events) is False


async def test_chain_detects_any_tampered_hashed_field(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    for field, value in [
        ("to_state", "rejected"),
        ("from_state", "submitted"),
        ("kind", "case.message"),
        ("channel", "web"),
        ("actor_kind", "system"),
        ("actor_id", uuid.uuid4()),
        ("case_id", uuid.uuid4()),
    ]:
        events = await events_of(sessionmaker, decided_case)
        setattr(events[-1], field, value)
        assert verify_chain(events) is False, field


async def test_chain_detects_a_tampered_date(sessionmaker: SM, decided_case: uuid.UUID) -> None:

    events = await events_of(sessionmaker, decided_case)
    events[1].at = events[1].at - timedelta(days=30)

    assert verify_chain(events) is False


async def test_chain_detects_a_removed_or_reordered_event(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    events = await events_of(sessionmaker, decided_case)

    assert verify_chain(events[:3] + events[4:]) is False
    assert verify_chain([events[0], events[2], events[1], *events[3:]]) is False
    assert verify_chain(events[1:]) is False
    assert verify_chain(events[:-1]) is True  # a prefix of a valid chain is a valid chain


async def test_chain_detects_an_event_rehashed_without_its_successors(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    from workflows.cases._store import event_hash, hashed_fields

    events = await events_of(sessionmaker, decided_case)
    forged = events[3]
    forged.data = {**forged.data, "note": "ajouté après coup"}
    forged.hash = event_hash(forged.prev_hash, hashed_fields(forged))

    assert verify_chain(events[:4]) is True  # a consistent forgery of the tail alone...
    assert verify_chain(events) is False  # ...breaks the link to every later event


async def test_messages_and_assignments_extend_the_same_chain(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, seed: Seed
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    async with sessionmaker() as s, s.begin():
        service = CaseService(s, engine, clock)
        await service.add_message(case_id, instructor, "Bonjour", public=True)
        await service.assign(case_id, seed.instructor_id, instructor, directory=IdentityDirectory())
    await apply(sessionmaker, engine, clock, case_id, "start", instructor)

    events = await events_of(sessionmaker, case_id)
    assert [e.kind for e in events] == [
        "case.opened",
        "case.message",
        "case.assigned",
        "case.transitioned",
    ]
    assert verify_chain(events) is True


# ----- projection ------------------------------------------------------------------------------


async def test_case_row_is_the_projection_of_its_events(
    sessionmaker: SM, decided_case: uuid.UUID
) -> None:
    events = await events_of(sessionmaker, decided_case)
    async with sessionmaker() as s:
        case = await s.get(Case, decided_case)
    assert case is not None

    transitions = [e for e in events if e.to_state is not None]
    assert case.state == transitions[-1].to_state == "accepted"
    assert case.updated_at == events[-1].at
    # Every transition starts where the previous one ended.
    for prev, event in itertools.pairwise(transitions):
        assert event.from_state == prev.to_state
    # One version per applied transition (automatic follow-ups ride along): open + 5 applies.
    assert case.version == 6


async def test_projection_follows_each_step(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    for name, payload, expected in [
        ("start", None, "instruction"),
        ("request_pieces", {"pieces": ["plan"]}, "incomplete"),
        ("pieces_received", None, "instruction"),  # then resumes automatically
        ("reject", {"reason": "hors zone"}, "rejected"),
    ]:
        case = await apply(sessionmaker, engine, clock, case_id, name, instructor, payload)
        events = await events_of(sessionmaker, case_id)
        assert case.state == expected
        assert events[-1].to_state == expected
        assert verify_chain(events) is True
