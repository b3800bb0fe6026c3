"""The state → Chorus Pro → 2026 lifecycle table, and the definition loading."""

from __future__ import annotations

import pytest

from workflows.procedures import build_engine
from workflows.procedures.supplier_invoices import lifecycle
from workflows.procedures.supplier_invoices.definition import DEFINITION, KEY

pytestmark = pytest.mark.unit


def test_every_state_has_a_chorus_status_and_a_lifecycle_code() -> None:
    assert {s.name for s in DEFINITION.states} == set(lifecycle.STATUSES)


@pytest.mark.parametrize(
    ("state", "chorus", "code"),
    [
        ("deposited", "DEPOSEE", "200"),
        ("made_available", "MISE_A_DISPOSITION", "203"),
        ("suspended", "SUSPENDUE", "208"),
        ("completed", "COMPLETEE", "209"),
        ("service_done", "SERVICE_FAIT", "205"),
        ("mandated", "MANDATEE", "205"),
        ("paid", "MISE_EN_PAIEMENT", "211"),
        ("rejected", "REJETEE", "210"),
    ],
)
def test_mapping_follows_einvoicing_md_section_9(state: str, chorus: str, code: str) -> None:
    status = lifecycle.status_of(state)
    assert (status.chorus, status.lifecycle) == (chorus, code)


def test_unknown_state_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(KeyError, match="sans statut"):
        lifecycle.status_of("perdue")


def test_refusal_is_a_mandatory_status_for_the_administration() -> None:
    assert lifecycle.status_of("rejected").lifecycle in lifecycle.MANDATORY_TO_ADMINISTRATION
    assert lifecycle.status_of("deposited").lifecycle in lifecycle.MANDATORY_TO_ADMINISTRATION


def test_definition_loads_and_the_department_certifies_but_does_not_mandate() -> None:
    engine = build_engine()
    definition = engine.procedures.get(KEY)
    assert definition.state("paid").terminal and definition.state("rejected").terminal
    assert "instructor" in definition.transition("certify_service").guard.roles
    assert "instructor" not in definition.transition("mandate").guard.roles
    assert definition.transition("suspend").sources == ("made_available", "service_done")
    assert "invoice_rejection" in {
        a.params.get("kind") for a in definition.transition("reject").actions
    }
