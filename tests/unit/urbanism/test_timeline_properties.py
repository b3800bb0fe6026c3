"""Properties of the urbanism timeline (hypothesis): R423-23 counting, R424-1 tacit birth,
R423-39 c restart, R423-24/25 non-cumulation, R600-2 délai franc, codec round trip."""

from __future__ import annotations

import json
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.calendar import LegalCalendar, add_months
from workflows.procedures.urbanism import codec, timeline
from workflows.procedures.urbanism.facts import (
    Consultation,
    Decision,
    DecisionKind,
    Display,
    Facts,
    Majoration,
    MajorationGround,
    PermitType,
    PiecesReceipt,
    PiecesRequest,
    RuleSet,
)

CAL = LegalCalendar()
RS = RuleSet(key="ads-test")
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
TYPES = st.sampled_from(list(PermitType))
PERMITS_AND_DP = st.sampled_from(
    [t for t in PermitType if t not in (PermitType.CUA, PermitType.CUB)]
)
MONTH_ONE_GROUNDS = st.sampled_from(
    [
        MajorationGround.R423_24,
        MajorationGround.R423_25,
        MajorationGround.R423_28,
        MajorationGround.ARCHAEOLOGY,
    ]
)
FAST = settings(max_examples=100, deadline=None)


@st.composite
def early_facts(draw: st.DrawFn) -> Facts:
    """Random facts of the instruction phase (requests, receipts, majorations, consultations)."""
    filed = draw(DAYS)
    offset = st.integers(min_value=0, max_value=200).map(lambda n: filed + timedelta(days=n))
    pieces = ("A1", "A2", "A3")
    requests = draw(
        st.lists(
            st.builds(
                PiecesRequest,
                notified_on=offset,
                pieces=st.lists(st.sampled_from(pieces), min_size=1, unique=True).map(tuple),
            ),
            max_size=2,
        )
    )
    receipts = draw(
        st.lists(
            st.builds(
                PiecesReceipt,
                received_on=offset,
                pieces=st.lists(st.sampled_from(pieces), unique=True).map(tuple),
            ),
            max_size=3,
        )
    )
    majorations = draw(
        st.lists(
            st.builds(
                Majoration,
                ground=st.sampled_from(list(MajorationGround)),
                notified_on=offset,
                ground_valid=st.booleans(),
            ),
            max_size=3,
        )
    )
    consultations = draw(
        st.lists(
            st.builds(Consultation, service=st.sampled_from(["ABF", "SDIS"]), sent_on=offset),
            max_size=2,
        )
    )
    return Facts(
        permit_type=draw(TYPES),
        filed_on=filed,
        rule_set=RuleSet(
            key="ads-test", extend_instruction_deadlines_to_working_day=draw(st.booleans())
        ),
        pieces_requests=tuple(requests),
        pieces_receipts=tuple(receipts),
        majorations=tuple(majorations),
        consultations=tuple(consultations),
    )


@FAST
@given(early_facts(), st.one_of(st.none(), DAYS))
def test_no_legal_date_falls_before_the_filing(facts: Facts, today: date | None) -> None:
    t = timeline.compute(facts, CAL, today=today)
    assert all(d.on >= facts.filed_on for d in t.dates)
    assert all(p.last_day >= facts.filed_on for p in t.timers)
    if t.instruction_deadline is not None:
        assert t.instruction_deadline > facts.filed_on


@FAST
@given(early_facts())
def test_r424_1_tacit_decision_is_the_day_after_the_instruction_deadline(facts: Facts) -> None:
    t = timeline.compute(facts, CAL)
    tacit = t.get("tacit_decision")
    assert tacit is not None
    if t.instruction_deadline is not None:
        assert tacit.on == t.instruction_deadline + timedelta(days=1)
        assert any(
            p.kind == "urbanism_tacit" and p.last_day == t.instruction_deadline for p in t.timers
        )


@FAST
@given(
    PERMITS_AND_DP,
    DAYS,
    st.integers(0, 30),
    st.integers(0, 30),
    MONTH_ONE_GROUNDS,
    st.integers(0, 90),
)
def test_r423_39_c_majoration_and_pieces_request_in_either_order_same_deadline(
    permit_type: PermitType, filed: date, d1: int, d2: int, ground: MajorationGround, wait: int
) -> None:
    limit = add_months(filed, 1)
    first = min(filed + timedelta(days=d1), limit)
    second = min(filed + timedelta(days=d2), limit)
    # all pieces arrive within the 3 months of either request (R423-39 a)
    receipt_day = min(max(first, second) + timedelta(days=wait), add_months(min(first, second), 3))

    def with_order(request_on: date, majoration_on: date) -> date | None:
        f = Facts(
            permit_type=permit_type,
            filed_on=filed,
            rule_set=RS,
            pieces_requests=(PiecesRequest(request_on, ("X",)),),
            pieces_receipts=(PiecesReceipt(receipt_day, ("X",)),),
            majorations=(Majoration(ground, majoration_on),),
        )
        return timeline.compute(f, CAL).instruction_deadline

    assert with_order(first, second) == with_order(second, first)


@FAST
@given(TYPES, DAYS, st.integers(0, 30), st.integers(0, 92))
def test_r423_39_c_pieces_complete_on_day_d_gives_d_plus_base(
    permit_type: PermitType, filed: date, request_after: int, supplied_after: int
) -> None:
    request_on = min(filed + timedelta(days=request_after), add_months(filed, 1))
    received = request_on + timedelta(days=supplied_after)
    f = Facts(
        permit_type=permit_type,
        filed_on=filed,
        rule_set=RS,
        pieces_requests=(PiecesRequest(request_on, ("X",)),),
        pieces_receipts=(PiecesReceipt(received, ("X",)),),
    )
    months, _ = timeline.base_deadline(f)
    t = timeline.compute(f, CAL)
    if received <= add_months(request_on, 3):
        assert t.instruction_deadline == add_months(received, months)
    else:
        assert t.instruction_deadline is None


@FAST
@given(
    st.sampled_from([PermitType.PCMI, PermitType.PC, PermitType.PA, PermitType.PD]),
    DAYS,
    st.integers(0, 28),
)
def test_r423_25_with_r423_24_is_plus_two_months(
    permit_type: PermitType, filed: date, day: int
) -> None:
    notified = filed + timedelta(days=day)
    f = Facts(
        permit_type=permit_type,
        filed_on=filed,
        rule_set=RS,
        majorations=(
            Majoration(MajorationGround.R423_24, notified),
            Majoration(MajorationGround.R423_25, notified),
        ),
    )
    months, _ = timeline.base_deadline(f)
    assert timeline.compute(f, CAL).instruction_deadline == add_months(filed, months + 2)


@FAST
@given(DAYS)
def test_r600_2_appeal_limit_is_never_a_weekend_or_holiday(started: date) -> None:
    f = Facts(
        permit_type=PermitType.PC,
        filed_on=started - timedelta(days=200),
        rule_set=RS,
        decision=Decision(
            kind=DecisionKind.GRANTED,
            signed_on=started,
            notified_on=started - timedelta(days=100),
        ),
        display=Display(started_on=started),
    )
    appeal = timeline.compute(f, CAL).get("appeal_limit")
    assert appeal is not None
    assert CAL.is_working_day(appeal.on)
    assert appeal.on > add_months(started, 2)


@settings(max_examples=100, deadline=None)
@given(st.from_type(Facts))
def test_codec_round_trips_any_facts(facts: Facts) -> None:
    data = json.loads(json.dumps(codec.facts_to_json(facts)))
    assert codec.facts_from_json(data) == facts


@FAST
@given(early_facts(), st.one_of(st.none(), DAYS))
def test_codec_round_trips_any_timeline(facts: Facts, today: date | None) -> None:
    t = timeline.compute(facts, CAL, today=today)
    assert codec.timeline_from_json(json.loads(json.dumps(codec.timeline_to_json(t)))) == t
