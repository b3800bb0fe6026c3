"""The checks the service asks before recording a fact (urbanism.md §12 items 3, 4, 5, 14, 15, 16,
17): R423-38/41/42, R424-10, L424-5, R424-16, R462-1, R462-6/7/9/10, R424-21."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

from workflows.procedures.urbanism import timeline
from workflows.procedures.urbanism.facts import (
    Decision,
    DecisionKind,
    Facts,
    Majoration,
    MajorationGround,
    PermitType,
    PiecesRequest,
    Prorogation,
    RuleSet,
)

RS = RuleSet(key="ads-2024")


def facts(permit_type: PermitType, filed_on: date, **kw: Any) -> Facts:
    return Facts(permit_type=permit_type, filed_on=filed_on, rule_set=RS, **kw)


PCMI = facts(PermitType.PCMI, date(2025, 1, 15))
"""Completeness window until 15 Feb 2025; deadline 15 March; tacit permit 16 March."""


# ----- pieces request ----------------------------------------------------------------------------


def test_check_pieces_request_in_month_one_is_effective() -> None:
    check = timeline.check_pieces_request(PCMI, PiecesRequest(date(2025, 2, 15), ("PCMI2",)))
    assert check.effective is True
    assert check.findings == ()


def test_check_pieces_request_on_day_32_is_refused_with_r423_41() -> None:
    check = timeline.check_pieces_request(PCMI, PiecesRequest(date(2025, 2, 16), ("PCMI2",)))
    assert check.effective is False
    assert check.findings[0].code == "pieces_request_late"
    assert "R423-41" in check.findings[0].reference
    assert "15 février 2025" in check.findings[0].message


def test_check_pieces_request_not_required_piece_is_refused() -> None:
    request = PiecesRequest(date(2025, 1, 20), ("PCMI2", "X"), not_required=("X",))
    check = timeline.check_pieces_request(PCMI, request)
    assert check.effective is False
    assert "454521" in check.findings[0].reference


def test_check_pieces_request_after_an_effective_one_is_refused() -> None:
    f = dataclasses.replace(PCMI, pieces_requests=(PiecesRequest(date(2025, 1, 20), ("PCMI2",)),))
    check = timeline.check_pieces_request(f, PiecesRequest(date(2025, 1, 25), ("PCMI4",)))
    assert check.effective is False
    assert check.findings[0].code == "pieces_request_repeated"


# ----- majoration --------------------------------------------------------------------------------


def test_check_majoration_in_time_is_effective() -> None:
    assert timeline.check_majoration(
        PCMI, Majoration(MajorationGround.R423_24, date(2025, 2, 15))
    ).effective


def test_check_majoration_late_is_refused() -> None:
    check = timeline.check_majoration(PCMI, Majoration(MajorationGround.R423_24, date(2025, 2, 16)))
    assert check.effective is False
    assert check.findings[0].code == "majoration_late"


def test_check_majoration_wrong_ground_is_refused() -> None:
    check = timeline.check_majoration(
        PCMI, Majoration(MajorationGround.R423_25, date(2025, 1, 20), ground_valid=False)
    )
    assert check.effective is False
    assert "462511" in check.findings[0].reference


def test_check_majoration_r423_24_after_r423_25_changes_nothing() -> None:
    f = dataclasses.replace(
        PCMI, majorations=(Majoration(MajorationGround.R423_25, date(2025, 1, 20)),)
    )
    check = timeline.check_majoration(f, Majoration(MajorationGround.R423_24, date(2025, 1, 21)))
    assert check.effective is False
    assert check.findings[0].code == "majoration_not_cumulative"


# ----- decision notification (§12.3) -------------------------------------------------------------


def test_check_decision_notified_on_the_last_day_is_effective() -> None:
    assert timeline.check_decision_notification(PCMI, date(2025, 3, 15)).effective


def test_check_refusal_notified_the_day_the_tacit_permit_is_born_is_a_retrait() -> None:
    f = dataclasses.replace(PCMI, decision=Decision(DecisionKind.REFUSED, date(2025, 3, 14)))
    check = timeline.check_decision_notification(f, date(2025, 3, 16))
    assert check.effective is False
    assert check.findings[0].code == "decision_is_withdrawal"
    assert "L424-5" in check.findings[0].reference


def test_check_favourable_decision_after_tacit_permit_is_allowed_as_confirmation() -> None:
    f = dataclasses.replace(PCMI, decision=Decision(DecisionKind.GRANTED, date(2025, 3, 14)))
    check = timeline.check_decision_notification(f, date(2025, 3, 20))
    assert check.effective is True
    assert check.findings[0].code == "decision_confirms_tacit"


def test_check_decision_during_incompleteness_is_effective() -> None:
    f = dataclasses.replace(PCMI, pieces_requests=(PiecesRequest(date(2025, 1, 20), ("PCMI2",)),))
    assert timeline.check_decision_notification(f, date(2025, 4, 1)).effective


# ----- withdrawal, opening, completion (§12.14, §12.16) ------------------------------------------


def test_check_withdrawal_of_a_tacit_permit_counts_from_its_birth() -> None:
    """Tacit permit born 16 March 2025 → retrait to be notified by 16 June 2025."""
    assert timeline.check_withdrawal(PCMI, date(2025, 6, 16)).effective
    late = timeline.check_withdrawal(PCMI, date(2025, 6, 17))
    assert late.effective is False
    assert "351617" in late.findings[0].reference


def test_check_withdrawal_without_favourable_decision_is_refused() -> None:
    check = timeline.check_withdrawal(PCMI, date(2025, 3, 1))
    assert check.effective is False
    assert check.findings[0].code == "withdrawal_without_decision"


def test_check_opening_before_the_decision_is_refused() -> None:
    check = timeline.check_opening(PCMI, date(2025, 3, 15))
    assert check.effective is False
    assert check.findings[0].code == "opening_before_decision"
    assert timeline.check_opening(PCMI, date(2025, 3, 16)).effective


def test_check_opening_after_validity_end_is_refused() -> None:
    check = timeline.check_opening(PCMI, date(2028, 3, 17))
    assert check.effective is False
    assert check.findings[0].code == "opening_after_validity"


def test_check_opening_on_a_cu_is_refused() -> None:
    cu = facts(PermitType.CUB, date(2025, 1, 15))
    assert timeline.check_opening(cu, date(2026, 1, 1)).effective is False


def test_check_completion_before_opening_is_refused() -> None:
    f = dataclasses.replace(PCMI, doc_on=date(2025, 5, 1))
    assert timeline.check_completion(f, date(2025, 4, 30)).effective is False
    assert timeline.check_completion(PCMI, date(2025, 6, 1)).effective is False
    assert timeline.check_completion(f, date(2025, 5, 1)).effective is True


# ----- conformity (§12.17) -----------------------------------------------------------------------

SPR = dataclasses.replace(
    PCMI,
    doc_on=date(2025, 4, 1),
    daact_on=date(2025, 3, 10) + timedelta(days=365),
    protected_area=True,
)
"""DAACT received 10 March 2026 in an SPR: contest window until 10 August 2026 (R462-7)."""


def test_check_conformity_contest_within_five_months_in_an_spr() -> None:
    assert timeline.check_conformity_contest(SPR, date(2026, 8, 10)).effective
    late = timeline.check_conformity_contest(SPR, date(2026, 8, 11))
    assert late.effective is False
    assert late.findings[0].code == "conformity_contest_late"


def test_r462_10_attestation_asked_on_day_91_of_a_five_month_case_is_refused() -> None:
    check, due = timeline.conformity_attestation(SPR, date(2026, 3, 10) + timedelta(days=91))
    assert check.effective is False
    assert due is None
    assert check.findings[0].code == "conformity_window_open"


def test_r462_10_attestation_after_the_window_due_within_15_days() -> None:
    check, due = timeline.conformity_attestation(SPR, date(2026, 8, 11))
    assert check.effective is True
    assert due == date(2026, 8, 26)


def test_r462_10_attestation_without_daact_is_refused() -> None:
    check, due = timeline.conformity_attestation(PCMI, date(2026, 8, 11))
    assert (check.effective, due) == (False, None)


# ----- prorogation (§12.15) ----------------------------------------------------------------------


def test_r424_21_prorogation_at_least_two_months_before_validity_end() -> None:
    """Tacit permit born 16 March 2025: valid until 16 March 2028; request by 16 January 2028."""
    assert timeline.check_prorogation(PCMI, date(2028, 1, 16)).effective
    late = timeline.check_prorogation(PCMI, date(2028, 1, 17))
    assert late.effective is False
    assert late.findings[0].code == "prorogation_late"


def test_r424_21_no_third_prorogation() -> None:
    f = dataclasses.replace(
        PCMI,
        prorogations=(
            Prorogation(date(2027, 12, 1), date(2027, 12, 20)),
            Prorogation(date(2028, 12, 1), date(2028, 12, 20)),
        ),
    )
    check = timeline.check_prorogation(f, date(2029, 12, 1))
    assert check.effective is False
    assert "prorogation_max" in {x.code for x in check.findings}


def test_lapsed_none_before_any_decision() -> None:
    assert timeline.lapsed(PCMI, date(2025, 3, 1)) is None


def test_instruction_months_while_pieces_are_awaited_include_the_month_1_majoration() -> None:
    """R423-39 c: the full delay (R423-23 b, 2 months, + R423-24, 1 month) runs from the receipt
    of the last piece; before it, the letter can give the delay, not a date."""
    from datetime import date

    from workflows.procedures.urbanism import rulesets, timeline
    from workflows.procedures.urbanism.facts import (
        Facts,
        Majoration,
        MajorationGround,
        PermitType,
        PiecesRequest,
    )

    filed = date(2026, 3, 2)
    facts = Facts(
        permit_type=PermitType.PCMI,
        filed_on=filed,
        rule_set=rulesets.rule_set_for("69001", filed),
        pieces_requests=(PiecesRequest(date(2026, 3, 20), ("PCMI5",)),),
        majorations=(Majoration(MajorationGround.R423_24, date(2026, 3, 25)),),
    )
    assert (
        timeline.compute(
            facts, timeline.calendar_for(), today=date(2026, 4, 1)
        ).instruction_deadline
        is None
    )
    assert timeline.instruction_months(facts, today=date(2026, 4, 1)) == 3
