"""Lenient GeoReport v2 input, well defined (open311.md §8 and §12): dates, statuses, lists,
attributes, media URLs, bodies in UTF-8, XML without DOCTYPE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.open311 import parsing
from channels.open311.parsing import PARIS, Fields
from services.kernel.errors import ValidationFailed

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ----- fields ------------------------------------------------------------------------------------


def test_an_empty_parameter_is_absent() -> None:
    fields = Fields([("jurisdiction_id", ""), ("status", "  "), ("service_code", "a")])
    assert fields.text("jurisdiction_id") is None
    assert fields.text("status") is None
    assert fields.text("service_code") == "a"
    assert fields.names() == {"service_code"}


def test_control_characters_are_refused_naming_the_field_but_line_breaks_kept() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Fields([("email", "a\x00@b.fr")]).text("email")
    assert caught.value.errors[0]["field"] == "email"
    text = "ligne 1\r\nligne 2"
    assert (
        Fields([("description", text)]).text(
            "description", multiline=True, max_chars=4000, strip=False
        )
        == text
    )
    with pytest.raises(ValidationFailed):
        Fields([("address_string", "a\nb")]).text("address_string")


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        Fields([("description", "a\ud800b")]).text("description", multiline=True)


def test_length_is_counted_in_characters_not_bytes() -> None:
    emoji = "🚧" * 4000  # 16 000 bytes in UTF-8
    assert Fields([("d", emoji)]).text("d", max_chars=4000) == emoji
    with pytest.raises(ValidationFailed) as caught:
        Fields([("d", emoji + "é")]).text("d", max_chars=4000)
    assert "4001" in caught.value.detail


# ----- lists and statuses ------------------------------------------------------------------------


def test_comma_lists_ignore_spaces_and_empty_items_and_repeats() -> None:
    assert parsing.comma_list("a, b,,c ,a", "x") == ["a", "b", "c"]
    assert parsing.comma_list(None, "x") == []


def test_comma_lists_have_a_ceiling() -> None:
    with pytest.raises(ValidationFailed):
        parsing.comma_list(",".join(str(i) for i in range(1001)), "service_request_id")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("open", {"open"}),
        ("OPEN", {"open"}),
        ("Closed", {"closed"}),
        ("open,closed", None),
        ("closed, open", None),
    ],
)
def test_status_is_case_insensitive_and_both_means_all(
    given: str | None, expected: set[str] | None
) -> None:
    assert parsing.statuses(given) == expected


@pytest.mark.parametrize("given", ["foo", "open,foo", "fixed"])
def test_unknown_status_is_refused(given: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.statuses(given)
    assert caught.value.errors[0]["field"] == "status"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("FALSE", False)],
)
def test_booleans_as_text(given: str, expected: bool) -> None:
    assert parsing.boolean(given, "x") is expected


def test_a_boolean_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        parsing.boolean("maybe", "public_anonymity_required")


# ----- dates -------------------------------------------------------------------------------------


def test_dates_with_a_zone_keep_it() -> None:
    assert parsing.instant("2026-03-01T10:00:00Z", "d") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    at = parsing.instant("2026-03-01T10:00:00+05:30", "d")
    assert at is not None and at.utcoffset() == timedelta(hours=5, minutes=30)


def test_zone_less_dates_are_read_in_paris_time() -> None:
    at = parsing.instant("2026-03-01T10:00:00", "d")
    assert at == datetime(2026, 3, 1, 10, tzinfo=PARIS)
    assert at is not None and at.astimezone(UTC).hour == 9  # winter: UTC+1
    summer = parsing.instant("2026-07-01T10:00:00", "d")
    assert summer is not None and summer.astimezone(UTC).hour == 8  # summer: UTC+2


def test_a_bare_date_is_midnight_in_paris() -> None:
    assert parsing.instant("2026-03-01", "d") == datetime(2026, 3, 1, tzinfo=PARIS)


@pytest.mark.parametrize("given", ["2024-02-30T00:00:00Z", "yesterday", "2026-13-01", "1e400"])
def test_impossible_dates_are_refused_naming_the_field(given: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.instant(given, "start_date")
    assert caught.value.errors[0]["field"] == "start_date"


def test_default_window_is_the_last_90_days() -> None:
    assert parsing.window(None, None, NOW) == (NOW - timedelta(days=90), NOW)


def test_only_a_start_runs_to_now_only_an_end_goes_back_90_days() -> None:
    start = NOW - timedelta(days=10)
    assert parsing.window(start, None, NOW) == (start, NOW)
    end = NOW - timedelta(days=200)
    assert parsing.window(None, end, NOW) == (end - timedelta(days=90), end)


def test_a_span_of_exactly_90_days_is_accepted_one_second_more_is_not() -> None:
    start = NOW - timedelta(days=90)
    assert parsing.window(start, NOW, NOW) == (start, NOW)
    with pytest.raises(ValidationFailed) as caught:
        parsing.window(start - timedelta(seconds=1), NOW, NOW)
    assert "90 jours" in caught.value.detail


def test_start_after_end_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        parsing.window(NOW, NOW - timedelta(days=1), NOW)
    with pytest.raises(ValidationFailed):
        parsing.window(NOW + timedelta(days=1), None, NOW)


# ----- attributes --------------------------------------------------------------------------------


def test_attributes_single_list_and_repeated_forms() -> None:
    pairs = [
        ("attribute[numero]", "EP-12"),
        ("attribute[types][]", "a"),
        ("attribute[types][]", "b"),
        ("attribute[repeated]", "x"),
        ("attribute[repeated]", "y"),
        ("attribute[What is this?]", "un banc"),
        ("attribute[empty]", ""),
        ("service_code", "ignored"),
    ]
    assert parsing.attributes(pairs) == {
        "numero": "EP-12",
        "types": ["a", "b"],
        "repeated": ["x", "y"],
        "What is this?": "un banc",
    }


def test_an_empty_list_attribute_is_an_empty_list() -> None:
    assert parsing.attributes([("attribute[types][]", "")]) == {"types": []}


def test_attribute_codes_and_values_refuse_control_characters() -> None:
    with pytest.raises(ValidationFailed):
        parsing.attributes([("attribute[a\x00]", "x")])
    with pytest.raises(ValidationFailed):
        parsing.attributes([("attribute[a]", "x\x00")])


def test_too_many_attributes_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        parsing.attributes([(f"attribute[a{i}]", "x") for i in range(101)])


# ----- media URLs (SSRF) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://photos.example.org/p/1.jpg",
        "http://203.0.113.1.nip.io/x.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_public_http_urls_and_data_images_are_accepted(url: str) -> None:
    assert parsing.check_media_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.org/x.jpg",
        "http://127.0.0.1/x.jpg",
        "http://10.0.0.5/x.jpg",
        "http://192.168.1.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.jpg",
        "http://localhost/x.jpg",
        "https://user:pass@example.org/x.jpg",
        "https://example.org:22/x.jpg",
        "data:text/html;base64,PHNjcmlwdD4=",
        "http://[not-an-ip/x",
    ],
)
def test_dangerous_media_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.check_media_url(url)
    assert caught.value.errors[0]["field"] == "media_url"


# ----- bodies ------------------------------------------------------------------------------------


def test_urlencoded_bodies_are_utf8_whatever_the_charset() -> None:
    assert parsing.parse_urlencoded(b"description=caf%C3%A9+%F0%9F%9A%A7") == [
        ("description", "café 🚧")
    ]


def test_invalid_utf8_is_refused_not_replaced() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.parse_urlencoded(b"description=%FF%FE")
    assert "UTF-8" in caught.value.detail
    with pytest.raises(ValidationFailed):
        parsing.parse_urlencoded(b"description=\xff")


def test_an_xml_body_reads_as_form_fields() -> None:
    raw = (
        b'<?xml version="1.0" encoding="utf-8"?><service_request>'
        b"<api_key>k</api_key><service_code>chaussee</service_code><lat>45.75</lat>"
        b'<long>4.8</long><attribute code="dangerosite">oui</attribute>'
        b"<description>caf\xc3\xa9</description></service_request>"
    )
    assert parsing.xml_form(raw) == [
        ("api_key", "k"),
        ("service_code", "chaussee"),
        ("lat", "45.75"),
        ("long", "4.8"),
        ("attribute[dangerosite]", "oui"),
        ("description", "café"),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<r><service_code>&lol2;</service_code></r>",
        # external entity (XXE)
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<r><description>&xxe;</description></r>",
        # a bare DOCTYPE
        b'<?xml version="1.0"?><!DOCTYPE r><r><service_code>x</service_code></r>',
    ],
)
def test_xml_with_a_doctype_or_entities_is_refused_before_anything_is_read(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.xml_form(raw)
    assert "DOCTYPE" in caught.value.detail


def test_malformed_xml_is_a_clear_400() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parsing.xml_form(b"<r><unclosed></r>")
    assert "mal formé" in caught.value.detail
