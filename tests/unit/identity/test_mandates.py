"""Who may act for whom: ``mandate_allows`` (pure) and the SIREN / SIRET checks.

identity.md §3: reading a company's cases accepts ProConnect membership; acting for it needs a
certified dirigeant, an RNE mandataire or an agent's validation; a person's helper needs a valid,
unrevoked mandate with an expiry whose scope covers the procedure.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from identity.models import Mandate
from identity.organisations import (
    ACTING_FOR_ORGANISATION,
    BASES,
    ORGANISATION_BASES,
    PERSON_BASES,
    check_identifiers,
    mandate_allows,
    mandate_status,
)
from services.kernel.errors import ValidationFailed

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERMIT = "urbanism.pcmi"


def mandate(*, for_person: bool = False, **overrides: Any) -> Mandate:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "holder_person_id": uuid.uuid4(),
        "holder_agent_id": None,
        "represented_person_id": uuid.uuid4() if for_person else None,
        "organisation_id": None if for_person else uuid.uuid4(),
        "role": "aidant" if for_person else "comptable",
        "basis": "agent_validated",
        "scope": {"procedures": []},
        "evidence": "",
        "tenant_id": None,
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=30) if for_person else None,
        "verified_by_agent_id": None,
        "created_at": NOW - timedelta(days=1),
        "revoked_at": None,
        "revoked_reason": None,
    }
    fields.update(overrides)
    return Mandate(**fields)


def allows(m: Mandate, action: str, procedure: str | None = PERMIT, now: datetime = NOW) -> bool:
    return mandate_allows(m, action=action, procedure_key=procedure, now=now)  # type: ignore[arg-type]


# ----- organisations -------------------------------------------------------------------------------


def test_membership_reads_a_company_but_never_acts_for_it() -> None:
    member = mandate(basis="proconnect_siret_membership")

    assert allows(member, "read")
    assert not allows(member, "act")


@pytest.mark.parametrize("basis", sorted(ACTING_FOR_ORGANISATION))
def test_a_dirigeant_an_rne_mandataire_or_a_validated_mandate_acts_for_a_company(
    basis: str,
) -> None:
    m = mandate(basis=basis)

    assert allows(m, "read") and allows(m, "act")


@pytest.mark.parametrize("basis", sorted(BASES - ORGANISATION_BASES))
def test_a_person_basis_gives_nothing_over_a_company(basis: str) -> None:
    m = mandate(basis=basis)

    assert not allows(m, "read") and not allows(m, "act")


# ----- people ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("basis", sorted(PERSON_BASES))
def test_a_helper_acts_for_a_person_within_the_scope(basis: str) -> None:
    m = mandate(for_person=True, basis=basis, scope={"procedures": [PERMIT]})

    assert allows(m, "read") and allows(m, "act")
    assert not allows(m, "act", "cemeteries.concession")
    assert not allows(m, "read", None)  # a scoped mandate covers only what it names


def test_an_unrestricted_helper_mandate_covers_every_procedure() -> None:
    m = mandate(for_person=True, scope={"procedures": []})

    assert allows(m, "act", "cemeteries.concession")
    assert allows(m, "read", None)


@pytest.mark.parametrize("basis", sorted(BASES - PERSON_BASES))
def test_a_company_basis_gives_nothing_over_a_person(basis: str) -> None:
    m = mandate(for_person=True, basis=basis)

    assert not allows(m, "read") and not allows(m, "act")


def test_a_helper_mandate_without_expiry_gives_nothing() -> None:
    assert not allows(mandate(for_person=True, valid_until=None), "read")


# ----- time and revocation -----------------------------------------------------------------------


@pytest.mark.parametrize("for_person", [True, False])
def test_validity_window_and_revocation(for_person: bool) -> None:
    m = mandate(for_person=for_person, valid_until=NOW + timedelta(hours=1))

    assert allows(m, "act")
    assert not allows(m, "act", now=NOW + timedelta(hours=1))  # the end is exclusive
    assert mandate_status(m, NOW + timedelta(hours=1)) == "expired"
    assert not allows(m, "act", now=NOW - timedelta(days=2))
    assert mandate_status(m, NOW - timedelta(days=2)) == "future"

    m.revoked_at = NOW - timedelta(minutes=1)

    assert not allows(m, "read")
    assert mandate_status(m, NOW) == "revoked"


def test_a_mandate_for_both_or_neither_gives_nothing() -> None:
    both = mandate(for_person=True, organisation_id=uuid.uuid4())
    neither = mandate(organisation_id=None)

    assert not allows(both, "read") and not allows(neither, "read")


def test_an_unknown_action_gives_nothing() -> None:
    assert not allows(mandate(), "delete")


def test_a_malformed_scope_covers_nothing() -> None:
    m = mandate(for_person=True, scope={"procedures": "urbanism.pcmi"})

    assert not allows(m, "act") and not allows(m, "read", None)
    m.scope = {"procedures": ["urbanism.pcmi"]}
    assert allows(m, "act")
    assert not allows(m, "act", "urbanism.pc")  # exact keys, no prefix matching
    m.scope = {}
    assert allows(m, "act", "cemeteries.concession")  # no list at all: unrestricted


# ----- SIREN / SIRET ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("siren", "siret", "expected"),
    [
        (None, "73282932000074", ("732829320", "73282932000074")),
        ("732 829 320", None, ("732829320", None)),
        ("732829320", "732\u00a0829\u00a0320\u00a000074", ("732829320", "73282932000074")),
        (None, "35600000010000", ("356000000", "35600000010000")),  # La Poste: digit sum mod 5
    ],
)
def test_identifiers_are_normalised(
    siren: str | None, siret: str | None, expected: tuple[str, str | None]
) -> None:
    assert check_identifiers(siren, siret) == expected


@pytest.mark.parametrize(
    ("siren", "siret", "field"),
    [
        (None, None, "siren"),
        ("", "", "siren"),
        ("732829321", None, "siren"),
        (None, "73282932000075", "siret"),
        ("552100554", "73282932000074", "siret"),
        (None, "3560000001000", "siret"),
        ("٧٣٢٨٢٩٣٢٠", None, "siren"),  # Arabic-Indic digits
    ],
)
def test_bad_identifiers_are_refused_in_french(
    siren: str | None, siret: str | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_identifiers(siren, siret)

    assert caught.value.errors[0]["field"] == field
    assert "SIREN" in caught.value.detail or "SIRET" in caught.value.detail
