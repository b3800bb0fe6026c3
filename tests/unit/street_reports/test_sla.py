"""Service-level deadline (sla_due): the n-th working day after the day of receipt, the day of
receipt not counted (CPC art. 641), Saturdays, Sundays and French public holidays (Code du
travail art. L3133-1) not working days; Good Friday and 26 December also off in Alsace-Moselle
(L3134-13)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from workflows.procedures.street_reports.projector import sla_due_of

pytestmark = pytest.mark.unit


def _case(received: datetime, alsace_moselle: bool = False) -> Any:
    return SimpleNamespace(
        received_at=received,
        calendar_options={"alsace_moselle": alsace_moselle, "timezone": "Europe/Paris"},
    )


def test_ten_working_days_from_a_monday() -> None:
    # Monday 2 March 2026 → Monday 16 March 2026.
    assert sla_due_of(_case(datetime(2026, 3, 2, 9, tzinfo=UTC)), 10) == date(2026, 3, 16)


def test_easter_monday_is_skipped_cpc_641_l3133_1() -> None:
    # Thursday 2 April 2026 + 3 working days: Fri 3, (Easter Monday 6 April off), Tue 7, Wed 8.
    assert sla_due_of(_case(datetime(2026, 4, 2, 8, tzinfo=UTC)), 3) == date(2026, 4, 8)


def test_good_friday_is_skipped_in_alsace_moselle_l3134_13() -> None:
    # Same report in Alsace-Moselle: Good Friday 3 April is off too → Thu 9 April.
    case = _case(datetime(2026, 4, 2, 8, tzinfo=UTC), alsace_moselle=True)
    assert sla_due_of(case, 3) == date(2026, 4, 9)


def test_receipt_day_is_the_paris_day() -> None:
    # 23:30 UTC on Friday 1 May 2026 is already Saturday 2 May in Paris: the count starts from
    # Saturday; Friday 8 May (Victoire 1945) is off → 1st working day after is Monday 4 May,
    # 5th is Monday 11 May.
    assert sla_due_of(_case(datetime(2026, 5, 1, 23, 30, tzinfo=UTC)), 5) == date(2026, 5, 11)
