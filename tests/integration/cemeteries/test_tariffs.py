"""Tariffs per tenant and period: the tariff in force on a date (the term date for a renewal)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from tests.conftest import T0, Seed
from tests.support.cemeteries import SM
from workflows.procedures.cemeteries import tariffs
from workflows.procedures.cemeteries.models import ConcessionCategory, DurationKind, PlaceType

pytestmark = pytest.mark.integration


def line(price: str, valid_from: date, **kw: Any) -> tariffs.TariffIn:
    base: dict[str, Any] = {
        "category": ConcessionCategory.FAMILY,
        "duration_kind": DurationKind.THIRTY,
        "price": Decimal(price),
        "valid_from": valid_from,
    }
    base.update(kw)
    return tariffs.TariffIn(**base)


async def test_renewal_price_is_the_tariff_in_force_on_the_term_date(
    sessionmaker: SM, seed: Seed
) -> None:
    """CE 21 May 2007 n°281615: a concession ending 15 April 2024, renewed on 2 March 2026, is
    charged the 2024 tariff (voted 1 Jan 2022) — not the 2026 one (voted 1 Jan 2025)."""
    async with sessionmaker() as s, s.begin():
        await tariffs.create_tariff(s, seed.commune_id, line("700.00", date(2022, 1, 1)), now=T0)
        await tariffs.create_tariff(s, seed.commune_id, line("900.00", date(2025, 1, 1)), now=T0)
        on_term = await tariffs.tariff_on(
            s, seed.commune_id, "family", "30", PlaceType.CAVEAU, Decimal("2.5"), date(2024, 4, 15)
        )
        today = await tariffs.tariff_on(
            s, seed.commune_id, "family", "30", PlaceType.CAVEAU, Decimal("2.5"), date(2026, 3, 2)
        )
        assert (on_term.price, today.price) == (Decimal("700.00"), Decimal("900.00"))
        # the open 2022 line was closed the day before the 2025 one starts
        assert on_term.valid_to == date(2024, 12, 31)
        with pytest.raises(NotFound, match="Aucun tarif"):
            await tariffs.tariff_on(
                s, seed.commune_id, "family", "30", None, None, date(2021, 12, 31)
            )
        with pytest.raises(NotFound):  # another commune's tariffs are not ours
            await tariffs.tariff_on(
                s, seed.other_commune_id, "family", "30", None, None, date(2024, 4, 15)
            )


async def test_the_most_specific_line_wins_and_area_bands_are_half_open(
    sessionmaker: SM, seed: Seed
) -> None:
    """R2223-11: the price may rise with the area above 2 m² and vary by type of place."""
    async with sessionmaker() as s, s.begin():
        t = seed.commune_id
        await tariffs.create_tariff(s, t, line("500.00", date(2024, 1, 1)), now=T0)
        await tariffs.create_tariff(
            s,
            t,
            line("600.00", date(2024, 1, 1), place_type=PlaceType.CAVEAU, area_max_m2=Decimal(2)),
            now=T0,
        )
        await tariffs.create_tariff(
            s,
            t,
            line("800.00", date(2024, 1, 1), place_type=PlaceType.CAVEAU, area_min_m2=Decimal(2)),
            now=T0,
        )
        on = date(2026, 3, 2)

        async def price(ptype: PlaceType | None, area: str | None) -> Decimal:
            found = await tariffs.tariff_on(
                s, t, "family", "30", ptype, Decimal(area) if area else None, on
            )
            return found.price

        assert await price(PlaceType.CAVEAU, "1.99") == Decimal("600.00")
        assert await price(PlaceType.CAVEAU, "2") == Decimal("800.00")
        assert await price(PlaceType.PLEINE_TERRE, "2.5") == Decimal("500.00")
        assert await price(None, None) == Decimal("500.00")


async def test_temporary_tariffs_are_per_number_of_years_and_offered_durations_follow(
    sessionmaker: SM, seed: Seed
) -> None:
    """L2223-14: a commune need not offer every duration; it offers those it has a tariff for."""
    async with sessionmaker() as s, s.begin():
        t = seed.commune_id
        await tariffs.create_tariff(
            s,
            t,
            line(
                "150.00", date(2024, 1, 1), duration_kind=DurationKind.TEMPORARY, duration_years=15
            ),
            now=T0,
        )
        await tariffs.create_tariff(s, t, line("700.00", date(2024, 1, 1)), now=T0)
        found = await tariffs.tariff_on(
            s, t, "family", "temporary", None, None, date(2025, 1, 1), duration_years=15
        )
        assert found.price == Decimal("150.00")
        with pytest.raises(NotFound):
            await tariffs.tariff_on(
                s, t, "family", "temporary", None, None, date(2025, 1, 1), duration_years=10
            )
        offered = await tariffs.offered_durations(s, t, date(2025, 1, 1))
        assert offered == [("family", "temporary", 15), ("family", "30", None)]
        tariffs.check_offered(offered, "family", "30", None)
        with pytest.raises(ValidationFailed, match="ne propose pas"):
            tariffs.check_offered(offered, "family", "perpetual", None)


async def test_overlapping_periods_are_refused(sessionmaker: SM, seed: Seed) -> None:
    async with sessionmaker() as s, s.begin():
        t = seed.commune_id
        await tariffs.create_tariff(
            s, t, line("700.00", date(2024, 1, 1), valid_to=date(2024, 12, 31)), now=T0
        )
        with pytest.raises(Conflict, match="chevaucher"):
            await tariffs.create_tariff(
                s, t, line("750.00", date(2024, 6, 1), valid_to=date(2025, 5, 31)), now=T0
            )
        # the same period in another commune is fine
        await tariffs.create_tariff(
            s, seed.other_commune_id, line("750.00", date(2024, 6, 1)), now=T0
        )


def test_a_tariff_line_must_be_coherent() -> None:
    with pytest.raises(ValidationError, match="15 au plus"):
        line("1", date(2024, 1, 1), duration_kind=DurationKind.TEMPORARY)
    with pytest.raises(ValidationError):
        line("1", date(2024, 1, 1), duration_kind=DurationKind.TEMPORARY, duration_years=16)
    with pytest.raises(ValidationError, match="précède"):
        line("1", date(2024, 1, 1), valid_to=date(2023, 1, 1))
    with pytest.raises(ValidationError, match="vide"):
        line("1", date(2024, 1, 1), area_min_m2=Decimal(3), area_max_m2=Decimal(2))
    with pytest.raises(ValidationError):
        line("-5", date(2024, 1, 1))


async def test_no_ccas_share_unless_the_commune_chose_one(sessionmaker: SM, seed: Seed) -> None:
    """Loi 96-142 of 21 Feb 1996 abrogated the CCAS third: nothing is computed by default; a
    commune may still choose a share (Rép. min. Sénat, 9 March 2000)."""
    async with sessionmaker() as s, s.begin():
        plain = await tariffs.create_tariff(
            s, seed.commune_id, line("900.00", date(2024, 1, 1)), now=T0
        )
        shared = await tariffs.create_tariff(
            s,
            seed.commune_id,
            line(
                "900.00",
                date(2024, 1, 1),
                duration_kind=DurationKind.FIFTY,
                ccas_share_percent=Decimal("33.33"),
            ),
            now=T0,
        )
        assert tariffs.ccas_share(plain) is None
        assert tariffs.ccas_share(shared) == Decimal("299.97")
        assert tariffs.ccas_share(shared, Decimal("100")) == Decimal("33.33")
