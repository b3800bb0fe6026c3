"""Worked examples: renewal (L2223-15, CE 21 May 2007 n°281615), conversion (L2223-16),
donation, reprise after the renewal window (loi 3DS). Edge cases 1, 2, 3, 12 of cemeteries.md §9."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.calendar import add_months
from workflows.procedures.cemeteries import rules
from workflows.procedures.cemeteries.settings import CemeterySettings

TERM = date(2024, 3, 15)


def test_l2223_15_renewal_1_year_11_months_after_term_starts_at_the_old_term() -> None:
    """Edge case 1: asked 1 year 11 months after the term → accepted; the new period starts at
    the old term and the tariff is the one in force on the term date, not today's."""
    verdict = rules.check_renewal(
        term_on=TERM, current_years=30, new_years=30, asked_on=add_months(TERM, 23)
    )
    assert verdict.allowed
    assert verdict.details["starts_on"] == "2024-03-15"
    assert verdict.details["ends_on"] == "2054-03-15"
    assert verdict.details["tariff_on"] == "2024-03-15"
    assert "281615" in verdict.reference


def test_l2223_15_renewal_2_years_plus_1_day_after_term_may_be_refused() -> None:
    """Edge case 2: the land has returned to the commune."""
    asked = add_months(TERM, 24) + timedelta(days=1)
    verdict = rules.check_renewal(term_on=TERM, current_years=15, new_years=15, asked_on=asked)
    assert not verdict.allowed
    assert verdict.details["commune_may_refuse"] is True
    assert "15/03/2026" in verdict.reason
    # The last day of the two years still counts.
    assert rules.check_renewal(
        term_on=TERM, current_years=15, new_years=15, asked_on=add_months(TERM, 24)
    ).allowed


def test_l2223_15_perpetual_concession_is_not_renewed() -> None:
    verdict = rules.check_renewal(term_on=None, current_years=None, new_years=30, asked_on=TERM)
    assert not verdict.allowed and "perpétuelle" in verdict.reason


def test_l2223_15_renewal_too_early_and_shorter_duration_setting() -> None:
    too_early = rules.check_renewal(
        term_on=TERM, current_years=30, new_years=30, asked_on=date(2022, 1, 1)
    )
    assert not too_early.allowed and "15/03/2023" in too_early.reason
    shorter = {"term_on": TERM, "current_years": 30, "new_years": 15, "asked_on": TERM}
    assert rules.check_renewal(**shorter).allowed  # type: ignore[arg-type]
    strict = CemeterySettings(renewal_shorter_duration_allowed=False)
    assert not rules.check_renewal(**shorter, settings=strict).allowed  # type: ignore[arg-type]


def test_l2223_15_renewal_to_perpetual_has_no_end() -> None:
    verdict = rules.check_renewal(term_on=TERM, current_years=50, new_years=None, asked_on=TERM)
    assert verdict.allowed and verdict.details["ends_on"] is None


terms = st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31))


@settings(max_examples=200, deadline=None)
@given(terms, st.integers(min_value=-365, max_value=900), st.sampled_from([15, 30, 50]))
def test_property_renewal_always_starts_at_the_old_term(
    term: date, offset: int, years: int
) -> None:
    """L2223-15 / CE 2007: whenever a renewal is accepted, its period starts at the old term and
    its tariff date is the term; it is accepted exactly up to two years after the term."""
    asked = term + timedelta(days=offset)
    verdict = rules.check_renewal(
        term_on=term, current_years=years, new_years=years, asked_on=asked
    )
    if verdict.allowed:
        assert verdict.details["starts_on"] == term.isoformat()
        assert verdict.details["tariff_on"] == term.isoformat()
        assert asked <= add_months(term, 24)
    else:
        assert asked > add_months(term, 24) or asked < add_months(term, -12)


def test_l2223_16_conversion_30_to_50_years_with_12_years_left() -> None:
    """Edge case 3: 30 → 50 years with 12 years left → new price − 12/30 of the old price."""
    verdict = rules.check_conversion(
        starts_on=date(2000, 6, 1),
        ends_on=date(2030, 6, 1),
        current_years=30,
        new_years=50,
        old_price=Decimal("900.00"),
        new_price=Decimal("2000.00"),
        on=date(2018, 6, 1),
    )
    assert verdict.allowed
    assert verdict.details["credit"] == "360.00"  # 12/30 × 900
    assert verdict.details["price"] == "1640.00"
    assert verdict.details["starts_on"] == "2018-06-01"
    assert verdict.details["ends_on"] == "2068-06-01"


def test_l2223_16_conversion_prorata_in_days_setting() -> None:
    verdict = rules.check_conversion(
        starts_on=date(2000, 6, 1),
        ends_on=date(2030, 6, 1),
        current_years=30,
        new_years=50,
        old_price=Decimal("900.00"),
        new_price=Decimal("2000.00"),
        on=date(2018, 6, 1),
        settings=CemeterySettings(conversion_prorata_unit="days"),
    )
    # 4383 days left of 10957: a few cents from the month count, never the same figure by chance.
    assert verdict.details["credit"] == str(
        (Decimal(900) * Decimal(4383) / Decimal(10957)).quantize(Decimal("0.01"))
    )


def test_l2223_16_conversion_of_an_expired_concession_is_refused_offer_renewal() -> None:
    """Edge case 3: expired → refused; renew it for a longer duration instead."""
    verdict = rules.check_conversion(
        starts_on=date(1990, 1, 1),
        ends_on=date(2020, 1, 1),
        current_years=30,
        new_years=50,
        old_price=Decimal(500),
        new_price=Decimal(2000),
        on=date(2021, 1, 1),
    )
    assert not verdict.allowed
    assert verdict.details["offer"] == "renewal"
    assert "renouvellement pour une durée plus longue" in verdict.reason


def test_l2223_16_conversion_only_to_a_longer_duration() -> None:
    common = {
        "starts_on": date(2010, 1, 1),
        "ends_on": date(2040, 1, 1),
        "current_years": 30,
        "old_price": Decimal(500),
        "new_price": Decimal(300),
        "on": date(2020, 1, 1),
    }
    assert not rules.check_conversion(new_years=15, **common).allowed  # type: ignore[arg-type]
    assert not rules.check_conversion(new_years=30, **common).allowed  # type: ignore[arg-type]
    perpetual = rules.check_conversion(new_years=None, **common)  # type: ignore[arg-type]
    assert perpetual.allowed and perpetual.details["ends_on"] is None
    # The credit can exceed the new tariff: the price is never negative.
    cheap = rules.check_conversion(new_years=50, **common)  # type: ignore[arg-type]
    assert cheap.details["price"] == "0.00"


def test_donation_of_a_used_concession_to_a_non_relative_is_refused() -> None:
    """Edge case 12."""
    assert not rules.check_donation(concession_used=True, donee_is_relative=False).allowed
    unused = rules.check_donation(concession_used=False, donee_is_relative=False)
    assert (
        unused.allowed and "acte de substitution signé avec le maire" in unused.details["requires"]
    )
    assert rules.check_donation(concession_used=True, donee_is_relative=True).allowed


def test_l2223_15_3ds_reprise_blocked_without_renewal_information() -> None:
    """Edge case 2: renewal-right information never sent → reprise blocked (loi 3DS)."""
    after_window = add_months(TERM, 24) + timedelta(days=1)
    blocked = rules.check_reprise_after_term(
        term_on=TERM, renewal_info_sent_on=None, on=after_window
    )
    assert not blocked.allowed and "informés" in blocked.reason
    assert rules.check_reprise_after_term(
        term_on=TERM, renewal_info_sent_on=date(2024, 4, 1), on=after_window
    ).allowed
    inside = rules.check_reprise_after_term(
        term_on=TERM, renewal_info_sent_on=date(2024, 4, 1), on=add_months(TERM, 24)
    )
    assert not inside.allowed and "15/03/2026" in inside.reason
    assert not rules.check_reprise_after_term(
        term_on=TERM, renewal_info_sent_on=date(2024, 4, 1), on=after_window, renewed=True
    ).allowed
