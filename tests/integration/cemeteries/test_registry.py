"""The cemetery registry service on the real database: places, concessions, operations, ossuary."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from tests.conftest import T0, Seed
from tests.support.cemeteries import SM, deceased, grant, holder, make_place, small_registry
from workflows.procedures.cemeteries import registry
from workflows.procedures.cemeteries.models import (
    Concession,
    ConcessionCategory,
    ConcessionStatus,
    Container,
    DeceasedStatus,
    DurationKind,
    OperationKind,
    PartyRole,
    PlaceStatus,
    PlaceType,
)

pytestmark = pytest.mark.integration


def at(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


async def test_places_are_created_in_their_hierarchy_and_hidden_from_other_tenants(
    sessionmaker: SM, seed: Seed
) -> None:
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        place = await registry.get_place(s, seed.commune_id, reg.caveaux[0])
        [read] = await registry.place_reads(s, [place])
        assert read.location == "Cimetière du Nord, A, allée 1, n° 1"
        assert read.occupancy == 0 and read.status == PlaceStatus.LIBRE
        with pytest.raises(NotFound) as info:
            await registry.get_place(s, seed.other_commune_id, reg.caveaux[0])
        assert info.value.detail == registry.PLACE_NOT_FOUND
        with pytest.raises(NotFound):
            await registry.get_cemetery(s, seed.other_commune_id, reg.cemetery_id)
        with pytest.raises(Conflict, match="existe déjà"):
            await make_place(s, seed.commune_id, reg.cemetery_id, now=T0, number="1")
        free = await registry.free_places(s, seed.commune_id, place_type=PlaceType.CAVEAU)
        assert [p.number for p in free] == ["1", "2", "3"]
        assert await registry.free_places(s, seed.other_commune_id) == []


async def test_attribution_sets_the_term_and_holds_the_place(sessionmaker: SM, seed: Seed) -> None:
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s,
            seed.commune_id,
            reg.caveaux[0],
            now=T0,
            granted_on=date(2026, 2, 28),
            parties=[holder("Martin", "Jeanne"), holder("Martin", "Luc")],
        )
        assert c.number == "2026-00001"
        assert (c.starts_on, c.ends_on) == (date(2026, 2, 28), date(2056, 2, 28))
        assert c.duration_years == 30 and c.status == ConcessionStatus.ATTRIBUEE
        place = await registry.get_place(s, seed.commune_id, reg.caveaux[0])
        assert place.status == PlaceStatus.ATTRIBUEE
        read = await registry.concession_read(s, c)
        assert sorted(p.given_names for p in read.parties) == ["Jeanne", "Luc"]  # indivision
        assert [p.number for p in await registry.free_places(s, seed.commune_id)] == [
            "2",
            "3",
            "C1",
            "T1",
        ]  # the ossuary is never "free"
        with pytest.raises(Conflict, match="pas libre"):
            await grant(s, seed.commune_id, reg.caveaux[0], now=T0, granted_on=date(2026, 3, 1))


async def test_attribution_checks_duration_holder_and_beneficiaries(
    sessionmaker: SM, seed: Seed
) -> None:
    """L2223-14: a temporary concession lasts 15 years at most; a collective one names its
    beneficiaries; terrain commun is never conceded."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        kw = {"now": T0, "granted_on": date(2026, 3, 2)}
        with pytest.raises(ValidationFailed) as info:
            await grant(
                s,
                seed.commune_id,
                reg.caveaux[0],
                duration_kind=DurationKind.TEMPORARY,
                duration_years=16,
                **kw,
            )
        assert info.value.errors[0]["field"] == "duration_years"
        with pytest.raises(ValidationFailed, match="titulaire"):
            await grant(s, seed.commune_id, reg.caveaux[0], parties=[], **kw)
        with pytest.raises(ValidationFailed, match="bénéficiaires"):
            await grant(
                s, seed.commune_id, reg.caveaux[0], category=ConcessionCategory.COLLECTIVE, **kw
            )
        with pytest.raises(Conflict, match="terrain commun"):
            await grant(s, seed.commune_id, reg.terrain_commun_id, **kw)
        with pytest.raises(NotFound):
            await grant(s, seed.other_commune_id, reg.caveaux[0], **kw)
        c = await grant(
            s,
            seed.commune_id,
            reg.caveaux[0],
            duration_kind=DurationKind.TEMPORARY,
            duration_years=15,
            **kw,
        )
        assert c.ends_on == date(2041, 3, 2)
        p = await grant(
            s, seed.commune_id, reg.caveaux[1], duration_kind=DurationKind.PERPETUAL, **kw
        )
        assert p.ends_on is None and p.duration_years is None


async def test_a_place_attributed_twice_at_the_same_time_goes_to_one_only(
    sessionmaker: SM, seed: Seed
) -> None:
    """Two agents attribute the same free place in two transactions at once: one wins, the other
    gets a Conflict, and the place has exactly one concession (row lock + UNIQUE constraint)."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    start = asyncio.Event()

    async def attribute(name: str) -> str:
        await start.wait()
        try:
            async with sessionmaker() as s, s.begin():
                await grant(
                    s,
                    seed.commune_id,
                    reg.caveaux[0],
                    now=T0,
                    granted_on=date(2026, 3, 2),
                    parties=[holder(name)],
                )
                await asyncio.sleep(0.05)  # hold the lock while the other one tries
            return "won"
        except Conflict:
            return "lost"

    tasks = [asyncio.create_task(attribute(n)) for n in ("Martin", "Bernard")]
    start.set()
    outcomes = await asyncio.gather(*tasks)
    assert sorted(outcomes) == ["lost", "won"]
    async with sessionmaker() as s:
        count = await s.scalar(
            select(func.count())
            .select_from(Concession)
            .where(Concession.place_id == reg.caveaux[0])
        )
        assert count == 1


async def test_a_burial_beyond_the_place_capacity_is_refused(sessionmaker: SM, seed: Seed) -> None:
    """A caveau of 2 places: two coffins fill it; a third is refused; after a réduction (box 0.5)
    another coffin still does not fit (2.5) but an urn does (1.6)."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    place = reg.caveaux[0]
    async with sessionmaker() as s, s.begin():
        await grant(s, seed.commune_id, place, now=T0, granted_on=date(2000, 1, 10))
        first = await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=place,
                at=at(2001, 5, 4),
                deceased=deceased("Durand", "Paul"),
            ),
            now=T0,
        )
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=place,
                at=at(2010, 5, 4),
                deceased=deceased("Durand", "Marie"),
            ),
            now=T0,
        )
        assert await registry.occupancy(s, place) == 2
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Conflict, match="complet"):
            await registry.record_operation(
                s,
                seed.commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=place,
                    at=at(2026, 3, 1),
                    deceased=deceased("Durand", "Léa"),
                ),
                now=T0,
            )
    async with sessionmaker() as s, s.begin():
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.REDUCTION,
                place_id=place,
                at=at(2026, 2, 1),
                deceased_id=first.deceased_id,
            ),
            now=T0,
        )
        assert await registry.occupancy(s, place) == Decimal("1.5")
        with pytest.raises(Conflict, match="complet"):
            await registry.record_operation(
                s,
                seed.commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=place,
                    at=at(2026, 3, 1),
                    deceased=deceased("Durand", "Léa"),
                ),
                now=T0,
            )
    async with sessionmaker() as s, s.begin():
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.URN_DEPOSIT,
                place_id=place,
                at=at(2026, 3, 1),
                deceased=deceased("Durand", "Léa", container=Container.URN),
            ),
            now=T0,
        )
        assert await registry.occupancy(s, place) == Decimal("1.6")


async def test_a_columbarium_case_takes_urns_only_up_to_its_capacity(
    sessionmaker: SM, seed: Seed
) -> None:
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    case_id = reg.columbarium_id

    def urn(n: int) -> registry.OperationIn:
        return registry.OperationIn(
            kind=OperationKind.URN_DEPOSIT,
            place_id=case_id,
            at=at(2025, 1, n + 1),
            deceased=deceased("Petit", f"Urne{n}", container=Container.URN),
        )

    async with sessionmaker() as s, s.begin():
        await grant(
            s,
            seed.commune_id,
            case_id,
            now=T0,
            granted_on=date(2024, 12, 1),
            duration_kind=DurationKind.TEMPORARY,
            duration_years=15,
        )
        with pytest.raises(Conflict, match="que des urnes"):
            await registry.record_operation(
                s,
                seed.commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=case_id,
                    at=at(2025, 1, 1),
                    deceased=deceased(),
                ),
                now=T0,
            )
        for n in range(4):
            await registry.record_operation(s, seed.commune_id, urn(n), now=T0)
        with pytest.raises(Conflict, match="complet"):
            await registry.record_operation(s, seed.commune_id, urn(5), now=T0)


async def test_no_burial_in_a_concession_place_without_a_live_concession(
    sessionmaker: SM, seed: Seed
) -> None:
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Conflict, match="Aucune concession"):
            await registry.record_operation(
                s,
                seed.commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=reg.caveaux[0],
                    at=at(2026, 3, 1),
                    deceased=deceased(),
                ),
                now=T0,
            )
        with pytest.raises(NotFound):
            await registry.record_operation(
                s,
                seed.other_commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=reg.terrain_commun_id,
                    at=at(2026, 3, 1),
                    deceased=deceased(),
                ),
                now=T0,
            )


async def test_terrain_commun_grave_reused_after_4_years_11_months_is_blocked_r2223_5(
    sessionmaker: SM, seed: Seed
) -> None:
    """R2223-5 CGCT: a terrain commun grave is reopened only 5 years after the last burial.
    Buried 2 March 2020, remains moved to the ossuary on 10 January 2025: a new burial on
    2 February 2025 (4 years 11 months) is refused, naming 2 March 2025; on that day it passes."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    tc = reg.terrain_commun_id
    async with sessionmaker() as s, s.begin():
        op = await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=tc,
                at=at(2020, 3, 2),
                deceased=deceased("Leroy", "Jean"),
            ),
            now=T0,
        )
        assert (await registry.get_place(s, seed.commune_id, tc)).status == PlaceStatus.OCCUPEE
        assert op.deceased_id is not None
        await registry.move_to_ossuary(
            s, seed.commune_id, op.deceased_id, on=date(2025, 1, 10), now=T0
        )
        assert (await registry.get_place(s, seed.commune_id, tc)).status == PlaceStatus.LIBRE
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Conflict) as info:
            await registry.record_operation(
                s,
                seed.commune_id,
                registry.OperationIn(
                    kind=OperationKind.INHUMATION,
                    place_id=tc,
                    at=at(2025, 2, 2),
                    deceased=deceased("Roux", "Anne"),
                ),
                now=T0,
            )
        assert "R2223-5" in info.value.detail and "02/03/2025" in info.value.detail
    async with sessionmaker() as s, s.begin():
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=tc,
                at=at(2025, 3, 2),
                deceased=deceased("Roux", "Anne"),
            ),
            now=T0,
        )


async def test_renewal_starts_at_the_old_term_and_keeps_every_holder(
    sessionmaker: SM, seed: Seed
) -> None:
    """CE 21 May 2007 n°281615: the new period starts at the old term, even when asked late; a
    renewal by one ayant droit is made for all (the holders are kept)."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        old = await grant(
            s,
            seed.commune_id,
            reg.caveaux[0],
            now=T0,
            granted_on=date(1994, 4, 15),
            parties=[holder("Martin", "Jeanne"), holder("Martin", "Luc")],
        )
        assert old.ends_on == date(2024, 4, 15)
        assert (
            await registry.expire_due_concessions(
                s, seed.commune_id, today=date(2026, 3, 2), now=T0
            )
            == 1
        )
        new = await registry.renew_concession(
            s,
            seed.commune_id,
            old.id,
            duration_kind=DurationKind.THIRTY,
            price=Decimal("850.00"),
            granted_on=date(2026, 3, 2),
            now=T0,
        )
        assert (new.starts_on, new.ends_on) == (date(2024, 4, 15), date(2054, 4, 15))
        assert new.previous_id == old.id and new.place_id == old.place_id
        assert old.status == ConcessionStatus.RENOUVELEE and old.active_place_id is None
        assert new.active_place_id == reg.caveaux[0]
        parties = await registry.parties_of(s, new.id)
        assert sorted((p.role, p.given_names) for p in parties) == [
            (PartyRole.HOLDER, "Jeanne"),
            (PartyRole.HOLDER, "Luc"),
        ]
        with pytest.raises(Conflict, match="ne peut pas être renouvelée"):
            await registry.renew_concession(
                s,
                seed.commune_id,
                old.id,
                duration_kind=DurationKind.THIRTY,
                granted_on=date(2026, 3, 2),
                now=T0,
            )
        with pytest.raises(NotFound) as info:
            await registry.renew_concession(
                s,
                seed.other_commune_id,
                new.id,
                duration_kind=DurationKind.THIRTY,
                granted_on=date(2026, 3, 2),
                now=T0,
            )
        assert info.value.detail == registry.CONCESSION_NOT_FOUND
        perpetual = await grant(
            s,
            seed.commune_id,
            reg.caveaux[1],
            now=T0,
            granted_on=date(1990, 1, 1),
            duration_kind=DurationKind.PERPETUAL,
        )
        with pytest.raises(Conflict, match="perpétuelle"):
            await registry.renew_concession(
                s,
                seed.commune_id,
                perpetual.id,
                duration_kind=DurationKind.THIRTY,
                granted_on=date(2026, 3, 2),
                now=T0,
            )


async def test_conversion_goes_longer_only_and_never_from_an_expired_concession(
    sessionmaker: SM, seed: Seed
) -> None:
    """L2223-16: conversion to a longer duration; an expired concession is renewed instead."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        running = await grant(
            s, seed.commune_id, reg.caveaux[0], now=T0, granted_on=date(2008, 3, 2)
        )
        expired = await grant(
            s, seed.commune_id, reg.caveaux[1], now=T0, granted_on=date(1990, 3, 2)
        )
        with pytest.raises(ValidationFailed, match="plus longue"):
            await registry.convert_concession(
                s,
                seed.commune_id,
                running.id,
                duration_kind=DurationKind.TEMPORARY,
                duration_years=15,
                on_date=date(2026, 3, 2),
                now=T0,
            )
        with pytest.raises(Conflict, match="échue"):
            await registry.convert_concession(
                s,
                seed.commune_id,
                expired.id,
                duration_kind=DurationKind.FIFTY,
                on_date=date(2026, 3, 2),
                now=T0,
            )
        new = await registry.convert_concession(
            s,
            seed.commune_id,
            running.id,
            duration_kind=DurationKind.FIFTY,
            on_date=date(2026, 3, 2),
            price=Decimal("900.00"),
            now=T0,
        )
        assert (new.starts_on, new.ends_on) == (date(2026, 3, 2), date(2076, 3, 2))
        assert running.status == ConcessionStatus.CONVERTIE


async def test_refused_cremation_is_kept_apart_in_the_public_ossuary_register(
    sessionmaker: SM, seed: Seed
) -> None:
    """L2223-4, R2223-6: remains of a person who refused cremation go to the ossuary, are never
    cremated, are kept apart, and their name is in the public register."""
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        await grant(s, seed.commune_id, reg.caveaux[0], now=T0, granted_on=date(1980, 1, 1))
        op = await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=reg.caveaux[0],
                at=at(1981, 6, 1),
                deceased=deceased(
                    "Blanc", "Odile", refused_cremation=True, death_date=date(1981, 5, 28)
                ),
            ),
            now=T0,
        )
        assert op.deceased_id is not None
        with pytest.raises(Conflict, match="opposé à la crémation"):
            await registry.move_to_ossuary(
                s, seed.commune_id, op.deceased_id, on=date(2026, 3, 2), now=T0, cremate=True
            )
        entry = await registry.move_to_ossuary(
            s, seed.commune_id, op.deceased_id, on=date(2026, 3, 2), now=T0
        )
        assert entry.kept_apart and not entry.cremated
        [line] = await registry.ossuary_register(s, seed.commune_id)
        assert line.model_dump() == {
            "family_name": "Blanc",
            "usage_name": None,
            "given_names": "Odile",
            "death_date": date(1981, 5, 28),
            "deposited_on": date(2026, 3, 2),
            "kept_apart": True,
        }
        assert await registry.ossuary_register(s, seed.other_commune_id) == []
        dead = await registry.get_deceased(s, seed.commune_id, op.deceased_id)
        assert dead.status == DeceasedStatus.IN_OSSUARY and dead.place_id == reg.ossuary_id


async def test_reprise_moves_the_remains_to_the_ossuary_and_frees_the_place(
    sessionmaker: SM, seed: Seed
) -> None:
    reg = await small_registry(sessionmaker, seed.commune_id, now=T0)
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s,
            seed.commune_id,
            reg.caveaux[0],
            now=T0,
            granted_on=date(1960, 1, 1),
            duration_kind=DurationKind.PERPETUAL,
        )
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=reg.caveaux[0],
                at=at(1961, 6, 1),
                deceased=deceased("Noir", "Henri"),
            ),
            now=T0,
        )
        with pytest.raises(Conflict, match="n'a pas été décidée"):
            await registry.execute_reprise(s, seed.commune_id, c.id, on=date(2026, 3, 2), now=T0)
        with pytest.raises(Conflict, match="possible"):
            await registry.set_concession_status(
                s, seed.commune_id, c.id, ConcessionStatus.REPRISE_DELIBEREE, now=T0
            )
        for status in (ConcessionStatus.EN_PROCEDURE_ABANDON, ConcessionStatus.REPRISE_DELIBEREE):
            await registry.set_concession_status(s, seed.commune_id, c.id, status, now=T0)
        await registry.execute_reprise(s, seed.commune_id, c.id, on=date(2026, 3, 2), now=T0)
        assert c.status == ConcessionStatus.REPRISE
        assert await registry.occupancy(s, reg.caveaux[0]) == 0
        [line] = await registry.ossuary_register(s, seed.commune_id)
        assert line.family_name == "Noir" and not line.kept_apart
        again = await grant(s, seed.commune_id, reg.caveaux[0], now=T0, granted_on=date(2026, 3, 2))
        history = await registry.place_history(s, seed.commune_id, reg.caveaux[0])
        assert [x.id for x in history.concessions] == [c.id, again.id]
        assert [o.kind for o in history.operations] == ["inhumation", "exhumation"]
        assert [d.family_name for d in history.deceased] == ["Noir"]
        with pytest.raises(NotFound):
            await registry.place_history(s, seed.other_commune_id, reg.caveaux[0])
