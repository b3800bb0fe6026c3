"""Concession procedures through intake, CaseService and the projector, against the registry:
attribution (L2223-13, CE 1925 Valès), renewal (L2223-15, CE 21 May 2007 n°281615), conversion
(L2223-16). The clock starts on Monday 2 March 2026, 10:00 in Paris."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, IntakeResult, submit
from identity.service import authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict, NotFound, ValidationFailed
from tests.conftest import Seed
from tests.support import cemeteries as cem
from tests.support.cases import apply
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries.models import Concession, ConcessionStatus, DurationKind

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
REQUESTER = {"capacity": "concessionnaire"}
SUBMITTER = {"given_name": "Jeanne", "family_name": "Martin", "phone": "0600000000"}


@pytest.fixture
async def world(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> dict[str, Any]:
    await cem.add_cemetery_service(sessionmaker, "69001", "69002")
    reg = await cem.small_registry(sessionmaker, seed.commune_id, now=clock.now())
    other = await cem.small_registry(sessionmaker, seed.other_commune_id, now=clock.now())
    async with sessionmaker() as s:
        actors = {
            "instructor": await authenticate(s, seed.instructor_token, now=clock.now()),
            "counter": await authenticate(s, seed.counter_token, now=clock.now()),
            "other": await authenticate(s, seed.other_instructor_token, now=clock.now()),
        }
    return {"reg": reg, "other_reg": other, **actors}


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


async def concession(sm: SM, concession_id: uuid.UUID) -> Concession:
    async with sm() as s:
        found = await s.get(Concession, concession_id)
    assert found is not None
    return found


async def documents(sm: SM, case_id: uuid.UUID) -> list[str]:
    async with sm() as s:
        rows = await s.scalars(
            select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "document.render")
        )
        return [r.payload["kind"] for r in rows]


async def test_l2223_13_attribution_place_chosen_paid_at_tariff_then_title(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    await cem.add_tariff(
        sessionmaker, seed.commune_id, now=clock.now(), price="650.00", valid_from=date(2026, 1, 1)
    )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.concession",
        {"requester": REQUESTER, "category": "family", "duration_kind": "30"},
    )
    assert opened.state == "received"
    place = world["reg"].caveaux[0]
    # A counter agent records, the maire decides: the counter cannot choose the place.
    with pytest.raises(Exception, match="droit"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "choose_place",
            world["counter"],
            {"place_id": str(place)},
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "choose_place",
        world["instructor"],
        {"place_id": str(place)},
    )
    with pytest.raises(ValidationFailed, match=r"650\.00"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "record_payment",
            world["counter"],
            {"payment_ref": "Q-1", "amount": "600.00"},
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "record_payment",
        world["counter"],
        {"payment_ref": "Q-1", "amount": "650.00"},
    )
    case = await apply(
        sessionmaker, engine, clock, opened.case_id, "sign_title", world["instructor"]
    )
    assert case.state == "granted"
    async with sessionmaker() as s:
        granted = await s.scalar(select(Concession).where(Concession.case_id == case.id))
    assert granted is not None
    assert granted.place_id == place and granted.price == Decimal("650.00")
    assert granted.starts_on == date(2026, 3, 2) and granted.ends_on == date(2056, 3, 2)
    assert granted.payment_ref == "Q-1"
    assert "concession_title" in await documents(sessionmaker, case.id)
    assert "are" in await documents(sessionmaker, case.id)


async def test_attribution_of_a_taken_place_or_another_communes_place_is_refused(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    await cem.add_tariff(
        sessionmaker, seed.commune_id, now=clock.now(), price="650.00", valid_from=date(2026, 1, 1)
    )
    taken = world["reg"].caveaux[1]
    await grant(sessionmaker, seed.commune_id, taken, clock.now(), granted_on=date(2020, 1, 1))
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.concession",
        {"requester": REQUESTER, "category": "family", "duration_kind": "30"},
    )
    with pytest.raises(Conflict, match="pas libre"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "choose_place",
            world["instructor"],
            {"place_id": str(taken)},
        )
    with pytest.raises(NotFound):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "choose_place",
            world["instructor"],
            {"place_id": str(world["other_reg"].caveaux[0])},
        )
    async with sessionmaker() as s:
        case = await s.get(Case, opened.case_id)
    assert case is not None and case.state == "received"  # nothing half-applied


async def test_l2223_15_renewal_1_year_11_months_after_term_at_the_term_tariff(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 1: term 15 April 2024, asked 2 March 2026 (1 year 10½ months later): the new
    period starts on 15 April 2024, at the 2024 tariff (500 €), not today's (800 €)."""
    old = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(1994, 4, 15),
        status=ConcessionStatus.ECHUE,
    )
    await cem.add_tariff(
        sessionmaker,
        seed.commune_id,
        now=clock.now(),
        price="500.00",
        valid_from=date(2020, 1, 1),
        valid_to=date(2024, 12, 31),
    )
    await cem.add_tariff(
        sessionmaker, seed.commune_id, now=clock.now(), price="800.00", valid_from=date(2025, 1, 1)
    )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.renewal",
        {
            "requester": {"capacity": "ayant_droit", "relationship": "child"},
            "concession_id": str(old.id),
            "duration_kind": "30",
        },
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "accept", world["instructor"])
    with pytest.raises(ValidationFailed, match=r"500\.00"):
        await apply(
            sessionmaker,
            engine,
            clock,
            opened.case_id,
            "record_payment",
            world["counter"],
            {"payment_ref": "R-1", "amount": "800.00"},
        )
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "record_payment",
        world["counter"],
        {"payment_ref": "R-1", "amount": "500.00"},
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "sign_title", world["instructor"])
    async with sessionmaker() as s:
        new = await s.scalar(select(Concession).where(Concession.previous_id == old.id))
    assert new is not None
    assert new.starts_on == date(2024, 4, 15) and new.ends_on == date(2054, 4, 15)
    assert new.price == Decimal("500.00")
    assert (await concession(sessionmaker, old.id)).status == ConcessionStatus.RENOUVELEE


async def test_l2223_15_renewal_2_years_and_1_day_after_term_is_refused_with_the_reason(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 2: term 1 March 2024, asked 2 March 2026."""
    old = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2009, 3, 1),
        duration_kind=DurationKind.TEMPORARY,
        duration_years=15,
        status=ConcessionStatus.ECHUE,
    )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.renewal",
        {
            "requester": REQUESTER,
            "concession_id": str(old.id),
            "duration_kind": "temporary",
            "duration_years": 15,
        },
    )
    with pytest.raises(ValidationFailed, match="deux ans") as exc:
        await apply(sessionmaker, engine, clock, opened.case_id, "accept", world["instructor"])
    assert "01/03/2026" in exc.value.detail
    case = await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "refuse",
        world["instructor"],
        {"reason": "Délai de deux ans expiré."},
    )
    assert case.state == "refused"


async def test_renewal_of_a_missing_or_another_communes_concession_is_404(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    theirs = await grant(
        sessionmaker,
        seed.other_commune_id,
        world["other_reg"].caveaux[0],
        clock.now(),
        granted_on=date(1994, 4, 15),
    )
    for concession_id in (theirs.id, uuid.uuid4()):
        with pytest.raises(NotFound, match="Concession introuvable"):
            await file(
                sessionmaker,
                engine,
                clock,
                world["counter"],
                "cemeteries.renewal",
                {
                    "requester": REQUESTER,
                    "concession_id": str(concession_id),
                    "duration_kind": "30",
                },
            )
    async with sessionmaker() as s:
        assert (
            await s.scalar(select(Case).where(Case.procedure_key == "cemeteries.renewal"))
        ) is None


async def test_l2223_16_conversion_30_to_50_years_pays_new_tariff_minus_time_left(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """From 2 March 2014, 30 years, 900 €; converted on 2 March 2026 with 18 years left:
    2 000 € − 18/30 × 900 € = 1 460 €; the 50 years run from the request."""
    old = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(2014, 3, 2),
        price=Decimal("900.00"),
    )
    await cem.add_tariff(
        sessionmaker,
        seed.commune_id,
        now=clock.now(),
        price="2000.00",
        valid_from=date(2026, 1, 1),
        duration_kind=DurationKind.FIFTY,
    )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.conversion",
        {"requester": REQUESTER, "concession_id": str(old.id), "duration_kind": "50"},
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "accept", world["instructor"])
    await apply(
        sessionmaker,
        engine,
        clock,
        opened.case_id,
        "record_payment",
        world["counter"],
        {"payment_ref": "C-1", "amount": "1460.00"},
    )
    await apply(sessionmaker, engine, clock, opened.case_id, "sign_title", world["instructor"])
    async with sessionmaker() as s:
        new = await s.scalar(select(Concession).where(Concession.previous_id == old.id))
    assert new is not None
    assert new.price == Decimal("1460.00")
    assert new.starts_on == date(2026, 3, 2) and new.ends_on == date(2076, 3, 2)
    assert (await concession(sessionmaker, old.id)).status == ConcessionStatus.CONVERTIE


async def test_l2223_16_conversion_of_an_expired_concession_is_refused(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, seed: Seed, world: dict[str, Any]
) -> None:
    """Edge case 3: refused, with the advice to renew for a longer duration."""
    old = await grant(
        sessionmaker,
        seed.commune_id,
        world["reg"].caveaux[0],
        clock.now(),
        granted_on=date(1995, 1, 1),
        price=Decimal("300.00"),
        status=ConcessionStatus.ECHUE,
    )
    await cem.add_tariff(
        sessionmaker,
        seed.commune_id,
        now=clock.now(),
        price="2000.00",
        valid_from=date(2026, 1, 1),
        duration_kind=DurationKind.FIFTY,
    )
    opened = await file(
        sessionmaker,
        engine,
        clock,
        world["counter"],
        "cemeteries.conversion",
        {"requester": REQUESTER, "concession_id": str(old.id), "duration_kind": "50"},
    )
    with pytest.raises(ValidationFailed, match="renouvellement pour une durée plus longue"):
        await apply(sessionmaker, engine, clock, opened.case_id, "accept", world["instructor"])
