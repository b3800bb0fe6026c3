"""Follow-up views for mayors' offices, dated by a FrozenClock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.kernel.clock import FrozenClock
from tests.conftest import T0, Seed
from tests.support.cemeteries import SM, grant, holder, small_registry
from workflows.cases.models import Case, Deadline
from workflows.procedures.cemeteries import registry, views
from workflows.procedures.cemeteries.models import ConcessionStatus, DurationKind, PlaceType

pytestmark = pytest.mark.integration


def today(clock: FrozenClock) -> date:
    return registry.local_date(clock.now())


async def _abandon_case(sm: SM, tenant: uuid.UUID, concession_id: uuid.UUID, due: date) -> str:
    """A ``cemeteries.abandon`` case with an active deadline, as the procedure leaves them."""
    async with sm() as s, s.begin():
        case = Case(
            tenant_id=tenant,
            procedure_key="cemeteries.abandon",
            definition_version=1,
            reference="69001-2026-000042",
            state="first_pv",
            channel="counter",
            submitter={"kind": "agent"},
            payload={"concession_id": str(concession_id)},
            calendar_options={},
            received_at=T0,
            registered_at=T0,
            updated_at=T0,
        )
        s.add(case)
        await s.flush()
        for kind, on, status in (
            ("notice", date(2025, 1, 1), "fired"),
            ("publicity", due, "active"),
        ):
            s.add(
                Deadline(
                    case_id=case.id,
                    kind=kind,
                    transition="publicity_over",
                    rule={},
                    starts_on=date(2025, 9, 1),
                    due_on=on,
                    due_at=datetime.combine(on + timedelta(days=1), datetime.min.time(), UTC),
                    status=status,
                    created_seq=1,
                    created_at=T0,
                )
            )
        return case.reference


async def test_follow_up_lists_move_with_the_clock(
    sessionmaker: SM, seed: Seed, clock: FrozenClock
) -> None:
    """On 2 March 2026: a 30-year concession ending 1 June 2026 expires within 6 months (not 2);
    one ended 2 March 2025 is in its 2-year window until 2 March 2027 (L2223-15), the information
    sent; one ended 15 January 2024 is past its window. A year later the second one is past too,
    and the first one has entered its own window."""
    t = seed.commune_id
    reg = await small_registry(sessionmaker, t, now=T0)
    async with sessionmaker() as s, s.begin():
        soon = await grant(
            s,
            t,
            reg.caveaux[0],
            now=T0,
            granted_on=date(1996, 6, 1),
            parties=[holder("Martin", "Jeanne"), holder("Abel", "Luc")],
        )
        window = await grant(s, t, reg.caveaux[1], now=T0, granted_on=date(1995, 3, 2))
        await registry.record_renewal_info_sent(
            s, t, window.id, at=datetime(2025, 4, 1, 8, tzinfo=UTC)
        )
        past = await grant(s, t, reg.caveaux[2], now=T0, granted_on=date(1994, 1, 15))
        await registry.expire_due_concessions(s, t, today=today(clock), now=T0)
        assert past.status == ConcessionStatus.ECHUE
    async with sessionmaker() as s:
        six = await views.expiring_concessions(s, t, today=today(clock), months=6)
        assert [(x.number, x.ends_on, x.holders) for x in six] == [
            (soon.number, date(2026, 6, 1), "ABEL Luc, MARTIN Jeanne")
        ]
        assert await views.expiring_concessions(s, t, today=today(clock), months=2) == []
        [inside] = await views.expired_concessions(s, t, today=today(clock))
        assert (inside.number, inside.window_ends_on) == (window.number, date(2027, 3, 2))
        assert inside.renewal_info_sent and inside.renewal_info_sent_on == date(2025, 4, 1)
        [outside] = await views.expired_concessions(s, t, today=today(clock), past_window=True)
        assert (outside.number, outside.window_ends_on) == (past.number, date(2026, 1, 15))
        assert not outside.renewal_info_sent
        assert await views.expired_concessions(s, seed.other_commune_id, today=today(clock)) == []
        csv = views.lines_csv([inside])
        assert csv.startswith("\ufeffnumero;emplacement;")
        assert f"{window.number};Cimetière du Nord, A, allée 1, n° 2;" in csv
        assert ";2027-03-02;2025-04-01;" in csv
    clock.set(datetime(2027, 3, 3, 9, tzinfo=UTC))
    async with sessionmaker() as s:
        [now_inside] = await views.expired_concessions(s, t, today=today(clock))
        assert (now_inside.number, now_inside.window_ends_on) == (soon.number, date(2028, 6, 1))
        late = await views.expired_concessions(s, t, today=today(clock), past_window=True)
        assert [x.number for x in late] == [past.number, window.number]


async def test_free_places_by_type(sessionmaker: SM, seed: Seed) -> None:
    t = seed.commune_id
    reg = await small_registry(sessionmaker, t, now=T0)
    async with sessionmaker() as s, s.begin():
        await grant(s, t, reg.caveaux[0], now=T0, granted_on=date(2026, 1, 5))
    async with sessionmaker() as s:
        counts = await views.free_places_by_type(s, t)
        assert {(c.place_type, c.free) for c in counts} == {
            (PlaceType.CAVEAU, 2),
            (PlaceType.COLUMBARIUM, 1),
            (PlaceType.TERRAIN_COMMUN, 1),
        }
        assert await views.free_places_by_type(s, seed.other_commune_id) == []
        assert "Cimetière du Nord;caveau;2" in views.free_places_csv(counts)


async def test_abandon_procedures_show_their_next_legal_date(sessionmaker: SM, seed: Seed) -> None:
    t = seed.commune_id
    reg = await small_registry(sessionmaker, t, now=T0)
    async with sessionmaker() as s, s.begin():
        old = await grant(
            s,
            t,
            reg.caveaux[0],
            now=T0,
            granted_on=date(1950, 5, 1),
            duration_kind=DurationKind.PERPETUAL,
            price=Decimal("10.00"),
        )
        await registry.set_concession_status(
            s, t, old.id, ConcessionStatus.EN_PROCEDURE_ABANDON, now=T0
        )
        other = await grant(
            s,
            t,
            reg.caveaux[1],
            now=T0,
            granted_on=date(1952, 5, 1),
            duration_kind=DurationKind.PERPETUAL,
        )
        await registry.set_concession_status(
            s, t, other.id, ConcessionStatus.EN_PROCEDURE_ABANDON, now=T0
        )
    reference = await _abandon_case(sessionmaker, t, old.id, date(2026, 9, 1))
    async with sessionmaker() as s:
        lines = await views.abandon_procedures(s, t)
        assert [
            (x.number, x.abandon_case_reference, x.next_legal_date, x.next_legal_step)
            for x in lines
        ] == [
            (old.number, reference, date(2026, 9, 1), "publicity"),
            (other.number, None, None, None),
        ]
        assert await views.abandon_procedures(s, seed.other_commune_id) == []
        assert f";{reference};first_pv;2026-09-01;publicity" in views.lines_csv(lines)
