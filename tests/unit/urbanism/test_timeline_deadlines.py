"""Worked examples: instruction deadlines, completeness, pieces requests and majorations.

urbanism.md §12 items 1, 2, 4, 5, 6, 7, 8, 9, 21 (R423-23, R423-22, R423-38..41, R423-24..28,
R423-35, R425-31, R410-9/10/12; CE 2022 n°454521, CE 2023 n°462511)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from workflows.engine.calendar import LegalCalendar
from workflows.procedures.urbanism import timeline
from workflows.procedures.urbanism.facts import (
    Facts,
    FileKind,
    Majoration,
    MajorationGround,
    PermitType,
    PiecesReceipt,
    PiecesRequest,
    Prorogation,
    RuleSet,
    TacitOutcome,
    Timeline,
)

CAL = LegalCalendar()
RS = RuleSet(key="ads-2024")
RS_EXT = RuleSet(key="ads-test", extend_instruction_deadlines_to_working_day=True)


def facts(permit_type: PermitType, filed_on: date, **kw: Any) -> Facts:
    return Facts(permit_type=permit_type, filed_on=filed_on, rule_set=kw.pop("rule_set", RS), **kw)


def tl(f: Facts, today: date | None = None) -> Timeline:
    return timeline.compute(f, CAL, today=today)


def on(t: Timeline, key: str) -> date:
    d = t.get(key)
    assert d is not None, f"{key} missing from {[x.key for x in t.dates]}"
    return d.on


def codes(t: Timeline) -> set[str]:
    return {f.code for f in t.findings}


# ----- base deadlines (R423-23, R410-9, R410-10) -----------------------------------------------


def test_r423_23_a_dp_filed_2_january_ends_2_february_tacit_born_on_the_3rd() -> None:
    """Rapport 120e Congrès des notaires: DP filed 2 Jan → opposition possible until 2 Feb
    (a Sunday in 2025: no extension), tacit non-opposition born Monday 3 Feb 00:00."""
    t = tl(facts(PermitType.DP, date(2025, 1, 2)))
    assert t.instruction_deadline == date(2025, 2, 2)
    assert on(t, "tacit_decision") == date(2025, 2, 3)
    assert t.tacit_outcome is TacitOutcome.NON_OPPOSITION


def test_r423_23_end_of_month_dp_filed_31_january_ends_28_february() -> None:
    """§12.1: 31 Jan + 1 month = 28 Feb (2025), tacit born 1 March."""
    t = tl(facts(PermitType.DP, date(2025, 1, 31)))
    assert t.instruction_deadline == date(2025, 2, 28)
    assert on(t, "tacit_decision") == date(2025, 3, 1)


def test_r423_23_end_of_month_leap_year_dp_filed_31_january_2024_ends_29_february() -> None:
    t = tl(facts(PermitType.DP, date(2024, 1, 31)))
    assert t.instruction_deadline == date(2024, 2, 29)


def test_r423_23_c_pc_filed_30_november_ends_28_february() -> None:
    """§12.1: PC filed 30 Nov 2024 + 3 months = 28 Feb 2025 (29 Feb in a leap year)."""
    assert tl(facts(PermitType.PC, date(2024, 11, 30))).instruction_deadline == date(2025, 2, 28)
    assert tl(facts(PermitType.PC, date(2023, 11, 30))).instruction_deadline == date(2024, 2, 29)


def test_r423_23_b_pcmi_and_pd_two_months_pa_three_months() -> None:
    filed = date(2025, 4, 10)
    assert tl(facts(PermitType.PCMI, filed)).instruction_deadline == date(2025, 6, 10)
    assert tl(facts(PermitType.PD, filed)).instruction_deadline == date(2025, 6, 10)
    assert tl(facts(PermitType.PA, filed)).instruction_deadline == date(2025, 7, 10)


def test_r423_23_the_deadline_states_its_rule_and_reference() -> None:
    d = tl(facts(PermitType.PCMI, date(2025, 4, 10))).get("instruction_deadline")
    assert d is not None
    assert "R423-23 b" in d.reference
    assert "2 mois" in d.rule
    assert "date à date" in d.rule
    assert d.rule_set == "ads-2024"
    assert d.label == "Date limite de notification de la décision"


def test_modificatif_two_months_for_a_maison_individuelle_three_otherwise() -> None:
    filed = date(2025, 4, 10)
    mi = facts(PermitType.PC, filed, file_kind=FileKind.MODIFICATIF, is_maison_individuelle=True)
    other = facts(PermitType.PC, filed, file_kind=FileKind.MODIFICATIF)
    assert tl(mi).instruction_deadline == date(2025, 6, 10)
    assert tl(other).instruction_deadline == date(2025, 7, 10)


def test_transfert_takes_its_type_own_deadline() -> None:
    f = facts(PermitType.PCMI, date(2025, 4, 10), file_kind=FileKind.TRANSFERT)
    assert tl(f).instruction_deadline == date(2025, 6, 10)


# ----- Sunday and holidays: no extension unless the rule set says so (§12.2) -------------------


def test_deadline_on_a_sunday_is_not_extended_tacit_born_on_monday() -> None:
    """DP filed 2 Feb 2025: last day Sunday 2 March, tacit born Monday 3 March 00:00."""
    t = tl(facts(PermitType.DP, date(2025, 2, 2)))
    assert t.instruction_deadline == date(2025, 3, 2)
    assert t.instruction_deadline.weekday() == 6
    assert on(t, "tacit_decision") == date(2025, 3, 3)


def test_deadline_on_a_holiday_is_not_extended() -> None:
    """DP filed 1 April 2025: last day Thursday 1 May (fête du Travail), tacit born 2 May."""
    t = tl(facts(PermitType.DP, date(2025, 4, 1)))
    assert t.instruction_deadline == date(2025, 5, 1)
    assert on(t, "tacit_decision") == date(2025, 5, 2)


def test_tacit_decision_born_on_a_sunday() -> None:
    """DP filed 1 Feb 2025: last day Saturday 1 March, tacit born Sunday 2 March (no shift)."""
    t = tl(facts(PermitType.DP, date(2025, 2, 1)))
    assert on(t, "tacit_decision") == date(2025, 3, 2)
    assert on(t, "tacit_decision").weekday() == 6


def test_ordonnance_2025_1091_setting_moves_a_sunday_end_to_monday() -> None:
    """Rule set with the working-day extension on (ord. 2025-1091, [to confirm]):
    Sunday 2 March → Monday 3 March, tacit born Tuesday 4 March."""
    t = tl(facts(PermitType.DP, date(2025, 2, 2), rule_set=RS_EXT))
    assert t.instruction_deadline == date(2025, 3, 3)
    assert on(t, "tacit_decision") == date(2025, 3, 4)
    assert "ordonnance 2025-1091" in (t.get("instruction_deadline") or t.dates[0]).rule


def test_ordonnance_2025_1091_setting_skips_a_holiday() -> None:
    t = tl(facts(PermitType.DP, date(2025, 4, 1), rule_set=RS_EXT))
    assert t.instruction_deadline == date(2025, 5, 2)


# ----- completeness window (R423-22, R423-38) ----------------------------------------------------


def test_r423_38_completeness_limit_is_filing_plus_one_month() -> None:
    t = tl(facts(PermitType.PC, date(2025, 1, 31)))
    assert on(t, "completeness_limit") == date(2025, 2, 28)


def test_r423_22_deemed_complete_after_the_first_month_only() -> None:
    f = facts(PermitType.PC, date(2025, 1, 10))
    assert tl(f, today=date(2025, 2, 10)).complete is False
    later = tl(f, today=date(2025, 2, 11))
    assert later.complete is True
    assert on(later, "complete") == date(2025, 1, 10)


def test_r423_6_filing_notice_within_15_days() -> None:
    assert on(tl(facts(PermitType.PC, date(2025, 1, 10))), "filing_notice_display_limit") == (
        date(2025, 1, 25)
    )


# ----- late or abusive pieces requests (§12.5) ---------------------------------------------------


def test_r423_41_pieces_request_after_month_one_does_not_suspend() -> None:
    """PCMI filed 15 Jan 2025; request notified 16 Feb (limit 15 Feb) → ignored, deemed complete,
    tacit permit on the normal date 16 March."""
    f = facts(
        PermitType.PCMI,
        date(2025, 1, 15),
        pieces_requests=(PiecesRequest(notified_on=date(2025, 2, 16), pieces=("PCMI2",)),),
    )
    t = tl(f)
    assert t.instruction_deadline == date(2025, 3, 15)
    assert on(t, "tacit_decision") == date(2025, 3, 16)
    assert "pieces_request_late" in codes(t)
    assert t.missing_pieces == ()
    assert t.get("pieces_limit") is None


def test_r423_38_pieces_request_on_the_last_day_of_month_one_suspends() -> None:
    f = facts(
        PermitType.PCMI,
        date(2025, 1, 15),
        pieces_requests=(PiecesRequest(notified_on=date(2025, 2, 15), pieces=("PCMI2",)),),
    )
    t = tl(f, today=date(2025, 3, 1))
    assert t.instruction_deadline is None
    assert t.missing_pieces == ("PCMI2",)
    assert on(t, "pieces_limit") == date(2025, 5, 15)


def test_ce_2022_454521_request_for_a_piece_not_required_does_not_suspend() -> None:
    """CE Sect. 9 Dec 2022 Saint-Herblain n°454521, R423-41."""
    f = facts(
        PermitType.DP,
        date(2025, 3, 10),
        pieces_requests=(
            PiecesRequest(
                notified_on=date(2025, 3, 20), pieces=("DP2", "ETUDE"), not_required=("ETUDE",)
            ),
        ),
    )
    t = tl(f)
    assert t.instruction_deadline == date(2025, 4, 10)
    assert "pieces_request_not_required" in codes(t)
    message = next(x.message for x in t.findings if x.code == "pieces_request_not_required")
    assert "ETUDE" in message


def test_r423_38_second_request_does_not_suspend_again() -> None:
    f = facts(
        PermitType.PC,
        date(2025, 1, 6),
        pieces_requests=(
            PiecesRequest(notified_on=date(2025, 1, 20), pieces=("PC2",)),
            PiecesRequest(notified_on=date(2025, 2, 1), pieces=("PC4",)),
        ),
        pieces_receipts=(PiecesReceipt(received_on=date(2025, 3, 10), pieces=("PC2",)),),
    )
    t = tl(f)
    assert t.instruction_deadline == date(2025, 6, 10)
    assert "pieces_request_repeated" in codes(t)


# ----- pieces window (R423-39, §12.6 and §12.7) -------------------------------------------------


def _incomplete(permit_type: PermitType, *receipts: PiecesReceipt) -> Facts:
    return facts(
        permit_type,
        date(2025, 1, 6),
        pieces_requests=(PiecesRequest(notified_on=date(2025, 1, 20), pieces=("A2", "A4")),),
        pieces_receipts=receipts,
    )


def test_r423_39_some_pieces_within_three_months_still_incomplete() -> None:
    f = _incomplete(PermitType.PC, PiecesReceipt(received_on=date(2025, 3, 1), pieces=("A2",)))
    t = tl(f, today=date(2025, 4, 20))
    assert t.complete is False
    assert t.missing_pieces == ("A4",)
    assert t.instruction_deadline is None
    assert on(t, "pieces_limit") == date(2025, 4, 20)
    timers = {(p.kind, p.transition, p.last_day) for p in t.timers}
    assert ("urbanism_pieces", "pieces_timeout", date(2025, 4, 20)) in timers
    assert not any(p.kind in ("urbanism_tacit", "urbanism_completeness") for p in t.timers)


def test_r423_39_b_pieces_missing_at_three_months_tacit_rejection_for_a_permit() -> None:
    f = _incomplete(PermitType.PC, PiecesReceipt(received_on=date(2025, 3, 1), pieces=("A2",)))
    t = tl(f, today=date(2025, 4, 21))
    assert t.tacit_outcome is TacitOutcome.REJECTION
    assert on(t, "tacit_decision") == date(2025, 4, 21)
    assert "pieces_not_supplied" in codes(t)


def test_r423_39_b_pieces_missing_at_three_months_tacit_opposition_for_a_dp() -> None:
    t = tl(_incomplete(PermitType.DP), today=date(2025, 4, 21))
    assert t.tacit_outcome is TacitOutcome.OPPOSITION
    assert t.get("validity_end") is None


def test_r423_39_last_piece_three_months_and_one_day_after_no_resumption() -> None:
    """§12.7: request notified 20 Jan, limit 20 Apr; last piece on 21 Apr → rejection born,
    no new deadline (a new application is needed)."""
    f = _incomplete(
        PermitType.PC,
        PiecesReceipt(received_on=date(2025, 3, 1), pieces=("A2",)),
        PiecesReceipt(received_on=date(2025, 4, 21), pieces=("A4",)),
    )
    t = tl(f)
    assert t.instruction_deadline is None
    assert t.complete is False
    assert t.tacit_outcome is TacitOutcome.REJECTION
    assert "pieces_after_limit" in codes(t)


def test_r423_39_c_all_pieces_on_the_last_day_restart_the_full_deadline() -> None:
    f = _incomplete(
        PermitType.PC, PiecesReceipt(received_on=date(2025, 4, 20), pieces=("A2", "A4"))
    )
    t = tl(f)
    assert t.complete is True
    assert on(t, "complete") == date(2025, 4, 20)
    assert t.instruction_deadline == date(2025, 7, 20)


def test_r423_39_c_deadline_restarts_from_receipt_including_the_majoration() -> None:
    """§12.8: PC, request 20 Jan, R423-24 notified 25 Jan, pieces on 10 March → 10 March + 4
    months = 10 July."""
    f = dataclasses.replace(
        _incomplete(
            PermitType.PC, PiecesReceipt(received_on=date(2025, 3, 10), pieces=("A2", "A4"))
        ),
        majorations=(Majoration(MajorationGround.R423_24, date(2025, 1, 25)),),
    )
    assert tl(f).instruction_deadline == date(2025, 7, 10)


def test_r423_39_c_majoration_and_incompleteness_in_either_order_same_date() -> None:
    receipt = PiecesReceipt(received_on=date(2025, 3, 10), pieces=("PC2",))
    first_majoration = facts(
        PermitType.PC,
        date(2025, 1, 6),
        majorations=(Majoration(MajorationGround.R423_25, date(2025, 1, 15)),),
        pieces_requests=(PiecesRequest(notified_on=date(2025, 1, 20), pieces=("PC2",)),),
        pieces_receipts=(receipt,),
    )
    first_request = facts(
        PermitType.PC,
        date(2025, 1, 6),
        majorations=(Majoration(MajorationGround.R423_25, date(2025, 1, 20)),),
        pieces_requests=(PiecesRequest(notified_on=date(2025, 1, 15), pieces=("PC2",)),),
        pieces_receipts=(receipt,),
    )
    assert tl(first_majoration).instruction_deadline == date(2025, 8, 10)
    assert tl(first_request).instruction_deadline == date(2025, 8, 10)


# ----- majorations (R423-24, R423-25, R423-28, R425-31, R423-35; §12.4, §12.9) --------------


def _maj(permit_type: PermitType, *items: tuple[MajorationGround, date], **kw: Any) -> Timeline:
    return tl(
        facts(
            permit_type,
            date(2025, 1, 6),
            majorations=tuple(Majoration(g, d, **kw) for g, d in items),
        )
    )


def test_r423_24_plus_one_month_on_a_dp() -> None:
    t = _maj(PermitType.DP, (MajorationGround.R423_24, date(2025, 1, 20)))
    assert t.instruction_deadline == date(2025, 3, 6)
    d = t.get("instruction_deadline")
    assert d is not None
    assert "R423-24" in d.reference


def test_r423_42_majoration_notified_on_day_31_is_ignored() -> None:
    """§12.4: DP filed 10 March; majoration notified 11 April (limit 10 April) → ignored, tacit
    at the original date 11 April."""
    f = facts(
        PermitType.DP,
        date(2025, 3, 10),
        majorations=(Majoration(MajorationGround.R423_24, date(2025, 4, 11)),),
    )
    t = tl(f)
    assert t.instruction_deadline == date(2025, 4, 10)
    assert on(t, "tacit_decision") == date(2025, 4, 11)
    assert "majoration_late" in codes(t)


def test_r423_42_majoration_on_the_last_day_of_month_one_counts() -> None:
    f = facts(
        PermitType.DP,
        date(2025, 3, 10),
        majorations=(Majoration(MajorationGround.R423_24, date(2025, 4, 10)),),
    )
    assert tl(f).instruction_deadline == date(2025, 5, 10)


def test_ce_2023_462511_majoration_on_a_wrong_ground_has_no_effect() -> None:
    t = _maj(PermitType.PC, (MajorationGround.R423_25, date(2025, 1, 20)), ground_valid=False)
    assert t.instruction_deadline == date(2025, 4, 6)
    assert "majoration_invalid_ground" in codes(t)


def test_r423_25_not_cumulative_with_r423_24_the_longer_wins() -> None:
    """§12.9: PCMI 2 months + max(1, 2) = 4 months."""
    t = _maj(
        PermitType.PCMI,
        (MajorationGround.R423_24, date(2025, 1, 10)),
        (MajorationGround.R423_25, date(2025, 1, 12)),
    )
    assert t.instruction_deadline == date(2025, 5, 6)
    assert "majoration_not_cumulative" in codes(t)


def test_r423_28_sets_five_months_overriding_r423_24() -> None:
    t = _maj(
        PermitType.PCMI,
        (MajorationGround.R423_24, date(2025, 1, 10)),
        (MajorationGround.R423_28, date(2025, 1, 12)),
    )
    assert t.instruction_deadline == date(2025, 6, 6)
    assert "majoration_overridden" in codes(t)


def test_r425_31_archaeology_adds_one_month_to_a_permit() -> None:
    t = _maj(PermitType.PC, (MajorationGround.ARCHAEOLOGY, date(2025, 1, 10)))
    assert t.instruction_deadline == date(2025, 5, 6)


def test_r425_31_archaeology_adds_nothing_to_a_dp() -> None:
    t = _maj(PermitType.DP, (MajorationGround.ARCHAEOLOGY, date(2025, 1, 10)))
    assert t.instruction_deadline == date(2025, 2, 6)
    assert "majoration_not_applicable" in codes(t)


def test_r425_31_archaeology_adds_to_r423_25() -> None:
    t = _maj(
        PermitType.PC,
        (MajorationGround.R423_25, date(2025, 1, 10)),
        (MajorationGround.ARCHAEOLOGY, date(2025, 1, 10)),
    )
    assert t.instruction_deadline == date(2025, 7, 6)


def test_r423_35_prolongation_after_month_one_but_before_the_deadline() -> None:
    """PC filed 6 Jan (deadline 6 April); ABF appeal prolongation notified 1 April → +2 months."""
    t = _maj(PermitType.PC, (MajorationGround.R423_35, date(2025, 4, 1)))
    assert t.instruction_deadline == date(2025, 6, 6)


def test_r423_35_prolongation_after_the_deadline_is_too_late() -> None:
    t = _maj(PermitType.PC, (MajorationGround.R423_35, date(2025, 4, 7)))
    assert t.instruction_deadline == date(2025, 4, 6)
    assert "majoration_late" in codes(t)


# ----- certificats d'urbanisme (R410-9, R410-10, R410-12, L410-1; §12.21) --------------------


def test_r410_9_cua_one_month_and_r410_10_cub_two_months() -> None:
    assert tl(facts(PermitType.CUA, date(2025, 2, 3))).instruction_deadline == date(2025, 3, 3)
    assert tl(facts(PermitType.CUB, date(2025, 2, 3))).instruction_deadline == date(2025, 4, 3)


def test_r410_12_cub_without_answer_gives_a_tacit_cu_valid_18_months() -> None:
    t = tl(facts(PermitType.CUB, date(2025, 2, 3)))
    assert t.tacit_outcome is TacitOutcome.CU
    assert on(t, "tacit_decision") == date(2025, 4, 4)
    assert on(t, "cu_validity_end") == date(2026, 10, 4)
    d = t.get("cu_validity_end")
    assert d is not None
    assert "cristallisation" in d.note
    assert t.get("validity_end") is None
    assert t.get("withdrawal_limit") is None


def test_r410_17_1_cu_prorogation_by_silence_runs_from_the_end_of_initial_validity() -> None:
    """§12.21: tacit CUb valid until 4 Oct 2026; prorogation asked 1 June 2026, silence for 2
    months → acquired, validity until 4 Oct 2027 (from the initial end, not from the request)."""
    f = facts(
        PermitType.CUB,
        date(2025, 2, 3),
        prorogations=(Prorogation(requested_on=date(2026, 6, 1)),),
    )
    assert on(tl(f, today=date(2026, 8, 1)), "cu_validity_end") == date(2026, 10, 4)
    later = tl(f, today=date(2026, 8, 2))
    assert on(later, "cu_validity_end") == date(2027, 10, 4)
    assert "acquise par silence" in (later.get("cu_validity_end") or later.dates[0]).note


def test_r410_9_majoration_does_not_apply_to_a_cu() -> None:
    t = _maj(PermitType.CUA, (MajorationGround.R423_24, date(2025, 1, 10)))
    assert t.instruction_deadline == date(2025, 2, 6)
    assert "majoration_not_applicable" in codes(t)
