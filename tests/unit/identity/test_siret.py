"""SIREN / SIRET check digits. Every expected value below was computed by hand.

The Luhn rule, from the rightmost digit (position 0): digits at odd positions are doubled, and 9 is
taken off any double above 9; the number is valid when the total is a multiple of 10.

SIREN 732829320, from the right: 0, 2→4, 3, 9→18→9, 2, 8→16→7, 2, 3→6, 7
    0 + 4 + 3 + 9 + 2 + 7 + 2 + 6 + 7 = 40 → valid. Ending in 1 instead: 41 → invalid.
SIREN 552100554, from the right: 4, 5→1, 5, 0, 0, 1→2, 2, 5→1, 5
    4 + 1 + 5 + 0 + 0 + 2 + 2 + 1 + 5 = 20 → valid.
SIRET 73282932000074, from the right: 4, 7→14→5, 0, 0, 0, 0, 2, 3→6, 9, 2→4, 8, 2→4, 3, 7→14→5
    4 + 5 + 2 + 6 + 9 + 4 + 8 + 4 + 3 + 5 = 50 → valid. Ending in 5 instead: 51 → invalid.

La Poste (SIREN 356000000; 0+…+0 + 6 + 5→1 + 3 = 10, a valid SIREN) numbers its establishments
so that the plain sum of the 14 digits is a multiple of 5, Luhn or not. Only its head office,
35600000000048, follows Luhn (8 + 4→8 + 6→3 + 5 + 3→6 = 30) while its digit sum is 26.
    35600000049837: digit sum 3+5+6+4+9+8+3+7 = 45 (multiple of 5) → valid;
        Luhn: 7 + 3→6 + 8 + 9→9 + 4 + 6→3 + 5 + 3→6 = 48 → would fail Luhn.
    35600000049838: digit sum 46 → invalid.
    35600000000014: Luhn 4 + 1→2 + 6→3 + 5 + 3→6 = 20 (passes Luhn) but digit sum 19 → invalid.
"""

from __future__ import annotations

import pytest

from identity.siret import is_valid_siren, is_valid_siret

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("siren", ["732829320", "552100554", "356000000"])
def test_valid_siren(siren: str) -> None:
    assert is_valid_siren(siren)


@pytest.mark.parametrize(
    "siren",
    [
        "732829321",  # Luhn total 41
        "732829302",  # two digits swapped: 0, 2→4 becomes 2, 0→0 — total 38
        "552100555",  # Luhn total 21
    ],
)
def test_siren_with_a_wrong_check_digit(siren: str) -> None:
    assert not is_valid_siren(siren)


@pytest.mark.parametrize(
    "siren",
    [
        "",
        "73282932",  # 8 digits
        "7328293200",  # 10 digits
        "732 829 320",  # spaces
        "73282932O",  # letter O instead of zero
        "-73282932",
        "７３２８２９３２０",  # full-width digits
        "73282932٠",  # Arabic-Indic zero
        "73282932²",  # superscript two is a "digit" for str.isdigit
    ],
)
def test_siren_must_be_nine_ascii_digits(siren: str) -> None:
    assert not is_valid_siren(siren)


@pytest.mark.parametrize("siret", ["73282932000074", "55210055400013"])
def test_valid_siret(siret: str) -> None:
    # 55210055400013, from the right: 3, 1→2, 0, 0→0, 0, 4→8, 5, 5→10→1, 0, 0→0, 1, 2→4, 5, 5→10→1
    #   3 + 2 + 8 + 5 + 1 + 1 + 4 + 5 + 1 = 30 → valid.
    assert is_valid_siret(siret)


@pytest.mark.parametrize(
    "siret",
    [
        "73282932000075",  # Luhn total 51
        "73282932000047",  # last two digits swapped: 7 + 4→8 + 2 + 6 + 9 + 4 + 8 + 4 + 3 + 5 = 56
        "55210055400014",  # Luhn total 31
    ],
)
def test_siret_with_a_wrong_check_digit(siret: str) -> None:
    assert not is_valid_siret(siret)


@pytest.mark.parametrize(
    "siret",
    [
        "",
        "732829320",  # a SIREN is not a SIRET
        "7328293200007",  # 13 digits
        "732829320000740",  # 15 digits
        "732 829 320 00074",
        "7328293200007A",
        "７３２８２９３２００００７４",  # full-width digits
        "7328293200007²",
    ],
)
def test_siret_must_be_fourteen_ascii_digits(siret: str) -> None:
    assert not is_valid_siret(siret)


def test_la_poste_head_office_follows_luhn() -> None:
    assert is_valid_siret("35600000000048")


def test_la_poste_establishments_use_the_digit_sum() -> None:
    assert is_valid_siret("35600000049837")  # digit sum 45, fails Luhn
    assert not is_valid_siret("35600000049838")  # digit sum 46


def test_la_poste_establishments_are_not_checked_by_luhn() -> None:
    assert not is_valid_siret("35600000000014")  # passes Luhn, digit sum 19


def test_the_exception_is_only_for_la_poste() -> None:
    # Outside La Poste, a digit sum that is a multiple of 5 does not save a wrong Luhn key.
    # 73282932000072: digit sum 7+3+2+8+2+9+3+2+7+2 = 45; Luhn 2 + 5 + 2 + 6 + 9 + 4 + 8 + 4 + 3 + 5 = 48.
    assert not is_valid_siret("73282932000072")
    # 35600001000000 shares only La Poste's first eight digits (SIREN 356000010): it is judged by
    # Luhn, 0 + 1 + 6→12→3 + 5 + 3→6 = 15 → invalid, although its digit sum (15) is a multiple of 5.
    assert not is_valid_siret("35600001000000")
