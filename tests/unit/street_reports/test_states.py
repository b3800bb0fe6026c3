"""What the reporter reads: "closed" is never "fixed", a rejection shows its reason, a transfer
names the third party, a duplicate the kept reference (open311.md §11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from workflows.procedures import build_engine
from workflows.procedures.street_reports.definition import DEFINITION, OPEN_STATES
from workflows.procedures.street_reports.states import (
    extended_status,
    label,
    public_status,
    rejection_text,
)

pytestmark = pytest.mark.unit


@dataclass
class R:
    state: str
    scheduled_for: date | None = None
    rejection_reason: str | None = None
    transferred_to: str | None = None
    duplicate_reference: str | None = None


def test_labels() -> None:
    assert label(R("submitted")) == "À qualifier"
    assert label(R("acknowledged")) == "Pris en compte"
    assert label(R("scheduled", scheduled_for=date(2026, 5, 1))) == (
        "Intervention programmée le 1er mai 2026"
    )
    assert label(R("rejected", rejection_reason="sur une propriété privée")) == (
        "Non retenu : sur une propriété privée"
    )
    assert label(R("transferred", transferred_to="Enedis")) == "Transmis à Enedis"
    assert label(R("duplicate", duplicate_reference="69001-2026-000007")) == (
        "Déjà signalé, n° 69001-2026-000007"
    )
    assert label(R("fixed")) == "Résolu"


def test_closed_is_never_shown_as_fixed() -> None:
    for state in ("closed", "rejected", "transferred", "duplicate", "cancelled"):
        assert "Résolu" not in label(R(state)) and extended_status(state) != "FIXED"
    assert extended_status("fixed") == "FIXED"


def test_open311_statuses() -> None:
    assert {public_status(s) for s in OPEN_STATES} == {"open"}
    for state in ("fixed", "closed", "rejected", "transferred", "duplicate", "cancelled"):
        assert public_status(state) == "closed"
    assert extended_status("submitted") == "FOR_TRIAGE"
    assert extended_status("scheduled") == "ACTION_SCHEDULED"
    assert extended_status("rejected") == "NO_FURTHER_ACTION"
    assert extended_status("transferred") == "NOT_COUNCILS_RESPONSIBILITY"
    assert extended_status("in_progress") == "IN_PROGRESS"


def test_every_state_of_the_definition_has_a_status_and_label() -> None:
    for state in DEFINITION.states:
        assert extended_status(state.name) and label(R(state.name))


def test_rejection_text() -> None:
    assert rejection_text("domaine_prive", None) == "sur une propriété privée"
    assert rejection_text("domaine_prive", "parking") == "sur une propriété privée (parking)"
    assert rejection_text("autre", "travaux du concessionnaire") == "travaux du concessionnaire"


def test_the_definition_loads_in_the_engine() -> None:
    engine = build_engine()
    assert engine.procedures.get("street_reports.report").initial_state == "submitted"
