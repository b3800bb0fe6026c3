"""The counter's search words: accents, case, phone formats, e-mails, birth dates, erased people."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from identity.models import Person
from identity.person_search import (
    birth_token,
    criteria,
    normal_name,
    normalise_words,
    phone_digits,
    refresh_search_text,
    search_text_of,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def person(**fields: object) -> Person:
    values: dict[str, object] = {
        "given_name": "Hélène",
        "family_name": "Lefèvre-Œuvrard",
        "status": "active",
        "created_at": NOW,
    }
    values.update(fields)
    return Person(**values)


def test_words_lose_accents_case_and_punctuation() -> None:
    assert normalise_words("Jean-Pierre L'HÔTE") == ["jean", "pierre", "l", "hote"]
    assert normalise_words("Lefèvre-Œuvrard") == ["lefevre", "oeuvrard"]
    assert normalise_words("  ") == []
    assert normalise_words(None) == []
    assert normal_name("HÉLÈNE", "lefevre") == normal_name("Hélène", "Lefèvre")


@pytest.mark.parametrize(
    "raw",
    ["06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78", "+33(0)612345678"],
)
def test_phone_numbers_in_any_format_give_the_same_digits(raw: str) -> None:
    assert phone_digits(raw) == "0612345678"


def test_search_text_holds_names_contacts_address_and_birth_date() -> None:
    p = person(
        contact_email="Helene@Example.ORG",
        login_email="h.l@example.org",
        phone="+33 6 12 34 56 78",
        postal_address="3 rue de l'Église\n69001 Lyon",
        birthdate=date(1975, 4, 12),
    )
    refresh_search_text(p)
    words = p.search_text.split()
    assert p.search_text.startswith(" ") and p.search_text.endswith(" ")
    for word in ("helene", "lefevre", "oeuvrard", "helene@example.org", "h.l@example.org"):
        assert word in words
    assert "0612345678" in words
    assert "eglise" in words and "lyon" in words
    assert birth_token(date(1975, 4, 12)) in words


def test_franceconnect_claims_add_verified_names_and_birth_date() -> None:
    text = search_text_of(
        person(given_name="", family_name=""),
        [{"given_name": "Marie Louise", "family_name": "DUPONT", "birthdate": "1980-06-15"}],
    )
    assert text.split() == ["marie", "louise", "dupont", "d19800615"]


def test_an_erased_person_has_nothing_to_find() -> None:
    p = person(status="erased", phone="0612345678")
    refresh_search_text(p)
    assert p.search_text == ""


def test_criteria_drop_one_letter_words_and_normalise_contacts() -> None:
    found = criteria(q="É Dupont %", phone="+33 6 12 34 56 78", email=" Marie@Example.org ")
    assert found.words == ("dupont",)
    assert found.phone == "0612345678"
    assert found.email == "marie@example.org"
    assert criteria(q="a %").empty
    assert criteria(birthdate=date(1980, 1, 1)).empty
