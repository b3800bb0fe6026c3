"""Reading A423 numbers (A423-3): the current format and the older one with a service-instructeur
letter still present in imported data (urbanism.md §3, §12 item 22). Pure functions: no database."""

from __future__ import annotations

import pytest

from workflows.procedures.urbanism.facts import FileKind
from workflows.procedures.urbanism.numbering import (
    display_number,
    format_number,
    parse_number,
    split_insee,
)


@pytest.mark.parametrize(
    ("text", "stored", "display"),
    [
        ("PC 069 001 26 00012", "PC0690012600012", "PC 069 001 26 00012"),
        ("PC0690012600012", "PC0690012600012", "PC 069 001 26 00012"),
        ("pc 029 019 24 00012", "PC0290192400012", "PC 029 019 24 00012"),
        ("PC0130551601234", "PC0130551601234", "PC 013 055 16 01234"),
        ("DP 02A 004 25 00007", "DP02A0042500007", "DP 02A 004 25 00007"),
        ("CU\u00a0069\u00a0001\u00a026\u00a000001", "CU0690012600001", "CU 069 001 26 00001"),
    ],
)
def test_current_format_with_or_without_spaces(text: str, stored: str, display: str) -> None:
    parsed = parse_number(text)
    assert parsed.stored == stored
    assert parsed.display == display
    assert parsed.service_letter is None
    assert display_number(stored) == display


def test_older_format_with_a_service_instructeur_letter() -> None:
    """A real GNAU number: ``PC 49007 20 Z 0292`` (Z = service-instructeur letter, the
    département without its leading zero)."""
    parsed = parse_number("PC 49007 20 Z 0292")
    assert (parsed.nature, parsed.departement, parsed.commune, parsed.year) == (
        "PC",
        "049",
        "007",
        "20",
    )
    assert parsed.service_letter == "Z"
    assert parsed.sequence == 292
    assert parsed.stored == "PC04900720Z0292"
    assert parsed.display == "PC 049 007 20 Z 0292"
    assert parse_number("PC04900720Z0292") == parsed


def test_openads_initial_di_suffix_p0_is_accepted_and_dropped() -> None:
    parsed = parse_number("PC1305515J0045P0")
    assert parsed.stored == "PC01305515J0045"
    assert parsed.follow_up is None


def test_follow_up_suffixes_m01_and_t01() -> None:
    m = parse_number("PC 069 001 26 00012 M01")
    assert (m.follow_up, m.follow_up_index, m.base) == (FileKind.MODIFICATIF, 1, "PC0690012600012")
    assert m.stored == "PC0690012600012M01"
    t = parse_number("PC0690012600012T03")
    assert (t.follow_up, t.follow_up_index) == (FileKind.TRANSFERT, 3)
    assert display_number("PC0690012600012T03") == "PC 069 001 26 00012 T03"
    legacy = parse_number("PC 49007 20 Z 0292 M02")
    assert legacy.stored == "PC04900720Z0292M02"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "bonjour",
        "PC",
        "XX0690012600012",
        "PC06900126001",  # 11 characters
        "PC06900126000123",  # 6-digit sequence
        "PC0690012600000",  # sequence 0
        "PC0690012600012M00",
        "PC0690012600012X01",
        "PC0690012600012M1",
        "PC 069 001 26 00012 M01 M02",
        "ＰＣ0690012600012",  # full-width letters
        "PC０６９0012600012",  # full-width digits
        "PC0690012600012" * 5,
        "PC\x000690012600012",
    ],
)
def test_garbage_is_refused_in_french(garbage: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_number(garbage)
    message = str(caught.value)
    assert "Numéro de dossier" in message
    assert "PC 069 001 26 00012" in message or "0" in message


def test_non_string_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_number(12345)  # type: ignore[arg-type]


def test_display_never_fails_on_an_imported_reference() -> None:
    assert display_number("  REF-ANCIENNE-42 ") == "REF-ANCIENNE-42"


def test_insee_split_metropole_corsica_overseas() -> None:
    assert split_insee("69001") == ("069", "001")
    assert split_insee("2a004") == ("02A", "004")
    assert split_insee("97411") == ("974", "411")
    for bad in ("6900", "690011", "ABCDE", "3A004", "６９００１"):
        with pytest.raises(ValueError, match="Code INSEE"):
            split_insee(bad)


def test_format_number_round_trips_through_parse() -> None:
    stored = format_number("PC", "69001", 2026, 12)
    assert stored == "PC0690012600012"
    assert parse_number(stored).stored == stored
    with pytest.raises(ValueError):
        format_number("PC", "69001", 2026, 100_000)
