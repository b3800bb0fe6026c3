"""Pieces catalogue per authorisation type (urbanism.md §2) and what a pieces request may ask for:
a request for a piece the code does not require suspends nothing (R423-41; CE Sect. 9 déc. 2022
n°454521 Saint-Herblain)."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.procedures.urbanism import pieces
from workflows.procedures.urbanism.facts import PermitType

pytestmark = pytest.mark.unit

PCMI_BASE = tuple(f"PCMI{i}" for i in range(1, 9))


def payload(**blocks: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"project": {"nature_of_works": ["construction_nouvelle"]}}
    body.update(blocks)
    return body


def test_pcmi1_to_pcmi8_with_their_r431_references() -> None:
    """R431-7 a, R431-9, R431-10 b, R431-8, R431-10 a, R431-10 c, R431-10 d (×2)."""
    refs = {p.code: p.reference for p in pieces.known_pieces(PermitType.PCMI)}
    assert [refs[c] for c in PCMI_BASE] == [
        "R431-7 a",
        "R431-9",
        "R431-10 b",
        "R431-8",
        "R431-10 a",
        "R431-10 c",
        "R431-10 d",
        "R431-10 d",
    ]
    assert all(not pieces.piece(c).to_confirm for c in PCMI_BASE)  # type: ignore[union-attr]
    assert pieces.piece("PC1").to_confirm  # type: ignore[union-attr]


def test_piece_title_in_french_or_the_code_itself() -> None:
    assert pieces.piece_title("PCMI1") == "Plan de situation du terrain"
    assert pieces.piece_title(" pcmi 4 ") == "Notice décrivant le terrain et présentant le projet"
    assert pieces.piece_title("PD3") == "Photographie des constructions à démolir"
    assert pieces.piece_title("XYZ9") == "XYZ9"
    assert pieces.piece_title("") == ""


@pytest.mark.parametrize(
    ("permit_type", "expected"),
    [
        (PermitType.PCMI, PCMI_BASE),
        (PermitType.PC, tuple(f"PC{i}" for i in range(1, 9))),
        (PermitType.PD, ("PD1", "PD2", "PD3")),
        (PermitType.PA, tuple(f"PA{i}" for i in range(1, 8))),
        (PermitType.CUA, ("CU1",)),
        (PermitType.CUB, ("CU1", "CU2")),
    ],
)
def test_mandatory_pieces_per_type_without_any_situation(
    permit_type: PermitType, expected: tuple[str, ...]
) -> None:
    assert pieces.mandatory_pieces(permit_type, payload()) == expected


def test_dp_maison_individuelle_uses_the_dpc_codes_of_cerfa_13703() -> None:
    house = payload(
        cerfa="13703", project={"nature_of_works": ["extension"], "maison_individuelle": True}
    )
    assert pieces.mandatory_pieces(PermitType.DP, house) == tuple(f"DPC{i}" for i in range(1, 9))
    fence = payload(cerfa="13404", project={"nature_of_works": ["cloture"]})
    assert pieces.mandatory_pieces(PermitType.DP, fence) == ("DP1", "DP4", "DP5")
    trees = payload(cerfa="13404", project={"nature_of_works": ["abattage_arbres"]})
    assert pieces.mandatory_pieces(PermitType.DP, trees) == ("DP1",)


def test_situational_pieces_follow_the_payload() -> None:
    base = payload()
    assert "PCMI9" not in pieces.mandatory_pieces(PermitType.PCMI, base)
    lot = payload(land={"in_lotissement": True})
    assert {"PCMI9", "PCMI10"} <= set(pieces.mandatory_pieces(PermitType.PCMI, lot))
    erp = payload(flags={"erp": True})
    assert {"PC39", "PC40"} <= set(pieces.mandatory_pieces(PermitType.PC, erp))
    demolition = payload(project={"nature_of_works": ["extension"], "demolition": True})
    assert {"PCA1", "PCA2"} <= set(pieces.mandatory_pieces(PermitType.PC, demolition))
    spr = payload(flags={"site_patrimonial_remarquable": True})
    assert "PD4" in pieces.mandatory_pieces(PermitType.PD, spr)
    cub = payload(operation={"existing_buildings": True})
    assert pieces.mandatory_pieces(PermitType.CUB, cub) == ("CU1", "CU2", "CU3")
    pa = payload(project={"nature_of_works": ["lotissement"], "lots": 8})
    assert {"PA8", "PA9", "PA10"} <= set(pieces.mandatory_pieces(PermitType.PA, pa))


def test_missing_mandatory_is_the_counter_checklist() -> None:
    body = payload(pieces=["PCMI1", "PCMI2", "pcmi3", "PCMI99"])
    assert pieces.missing_mandatory(PermitType.PCMI, body) == (
        "PCMI4",
        "PCMI5",
        "PCMI6",
        "PCMI7",
        "PCMI8",
    )
    full = payload(pieces=list(PCMI_BASE))
    assert pieces.missing_mandatory(PermitType.PCMI, full) == ()


def test_r423_41_not_required_unknown_and_absent_situation() -> None:
    """A PCMI outside any lotissement: asking for PCMI9 (lot certificate) or for an unknown
    "PCMI99" / a DP code is asking for pieces the code does not require (R423-41)."""
    body = payload()
    asked = ["PCMI2", "PCMI9", "pcmi99", "DP1", "PCMI2"]
    assert pieces.not_required(PermitType.PCMI, body, asked) == ("PCMI9", "PCMI99", "DP1")
    lot = payload(land={"in_lotissement": True})
    assert pieces.not_required(PermitType.PCMI, lot, ["PCMI9", "PCMI10"]) == ()


def test_r423_41_a_cua_cannot_be_asked_for_a_cub_note() -> None:
    assert pieces.not_required(PermitType.CUA, payload(), ["CU1", "CU2"]) == ("CU2",)


def test_modificatif_may_be_asked_any_piece_of_its_parent_bordereau() -> None:
    """A permis modificatif needs only the pieces the change concerns: none is mandatory, any
    known piece of the parent's type may be asked; unknown codes are still not required."""
    follow_up = {"parent_number": "PC0690012600012", "pieces": []}
    assert pieces.mandatory_pieces(PermitType.PC, follow_up) == ()
    assert pieces.not_required(PermitType.PC, follow_up, ["PCMI5", "PC2", "PCMI99", "PA1"]) == (
        "PCMI99",
        "PA1",
    )


def test_tolerant_of_garbage_payloads() -> None:
    garbage: dict[str, Any] = {"project": "x", "land": 3, "flags": [], "pieces": "PCMI1"}
    assert pieces.mandatory_pieces(PermitType.PCMI, garbage) == PCMI_BASE
    assert pieces.missing_mandatory(PermitType.PCMI, garbage) == PCMI_BASE


def test_every_catalogue_code_is_well_formed_and_of_its_family() -> None:
    for permit_type, listed in pieces.CATALOGUE.items():
        codes = [p.code for p in listed]
        assert len(codes) == len(set(codes)), permit_type
        for p in listed:
            assert pieces.family_of(p.code) in pieces.FAMILIES[permit_type], p.code
            assert p.title and p.reference
            assert p.situation is None or p.situation in pieces.SITUATION_LABELS
