"""SIREN / SIRET checks: the Luhn rule, with La Poste's known exception."""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"


def _ascii_digits(value: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts full-width, Arabic-Indic and superscript digits."""
    return value.isascii() and value.isdigit()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def is_valid_siren(value: str) -> bool:
    return len(value) == 9 and _ascii_digits(value) and _luhn_ok(value)


def is_valid_siret(value: str) -> bool:
    """14 digits passing Luhn; La Poste's establishments (SIREN 356000000) use the digit sum mod 5."""
    if len(value) != 14 or not _ascii_digits(value):
        return False
    if value.startswith(LA_POSTE_SIREN) and value != LA_POSTE_SIREN + "00048":
        return sum(int(c) for c in value) % 5 == 0
    return _luhn_ok(value)
