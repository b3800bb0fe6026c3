"""Rule sets pinned by filing date (R424-2-1 from 31 Dec 2025, ord. 2025-1091 setting) and the
JSON codec of facts and timeline (exact round trip, strict decoding)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from workflows.engine.calendar import LegalCalendar
from workflows.procedures.urbanism import codec, rulesets, timeline
from workflows.procedures.urbanism.facts import (
    Consultation,
    Decision,
    DecisionKind,
    Display,
    Exception_,
    Facts,
    Majoration,
    MajorationGround,
    Opinion,
    PermitType,
    PiecesReceipt,
    PiecesRequest,
    RuleSet,
)

# ----- rule sets ---------------------------------------------------------------------------------


def test_rule_set_key_pinned_by_filing_date() -> None:
    s = rulesets.UrbanismSettings()
    assert rulesets.rule_set_for("69001", date(2025, 12, 30), s).key == "ads-2024"
    assert rulesets.rule_set_for("69001", date(2025, 12, 31), s).key == "ads-2025-12-31"


def test_rule_set_defaults_are_the_law_in_force() -> None:
    rs = rulesets.rule_set_for("69001", date(2025, 6, 1), rulesets.UrbanismSettings())
    assert rs == RuleSet(key="ads-2024")
    assert rs.extend_instruction_deadlines_to_working_day is False


def test_rule_set_values_mirror_every_rule_set_field_and_default() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(RuleSet) if f.name != "key"}
    assert set(rulesets.RuleSetValues.model_fields) == set(fields)
    assert rulesets.RuleSetValues().model_dump() == fields


def test_working_day_extension_applies_from_its_start_date_with_its_own_key() -> None:
    s = rulesets.UrbanismSettings(
        extend_instruction_deadlines_to_working_day=True,
        working_day_extension_from=date(2026, 3, 1),
    )
    before = rulesets.rule_set_for("69001", date(2026, 2, 28), s)
    after = rulesets.rule_set_for("69001", date(2026, 3, 1), s)
    assert (before.key, before.extend_instruction_deadlines_to_working_day) == (
        "ads-2025-12-31",
        False,
    )
    assert (after.key, after.extend_instruction_deadlines_to_working_day) == (
        "ads-2026-03-01",
        True,
    )


def test_tenant_override_from_environment_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GUICHET_URBANISM_TENANT_OVERRIDES", json.dumps({"69001": {"consultation_months": 2}})
    )
    monkeypatch.setenv("GUICHET_URBANISM_R423_28_MONTHS", "6")
    s = rulesets.UrbanismSettings()
    a = rulesets.rule_set_for("69001", date(2026, 1, 5), s)
    b = rulesets.rule_set_for("69002", date(2026, 1, 5), s)
    assert (a.consultation_months, a.r423_28_months, a.key) == (2, 6, "ads-2025-12-31+69001")
    assert (b.consultation_months, b.r423_28_months, b.key) == (1, 6, "ads-2025-12-31")


@pytest.mark.parametrize(
    "overrides",
    [
        {"69001": {"unknown_field": 1}},
        {"69001": {"consultation_months": "deux"}},
        {"69001": {"consultation_months": 0}},
        {"not-insee": {"consultation_months": 2}},
        {"69001": {"key": "forged"}},
    ],
)
def test_invalid_tenant_overrides_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rulesets.UrbanismSettings(tenant_overrides=overrides)


# ----- codec -------------------------------------------------------------------------------------

RICH = Facts(
    permit_type=PermitType.PC,
    filed_on=date(2025, 1, 6),
    rule_set=RuleSet(key="ads-2024", consultation_months=2),
    exceptions=frozenset({Exception_.PUBLIC_INQUIRY, Exception_.DEFENCE_AUTHORISATION}),
    pieces_requests=(PiecesRequest(date(2025, 1, 20), ("PC2", "PC4"), ("É",)),),
    pieces_receipts=(PiecesReceipt(date(2025, 3, 1), ("PC2",)),),
    majorations=(Majoration(MajorationGround.R423_25, date(2025, 1, 21), ground_valid=False),),
    consultations=(
        Consultation(
            "ABF",
            date(2025, 1, 10),
            delay_days=40,
            answered_on=date(2025, 2, 1),
            opinion=Opinion.WITH_PRESCRIPTIONS,
            abf_accord_required=True,
        ),
    ),
    decision=Decision(DecisionKind.GRANTED_WITH_PRESCRIPTIONS, date(2025, 4, 1), date(2025, 4, 3)),
    display=Display(date(2025, 4, 5), mentions_complete=False),
)


def test_facts_round_trip_through_real_json() -> None:
    data = json.loads(json.dumps(codec.facts_to_json(RICH)))
    assert codec.facts_from_json(data) == RICH


def test_facts_json_shape() -> None:
    data = codec.facts_to_json(RICH)
    assert data["permit_type"] == "PC"
    assert data["filed_on"] == "2025-01-06"
    assert data["exceptions"] == ["r424_2_a_defense", "r424_2_e_enquete_publique"]
    assert data["pieces_requests"][0] == {
        "notified_on": "2025-01-20",
        "pieces": ["PC2", "PC4"],
        "not_required": ["É"],
    }
    assert data["rule_set"]["consultation_months"] == 2
    assert data["decision"]["kind"] == "accord_avec_prescriptions"


def test_timeline_json_shape_and_round_trip() -> None:
    t = timeline.compute(
        dataclasses.replace(RICH, decision=None), LegalCalendar(), today=date(2025, 2, 1)
    )
    assert t.timers
    data = json.loads(json.dumps(codec.timeline_to_json(t)))
    assert set(data) == {
        "dates",
        "findings",
        "timers",
        "instruction_deadline",
        "tacit_outcome",
        "complete",
        "missing_pieces",
        "next_legal_date",
    }
    assert set(data["dates"][0]) == {"key", "on", "label", "rule", "reference", "rule_set", "note"}
    assert set(data["findings"][0]) == {"code", "message", "reference"}
    assert set(data["timers"][0]) == {"kind", "last_day", "transition", "rule", "reference"}
    assert data["next_legal_date"]["key"]
    assert codec.timeline_from_json(data) == t


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(filed_on="2025-02-30"), "filed_on"),
        (lambda d: d.update(filed_on="20250106"), "filed_on"),
        (lambda d: d.update(filed_on=20250106), "filed_on"),
        (lambda d: d.update(permit_type="XX"), "permit_type"),
        (lambda d: d.update(tree_felling=1), "tree_felling"),
        (lambda d: d.update(exceptions="r424_2_a_defense"), "exceptions"),
        (lambda d: d.update(surprise=True), "surprise"),
        (lambda d: d.pop("rule_set"), "rule_set"),
        (lambda d: d["rule_set"].update(validity_years=True), "validity_years"),
        (lambda d: d["pieces_requests"][0].update(pieces=[1]), "pieces"),
        (lambda d: d.update(decision="accord"), "decision"),
    ],
)
def test_facts_from_bad_json_raise_codec_error_with_the_path(mutate: Any, where: str) -> None:
    data = codec.facts_to_json(RICH)
    mutate(data)
    with pytest.raises(codec.CodecError) as raised:
        codec.facts_from_json(data)
    assert where in str(raised.value)


def test_facts_from_json_not_an_object() -> None:
    with pytest.raises(codec.CodecError):
        codec.facts_from_json(["PC"])
