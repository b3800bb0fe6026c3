"""The second factor of a tracking code is compared as the counter's search compares it."""

from __future__ import annotations

import pytest

from channels.intake import hash_contact, normalise_contact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "typed", ["+33 6 12 34 56 78", "0033 6 12 34 56 78", "+33 (0)6 12 34 56 78", "06.12.34.56.78"]
)
def test_a_phone_number_is_one_number_however_typed(typed: str) -> None:
    assert normalise_contact(typed) == "0612345678"
    assert hash_contact(typed) == hash_contact("06 12 34 56 78")


def test_an_email_is_compared_without_case_or_spaces() -> None:
    assert hash_contact("  Lea.Martin@Example.FR ") == hash_contact("lea.martin@example.fr")
    assert normalise_contact("") is None and hash_contact(None) is None
