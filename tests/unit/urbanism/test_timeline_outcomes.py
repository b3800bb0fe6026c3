"""Worked examples: tacit outcomes and their exceptions, consultations, decisions, retrait, the
life of a granted authorisation (display, appeals, validity, works, conformity) and the timers.

urbanism.md §12 items 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 23 (R424-1..3, R424-2-1, R423-59,
L424-5, L424-9, R424-15..21, R600-2, R600-3, R462-6/7/10)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from workflows.engine.calendar import LegalCalendar
from workflows.procedures.urbanism import timeline
from workflows.procedures.urbanism.facts import (
    Consultation,
    Decision,
    DecisionKind,
    Display,
    Exception_,
    Facts,
    Interruption,
    Opinion,
    PermitType,
    Prorogation,
    RuleSet,
    TacitOutcome,
    Timeline,
    Withdrawal,
)

CAL = LegalCalendar()
RS = RuleSet(key="ads-2025-12-31")


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


def timers(t: Timeline) -> set[tuple[str, str, date]]:
    return {(p.kind, p.transition, p.last_day) for p in t.timers}


# ----- tacit outcome exceptions (R424-1, R424-2, R424-2-1, R424-3; §12.10–12) -------------------


def test_r424_1_silence_on_a_permit_is_a_tacit_permit() -> None:
    t = tl(facts(PermitType.PC, date(2025, 1, 6)))
    assert t.tacit_outcome is TacitOutcome.GRANTED
    assert ("urbanism_tacit", "tacit_favourable", date(2025, 4, 6)) in timers(t)


def test_r424_2_immeuble_inscrit_silence_is_rejection() -> None:
    f = facts(
        PermitType.PC,
        date(2025, 1, 6),
        exceptions=frozenset({Exception_.MONUMENT_INSCRIT_OR_ADJOINING}),
    )
    t = tl(f)
    assert t.tacit_outcome is TacitOutcome.REJECTION
    assert ("urbanism_tacit", "tacit_rejection", date(2025, 4, 6)) in timers(t)
    assert t.get("validity_end") is None
    tacit = t.get("tacit_decision")
    assert tacit is not None
    assert "R424-2" in tacit.reference


def test_r424_2_site_classe_on_a_dp_silence_is_tacit_opposition() -> None:
    f = facts(
        PermitType.DP, date(2025, 1, 6), exceptions=frozenset({Exception_.SITE_CLASSE_OR_RESERVE})
    )
    assert tl(f).tacit_outcome is TacitOutcome.OPPOSITION


def test_r424_2_mixed_pc_with_demolition_in_a_site_inscrit_is_rejection() -> None:
    """CE 12 Feb 2020 n°421949: the rejection rule applies to the whole mixed PC + PD."""
    f = facts(
        PermitType.PC, date(2025, 1, 6), exceptions=frozenset({Exception_.DEMOLITION_SITE_INSCRIT})
    )
    assert tl(f).tacit_outcome is TacitOutcome.REJECTION


def test_r424_2_1_environmental_assessment_rejection_from_31_december_2025_only() -> None:
    env = frozenset({Exception_.ENVIRONMENTAL_ASSESSMENT})
    before = tl(facts(PermitType.PA, date(2025, 12, 30), exceptions=env))
    from_day = tl(facts(PermitType.PA, date(2025, 12, 31), exceptions=env))
    assert before.tacit_outcome is TacitOutcome.GRANTED
    assert "environmental_assessment_before_rule" in codes(before)
    assert from_day.tacit_outcome is TacitOutcome.REJECTION
    tacit = from_day.get("tacit_decision")
    assert tacit is not None
    assert "R424-2-1" in tacit.reference


def _abf(answered_on: date | None, opinion: Opinion | None) -> Facts:
    return facts(
        PermitType.PC,
        date(2025, 1, 6),
        consultations=(
            Consultation(
                service="ABF",
                sent_on=date(2025, 1, 10),
                answered_on=answered_on,
                opinion=opinion,
                abf_accord_required=True,
            ),
        ),
    )


def test_r424_3_abf_accord_with_prescriptions_in_time_then_silence_is_rejection() -> None:
    """§12.10."""
    t = tl(_abf(date(2025, 2, 1), Opinion.WITH_PRESCRIPTIONS))
    assert t.tacit_outcome is TacitOutcome.REJECTION
    tacit = t.get("tacit_decision")
    assert tacit is not None
    assert "R424-3" in tacit.reference


def test_r424_3_abf_refusal_on_the_last_day_is_in_time() -> None:
    assert tl(_abf(date(2025, 2, 10), Opinion.UNFAVOURABLE)).tacit_outcome is TacitOutcome.REJECTION


def test_r424_3_late_abf_refusal_is_deemed_favourable_and_tacit_permit_remains() -> None:
    t = tl(_abf(date(2025, 2, 11), Opinion.UNFAVOURABLE))
    assert t.tacit_outcome is TacitOutcome.GRANTED
    assert "opinion_late" in codes(t)


def test_r424_3_favourable_abf_opinion_keeps_the_tacit_permit() -> None:
    assert tl(_abf(date(2025, 2, 1), Opinion.FAVOURABLE)).tacit_outcome is TacitOutcome.GRANTED


# ----- consultations (R423-59; §12.23) ----------------------------------------------------------


def test_r423_59_unanswered_consultation_deemed_favourable_after_one_month() -> None:
    f = facts(
        PermitType.PC, date(2025, 1, 6), consultations=(Consultation("SDIS", date(2025, 1, 31)),)
    )
    before = tl(f, today=date(2025, 2, 28))
    after = tl(f, today=date(2025, 3, 1))
    assert on(before, "consultation:SDIS") == date(2025, 2, 28)
    assert "sera réputé favorable" in (before.get("consultation:SDIS") or before.dates[0]).note
    assert (
        "Sans réponse : avis réputé favorable"
        in (after.get("consultation:SDIS") or after.dates[0]).note
    )


def test_r423_59_late_opinion_is_recorded_with_a_note() -> None:
    f = facts(
        PermitType.PC,
        date(2025, 1, 6),
        consultations=(
            Consultation(
                "ENEDIS",
                date(2025, 1, 10),
                answered_on=date(2025, 3, 1),
                opinion=Opinion.FAVOURABLE,
            ),
        ),
    )
    t = tl(f)
    d = t.get("consultation:ENEDIS")
    assert d is not None
    assert "1er mars 2025" in d.note
    assert "opinion_late" in codes(t)


def test_consultation_own_delay_in_days_or_months() -> None:
    f = facts(
        PermitType.PC,
        date(2025, 1, 6),
        consultations=(
            Consultation("SDIS", date(2025, 1, 10), delay_days=15),
            Consultation("ABF", date(2025, 1, 10), delay_months=2),
        ),
    )
    t = tl(f)
    assert on(t, "consultation:SDIS") == date(2025, 1, 25)
    assert on(t, "consultation:ABF") == date(2025, 3, 10)


def test_r423_59_consultation_delay_from_the_rule_set() -> None:
    f = facts(
        PermitType.PC,
        date(2025, 1, 6),
        rule_set=RuleSet(key="x", consultation_months=2),
        consultations=(Consultation("SDIS", date(2025, 1, 10)),),
    )
    assert on(tl(f), "consultation:SDIS") == date(2025, 3, 10)


# ----- decision notified: in time, late = retrait (§12.3) --------------------------------------


def _pc_with_decision(kind: DecisionKind, notified_on: date | None) -> Facts:
    """PC filed 3 March 2025: last day 3 June, tacit born 4 June."""
    return facts(
        PermitType.PC,
        date(2025, 3, 3),
        decision=Decision(kind=kind, signed_on=date(2025, 6, 2), notified_on=notified_on),
    )


def test_r424_10_refusal_notified_on_the_last_day_prevents_the_tacit_permit() -> None:
    t = tl(_pc_with_decision(DecisionKind.REFUSED, date(2025, 6, 3)))
    assert not any(p.kind == "urbanism_tacit" for p in t.timers)
    assert t.get("validity_end") is None
    assert "decision_is_withdrawal" not in codes(t)
    assert on(t, "decision_notified") == date(2025, 6, 3)


def test_l424_5_refusal_signed_in_time_presented_the_day_after_is_a_retrait() -> None:
    """§12.3: signed 2 June, first presented 4 June → tacit permit born 4 June 00:00; the refusal
    is a retrait needing the L424-5 procedure."""
    t = tl(_pc_with_decision(DecisionKind.REFUSED, date(2025, 6, 4)))
    assert "decision_is_withdrawal" in codes(t)
    assert ("urbanism_tacit", "tacit_favourable", date(2025, 6, 3)) in timers(t)
    assert on(t, "withdrawal_limit") == date(2025, 9, 4)
    assert on(t, "validity_end") == date(2028, 6, 4)


def test_unnotified_decision_does_not_count() -> None:
    t = tl(_pc_with_decision(DecisionKind.REFUSED, None))
    assert "decision_not_notified" in codes(t)
    assert ("urbanism_tacit", "tacit_favourable", date(2025, 6, 3)) in timers(t)


def test_explicit_permit_dates_run_from_notification() -> None:
    """R424-15 (8 days), L424-5 (3 months), R424-17 (3 years), R424-21 (2 months before)."""
    t = tl(_pc_with_decision(DecisionKind.GRANTED, date(2025, 5, 20)))
    assert on(t, "decision_display_limit") == date(2025, 5, 28)
    assert on(t, "withdrawal_limit") == date(2025, 8, 20)
    assert on(t, "validity_end") == date(2028, 5, 20)
    assert on(t, "prorogation_request_limit") == date(2028, 3, 20)
    assert t.timers == ()


def test_favourable_decision_after_tacit_permit_confirms_it_dates_from_birth() -> None:
    t = tl(_pc_with_decision(DecisionKind.GRANTED, date(2025, 6, 20)))
    assert "decision_confirms_tacit" in codes(t)
    assert on(t, "validity_end") == date(2028, 6, 4)


def test_tacit_permit_dates_only_once_born_when_today_is_given() -> None:
    f = facts(PermitType.PC, date(2025, 3, 3))
    assert tl(f, today=date(2025, 6, 3)).get("validity_end") is None
    assert on(tl(f, today=date(2025, 6, 4)), "validity_end") == date(2028, 6, 4)


# ----- L424-9 tree felling (§12.13) -------------------------------------------------------------


def test_l424_9_tree_felling_non_opposition_executory_one_month_after() -> None:
    t = tl(facts(PermitType.DP, date(2025, 1, 2), tree_felling=True))
    assert on(t, "tacit_decision") == date(2025, 2, 3)
    assert on(t, "executory_tree_felling") == date(2025, 3, 3)


def test_l424_9_only_for_tree_felling() -> None:
    assert tl(facts(PermitType.DP, date(2025, 1, 2))).get("executory_tree_felling") is None


# ----- L424-5 withdrawal (§12.14) ---------------------------------------------------------------

_TACIT_1_FEB = facts(PermitType.PC, date(2024, 10, 31))
"""PC filed 31 Oct 2024: last day 31 Jan 2025, tacit permit born 1 Feb 2025, retrait until
1 May 2025 (89 days later)."""


def test_l424_5_withdrawal_limit_three_months_after_tacit_birth() -> None:
    assert on(tl(_TACIT_1_FEB), "withdrawal_limit") == date(2025, 5, 1)


def test_l424_5_withdrawal_on_day_95_is_too_late() -> None:
    day_95 = date(2025, 2, 1) + timedelta(days=95)
    t = tl(_replace(_TACIT_1_FEB, withdrawal=Withdrawal(day_95)))
    assert "withdrawal_late" in codes(t)
    assert t.get("validity_end") is not None


def test_l424_5_withdrawal_decided_day_85_notified_day_92_is_too_late() -> None:
    """CE 13 Feb 2012 n°351617: the notification, not the signature, must come in time."""
    check = timeline.check_withdrawal(_TACIT_1_FEB, date(2025, 2, 1) + timedelta(days=92))
    assert check.effective is False
    assert check.findings[0].code == "withdrawal_late"


def test_l424_5_withdrawal_notified_in_time_ends_the_validity_dates() -> None:
    t = tl(_replace(_TACIT_1_FEB, withdrawal=Withdrawal(date(2025, 5, 1))))
    assert t.get("validity_end") is None
    assert "withdrawal_late" not in codes(t)


# ----- validity, prorogation, appeal, lapse (§12.15) -------------------------------------------


def _granted(**kw: Any) -> Facts:
    """PC notified 20 Dec 2021: valid until 20 Dec 2024."""
    return facts(
        PermitType.PC,
        date(2021, 10, 1),
        decision=Decision(DecisionKind.GRANTED, date(2021, 12, 15), date(2021, 12, 20)),
        **kw,
    )


def _replace(f: Facts, **kw: Any) -> Facts:
    import dataclasses

    return dataclasses.replace(f, **kw)


def test_r424_17_validity_three_years_from_notification() -> None:
    assert on(tl(_granted()), "validity_end") == date(2024, 12, 20)


def test_r424_21_each_granted_prorogation_adds_one_year_up_to_two() -> None:
    one = _granted(prorogations=(Prorogation(date(2024, 9, 1), date(2024, 9, 20)),))
    three = _granted(
        prorogations=(
            Prorogation(date(2024, 9, 1), date(2024, 9, 20)),
            Prorogation(date(2025, 9, 1), date(2025, 9, 20)),
            Prorogation(date(2026, 9, 1), date(2026, 9, 20)),
        )
    )
    assert on(tl(one), "validity_end") == date(2025, 12, 20)
    assert on(tl(three), "validity_end") == date(2026, 12, 20)
    assert tl(three).get("prorogation_request_limit") is None


def test_r424_21_prorogation_acquired_by_two_months_of_silence() -> None:
    f = _granted(prorogations=(Prorogation(date(2024, 9, 1)),))
    assert on(tl(f, today=date(2024, 11, 1)), "validity_end") == date(2024, 12, 20)
    assert on(tl(f, today=date(2024, 11, 2)), "validity_end") == date(2025, 12, 20)


def test_r424_19_appeal_suspends_validity_then_adds_the_time_back() -> None:
    pending = tl(_granted(appeal_pending_since=date(2023, 3, 1)))
    assert pending.get("validity_end") is None
    assert "validity_suspended" in codes(pending)
    ended = tl(_granted(appeal_pending_since=date(2023, 3, 1), appeal_ended_on=date(2024, 3, 1)))
    assert on(ended, "validity_end") == date(2024, 12, 20) + timedelta(days=366)


def test_r424_17_works_start_at_2_years_11_months_then_stop_13_months_lapsed() -> None:
    f = _granted(
        doc_on=date(2024, 11, 20),
        interruptions=(Interruption(date(2024, 12, 1), date(2026, 1, 1)),),
    )
    finding = timeline.lapsed(f, date(2026, 1, 2))
    assert finding is not None
    assert finding.code == "lapsed"
    assert "lapsed" in codes(tl(f, today=date(2026, 1, 2)))


def test_r424_17_works_stopped_exactly_twelve_months_not_lapsed() -> None:
    f = _granted(
        doc_on=date(2024, 11, 20),
        interruptions=(Interruption(date(2024, 12, 1), date(2025, 12, 1)),),
    )
    assert timeline.lapsed(f, date(2026, 1, 2)) is None


def test_r424_17_no_works_by_the_end_of_validity_lapsed_the_day_after() -> None:
    assert timeline.lapsed(_granted(), date(2024, 12, 20)) is None
    assert timeline.lapsed(_granted(), date(2024, 12, 21)) is not None


# ----- DOC, DAACT and conformity (§12.16, §12.17) -----------------------------------------------


def test_r424_16_doc_before_the_decision_is_flagged_and_ignored() -> None:
    t = tl(_granted(doc_on=date(2021, 12, 1), daact_on=date(2022, 6, 1)))
    assert {"opening_before_decision", "completion_before_opening"} <= codes(t)
    assert t.get("conformity_limit") is None


def test_r462_6_conformity_three_months_after_daact_with_timer() -> None:
    t = tl(_granted(doc_on=date(2022, 3, 1), daact_on=date(2025, 3, 10)))
    assert on(t, "conformity_limit") == date(2025, 6, 10)
    assert ("urbanism_conformity", "conformity_acquired", date(2025, 6, 10)) in timers(t)
    assert t.get("prorogation_request_limit") is None


def test_r462_7_conformity_five_months_in_a_protected_area() -> None:
    t = tl(_granted(doc_on=date(2022, 3, 1), daact_on=date(2025, 3, 10), protected_area=True))
    assert on(t, "conformity_limit") == date(2025, 8, 10)


# ----- display and appeals (R600-2, R600-3; §12.2, §12.18) --------------------------------------


def test_r600_2_appeal_limit_two_months_franc_from_first_display_day() -> None:
    """Display from 1 March 2025: 1 May + 1 (franc) = Friday 2 May 2025."""
    t = tl(_granted(display=Display(started_on=date(2025, 3, 1))))
    assert on(t, "appeal_limit") == date(2025, 5, 2)


def test_r600_2_franc_deadline_ending_saturday_moves_to_monday() -> None:
    """CE 19 Sept 2014 n°362568: display from 6 July 2024 → 7 Sept (Saturday) → Monday 9 Sept."""
    t = tl(_granted(display=Display(started_on=date(2024, 7, 6))))
    assert on(t, "appeal_limit") == date(2024, 9, 9)


def test_r600_2_panel_without_appeal_mention_the_delay_never_starts() -> None:
    t = tl(_granted(display=Display(started_on=date(2022, 1, 5), mentions_complete=False)))
    assert t.get("appeal_limit") is None
    assert "display_missing_appeal_mention" in codes(t)


def test_r600_2_interrupted_display_the_delay_never_starts() -> None:
    t = tl(_granted(display=Display(started_on=date(2022, 1, 5), interrupted=True)))
    assert t.get("appeal_limit") is None
    assert "display_interrupted" in codes(t)


def test_r600_3_backstop_six_months_after_daact_still_applies() -> None:
    """DAACT 10 March 2025 → 10 Sept + 1 (franc) = Thursday 11 Sept 2025."""
    t = tl(
        _granted(
            display=Display(started_on=date(2022, 1, 5), mentions_complete=False),
            doc_on=date(2022, 3, 1),
            daact_on=date(2025, 3, 10),
        )
    )
    assert on(t, "appeal_backstop") == date(2025, 9, 11)


# ----- timers and next legal date ---------------------------------------------------------------


def test_timers_completeness_and_tacit_for_a_fresh_file() -> None:
    t = tl(facts(PermitType.PCMI, date(2025, 1, 15)))
    assert timers(t) == {
        ("urbanism_completeness", "deem_complete", date(2025, 2, 15)),
        ("urbanism_tacit", "tacit_favourable", date(2025, 3, 15)),
    }
    for plan in t.timers:
        assert plan.reference


def test_next_legal_date_is_the_earliest_actionable_date_from_today() -> None:
    t = tl(facts(PermitType.PCMI, date(2025, 1, 15)), today=date(2025, 1, 31))
    assert t.next_legal_date is not None
    assert t.next_legal_date.key == "completeness_limit"
    assert t.next_legal_date.on == date(2025, 2, 15)
    later = tl(facts(PermitType.PCMI, date(2025, 1, 15)), today=date(2025, 2, 16))
    assert later.next_legal_date is not None
    assert later.next_legal_date.key == "instruction_deadline"


def test_next_legal_date_none_without_today() -> None:
    assert tl(facts(PermitType.PCMI, date(2025, 1, 15))).next_legal_date is None


def test_every_date_carries_french_label_rule_reference_and_rule_set() -> None:
    t = tl(
        _granted(
            display=Display(started_on=date(2022, 1, 5)),
            doc_on=date(2022, 3, 1),
            daact_on=date(2025, 3, 10),
            consultations=(Consultation("SDIS", date(2021, 10, 5)),),
        )
    )
    assert len(t.dates) >= 12
    for d in t.dates:
        assert d.label
        assert d.rule
        assert d.reference
        assert d.rule_set == "ads-2025-12-31"
    assert [d.on for d in t.dates] == sorted(d.on for d in t.dates)
