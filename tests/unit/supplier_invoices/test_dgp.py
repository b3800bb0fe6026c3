"""Délai global de paiement: worked examples citing the Code de la commande publique, and
properties of the date arithmetic (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.kernel.errors import Conflict
from workflows.procedures.supplier_invoices import dgp

pytestmark = pytest.mark.unit
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def test_r2192_10_thirty_days_from_mise_a_disposition() -> None:
    """R2192-10 / R2192-12: made available on 2 March 2026 → to be paid by 1 April 2026."""
    assert dgp.due_date(date(2026, 3, 2)) == date(2026, 4, 1)
    # across a year end and February of a leap year
    assert dgp.due_date(date(2027, 12, 15)) == date(2028, 1, 14)
    assert dgp.due_date(date(2028, 2, 10)) == date(2028, 3, 11)


def test_dgfip_circular_twenty_days_for_the_ordonnateur() -> None:
    """Circular of 15 April 2013: 20 of the 30 days for the ordonnateur (mandatement)."""
    assert dgp.ordonnateur_due(date(2026, 3, 2)) == date(2026, 3, 22)


def test_r2192_29_new_full_period_after_completion() -> None:
    """R2192-29: suspended on 20 March with 12 days left; pieces received on 10 April → a new
    period of 30 days runs from 10 April: 10 May."""
    due = dgp.due_date(date(2026, 3, 2))
    assert dgp.due_after_completion(
        current_due=due, suspended_on=date(2026, 3, 20), completed_on=date(2026, 4, 10)
    ) == date(2026, 5, 10)


def test_r2192_29_balance_kept_when_longer_than_the_new_period() -> None:
    """R2192-29: "the remaining balance if it is longer" — with a 30-day period this can only
    happen for a longer current due date (e.g. a period of 60 days for a public company,
    R2192-11): 45 days left at suspension → 45 days after completion."""
    assert dgp.due_after_completion(
        current_due=date(2026, 5, 1),
        suspended_on=date(2026, 3, 17),
        completed_on=date(2026, 3, 20),
        days=30,
    ) == date(2026, 5, 4)


def test_r2192_27_one_suspension_only_and_before_mandatement() -> None:
    dgp.check_can_suspend(0, mandated=False)
    with pytest.raises(Conflict, match="une seule suspension"):
        dgp.check_can_suspend(1, mandated=False)
    with pytest.raises(Conflict, match="déjà mandatée"):
        dgp.check_can_suspend(0, mandated=True)


def test_r2192_31_interest_ecb_plus_8_points_and_d2192_35_forty_euros() -> None:
    """Due 1 April 2026, paid 16 April: 15 days late on 10 000 € TTC at 2.15 % + 8 = 10.15 %:
    10 000 × 10.15 % × 15 / 365 = 41.71 €, plus the 40 € flat indemnity."""
    late = dgp.late_payment(
        amount=Decimal("10000.00"),
        due=date(2026, 4, 1),
        paid_on=date(2026, 4, 16),
        ecb_rate_percent=Decimal("2.15"),
    )
    assert late.days_late == 15
    assert late.first_day == date(2026, 4, 2)
    assert late.rate_percent == Decimal("10.15")
    assert late.interest == Decimal("41.71")
    assert late.indemnity == Decimal("40.00")
    assert late.total == Decimal("81.71")


def test_r2192_31_rate_of_the_half_year_in_which_interest_starts() -> None:
    """Interest starting on 1 July 2026 uses the rate in force on 1 July (H2), not H1's."""
    late = dgp.late_payment(
        amount=Decimal("3650.00"),
        due=date(2026, 6, 30),
        paid_on=date(2026, 7, 10),
        ecb_rate_percent=Decimal("9"),
        ecb_rates_percent={"2026-H1": Decimal("2.40"), "2026-H2": Decimal("2.00")},
    )
    assert late.rate_percent == Decimal("10.00")
    assert late.interest == Decimal("10.00")  # 3650 × 10 % × 10 / 365


def test_paid_in_time_owes_nothing() -> None:
    late = dgp.late_payment(
        amount=Decimal("500"),
        due=date(2026, 4, 1),
        paid_on=date(2026, 4, 1),
        ecb_rate_percent=Decimal("2.15"),
    )
    assert (late.days_late, late.interest, late.indemnity, late.first_day) == (
        0,
        Decimal("0.00"),
        Decimal("0.00"),
        None,
    )


@given(start=days, period=st.integers(min_value=1, max_value=60))
def test_due_date_is_exactly_period_days_later(start: date, period: int) -> None:
    due = dgp.due_date(start, period)
    assert (due - start).days == period
    assert dgp.ordonnateur_due(start, 20) <= dgp.due_date(start, 30)


@given(
    start=days,
    suspended_after=st.integers(min_value=0, max_value=40),
    completed_after=st.integers(min_value=0, max_value=400),
)
def test_completion_never_shortens_the_payer_period(
    start: date, suspended_after: int, completed_after: int
) -> None:
    """After a completion the new end is never earlier than 30 days after it, and never gives
    less than the balance left at the suspension (R2192-29)."""
    due = dgp.due_date(start)
    suspended = start + timedelta(days=suspended_after)
    completed = suspended + timedelta(days=completed_after)
    new_due = dgp.due_after_completion(
        current_due=due, suspended_on=suspended, completed_on=completed
    )
    assert (new_due - completed).days >= 30
    assert (new_due - completed).days >= (due - suspended).days


@given(
    due=days,
    late=st.integers(min_value=1, max_value=2000),
    cents=st.integers(min_value=1, max_value=10**11),
)
def test_interest_grows_with_the_delay_and_is_rounded_to_the_cent(
    due: date, late: int, cents: int
) -> None:
    amount = Decimal(cents) / 100
    one = dgp.late_payment(
        amount=amount, due=due, paid_on=due + timedelta(days=late), ecb_rate_percent=Decimal("2")
    )
    more = dgp.late_payment(
        amount=amount,
        due=due,
        paid_on=due + timedelta(days=late + 1),
        ecb_rate_percent=Decimal("2"),
    )
    assert one.days_late == late and one.first_day == due + timedelta(days=1)
    assert one.interest == one.interest.quantize(Decimal("0.01"))
    assert Decimal(0) <= one.interest <= more.interest
    assert one.indemnity == Decimal("40.00")
