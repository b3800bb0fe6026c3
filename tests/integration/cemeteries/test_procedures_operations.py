"""Funeral operations and ex officio procedures through CaseService and the projector, against the
registry: inhumation (R2213-33, L2223-3, capacity), SVR after 2 months (décret 2015-1459),
exhumation (R2213-40), abandon (L2223-17, R2223-13) and reprise after the renewal window
(L2223-15, loi 3DS). The clock starts on Monday 2 March 2026, 10:00 in Paris."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, IntakeResult, submit
from identity.service import authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict, InvalidTransition, ValidationFailed
from tests.conftest import Seed
from tests.support import cemeteries as cem
from tests.support.cases import apply
from workflows.cases.jobs import fire_due_deadlines
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries._procedure_service import (
    open_ex_officio,
    send_renewal_information,
)
from workflows.procedures.cemeteries.models import (
    CemeteryPlace,
    Concession,
    ConcessionCategory,
    ConcessionStatus,
    Deceased,
    DurationKind,
    OssuaryEntry,
)

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
PARIS = ZoneInfo("Europe/Paris")
SUBMITTER = {"given_name": "Jeanne", "family_name": "Martin", "phone": "0600000000"}


def paris(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=PARIS)


@pytest.fixture
async def world(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> dict[str, Any]:
    await cem.add_cemetery_service(sessionmaker, "69001")
    reg = await cem.small_registry(sessionmaker, seed.commune_id, now=clock.now())
    async with sessionmaker() as s:
        return {
            "reg": reg,
            "instructor": await authenticate(s, seed.instructor_token, now=clock.now()),
            "counter": await authenticate(s, seed.counter_token, now=clock.now()),
        }


async def file(
    sm: SM, engine: Engine, clock: FrozenClock, actor: Actor, key: str, payload: dict[str, Any]
) -> IntakeResult:
    async with sm() as s, s.begin():
        return await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key=key,
                channel="counter",
                submitter=SUBMITTER,
                payload=payload,
                actor=actor,
            ),
        )


async def grant(
    sm: SM, tenant_id: uuid.UUID, place_id: uuid.UUID, now: Any, **kw: Any
) -> Concession:
    async with sm() as s, s.begin():
        return await cem.grant(s, tenant_id, place_id, now=now, **kw)


def deceased(**kw: Any) -> dict[str, Any]:
    return {
        "family_name": "Durand",
        "given_names": "Paul",
        "death_at": paris(2026, 2, 28).isoformat(),
        "domiciled_in_commune": True,
        "relationship_to_holder": "spouse",
        **kw,
    }


async def inhumation(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    world: dict[str, Any],
    concession_id: uuid.UUID,
    **kw: Any,
) -> IntakeResult:
    payload = {
        "requester": {"capacity": "organisateur_obseques", "relationship": "child"},
        "deceased": deceased(**kw),
        "planned_at": paris(2026, 3, 4).isoformat(),
        "concession_id": str(concession_id),
    }
    return await file(sm, engine, clock, world["counter"], "cemeteries.inhumation", payload)


async def test_r2213_33_inhumation_authorised_then_recorded_in_the_place(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    place = world["reg"].caveaux[0]
    c = await grant(sessionmaker, seed.commune_id, place, clock.now(), granted_on=date(2010, 1, 1))
    opened = await inhumation(sessionmaker, engine, clock, world, c.id)
    await apply(sessionmaker, engine, clock, opened.case_id, "authorise", world["instructor"], {})
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "record_performed",
        world["counter"],
        {"performed_at": paris(2026, 3, 4).isoformat()},
    )
    async with sessionmaker() as s:
        rows = (await s.scalars(select(Deceased).where(Deceased.place_id == place))).all()
        kinds = [
            r.payload["kind"]
            for r in await s.scalars(
                select(Outbox).where(
                    Outbox.case_id == opened.case_id, Outbox.kind == "document.render"
                )
            )
        ]
    assert [(d.family_name, d.inhumed_on) for d in rows] == [("Durand", date(2026, 3, 4))]
    assert "burial_authorisation" in kinds


async def test_r2213_33_date_outside_the_window_and_burial_beyond_capacity_are_refused(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    c = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2010, 1, 1),
    )
    opened = await inhumation(sessionmaker, engine, clock, world, c.id)
    with pytest.raises(ValidationFailed, match="14/03/2026"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "authorise",
            world["instructor"],
            {"planned_at": paris(2026, 3, 16).isoformat()},
        )
    with pytest.raises(ValidationFailed, match="24 heures"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "authorise",
            world["instructor"],
            {"planned_at": paris(2026, 2, 28, 20).isoformat()},
        )
    # The caveau holds 2 coffins: two burials fill it, the third is refused at authorisation.
    for _ in range(2):
        ok = await inhumation(sessionmaker, engine, clock, world, c.id)
        await apply(sessionmaker, engine, clock, ok.case_id, "authorise", world["instructor"], {})
        await apply(
            sessionmaker,
            engine,
            clock,
            ok.case_id,
            "record_performed",
            world["counter"],
            {"performed_at": paris(2026, 3, 4).isoformat()},
        )
    with pytest.raises(Conflict, match="complet"):
        await apply(
            sessionmaker, engine, clock, opened.case_id, "authorise", world["instructor"], {}
        )


async def test_l2223_13_individual_concession_refuses_the_holders_spouse(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 11."""
    c = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2010, 1, 1),
        category=ConcessionCategory.INDIVIDUAL,
    )
    opened = await inhumation(sessionmaker, engine, clock, world, c.id)
    with pytest.raises(ValidationFailed, match="Concession individuelle"):
        await apply(
            sessionmaker, engine, clock, opened.case_id, "authorise", world["instructor"], {}
        )


async def test_decret_2015_1459_two_months_of_silence_is_an_implicit_rejection(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 14: received 2 March 2026 → rejected from 3 May 2026 (2 May is the last day)."""
    c = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2010, 1, 1),
    )
    opened = await inhumation(sessionmaker, engine, clock, world, c.id)
    clock.set(paris(2026, 5, 2, 23))
    assert await fire_due_deadlines(sessionmaker, engine, clock, batch=10) == 0
    clock.set(paris(2026, 5, 3, 0))
    assert await fire_due_deadlines(sessionmaker, engine, clock, batch=10) == 1
    async with sessionmaker() as s:
        case = await s.get(Case, opened.case_id)
    assert case is not None and case.state == "implicit_rejection"
    assert (
        engine.procedures.get("cemeteries.inhumation").acknowledgement.silence.value == "rejection"
    )  # type: ignore[union-attr]


async def _resting(
    sm: SM, seed: Seed, clock: FrozenClock, place: uuid.UUID, **kw: Any
) -> uuid.UUID:
    from workflows.procedures.cemeteries import registry

    async with sm() as s, s.begin():
        op = await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind="inhumation",
                place_id=place,
                at=paris(2015, 6, 1),
                deceased=cem.deceased(death_date=date(2015, 5, 28), **kw),
            ),
            now=clock.now(),
        )
        assert op.deceased_id is not None
        return op.deceased_id


def exhumation_payload(deceased_id: uuid.UUID, **kw: Any) -> dict[str, Any]:
    return {
        "requester": {"capacity": "plus_proche_parent"},
        "deceased_id": str(deceased_id),
        "reason": "Regroupement familial",
        "destination": "ossuary",
        "requester_relationship": "child",
        "living_relatives": ["child", "child"],
        "sworn_statement": True,
        **kw,
    }


async def test_r2213_40_exhumation_by_non_closest_relative_or_with_a_conflict_is_refused(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 9."""
    place = world["reg"].caveaux[0]
    await grant(sessionmaker, seed.commune_id, place, clock.now(), granted_on=date(2010, 1, 1))
    dead = await _resting(sessionmaker, seed, clock, place)
    nephew = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.exhumation",
        exhumation_payload(dead, requester_relationship="nephew_niece", living_relatives=["child"]),
    )
    with pytest.raises(ValidationFailed, match="plus proche parent"):
        await apply(
            sessionmaker, engine, clock, nephew.case_id, "authorise", world["instructor"], {}
        )
    conflict = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.exhumation",
        exhumation_payload(dead, known_objection=True),
    )
    with pytest.raises(ValidationFailed, match="juge"):
        await apply(
            sessionmaker, engine, clock, conflict.case_id, "authorise", world["instructor"], {}
        )
    case = await apply(
        sessionmaker,
        engine,
        clock,
        conflict.case_id,
        "refer_to_judge",
        world["instructor"],
        {"reason": "Un des enfants s'oppose à l'exhumation."},
    )
    assert case.state == "referred_to_judge"


async def test_r2213_40_exhumation_to_the_ossuary_refused_cremation_kept_apart(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge cases 10 and 16: the relative attends; the remains go to the ossuary, kept apart."""
    place = world["reg"].caveaux[0]
    await grant(sessionmaker, seed.commune_id, place, clock.now(), granted_on=date(2010, 1, 1))
    dead = await _resting(sessionmaker, seed, clock, place, refused_cremation=True)
    cremation = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.exhumation",
        exhumation_payload(dead, destination="cremation"),
    )
    with pytest.raises(Conflict, match="crémation"):
        await apply(
            sessionmaker, engine, clock, cremation.case_id, "authorise", world["instructor"], {}
        )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.exhumation",
        exhumation_payload(dead),
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "authorise", world["instructor"], {})
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "record_performed",
        world["counter"],
        {"performed_at": paris(2026, 3, 2, 8).isoformat(), "attending_relative": "Marie Durand"},
    )
    async with sessionmaker() as s:
        entry = await s.scalar(select(OssuaryEntry).where(OssuaryEntry.deceased_id == dead))
    assert entry is not None and entry.kept_apart and not entry.cremated


async def test_r2213_40_relative_absent_the_operation_is_cancelled(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    place = world["reg"].caveaux[0]
    await grant(sessionmaker, seed.commune_id, place, clock.now(), granted_on=date(2010, 1, 1))
    dead = await _resting(sessionmaker, seed, clock, place)
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.exhumation",
        exhumation_payload(dead),
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "authorise", world["instructor"], {})
    with pytest.raises(ValidationFailed):  # the attending relative is required to record it done
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "record_performed",
            world["counter"],
            {"performed_at": paris(2026, 3, 2, 8).isoformat()},
        )
    case = await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "cancel",
        world["counter"],
        {"reason": "Aucun parent présent."},
    )
    assert case.state == "cancelled"
    async with sessionmaker() as s:
        d = await s.get(Deceased, dead)
    assert d is not None and d.place_id == place


async def test_l2223_17_abandon_procedure_to_its_end(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Notice ≥ 1 month before the finding (R2223-13: 25 days is a defect), 1st PV, 1 year,
    2nd PV, 1 month, deliberation, arrêté, 30 days, removal: the place is free again."""
    place = world["reg"].caveaux[1]
    c = await grant(
        sessionmaker,
        seed.commune_id,
        place,
        clock.now(),
        granted_on=date(1950, 1, 1),
        duration_kind=DurationKind.PERPETUAL,
    )
    async with sessionmaker() as s, s.begin():
        case = await open_ex_officio(
            s,
            engine,
            clock,
            tenant_id=seed.commune_id,
            procedure_key="cemeteries.abandon",
            payload={"concession_id": str(c.id)},
            actor=world["instructor"],
        )
    cid = case.id
    with pytest.raises(ValidationFailed, match="irrégulier"):
        await apply(
            sessionmaker,
            engine,
            clock,
            cid,
            "schedule_finding",
            world["instructor"],
            {"notice_sent_on": "2026-01-26", "finding_on": "2026-02-20"},
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        cid,
        "schedule_finding",
        world["instructor"],
        {"notice_sent_on": "2026-01-15", "finding_on": "2026-02-20"},
    )
    pv = {
        "finding_on": "2026-02-20",
        "description": "Monument délabré, envahi par les ronces.",
        "present": ["Le maire", "Le policier municipal"],
    }
    await apply(sessionmaker, engine, clock, cid, "record_first_pv", world["instructor"], pv)
    async with sessionmaker() as s:
        assert (await s.get(Concession, c.id)).status == ConcessionStatus.EN_PROCEDURE_ABANDON  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed, match="20/02/2027"):
        await apply(
            sessionmaker,
            engine,
            clock,
            cid,
            "record_second_pv",
            world["instructor"],
            {**pv, "finding_on": "2026-03-01"},
        )
    clock.set(paris(2027, 3, 3))
    assert await fire_due_deadlines(sessionmaker, engine, clock, batch=10) == 1
    await apply(
        sessionmaker,
        engine,
        clock,
        cid,
        "record_second_pv",
        world["instructor"],
        {**pv, "finding_on": "2027-03-01"},
    )
    with pytest.raises(ValidationFailed, match="01/04/2027"):
        await apply(
            sessionmaker,
            engine,
            clock,
            cid,
            "record_deliberation",
            world["instructor"],
            {"deliberation_on": "2027-03-03", "reference": "D-1"},
        )
    clock.set(paris(2027, 4, 5))
    await apply(
        sessionmaker,
        engine,
        clock,
        cid,
        "record_deliberation",
        world["instructor"],
        {"deliberation_on": "2027-04-02", "reference": "D-1"},
    )
    await apply(
        sessionmaker,
        engine,
        clock,
        cid,
        "order_reprise",
        world["instructor"],
        {"published_on": "2027-04-05", "reference": "A-1"},
    )
    with pytest.raises(ValidationFailed, match="05/05/2027"):
        await apply(
            sessionmaker,
            engine,
            clock,
            cid,
            "execute_reprise",
            world["instructor"],
            {"executed_on": "2027-04-05"},
        )
    clock.set(paris(2027, 5, 6))
    assert await fire_due_deadlines(sessionmaker, engine, clock, batch=10) == 1
    done = await apply(
        sessionmaker,
        engine,
        clock,
        cid,
        "execute_reprise",
        world["instructor"],
        {"executed_on": "2027-05-06"},
    )
    assert done.state == "completed"
    async with sessionmaker() as s:
        assert (await s.get(Concession, c.id)).status == ConcessionStatus.REPRISE  # type: ignore[union-attr]
        assert (await s.get(CemeteryPlace, place)).status == "libre"  # type: ignore[union-attr]
        kinds = [
            r.payload["kind"]
            for r in await s.scalars(
                select(Outbox).where(Outbox.case_id == cid, Outbox.kind == "document.render")
            )
        ]
    assert kinds.count("abandonment_report") == 2 and "reprise_order" in kinds


async def test_l2223_17_abandon_blocked_for_young_concession_and_ended_by_restoration(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge cases 4 and 6."""
    young = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2000, 1, 1),
        duration_kind=DurationKind.PERPETUAL,
    )
    with pytest.raises(ValidationFailed, match="moins de 30 ans"):
        async with sessionmaker() as s, s.begin():
            await open_ex_officio(
                s,
                engine,
                clock,
                tenant_id=seed.commune_id,
                procedure_key="cemeteries.abandon",
                payload={"concession_id": str(young.id)},
                actor=world["instructor"],
            )
    with pytest.raises(Exception, match="instructeurs"):
        async with sessionmaker() as s, s.begin():
            await open_ex_officio(
                s,
                engine,
                clock,
                tenant_id=seed.commune_id,
                procedure_key="cemeteries.abandon",
                payload={"concession_id": str(young.id)},
                actor=world["counter"],
            )
    old = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[1],
        clock.now(),
        granted_on=date(1950, 1, 1),
        duration_kind=DurationKind.PERPETUAL,
    )
    async with sessionmaker() as s, s.begin():
        case = await open_ex_officio(
            s,
            engine,
            clock,
            tenant_id=seed.commune_id,
            procedure_key="cemeteries.abandon",
            payload={"concession_id": str(old.id)},
            actor=world["instructor"],
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        case.id,
        "schedule_finding",
        world["instructor"],
        {"notice_sent_on": "2026-01-15", "finding_on": "2026-02-20"},
    )
    await apply(
        sessionmaker,
        engine,
        clock,
        case.id,
        "record_first_pv",
        world["instructor"],
        {
            "finding_on": "2026-02-20",
            "description": "Tombe recouverte d'herbe.",
            "present": ["Le maire"],
        },
    )
    done = await apply(
        sessionmaker,
        engine,
        clock,
        case.id,
        "restore",
        world["instructor"],
        {"reason": "Remise en état par la petite-fille."},
    )
    assert done.state == "restored"
    async with sessionmaker() as s:
        assert (await s.get(Concession, old.id)).status == ConcessionStatus.ATTRIBUEE  # type: ignore[union-attr]


async def test_l2223_15_3ds_renewal_information_then_reprise_after_the_window(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 2: the cron informs the holders (letter, renewal_info_sent_at); a reprise is
    impossible before that and inside the two years; possible after."""
    ended = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2009, 1, 1),
        duration_kind=DurationKind.TEMPORARY,
        duration_years=15,
    )
    recent = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[1],
        clock.now(),
        granted_on=date(2010, 1, 1),
        duration_kind=DurationKind.TEMPORARY,
        duration_years=15,
    )
    async with sessionmaker() as s, s.begin():
        opened = await send_renewal_information(s, engine, clock, today=date(2026, 3, 2))
    assert len(opened) == 2
    async with sessionmaker() as s, s.begin():  # run twice: nothing new
        assert await send_renewal_information(s, engine, clock, today=date(2026, 3, 2)) == []
    async with sessionmaker() as s:
        cases = {
            str(c.payload["concession_id"]): c
            for c in await s.scalars(select(Case).where(Case.procedure_key == "cemeteries.reprise"))
        }
        assert (await s.get(Concession, ended.id)).renewal_info_sent_at is not None  # type: ignore[union-attr]
        letters = [
            r.payload["kind"]
            for r in await s.scalars(select(Outbox).where(Outbox.kind == "document.render"))
        ]
    assert letters.count("renewal_information") == 2
    order = {"published_on": "2026-03-02", "reference": "A-2"}
    with pytest.raises(ValidationFailed, match="01/01/2027"):
        await apply(
            sessionmaker,
            engine,
            clock,
            cases[str(recent.id)].id,
            "order_reprise",
            world["instructor"],
            order,
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        cases[str(ended.id)].id,
        "order_reprise",
        world["instructor"],
        order,
    )
    async with sessionmaker() as s:
        assert (await s.get(Concession, ended.id)).status == ConcessionStatus.REPRISE_DELIBEREE  # type: ignore[union-attr]


async def test_loi_3ds_reprise_impossible_before_the_information_is_sent(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    ended = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2009, 1, 1),
        duration_kind=DurationKind.TEMPORARY,
        duration_years=15,
    )
    async with sessionmaker() as s, s.begin():
        case = await open_ex_officio(
            s,
            engine,
            clock,
            tenant_id=seed.commune_id,
            procedure_key="cemeteries.reprise",
            payload={"concession_id": str(ended.id)},
            actor=world["instructor"],
        )
    with pytest.raises(InvalidTransition, match="send_renewal_information"):
        await apply(
            sessionmaker,
            engine,
            clock,
            case.id,
            "order_reprise",
            world["instructor"],
            {"published_on": "2026-03-02", "reference": "A-3"},
        )
