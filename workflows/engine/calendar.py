"""Legal calendar: French public holidays, working days and legal delay computation."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from holidays import country_holidays
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DeadlineClock",
    "DeadlineStatus",
    "DelaySpec",
    "DelayUnit",
    "LegalCalendar",
    "add_months",
]

_ONE_DAY = timedelta(days=1)

# Moselle subdivision of the `holidays` package: the local law of Alsace-Moselle
# (Code du travail, art. L3134-13) adds Good Friday and 26 December.
_ALSACE_MOSELLE_SUBDIV = "57"


class DelayUnit(StrEnum):
    """Unit in which a legal delay is expressed."""

    DAYS = "days"
    WORKING_DAYS = "working_days"
    MONTHS = "months"


class DelaySpec(BaseModel):
    """A legal delay, e.g. "2 mois" or "15 jours francs"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int = Field(ge=0)
    unit: DelayUnit
    # "Délai franc": neither the day of the starting event nor the day of expiry counts.
    franc: bool = False
    # A last day falling on a Saturday, Sunday or public holiday moves to the next
    # working day (Code de procédure civile, art. 642 style).
    extend_to_working_day: bool = False
    legal_reference: str = ""

    def describe(self) -> str:
        """French human-readable text, e.g. "2 mois", "10 jours ouvrés", "15 jours francs"."""
        plural = self.amount > 1  # French: 0 and 1 take the singular
        if self.unit is DelayUnit.MONTHS:
            text = f"{self.amount} mois"
        elif self.unit is DelayUnit.WORKING_DAYS:
            text = f"{self.amount} jours ouvrés" if plural else f"{self.amount} jour ouvré"
        else:
            text = f"{self.amount} jours" if plural else f"{self.amount} jour"
        if self.franc:
            text += " francs" if plural else " franc"
        return text


def add_months(d: date, months: int) -> date:
    """Same day-of-month `months` later (or earlier), clamped to the end of the month."""
    # CPC art. 641 al. 2: a delay in months expires on the day bearing the same number;
    # failing such a day, on the last day of the month.
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last_day = (first_of_next - _ONE_DAY).day
    return date(year, month, min(d.day, last_day))


class LegalCalendar:
    """French legal calendar (metropolitan, optionally Alsace-Moselle)."""

    def __init__(self, *, alsace_moselle: bool = False, timezone: str = "Europe/Paris") -> None:
        self.alsace_moselle = alsace_moselle
        self.tz: ZoneInfo = ZoneInfo(timezone)
        self._holidays: dict[int, frozenset[date]] = {}

    # -- holidays and working days ----------------------------------------------------

    def _holidays_of(self, year: int) -> frozenset[date]:
        # Computed once per year; a concurrent first lookup merely computes it twice.
        cached = self._holidays.get(year)
        if cached is None:
            subdiv = _ALSACE_MOSELLE_SUBDIV if self.alsace_moselle else None
            # Code du travail art. L3133-1: public holidays ("fêtes légales"); holidays.France().
            source = country_holidays("FR", subdiv=subdiv, years=year)
            cached = frozenset(day for day in source if day.year == year)
            self._holidays[year] = cached
        return cached

    def is_holiday(self, d: date) -> bool:
        """True when `d` is a public holiday."""
        return d in self._holidays_of(d.year)

    def is_working_day(self, d: date) -> bool:
        """Monday to Friday and not a public holiday (Saturday is not a working day here)."""
        return d.weekday() < 5 and not self.is_holiday(d)

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day strictly after `d` (`d` itself when n == 0)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        remaining = n
        while remaining > 0:
            d += _ONE_DAY
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days in the interval (start, end]; 0 when end <= start."""
        count = 0
        d = start + _ONE_DAY
        while d <= end:
            if self.is_working_day(d):
                count += 1
            d += _ONE_DAY
        return count

    # -- delays -----------------------------------------------------------------------

    def due_date(self, start: date, spec: DelaySpec) -> date:
        """Last day of the delay starting on `start` (the delay expires at the end of it)."""
        # CPC art. 641: the day of the starting event does not count.
        if spec.unit is DelayUnit.MONTHS:
            result = add_months(start, spec.amount)
        elif spec.unit is DelayUnit.WORKING_DAYS:
            result = self.add_working_days(start, spec.amount)
        else:
            result = start + timedelta(days=spec.amount)
        if spec.franc:
            # Délai franc: the expiry day itself does not count either.
            result += _ONE_DAY
        if spec.extend_to_working_day:
            # CPC art. 642: a delay ending on a Saturday, Sunday or public holiday is
            # extended to the next working day.
            result = self.next_working_day(result)
        return result

    def extend_due_date(self, due: date, by: DelaySpec) -> date:
        """Majoration: the due date pushed by `by` (with its own franc/extension flags)."""
        return self.due_date(due, by)

    def resume_due_date(
        self, due: date, spec: DelaySpec, suspended_on: date, resumed_on: date
    ) -> date:
        """New due date of a deadline suspended on `suspended_on` and resumed on `resumed_on`."""
        # CRPA art. L114-5: the deadline is suspended, not restarted: the time that was
        # left at suspension is given back from the resume date.
        if resumed_on < suspended_on:
            raise ValueError("resumed_on must not be before suspended_on")
        if spec.unit is DelayUnit.WORKING_DAYS:
            remaining_working = self.working_days_between(suspended_on, due)
            result = self.add_working_days(resumed_on, remaining_working)
        else:
            remaining_days = max((due - suspended_on).days, 0)
            result = resumed_on + timedelta(days=remaining_days)
        if spec.extend_to_working_day:
            result = self.next_working_day(result)
        return result

    # -- instants ---------------------------------------------------------------------

    def local_date(self, instant: datetime) -> date:
        """Calendar date of an aware datetime in the calendar's time zone."""
        _require_aware(instant)
        return instant.astimezone(self.tz).date()

    def expiry_instant(self, due: date) -> datetime:
        """Start (local midnight) of the day after `due`, as an aware UTC datetime."""
        local_midnight = datetime.combine(due + _ONE_DAY, time(0), tzinfo=self.tz)
        return local_midnight.astimezone(UTC)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


class DeadlineStatus(StrEnum):
    """Lifecycle state of a deadline."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    FIRED = "fired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DeadlineClock:
    """Immutable state of one legal deadline; every transition returns a new clock."""

    spec: DelaySpec
    starts_on: date
    due_on: date
    status: DeadlineStatus = DeadlineStatus.ACTIVE
    suspended_on: date | None = None

    @classmethod
    def start(cls, calendar: LegalCalendar, starts_on: date, spec: DelaySpec) -> DeadlineClock:
        """A new active clock whose due date is computed from `starts_on`."""
        return cls(spec=spec, starts_on=starts_on, due_on=calendar.due_date(starts_on, spec))

    def _require(self, *allowed: DeadlineStatus, action: str) -> None:
        if self.status not in allowed:
            raise ValueError(f"cannot {action} a deadline in status {self.status.value!r}")

    def suspend(self, on: date) -> DeadlineClock:
        """Suspend an active clock on date `on`."""
        self._require(DeadlineStatus.ACTIVE, action="suspend")
        return dataclasses.replace(self, status=DeadlineStatus.SUSPENDED, suspended_on=on)

    def resume(self, calendar: LegalCalendar, on: date) -> DeadlineClock:
        """Resume a suspended clock on date `on`, giving back the time that was left."""
        self._require(DeadlineStatus.SUSPENDED, action="resume")
        if self.suspended_on is None:
            raise ValueError("suspended deadline without a suspension date")
        due_on = calendar.resume_due_date(self.due_on, self.spec, self.suspended_on, on)
        return dataclasses.replace(
            self, status=DeadlineStatus.ACTIVE, due_on=due_on, suspended_on=None
        )

    def extend(self, calendar: LegalCalendar, by: DelaySpec) -> DeadlineClock:
        """Push the due date by `by` (majoration); allowed while active or suspended."""
        self._require(DeadlineStatus.ACTIVE, DeadlineStatus.SUSPENDED, action="extend")
        return dataclasses.replace(self, due_on=calendar.extend_due_date(self.due_on, by))

    def cancel(self) -> DeadlineClock:
        """Cancel an active or suspended clock."""
        self._require(DeadlineStatus.ACTIVE, DeadlineStatus.SUSPENDED, action="cancel")
        return dataclasses.replace(self, status=DeadlineStatus.CANCELLED, suspended_on=None)

    def fire(self) -> DeadlineClock:
        """Mark an active clock as fired (its expiry has been handled)."""
        self._require(DeadlineStatus.ACTIVE, action="fire")
        return dataclasses.replace(self, status=DeadlineStatus.FIRED)

    def is_due(self, calendar: LegalCalendar, now: datetime) -> bool:
        """True when the clock is active and `now` is at or past the end of its last day."""
        _require_aware(now)
        return self.status is DeadlineStatus.ACTIVE and now >= calendar.expiry_instant(self.due_on)


@functools.lru_cache(maxsize=16)
def calendar_for(*, alsace_moselle: bool = False, timezone: str = "Europe/Paris") -> LegalCalendar:
    """A shared calendar per rule set: building the holiday tables is the expensive part."""
    return LegalCalendar(alsace_moselle=alsace_moselle, timezone=timezone)
