"""Worked examples: abandon procedure (L2223-17, R2223-12, R2223-13, loi 3DS), exhumation
(R2213-40, R2213-42), urn removal (R2223-23-3), silence (décret 2015-1459). Edge cases 4 to 7,
9, 10, 13, 14 of cemeteries.md §9."""

from __future__ import annotations

from datetime import date

from workflows.procedures.cemeteries import rules
from workflows.procedures.cemeteries.settings import CemeterySettings

ON = date(2026, 3, 2)


def test_l2223_17_abandon_blocked_when_concession_under_30_years() -> None:
    """Edge case 4: concession under 30 years old → blocked."""
    verdict = rules.check_abandon_eligibility(
        concession_starts_on=date(1997, 1, 1), last_burial_on=None, commune_upkeep=False, on=ON
    )
    assert not verdict.allowed
    assert "moins de 30 ans" in verdict.reason and "01/01/2027" in verdict.reason


def test_r2223_12_abandon_blocked_when_last_burial_9_years_ago() -> None:
    """Edge case 4: last burial 9 years ago → blocked."""
    verdict = rules.check_abandon_eligibility(
        concession_starts_on=date(1950, 1, 1),
        last_burial_on=date(2017, 3, 2),
        commune_upkeep=False,
        on=ON,
    )
    assert not verdict.allowed and "02/03/2027" in verdict.reason
    assert rules.check_abandon_eligibility(
        concession_starts_on=date(1950, 1, 1),
        last_burial_on=date(2016, 3, 2),
        commune_upkeep=False,
        on=ON,
    ).allowed


def test_l2223_17_perpetual_concession_kept_up_by_the_commune_is_excluded() -> None:
    """Edge case 4: upkeep by the commune through a legacy → excluded."""
    verdict = rules.check_abandon_eligibility(
        concession_starts_on=date(1900, 1, 1), last_burial_on=None, commune_upkeep=True, on=ON
    )
    assert not verdict.allowed and "legs" in verdict.reason


def test_r2223_13_notice_25_days_before_the_finding_is_a_defect() -> None:
    """Edge case 7."""
    defect = rules.check_abandon_notice(
        notice_sent_on=date(2026, 3, 1), finding_on=date(2026, 3, 26)
    )
    assert not defect.allowed and "irrégulier" in defect.reason
    assert rules.check_abandon_notice(
        notice_sent_on=date(2026, 3, 1), finding_on=date(2026, 4, 1)
    ).allowed


def test_l2223_17_first_pv_1_march_2021_old_3_year_rule_vs_2023_one_year() -> None:
    """Edge case 5 under the default transitional rule (1st PV date): 3 years before loi 3DS,
    1 year after."""
    assert rules.abandon_wait_years(date(2021, 3, 1)) == 3
    assert rules.second_finding_earliest(date(2021, 3, 1)) == date(2024, 3, 1)
    assert rules.abandon_wait_years(date(2023, 3, 1)) == 1
    assert rules.second_finding_earliest(date(2023, 3, 1)) == date(2024, 3, 1)
    early = rules.check_second_finding(first_pv_on=date(2021, 3, 1), second_pv_on=date(2023, 3, 1))
    assert not early.allowed and "3 ans" in early.reason
    assert rules.check_second_finding(
        first_pv_on=date(2023, 3, 1), second_pv_on=date(2024, 3, 1)
    ).allowed


def test_l2223_17_transitional_rule_is_configurable() -> None:
    cfg = CemeterySettings(abandon_transitional_rule="new_rule_for_all")
    assert rules.abandon_wait_years(date(2021, 3, 1), settings=cfg) == 1


def test_r2223_18_council_one_month_after_second_pv_and_removal_delay() -> None:
    assert not rules.check_council_referral(
        second_pv_notified_on=date(2026, 1, 31), deliberation_on=date(2026, 2, 27)
    ).allowed
    assert rules.council_referral_earliest(date(2026, 1, 31)) == date(2026, 2, 28)
    assert rules.removal_earliest(date(2026, 3, 1)) == date(2026, 3, 31)
    assert not rules.check_removal(
        order_published_on=date(2026, 3, 1), on=date(2026, 3, 30)
    ).allowed
    cfg = CemeterySettings(reprise_removal_delay_days=60)
    assert rules.removal_earliest(date(2026, 3, 1), settings=cfg) == date(2026, 4, 30)


def test_r2213_40_ayant_droit_who_is_not_the_closest_relative_is_refused() -> None:
    """Edge case 9: a nephew, ayant droit of the concession, while a child is alive → refused."""
    verdict = rules.check_exhumation_request(
        requester_relationship="nephew_niece",
        living_relatives=["child", "nephew_niece"],
        sworn_statement=True,
        known_objection=False,
    )
    assert not verdict.allowed
    assert "plus proche parent" in verdict.reason and "enfant" in verdict.reason


def test_r2213_40_spouse_before_children_before_parents_before_siblings() -> None:
    for requester, others in (
        ("spouse", ["child", "parent"]),
        ("child", ["child", "parent", "sibling"]),
        ("parent", ["sibling"]),
        ("sibling", ["sibling"]),
    ):
        assert rules.check_exhumation_request(
            requester_relationship=requester,
            living_relatives=others,
            sworn_statement=True,
            known_objection=False,
        ).allowed, requester
    assert not rules.check_exhumation_request(
        requester_relationship="child",
        living_relatives=["spouse"],
        sworn_statement=True,
        known_objection=False,
    ).allowed


def test_r2213_40_two_children_one_objects_refused_and_sent_to_the_judge() -> None:
    """Edge case 9."""
    verdict = rules.check_exhumation_request(
        requester_relationship="child",
        living_relatives=["child", "child"],
        sworn_statement=True,
        known_objection=True,
    )
    assert not verdict.allowed
    assert verdict.details["send_to_judge"] is True
    assert "juge" in verdict.reason


def test_r2213_40_sworn_statement_required() -> None:
    assert not rules.check_exhumation_request(
        requester_relationship="spouse",
        living_relatives=[],
        sworn_statement=False,
        known_objection=False,
    ).allowed


def test_r2213_40_relative_absent_on_the_day_cancels_the_operation() -> None:
    """Edge case 10."""
    verdict = rules.check_exhumation_attendance(relative_present=False)
    assert not verdict.allowed and verdict.details["cancel"] is True
    assert rules.check_exhumation_attendance(relative_present=True).allowed


def test_r2213_42_intact_coffin_death_under_5_years_is_not_opened() -> None:
    """Edge case 10."""
    verdict = rules.may_open_coffin(coffin_intact=True, death_on=date(2022, 6, 1), on=ON)
    assert not verdict.allowed and "01/06/2027" in verdict.reason
    assert rules.may_open_coffin(coffin_intact=True, death_on=date(2021, 3, 2), on=ON).allowed
    assert rules.may_open_coffin(coffin_intact=False, death_on=date(2025, 1, 1), on=ON).allowed


def test_r2223_23_3_urn_removal_follows_the_exhumation_rules() -> None:
    """Edge case 13: not a simple service."""
    assert rules.follows_exhumation_rules("urn_removal", "columbarium")
    assert rules.follows_exhumation_rules("reduction")
    assert not rules.follows_exhumation_rules("urn_deposit", "columbarium")


def test_decret_2015_1459_silence_on_inhumation_and_exhumation_is_rejection() -> None:
    """Edge case 14: SVA exception — 2 months of silence is a rejection."""
    for kind in ("inhumation", "exhumation", "urn_deposit", "urn_removal"):
        assert rules.silence_setting_for(kind) == "rejection", kind
    assert rules.silence_setting_for("attribution") == "acceptance"
    cfg = CemeterySettings(attribution_silence="rejection")
    assert rules.silence_setting_for("attribution", settings=cfg) == "rejection"
    # An env var cannot turn an inhumation into SVA.
    cfg2 = CemeterySettings(other_requests_silence="acceptance")
    assert rules.silence_setting_for("inhumation", settings=cfg2) == "rejection"
