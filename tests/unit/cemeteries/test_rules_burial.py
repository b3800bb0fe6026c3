"""Worked examples: burial window (R2213-33, décret 2024-790), right to burial (L2223-3,
L2223-13), terrain commun (R2223-5), ossuaire (L2223-4). Edge cases 8, 11, 15, 16 of
cemeteries.md §9."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kernel.errors import ValidationFailed
from workflows.procedures.cemeteries import rules
from workflows.procedures.cemeteries.settings import CemeterySettings

PARIS = ZoneInfo("Europe/Paris")


def paris(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=PARIS)


def test_r2213_33_death_on_13_july_2024_latest_is_the_14th_calendar_day() -> None:
    """Death on Saturday 13 July 2024 (new regime): 14 calendar days, weekends and 14 July
    counted → burial on 27 July 2024 at the latest."""
    window = rules.burial_window(paris(2024, 7, 13, 10))
    assert window.regime == "since_2024_07_12"
    assert window.latest_day == date(2024, 7, 27)
    assert window.allows(paris(2024, 7, 27, 18))
    assert not window.allows(paris(2024, 7, 28, 9))
    assert "2024-790" in window.reference


def test_r2213_33_death_on_10_july_2024_keeps_the_old_6_day_rule() -> None:
    """Death on Wednesday 10 July 2024 (before 12 July): 6 days, Sunday 14 July (also a holiday)
    not counted → 11, 12, 13, 15, 16, 17 → burial on Wednesday 17 July 2024 at the latest."""
    window = rules.burial_window(paris(2024, 7, 10, 10))
    assert window.regime == "before_2024_07_12"
    assert window.latest_day == date(2024, 7, 17)
    assert rules.check_burial_time(paris(2024, 7, 17, 15), window).allowed
    late = rules.check_burial_time(paris(2024, 7, 18, 9), window)
    assert not late.allowed
    assert "17/07/2024" in late.reason


def test_r2213_33_the_12_july_2024_is_the_first_day_of_the_new_rule() -> None:
    assert rules.burial_window(paris(2024, 7, 12, 0, 30)).latest_day == date(2024, 7, 26)
    assert rules.burial_window(paris(2024, 7, 11, 23, 30)).regime == "before_2024_07_12"


def test_r2213_33_death_at_23h_earliest_burial_is_23h_the_next_day() -> None:
    window = rules.burial_window(paris(2025, 3, 4, 23, 0))
    assert window.earliest == paris(2025, 3, 5, 23, 0).astimezone(UTC)
    too_soon = rules.check_burial_time(paris(2025, 3, 5, 22, 59), window)
    assert not too_soon.allowed
    assert "24 heures" in too_soon.reason and "23:00" in too_soon.reason
    assert rules.check_burial_time(paris(2025, 3, 5, 23, 0), window).allowed


def test_r2213_33_refusal_becomes_a_422_with_the_french_reason() -> None:
    window = rules.burial_window(paris(2025, 3, 4, 9))
    verdict = rules.check_burial_time(paris(2025, 3, 20, 9), window)
    with pytest.raises(ValidationFailed) as exc:
        verdict.require("planned_at")
    assert "préfet" in exc.value.detail
    assert exc.value.errors[0]["field"] == "planned_at"


def test_r2213_33_prefect_derogation_is_recorded_and_extends_the_window() -> None:
    derogation = rules.PrefectDerogation(
        until=date(2025, 3, 24), kind="individual", reference="arrêté n° 2025-12 du 15/03/2025"
    )
    window = rules.burial_window(paris(2025, 3, 4, 9), derogation=derogation)
    assert window.latest_day == date(2025, 3, 24)
    assert window.derogation == derogation
    assert "arrêté n° 2025-12" in window.reference


def test_r2213_33_local_derogation_cannot_exceed_21_days() -> None:
    with pytest.raises(ValueError, match="21 jours"):
        rules.burial_window(
            paris(2025, 3, 4, 9),
            derogation=rules.PrefectDerogation(until=date(2025, 3, 26), kind="local"),
        )
    ok = rules.burial_window(
        paris(2025, 3, 4, 9),
        derogation=rules.PrefectDerogation(until=date(2025, 3, 25), kind="local"),
    )
    assert ok.latest_day == date(2025, 3, 25)


def test_r2213_33_delay_runs_from_entry_into_france_when_given() -> None:
    """Body repatriated: the 14 days run from its entry into France."""
    window = rules.burial_window(paris(2025, 3, 1, 9), start_event_on=date(2025, 3, 10))
    assert window.latest_day == date(2025, 3, 24)


def test_r2213_33_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        rules.burial_window(datetime(2025, 3, 1, 9))


def test_r2213_33_configurable_maximum() -> None:
    cfg = CemeterySettings(burial_max_days=21)
    assert rules.burial_window(paris(2025, 3, 4), settings=cfg).latest_day == date(2025, 3, 25)


deaths = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(deaths)
def test_property_window_never_starts_before_death_plus_24h(death: datetime) -> None:
    """R2213-33: whatever the regime, the earliest burial is exactly death + 24 h and the last
    allowed day comes after it."""
    window = rules.burial_window(death)
    assert window.earliest == death + timedelta(hours=24)
    assert window.latest > window.earliest
    assert not window.allows(death + timedelta(hours=23, minutes=59))


@settings(max_examples=200, deadline=None)
@given(deaths)
def test_property_new_regime_is_14_calendar_days_old_regime_at_least_6(death: datetime) -> None:
    window = rules.burial_window(death)
    death_day = death.astimezone(PARIS).date()
    if death_day >= date(2024, 7, 12):
        assert window.latest_day - death_day == timedelta(days=14)
    else:
        # 6 counted days, Sundays and holidays skipped: never fewer than 6 calendar days.
        assert window.latest_day - death_day >= timedelta(days=6)
        assert window.latest_day.weekday() != 6


# ----- right to burial ------------------------------------------------------------------------


def test_l2223_3_right_to_burial_in_the_commune() -> None:
    assert rules.right_to_burial_in_commune(
        died_in_commune=False, domiciled_in_commune=True, family_grave_in_commune=False
    ).allowed
    assert rules.right_to_burial_in_commune(
        died_in_commune=False,
        domiciled_in_commune=False,
        family_grave_in_commune=False,
        french_abroad_on_electoral_roll=True,
    ).allowed
    refusal = rules.right_to_burial_in_commune(
        died_in_commune=False, domiciled_in_commune=False, family_grave_in_commune=False
    )
    assert not refusal.allowed and "L2223-3" in refusal.reference


def test_l2223_13_individual_concession_only_the_holder() -> None:
    """Edge case 11: burial of a person not named in an individual concession → refused."""
    assert rules.right_to_burial_in_concession(
        category="individual", relationship_to_holder="holder"
    ).allowed
    refusal = rules.right_to_burial_in_concession(
        category="individual", relationship_to_holder="spouse"
    )
    assert not refusal.allowed
    assert "modification de l'acte" in refusal.reason


def test_l2223_13_collective_concession_named_beneficiaries_only() -> None:
    assert rules.right_to_burial_in_concession(
        category="collective", relationship_to_holder="sibling", named_beneficiary=True
    ).allowed
    assert not rules.right_to_burial_in_concession(
        category="collective", relationship_to_holder="child"
    ).allowed


def test_l2223_13_family_concession_spouse_and_ascendant_allowed() -> None:
    """Edge case 11: family concession, the spouse or an ascendant → allowed."""
    for relation in ("spouse", "parent", "ascendant", "child", "descendant_spouse"):
        assert rules.right_to_burial_in_concession(
            category="family", relationship_to_holder=relation
        ).allowed, relation
    assert not rules.right_to_burial_in_concession(
        category="family", relationship_to_holder="other"
    ).allowed
    assert rules.right_to_burial_in_concession(
        category="family", relationship_to_holder="other", named_beneficiary=True
    ).allowed
    assert not rules.right_to_burial_in_concession(
        category="family", relationship_to_holder="child", excluded_by_holder=True
    ).allowed


# ----- terrain commun, ossuaire ---------------------------------------------------------------


def test_r2223_5_terrain_commun_reused_after_4_years_11_months_is_blocked() -> None:
    """Edge case 15."""
    verdict = rules.terrain_commun_reusable(date(2020, 3, 1), date(2025, 2, 1))
    assert not verdict.allowed
    assert "01/03/2025" in verdict.reason
    assert rules.terrain_commun_reusable(date(2020, 3, 1), date(2025, 3, 1)).allowed


def test_l2223_4_refused_cremation_kept_apart_never_cremated_name_in_register() -> None:
    """Edge case 16."""
    refusing = rules.ossuary_disposition(refused_cremation=True)
    assert not refusing.cremation_allowed
    assert refusing.kept_apart
    assert refusing.public_register
    other = rules.ossuary_disposition(refused_cremation=False)
    assert other.cremation_allowed and not other.kept_apart and other.public_register
