"""Unit tests for the legal calendar.

Every expected date below was computed by hand and checked against a printed calendar
(``python -c "import calendar; print(calendar.month(2026, 5))"``).

Useful 2026 facts (France): Good Friday 3 April (Alsace-Moselle only), Easter Monday 6 April,
Labour Day Friday 1 May, Victory Day Friday 8 May, Ascension Thursday 14 May,
Whit Monday 25 May, Bastille Day Tuesday 14 July, All Saints' Day Sunday 1 November,
Christmas Friday 25 December, 26 December (Alsace-Moselle only) a Saturday.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from workflows.engine.calendar import (
    DeadlineClock,
    DeadlineStatus,
    DelaySpec,
    DelayUnit,
    LegalCalendar,
    add_months,
)

CAL = LegalCalendar()
ALSACE = LegalCalendar(alsace_moselle=True)


def days(amount: int, *, franc: bool = False, extend_to_working_day: bool = False) -> DelaySpec:
    return DelaySpec(
        amount=amount,
        unit=DelayUnit.DAYS,
        franc=franc,
        extend_to_working_day=extend_to_working_day,
    )


def working_days(
    amount: int, *, franc: bool = False, extend_to_working_day: bool = False
) -> DelaySpec:
    return DelaySpec(
        amount=amount,
        unit=DelayUnit.WORKING_DAYS,
        franc=franc,
        extend_to_working_day=extend_to_working_day,
    )


def months(amount: int, *, franc: bool = False, extend_to_working_day: bool = False) -> DelaySpec:
    return DelaySpec(
        amount=amount,
        unit=DelayUnit.MONTHS,
        franc=franc,
        extend_to_working_day=extend_to_working_day,
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- add_months: same day-of-month, clamped to the end of the month ----------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # 2026 is not a leap year: 31 January + 1 month is clamped to 28 February.
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        # 2028 is a leap year: clamped to 29 February.
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        # April has 30 days.
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        # December, January, February 2027 (not a leap year).
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        # Plain cases, including a year boundary.
        (date(2026, 3, 10), 2, date(2026, 5, 10)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 5, 17), 0, date(2026, 5, 17)),
        # Negative months go backwards, with the same clamping.
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), -3, date(2026, 2, 28)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2028, 2, 29), -12, date(2027, 2, 28)),
        (date(2027, 3, 31), -25, date(2025, 2, 28)),
    ],
)
def test_add_months(start: date, n: int, expected: date) -> None:
    assert add_months(start, n) == expected


# --- holidays and working days -----------------------------------------------------------


def test_public_holidays_metropolitan() -> None:
    assert CAL.is_holiday(date(2026, 1, 1))
    assert CAL.is_holiday(date(2026, 5, 1))
    assert CAL.is_holiday(date(2026, 5, 8))
    assert CAL.is_holiday(date(2026, 5, 14))  # Ascension
    assert CAL.is_holiday(date(2026, 7, 14))
    assert CAL.is_holiday(date(2026, 12, 25))
    assert CAL.is_holiday(date(2027, 1, 1))  # another year, computed on demand
    assert not CAL.is_holiday(date(2026, 5, 4))
    # Alsace-Moselle-only days are ordinary days elsewhere.
    assert not CAL.is_holiday(date(2026, 4, 3))
    assert not CAL.is_holiday(date(2026, 12, 26))


def test_is_working_day() -> None:
    """Monday to Friday, not a public holiday; Saturday is not a working day."""
    assert CAL.is_working_day(date(2026, 5, 4))  # Monday
    assert CAL.is_working_day(date(2026, 5, 15))  # Friday
    assert not CAL.is_working_day(date(2026, 5, 1))  # Friday, Labour Day
    assert not CAL.is_working_day(date(2026, 5, 2))  # Saturday
    assert not CAL.is_working_day(date(2026, 5, 3))  # Sunday
    assert not CAL.is_working_day(date(2026, 7, 14))  # Tuesday, Bastille Day


def test_alsace_moselle_extra_holidays() -> None:
    """Code du travail L3134-13: Good Friday and 26 December in Alsace-Moselle only."""
    good_friday = date(2026, 4, 3)
    assert CAL.is_working_day(good_friday)
    assert not ALSACE.is_working_day(good_friday)
    assert ALSACE.is_holiday(good_friday)
    # 26 December 2025 is a Friday.
    st_stephen = date(2025, 12, 26)
    assert CAL.is_working_day(st_stephen)
    assert not ALSACE.is_working_day(st_stephen)
    assert ALSACE.is_holiday(date(2026, 12, 26))
    # Common holidays still apply.
    assert ALSACE.is_holiday(date(2026, 7, 14))


def test_alsace_moselle_add_working_days_differ() -> None:
    # From Thursday 2 April 2026, one working day:
    #   metropolitan: Friday 3 April;
    #   Alsace-Moselle: Fri 3 (Good Friday), Sat 4, Sun 5, Mon 6 (Easter Monday) -> Tue 7 April.
    assert CAL.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 3)
    assert ALSACE.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    # From Wednesday 1 April 2026, three working days:
    #   metropolitan: Thu 2, Fri 3, (Mon 6 holiday) Tue 7;  Alsace: Thu 2, Tue 7, Wed 8.
    assert CAL.add_working_days(date(2026, 4, 1), 3) == date(2026, 4, 7)
    assert ALSACE.add_working_days(date(2026, 4, 1), 3) == date(2026, 4, 8)
    # From Wednesday 24 December 2025, one working day:
    #   metropolitan: Thu 25 is Christmas -> Fri 26;  Alsace: Fri 26 too -> Mon 29 December.
    assert CAL.add_working_days(date(2025, 12, 24), 1) == date(2025, 12, 26)
    assert ALSACE.add_working_days(date(2025, 12, 24), 1) == date(2025, 12, 29)


def test_next_working_day() -> None:
    # A working day is its own next working day.
    assert CAL.next_working_day(date(2026, 5, 11)) == date(2026, 5, 11)
    # Thursday 14 May 2026 (Ascension) -> Friday 15 May.
    assert CAL.next_working_day(date(2026, 5, 14)) == date(2026, 5, 15)
    # Friday 1 May (holiday), Sat 2, Sun 3 -> Monday 4 May.
    assert CAL.next_working_day(date(2026, 5, 1)) == date(2026, 5, 4)
    # Saturday 23 May, Sunday 24, Whit Monday 25 -> Tuesday 26 May.
    assert CAL.next_working_day(date(2026, 5, 23)) == date(2026, 5, 26)


def test_add_working_days_across_may_holidays() -> None:
    # 10 working days from Friday 24 April 2026 (the start day never counts):
    # Mon 27 (1), Tue 28 (2), Wed 29 (3), Thu 30 (4), [Fri 1 May holiday],
    # Mon 4 (5), Tue 5 (6), Wed 6 (7), Thu 7 (8), [Fri 8 May holiday],
    # Mon 11 (9), Tue 12 (10) -> Tuesday 12 May 2026.
    start = date(2026, 4, 24)
    assert CAL.add_working_days(start, 10) == date(2026, 5, 12)
    assert ALSACE.add_working_days(start, 10) == date(2026, 5, 12)
    assert CAL.due_date(start, working_days(10)) == date(2026, 5, 12)


def test_add_working_days_edge_cases() -> None:
    # n == 0 returns the date itself, even when it is not a working day (Saturday).
    assert CAL.add_working_days(date(2026, 5, 2), 0) == date(2026, 5, 2)
    # From a Saturday, one working day is the Monday.
    assert CAL.add_working_days(date(2026, 5, 2), 1) == date(2026, 5, 4)
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 5, 2), -1)


def test_working_days_between() -> None:
    """Working days in (start, end]."""
    assert CAL.working_days_between(date(2026, 4, 24), date(2026, 5, 12)) == 10
    # (Wed 29 April, Tue 12 May]: Thu 30, Mon 4, Tue 5, Wed 6, Thu 7, Mon 11, Tue 12.
    assert CAL.working_days_between(date(2026, 4, 29), date(2026, 5, 12)) == 7
    # (Thu 30 April, Sun 3 May]: Fri 1 is a holiday, then the weekend.
    assert CAL.working_days_between(date(2026, 4, 30), date(2026, 5, 3)) == 0
    # The end day counts, the start day does not.
    assert CAL.working_days_between(date(2026, 5, 11), date(2026, 5, 12)) == 1
    assert CAL.working_days_between(date(2026, 5, 12), date(2026, 5, 12)) == 0
    assert CAL.working_days_between(date(2026, 5, 12), date(2026, 4, 24)) == 0


# --- due dates ---------------------------------------------------------------------------


def test_months_delay_ending_on_sunday() -> None:
    """2 months from 10 March 2026 end on Sunday 10 May; CPC 642 extension -> Monday 11 May."""
    start = date(2026, 3, 10)
    assert CAL.due_date(start, months(2)) == date(2026, 5, 10)
    assert CAL.due_date(start, months(2, extend_to_working_day=True)) == date(2026, 5, 11)


def test_days_delay_ending_on_public_holiday() -> None:
    # 4 July 2026 + 10 days = Tuesday 14 July (Bastille Day) -> extended to Wednesday 15 July.
    start = date(2026, 7, 4)
    assert CAL.due_date(start, days(10)) == date(2026, 7, 14)
    assert CAL.due_date(start, days(10, extend_to_working_day=True)) == date(2026, 7, 15)


def test_days_delay_ending_on_weekend_then_holiday() -> None:
    # 1 October 2026 + 30 days = Saturday 31 October; Sunday 1 November is All Saints' Day
    # (falling on the Sunday) -> Monday 2 November.
    assert CAL.due_date(date(2026, 10, 1), days(30)) == date(2026, 10, 31)
    extended = CAL.due_date(date(2026, 10, 1), days(30, extend_to_working_day=True))
    assert extended == date(2026, 11, 2)
    # 13 May 2026 + 10 days = Saturday 23 May; Sun 24, Whit Monday 25 -> Tuesday 26 May.
    extended = CAL.due_date(date(2026, 5, 13), days(10, extend_to_working_day=True))
    assert extended == date(2026, 5, 26)


def test_delai_franc() -> None:
    """Délai franc: neither the start day nor the expiry day counts."""
    # 1 June 2026 + 15 = 16 June, + 1 (expiry day not counted) = Wednesday 17 June.
    assert CAL.due_date(date(2026, 6, 1), days(15, franc=True)) == date(2026, 6, 17)
    assert CAL.due_date(date(2026, 6, 1), days(15)) == date(2026, 6, 16)
    # 4 June + 15 = 19 June, + 1 = Saturday 20 June -> extended to Monday 22 June.
    franc_extended = days(15, franc=True, extend_to_working_day=True)
    assert CAL.due_date(date(2026, 6, 4), franc_extended) == date(2026, 6, 22)
    # In months: 31 January 2026 + 1 month = 28 February, + 1 = 1 March 2026.
    assert CAL.due_date(date(2026, 1, 31), months(1, franc=True)) == date(2026, 3, 1)


def test_zero_delay() -> None:
    assert CAL.due_date(date(2026, 5, 2), days(0)) == date(2026, 5, 2)
    # Saturday 2 May 2026 extended -> Monday 4 May.
    assert CAL.due_date(date(2026, 5, 2), days(0, extend_to_working_day=True)) == date(2026, 5, 4)


# --- suspension (CRPA L114-5) ------------------------------------------------------------


def test_resume_working_days_deadline_across_holidays() -> None:
    """Remaining working days are recounted from the resume date."""
    spec = working_days(10)
    due = date(2026, 5, 12)  # 10 working days from Friday 24 April 2026 (see above)
    # Suspended on Wednesday 29 April, before 1 and 8 May: 7 working days are left
    # (Thu 30 Apr, Mon 4, Tue 5, Wed 6, Thu 7, Mon 11, Tue 12 May).
    # Resumed on Wednesday 13 May: Thu 14 is Ascension, then Fri 15 (1), Mon 18 (2),
    # Tue 19 (3), Wed 20 (4), Thu 21 (5), Fri 22 (6), [Mon 25 Whit Monday], Tue 26 (7).
    new_due = CAL.resume_due_date(due, spec, date(2026, 4, 29), date(2026, 5, 13))
    assert new_due == date(2026, 5, 26)


def test_resume_calendar_deadline_gives_back_remaining_days() -> None:
    """Calendar units: the remaining calendar days are given back from the resume date."""
    spec = months(2)
    due = date(2026, 5, 10)  # 2 months from 10 March 2026
    # Suspended on 20 April: 20 days left (21..30 April = 10, 1..10 May = 10).
    # Resumed on 4 May (1 May was a holiday during the suspension): 4 May + 20 = Sunday 24 May.
    assert CAL.resume_due_date(due, spec, date(2026, 4, 20), date(2026, 5, 4)) == date(2026, 5, 24)
    # With extension: Sunday 24 May, Whit Monday 25 May -> Tuesday 26 May.
    extended = months(2, extend_to_working_day=True)
    assert CAL.resume_due_date(due, extended, date(2026, 4, 20), date(2026, 5, 4)) == date(
        2026, 5, 26
    )
    # DAYS: 30 days from 1 June 2026 -> 1 July. Suspended 14 June: 17 days left
    # (15..30 June = 16, plus 1 July). Resumed 20 July (after 14 July): 20 July + 17 = 6 August.
    assert CAL.due_date(date(2026, 6, 1), days(30)) == date(2026, 7, 1)
    new_due = CAL.resume_due_date(date(2026, 7, 1), days(30), date(2026, 6, 14), date(2026, 7, 20))
    assert new_due == date(2026, 8, 6)


def test_resume_edge_cases() -> None:
    spec = days(30)
    due = date(2026, 7, 1)
    # Resumed on the day of suspension: nothing changes.
    assert CAL.resume_due_date(due, spec, date(2026, 6, 14), date(2026, 6, 14)) == due
    # Suspended after the due date: nothing is left, the deadline is due on the resume date.
    assert CAL.resume_due_date(due, spec, date(2026, 7, 5), date(2026, 7, 20)) == date(2026, 7, 20)
    with pytest.raises(ValueError):
        CAL.resume_due_date(due, spec, date(2026, 6, 14), date(2026, 6, 13))


# --- majoration --------------------------------------------------------------------------


def test_extend_due_date_by_one_month() -> None:
    # Tuesday 12 May 2026 + 1 month = Friday 12 June 2026.
    assert CAL.extend_due_date(date(2026, 5, 12), months(1)) == date(2026, 6, 12)
    # 31 January 2026 + 1 month = Saturday 28 February; extended -> Monday 2 March 2026.
    assert CAL.extend_due_date(date(2026, 1, 31), months(1)) == date(2026, 2, 28)
    extended = CAL.extend_due_date(date(2026, 1, 31), months(1, extend_to_working_day=True))
    assert extended == date(2026, 3, 2)


# --- instants ----------------------------------------------------------------------------


def test_expiry_instant_is_next_local_midnight_in_utc() -> None:
    # Summer time starts on Sunday 29 March 2026 at 02:00: 30 March 00:00 CEST = 29 March 22:00Z.
    assert CAL.expiry_instant(date(2026, 3, 29)) == utc(2026, 3, 29, 22, 0)
    # Winter: 11 January 00:00 CET = 10 January 23:00Z.
    expiry = CAL.expiry_instant(date(2026, 1, 10))
    assert expiry == utc(2026, 1, 10, 23, 0)
    assert expiry.utcoffset() == timedelta(0)
    # Day before the switch: 29 March 00:00 is still CET = 28 March 23:00Z.
    assert CAL.expiry_instant(date(2026, 3, 28)) == utc(2026, 3, 28, 23, 0)
    # Summer time ends on Sunday 25 October 2026 at 03:00.
    assert CAL.expiry_instant(date(2026, 10, 24)) == utc(2026, 10, 24, 22, 0)
    assert CAL.expiry_instant(date(2026, 10, 25)) == utc(2026, 10, 25, 23, 0)


def test_local_date() -> None:
    # 22:30Z on 9 May = 00:30 CEST on 10 May.
    assert CAL.local_date(utc(2026, 5, 9, 22, 30)) == date(2026, 5, 10)
    # 22:30Z on 10 January = 23:30 CET, same day.
    assert CAL.local_date(utc(2026, 1, 10, 22, 30)) == date(2026, 1, 10)
    # Any aware datetime is accepted: 20:00 in UTC-05:00 = 03:00 CEST on 10 May.
    minus_five = timezone(timedelta(hours=-5))
    assert CAL.local_date(datetime(2026, 5, 9, 20, 0, tzinfo=minus_five)) == date(2026, 5, 10)
    with pytest.raises(ValueError):
        CAL.local_date(datetime(2026, 5, 9, 22, 30))


def test_custom_timezone() -> None:
    reunion = LegalCalendar(timezone="Indian/Reunion")  # UTC+04:00, no DST
    assert reunion.expiry_instant(date(2026, 3, 29)) == utc(2026, 3, 29, 20, 0)
    assert reunion.local_date(utc(2026, 5, 9, 20, 30)) == date(2026, 5, 10)


# --- DelaySpec ---------------------------------------------------------------------------


def test_delay_spec_validation() -> None:
    with pytest.raises(ValidationError):
        DelaySpec(amount=-1, unit=DelayUnit.DAYS)
    with pytest.raises(ValidationError):
        DelaySpec(amount=1, unit=DelayUnit.DAYS, unknown=True)  # type: ignore[call-arg]
    spec = DelaySpec(amount=2, unit=DelayUnit.MONTHS, legal_reference="R423-23 c) C. urb.")
    assert spec.franc is False
    assert spec.extend_to_working_day is False
    assert DelaySpec(amount=2, unit="months") == months(2)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        spec.amount = 3
    assert hash(spec) == hash(spec.model_copy())


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (months(2), "2 mois"),
        (months(1), "1 mois"),
        (working_days(10), "10 jours ouvrés"),
        (working_days(1), "1 jour ouvré"),
        (days(15, franc=True), "15 jours francs"),
        (days(1, franc=True), "1 jour franc"),
        (days(30), "30 jours"),
        (days(1), "1 jour"),
    ],
)
def test_delay_spec_describe(spec: DelaySpec, text: str) -> None:
    assert spec.describe() == text


# --- DeadlineClock -----------------------------------------------------------------------


def test_deadline_clock_lifecycle() -> None:
    spec = months(2, extend_to_working_day=True)
    # 10 March 2026 + 2 months = Sunday 10 May -> Monday 11 May.
    clock = DeadlineClock.start(CAL, date(2026, 3, 10), spec)
    assert clock == DeadlineClock(spec=spec, starts_on=date(2026, 3, 10), due_on=date(2026, 5, 11))
    assert clock.status is DeadlineStatus.ACTIVE
    assert clock.suspended_on is None

    suspended = clock.suspend(date(2026, 4, 20))
    assert suspended.status is DeadlineStatus.SUSPENDED
    assert suspended.suspended_on == date(2026, 4, 20)
    assert suspended.due_on == date(2026, 5, 11)
    assert clock.status is DeadlineStatus.ACTIVE  # immutable: the original is unchanged

    # 21 days were left (20 April -> 11 May); resumed 4 May: 4 + 21 = Whit Monday 25 May
    # -> Tuesday 26 May.
    resumed = suspended.resume(CAL, date(2026, 5, 4))
    assert resumed.status is DeadlineStatus.ACTIVE
    assert resumed.suspended_on is None
    assert resumed.due_on == date(2026, 5, 26)
    assert resumed.starts_on == date(2026, 3, 10)

    # Majoration of one month: 26 June 2026 (Friday).
    extended = resumed.extend(CAL, months(1))
    assert extended.due_on == date(2026, 6, 26)
    assert extended.status is DeadlineStatus.ACTIVE

    fired = extended.fire()
    assert fired.status is DeadlineStatus.FIRED
    assert fired.due_on == date(2026, 6, 26)


def test_deadline_clock_extend_and_cancel_while_suspended() -> None:
    clock = DeadlineClock.start(CAL, date(2026, 4, 24), working_days(10))
    assert clock.due_on == date(2026, 5, 12)
    suspended = clock.suspend(date(2026, 4, 29))
    extended = suspended.extend(CAL, months(1))
    assert extended.status is DeadlineStatus.SUSPENDED
    assert extended.due_on == date(2026, 6, 12)
    cancelled = extended.cancel()
    assert cancelled.status is DeadlineStatus.CANCELLED
    assert clock.cancel().status is DeadlineStatus.CANCELLED


def test_deadline_clock_resume_working_days() -> None:
    # Same numbers as test_resume_working_days_deadline_across_holidays.
    clock = DeadlineClock.start(CAL, date(2026, 4, 24), working_days(10))
    resumed = clock.suspend(date(2026, 4, 29)).resume(CAL, date(2026, 5, 13))
    assert resumed.due_on == date(2026, 5, 26)
    with pytest.raises(ValueError):
        clock.suspend(date(2026, 4, 29)).resume(CAL, date(2026, 4, 28))


def test_deadline_clock_illegal_transitions() -> None:
    active = DeadlineClock.start(CAL, date(2026, 6, 1), days(15, franc=True))
    suspended = active.suspend(date(2026, 6, 5))
    fired = active.fire()
    cancelled = active.cancel()

    with pytest.raises(ValueError):
        active.resume(CAL, date(2026, 6, 6))
    with pytest.raises(ValueError):
        suspended.suspend(date(2026, 6, 6))
    with pytest.raises(ValueError):
        suspended.fire()
    for final in (fired, cancelled):
        with pytest.raises(ValueError):
            final.suspend(date(2026, 6, 6))
        with pytest.raises(ValueError):
            final.resume(CAL, date(2026, 6, 6))
        with pytest.raises(ValueError):
            final.extend(CAL, days(1))
        with pytest.raises(ValueError):
            final.cancel()
        with pytest.raises(ValueError):
            final.fire()


def test_deadline_clock_is_frozen() -> None:
    clock = DeadlineClock.start(CAL, date(2026, 6, 1), days(15))
    with pytest.raises(dataclasses.FrozenInstanceError):
        clock.due_on = date(2026, 6, 30)  # type: ignore[misc]


def test_deadline_clock_is_due() -> None:
    # Due Tuesday 12 May 2026: expires at 13 May 00:00 CEST = 12 May 22:00Z.
    clock = DeadlineClock.start(CAL, date(2026, 4, 24), working_days(10))
    assert clock.due_on == date(2026, 5, 12)
    assert not clock.is_due(CAL, utc(2026, 5, 12, 21, 59, 59))
    assert clock.is_due(CAL, utc(2026, 5, 12, 22, 0))
    assert clock.is_due(CAL, utc(2026, 6, 1))
    # Only an active clock is due.
    assert not clock.suspend(date(2026, 5, 1)).is_due(CAL, utc(2026, 6, 1))
    assert not clock.fire().is_due(CAL, utc(2026, 6, 1))
    assert not clock.cancel().is_due(CAL, utc(2026, 6, 1))
    with pytest.raises(ValueError):
        clock.is_due(CAL, datetime(2026, 6, 1))
