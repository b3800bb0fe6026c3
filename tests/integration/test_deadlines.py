"""Legal deadlines on the real database: start, suspension, majoration, firing once, cancellation.

test.permit's ``decision`` timer: 2 months from the start of instruction, suspended while pieces are
missing, fires ``tacit_acceptance`` (silence means acceptance). The clock starts on Monday 2 March
2026, 10:00 in Paris.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, IntakeResult, submit
from identity.service import authenticate
from services.kernel.actor import SYSTEM_ACTOR, Actor
from services.kernel.clock import FrozenClock
from services.kernel.errors import ValidationFailed
from services.kernel.journal import JournalEntry, JournalEvent
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.procedures import PermitPayload
from workflows.cases.jobs import fire_due_deadlines
from workflows.cases.models import Case, CaseEvent, Deadline
from workflows.cases.repository import timeline, verify_chain
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    Definition,
    Guard,
    SilenceRule,
    State,
    Timer,
    Transition,
)
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
PARIS = ZoneInfo("Europe/Paris")
INSTRUCTORS = Guard(roles=("instructor",))
SYSTEM = Guard(system=True)


def paris(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


def start_of_day_after(d: date) -> datetime:
    """The instant a deadline whose last day is ``d`` expires: local midnight after it."""
    return datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)


# A procedure whose timer starts in the initial state: it starts when the case is opened.
PAPER = Definition(
    key="test.paper",
    version=1,
    title="Demande papier de test",
    states=(
        State(name="received", title="Reçue"),
        State(name="answered", title="Répondue", terminal=True),
        State(name="tacit_rejected", title="Rejet implicite", terminal=True),
    ),
    initial_state="received",
    transitions=(
        Transition(
            name="answer",
            title="Répondre",
            sources=("received",),
            target="answered",
            guard=INSTRUCTORS,
        ),
        Transition(
            name="tacit_rejection",
            title="Rejet implicite",
            sources=("received",),
            target="tacit_rejected",
            guard=SYSTEM,
        ),
    ),
    timers=(
        Timer(
            kind="answer",
            delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
            starts_in="received",
            fires="tacit_rejection",
            legal_reference="test: silence vaut rejet après 2 mois (L231-4 CRPA)",
        ),
    ),
    payload_schema=PermitPayload,
    acknowledgement=Acknowledgement(
        request_kind="demande",
        service_code="urbanisme",
        silence=SilenceRule.REJECTION,
        decision_delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
        legal_basis="test : L231-4 CRPA",
    ),
    intake_roles=("instructor", "counter_agent"),
)

# A procedure whose deadline keeps running during a consultation ("review", in runs_in) while the
# timeout transition is only declared from "instruction": when it comes due during the consultation,
# there is nothing to fire any more.
REVIEW = Definition(
    key="test.review",
    version=1,
    title="Demande avec consultation",
    states=(
        State(name="instruction", title="En instruction"),
        State(name="review", title="Consultation d'un service"),
        State(name="accepted", title="Accordée", terminal=True),
        State(name="tacit_accepted", title="Accord tacite", terminal=True),
    ),
    initial_state="instruction",
    transitions=(
        Transition(
            name="consult",
            title="Consulter un service",
            sources=("instruction",),
            target="review",
            guard=INSTRUCTORS,
        ),
        Transition(
            name="review_done",
            title="Avis reçu",
            sources=("review",),
            target="instruction",
            guard=INSTRUCTORS,
        ),
        Transition(
            name="accept",
            title="Accorder",
            sources=("instruction", "review"),
            target="accepted",
            guard=INSTRUCTORS,
        ),
        Transition(
            name="tacit_acceptance",
            title="Accord tacite",
            sources=("instruction",),
            target="tacit_accepted",
            guard=SYSTEM,
        ),
    ),
    timers=(
        Timer(
            kind="decision",
            delay=DelaySpec(amount=1, unit=DelayUnit.MONTHS),
            starts_in="instruction",
            runs_in=("review",),
            fires="tacit_acceptance",
        ),
    ),
    payload_schema=PermitPayload,
    acknowledgement=Acknowledgement(
        request_kind="demande",
        service_code="urbanisme",
        silence=SilenceRule.REJECTION,
        decision_delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
        legal_basis="test : L231-4 CRPA",
    ),
    intake_roles=("instructor",),
)


@pytest.fixture
def engine(engine: Engine) -> Engine:
    engine.load(PAPER)
    engine.load(REVIEW)
    return engine


@pytest.fixture
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await authenticate(s, seed.instructor_token, now=clock.now())


async def open_case(
    sm: SM, engine: Engine, clock: FrozenClock, actor: Actor, **overrides: Any
) -> IntakeResult:
    fields: dict[str, Any] = {
        "tenant": "69001",
        "procedure_key": "test.permit",
        "channel": "counter",
        "submitter": {"given_name": "Alex", "family_name": "Dupont", "phone": "0600000000"},
        "payload": {"title": "Abri de jardin", "area_m2": 12},
        "actor": actor,
    }
    fields.update(overrides)
    async with sm() as s, s.begin():
        return await submit(s, engine, clock, IntakeRequest(**fields))


async def deadlines_of(sm: SM, case_id: uuid.UUID) -> list[Deadline]:
    async with sm() as s:
        return list(await s.scalars(select(Deadline).where(Deadline.case_id == case_id)))


async def only_deadline(sm: SM, case_id: uuid.UUID) -> Deadline:
    found = await deadlines_of(sm, case_id)
    assert len(found) == 1, found
    return found[0]


async def case_of(sm: SM, case_id: uuid.UUID) -> Case:
    async with sm() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case


async def events_of(sm: SM, case_id: uuid.UUID) -> list[CaseEvent]:
    async with sm() as s:
        return await timeline(s, case_id)


async def fire(sm: SM, engine: Engine, clock: FrozenClock, batch: int = 50) -> int:
    return await fire_due_deadlines(sm, engine, clock, batch=batch)


@pytest.fixture
async def started(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> uuid.UUID:
    """A test.permit case whose instruction started on Monday 2 March 2026."""
    opened = await open_case(sessionmaker, engine, clock, instructor)
    await apply(sessionmaker, engine, clock, opened.case_id, "start", instructor)
    return opened.case_id


# ----- starting, suspending, resuming, extending ---------------------------------------------------


async def test_opening_starts_no_deadline_for_a_timer_of_a_later_state(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    opened = await open_case(sessionmaker, engine, clock, instructor)

    assert await deadlines_of(sessionmaker, opened.case_id) == []


async def test_starting_instruction_creates_the_decision_deadline(
    sessionmaker: SM, started: uuid.UUID
) -> None:
    deadline = await only_deadline(sessionmaker, started)

    assert deadline.kind == "decision"
    assert deadline.transition == "tacit_acceptance"
    assert deadline.status == "active"
    assert deadline.starts_on == date(2026, 3, 2)
    assert deadline.due_on == date(2026, 5, 2)  # 2 months, same date
    assert deadline.due_at == paris(2026, 5, 3)  # start of 3 May in Paris...
    assert deadline.due_at == datetime(2026, 5, 2, 22, 0, tzinfo=UTC)  # ...summer time
    assert deadline.created_seq == 2
    assert deadline.rule["legal_reference"] == "test: silence vaut acceptance après 2 mois"
    assert deadline.rule["description"] == "2 mois"


async def test_missing_pieces_suspend_the_deadline_and_receiving_them_resumes_it(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> None:
    await apply(
        sessionmaker, engine, clock, started, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    suspended = await only_deadline(sessionmaker, started)
    assert suspended.status == "suspended"
    assert suspended.suspended_on == date(2026, 3, 2)
    assert suspended.due_on == date(2026, 5, 2)

    clock.advance(timedelta(days=10))
    case = await apply(sessionmaker, engine, clock, started, "pieces_received", instructor)

    assert case.state == "instruction"  # pieces_in, then resumed automatically
    resumed = await only_deadline(sessionmaker, started)
    assert resumed.status == "active"
    assert resumed.suspended_on is None
    assert resumed.due_on == date(2026, 5, 12)  # 10 days later
    assert resumed.due_at == start_of_day_after(date(2026, 5, 12))
    assert resumed.rule["suspensions"] == [{"from": "2026-03-02", "to": "2026-03-12"}]


async def test_a_suspended_deadline_never_fires(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> None:
    await apply(
        sessionmaker, engine, clock, started, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    clock.set(paris(2026, 9, 1))

    assert await fire(sessionmaker, engine, clock) == 0
    assert (await case_of(sessionmaker, started)).state == "incomplete"
    assert (await only_deadline(sessionmaker, started)).status == "suspended"


async def test_majoration_extends_the_resumed_deadline_by_one_month(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> None:
    await apply(
        sessionmaker, engine, clock, started, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    clock.advance(timedelta(days=10))
    await apply(sessionmaker, engine, clock, started, "pieces_received", instructor)
    clock.advance(timedelta(days=1))
    await apply(sessionmaker, engine, clock, started, "extend", instructor)

    deadline = await only_deadline(sessionmaker, started)
    assert deadline.status == "active"
    assert deadline.due_on == date(2026, 6, 12)
    assert deadline.due_at == start_of_day_after(date(2026, 6, 12))
    assert [e["description"] for e in deadline.rule["extensions"]] == ["1 mois"]


# ----- firing ------------------------------------------------------------------------------------


@pytest.fixture
async def extended(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> uuid.UUID:
    """The started case after 10 days of missing pieces and a majoration: due 12 June 2026."""
    await apply(
        sessionmaker, engine, clock, started, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    clock.advance(timedelta(days=10))
    await apply(sessionmaker, engine, clock, started, "pieces_received", instructor)
    await apply(sessionmaker, engine, clock, started, "extend", instructor)
    return started


async def test_nothing_fires_before_the_deadline_expires(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, extended: uuid.UUID
) -> None:
    clock.set(paris(2026, 6, 12, 23, 59))  # the last day, one minute before it ends

    assert await fire(sessionmaker, engine, clock) == 0
    assert (await case_of(sessionmaker, extended)).state == "instruction"
    assert (await only_deadline(sessionmaker, extended)).status == "active"


async def test_a_due_deadline_fires_exactly_once_as_the_system(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, extended: uuid.UUID
) -> None:
    clock.set(paris(2026, 6, 13))  # midnight in Paris: the deadline has expired

    assert await fire(sessionmaker, engine, clock) == 1

    case = await case_of(sessionmaker, extended)
    assert case.state == "tacit_accepted"
    deadline = await only_deadline(sessionmaker, extended)
    assert deadline.status == "fired"
    assert deadline.fired_at == clock.now()
    events = await events_of(sessionmaker, extended)
    last = events[-1]
    assert last.kind == "case.transitioned"
    assert last.actor_kind == "system"
    assert last.actor_id == SYSTEM_ACTOR.id
    assert last.channel == "system"
    assert last.data["transition"] == "tacit_acceptance"
    assert (last.from_state, last.to_state) == ("instruction", "tacit_accepted")
    assert verify_chain(events) is True

    clock.advance(timedelta(days=30))
    assert await fire(sessionmaker, engine, clock) == 0
    after = await events_of(sessionmaker, extended)
    assert len(after) == len(events)
    assert sum(e.data.get("transition") == "tacit_acceptance" for e in after) == 1


async def test_two_timer_runs_at_once_fire_each_deadline_once(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_ids = []
    for _ in range(4):
        opened = await open_case(sessionmaker, engine, clock, instructor)
        await apply(sessionmaker, engine, clock, opened.case_id, "start", instructor)
        case_ids.append(opened.case_id)
    clock.set(paris(2026, 5, 3, 8))

    counts = await asyncio.gather(
        fire(sessionmaker, engine, clock), fire(sessionmaker, engine, clock)
    )

    assert sum(counts) == 4
    for case_id in case_ids:
        assert (await case_of(sessionmaker, case_id)).state == "tacit_accepted"
        assert (await only_deadline(sessionmaker, case_id)).status == "fired"
        events = await events_of(sessionmaker, case_id)
        assert sum(e.data.get("transition") == "tacit_acceptance" for e in events) == 1
        assert verify_chain(events) is True
    assert await asyncio.gather(
        fire(sessionmaker, engine, clock), fire(sessionmaker, engine, clock)
    ) == [0, 0]


async def test_a_batch_fires_at_most_its_size(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    for _ in range(3):
        opened = await open_case(sessionmaker, engine, clock, instructor)
        await apply(sessionmaker, engine, clock, opened.case_id, "start", instructor)
    clock.set(paris(2026, 5, 4))

    assert await fire(sessionmaker, engine, clock, batch=2) == 2
    assert await fire(sessionmaker, engine, clock, batch=2) == 1
    assert await fire(sessionmaker, engine, clock, batch=2) == 0


async def test_a_deadline_whose_transition_is_no_longer_possible_becomes_obsolete(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    opened = await open_case(sessionmaker, engine, clock, instructor, procedure_key="test.review")
    await apply(sessionmaker, engine, clock, opened.case_id, "consult", instructor)
    assert (await only_deadline(sessionmaker, opened.case_id)).status == "active"  # runs_in
    clock.set(paris(2026, 4, 3))  # due 2 April: expired, while the case is in review

    assert await fire(sessionmaker, engine, clock) == 1

    case = await case_of(sessionmaker, opened.case_id)
    assert case.state == "review"  # not moved
    deadline = await only_deadline(sessionmaker, opened.case_id)
    assert deadline.status == "obsolete"
    events = await events_of(sessionmaker, opened.case_id)
    assert events[-1].kind == "deadline.obsolete"
    assert events[-1].actor_kind == "system"
    assert events[-1].public is False
    assert events[-1].data == {"deadline": "decision", "transition": "tacit_acceptance"}
    assert verify_chain(events) is True

    assert await fire(sessionmaker, engine, clock) == 0
    # The case goes on normally afterwards.
    case = await apply(sessionmaker, engine, clock, opened.case_id, "accept", instructor)
    assert case.state == "accepted"


async def test_deciding_cancels_the_deadline_and_nothing_fires_later(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> None:
    await apply(sessionmaker, engine, clock, started, "accept", instructor)

    assert (await only_deadline(sessionmaker, started)).status == "cancelled"
    clock.set(paris(2026, 7, 1))
    assert await fire(sessionmaker, engine, clock) == 0
    assert (await case_of(sessionmaker, started)).state == "accepted"


async def test_withdrawing_while_suspended_cancels_the_deadline(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, started: uuid.UUID
) -> None:
    await apply(
        sessionmaker, engine, clock, started, "request_pieces", instructor, {"pieces": ["plan"]}
    )
    await apply(sessionmaker, engine, clock, started, "withdraw", instructor)

    deadline = await only_deadline(sessionmaker, started)
    assert deadline.status == "cancelled"


# ----- receipt in the past (paper deposit) --------------------------------------------------------


async def test_paper_deposit_keeps_its_receipt_date_and_reference_year(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    received = paris(2025, 12, 30, 16, 30)

    opened = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        received_at=received,
        received_at_reason="Dossier papier déposé en mairie le 30/12",
    )

    case = await case_of(sessionmaker, opened.case_id)
    assert case.received_at == received
    assert case.registered_at == clock.now()
    assert case.reference == "69001-2025-000001"
    async with sessionmaker() as s:
        entry = await s.scalar(
            select(JournalEntry).where(JournalEntry.event == JournalEvent.RECEIPT_BACKDATED.value)
        )
    assert entry is not None
    assert entry.data["reason"] == "Dossier papier déposé en mairie le 30/12"
    assert entry.data["case_id"] == str(opened.case_id)

    # The next case received today starts the 2026 series.
    today = await open_case(sessionmaker, engine, clock, instructor)
    assert today.reference == "69001-2026-000001"


async def test_the_reference_year_is_the_legal_year_of_receipt(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    # 31 December 23:30 UTC is already 1 January in Paris.
    opened = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        received_at=datetime(2025, 12, 31, 23, 30, tzinfo=UTC),
        received_at_reason="Courrier du 1er janvier",
    )

    assert opened.reference == "69001-2026-000001"


async def test_a_receipt_in_the_past_needs_a_reason(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await open_case(sessionmaker, engine, clock, instructor, received_at=paris(2026, 2, 20, 10))

    assert [e["field"] for e in caught.value.errors] == ["received_at_reason"]
    async with sessionmaker() as s:
        assert list(await s.scalars(select(Case.id))) == []


async def test_a_deadline_started_at_opening_counts_from_receipt_not_registration(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    opened = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        procedure_key="test.paper",
        received_at=paris(2026, 2, 16, 11),
        received_at_reason="Lettre reçue le 16/02, saisie le 02/03",
    )

    deadline = await only_deadline(sessionmaker, opened.case_id)
    assert deadline.kind == "answer"
    assert deadline.starts_on == date(2026, 2, 16)  # received, not registered on 2 March
    assert deadline.due_on == date(2026, 4, 16)
    assert deadline.due_at == start_of_day_after(date(2026, 4, 16))
    assert deadline.created_seq == 1

    clock.set(paris(2026, 4, 16, 23, 59))
    assert await fire(sessionmaker, engine, clock) == 0
    clock.set(paris(2026, 4, 17))
    assert await fire(sessionmaker, engine, clock) == 1
    assert (await case_of(sessionmaker, opened.case_id)).state == "tacit_rejected"


async def test_a_deadline_started_at_opening_counts_the_legal_date_of_receipt(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    # 28 February 23:30 UTC is 1 March 00:30 in Paris: the delay counts from 1 March.
    opened = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        procedure_key="test.paper",
        received_at=datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
        received_at_reason="Déposé dans la boîte aux lettres de la mairie",
    )

    deadline = await only_deadline(sessionmaker, opened.case_id)
    assert deadline.starts_on == date(2026, 3, 1)
    assert deadline.due_on == date(2026, 5, 1)


async def test_a_deadline_started_later_counts_from_its_own_start(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    # test.permit starts its timer on ``instruction``, not at opening: a paper receipt date
    # does not move it.
    opened = await open_case(
        sessionmaker,
        engine,
        clock,
        instructor,
        received_at=paris(2026, 2, 16, 11),
        received_at_reason="Dossier papier",
    )
    clock.advance(timedelta(days=1))
    await apply(sessionmaker, engine, clock, opened.case_id, "start", instructor)

    deadline = await only_deadline(sessionmaker, opened.case_id)
    assert deadline.starts_on == date(2026, 3, 3)
    assert deadline.due_on == date(2026, 5, 3)
