"""GeoReport v2 output: XML by a serialiser with the exact declaration and no namespace, JSON as
the mechanical mapping (lists as arrays, booleans as booleans), the same data in both; and the
schema harness itself rejects what it must (open311.md §1, §8, §9)."""

from __future__ import annotations

import json

import pytest

from channels.open311.wire import Format, clean_text, render, split_resource
from tests.support.open311 import check_json, schema_errors, xml_data

pytestmark = pytest.mark.unit

REQUEST = {
    "service_request_id": "69001-2026-000001",
    "status": "open",
    "status_notes": "À qualifier",
    "service_code": "001",
    "description": 'Trou <b>énorme</b> & "profond" ]]> 🚧\r\nligne 2',
    "requested_datetime": "2026-03-02T10:00:00+01:00",
    "lat": 45.75,
    "long": 4.8,
    "media_url": None,
}


def test_xml_starts_with_the_declaration_and_has_no_namespace() -> None:
    raw = render(Format.XML, "service_requests", [REQUEST])
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request>')
    assert b"xmlns" not in raw


def test_xml_and_json_carry_the_same_data_none_left_out_in_both() -> None:
    xml = xml_data(render(Format.XML, "service_requests", [REQUEST]))
    data = json.loads(render(Format.JSON, "service_requests", [REQUEST]))
    assert xml == data
    assert "media_url" not in data[0]
    assert data[0]["service_code"] == "001"
    assert data[0]["lat"] == 45.75


def test_markup_is_escaped_and_carriage_returns_survive_the_xml() -> None:
    raw = render(Format.XML, "service_requests", [REQUEST])
    assert b"&lt;b&gt;" in raw and b"&amp;" in raw and b"]]&gt;" in raw
    assert b"&#13;" in raw  # CR kept (an XML parser would otherwise normalise CRLF to LF)
    assert xml_data(raw)[0]["description"] == REQUEST["description"]


def test_booleans_are_true_false_in_xml_and_booleans_in_json() -> None:
    service = {"service_code": "a", "service_name": "A", "metadata": False, "type": "realtime"}
    assert b"<metadata>false</metadata>" in render(Format.XML, "services", [service])
    assert json.loads(render(Format.JSON, "services", [service]))[0]["metadata"] is False


def test_nested_lists_use_singular_item_names() -> None:
    definition = {
        "service_code": "a",
        "attributes": [
            {
                "variable": True,
                "code": "c",
                "datatype": "singlevaluelist",
                "required": True,
                "order": 1,
                "description": "?",
                "values": [{"key": "k", "name": "n"}],
            }
        ],
    }
    raw = render(Format.XML, "service_definition", definition)
    assert b"<attributes><attribute>" in raw
    assert b"<values><value><key>k</key><name>n</name></value></values>" in raw
    assert json.loads(render(Format.JSON, "service_definition", definition)) == definition


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\ud800", "\ufffe", "\x1b[31m"])
def test_characters_xml_cannot_carry_become_replacement_characters_in_both_formats(
    bad: str,
) -> None:
    item = {"service_code": "a", "service_name": f"x{bad}y", "metadata": False, "type": "realtime"}
    xml = xml_data(render(Format.XML, "services", [item]))
    data = json.loads(render(Format.JSON, "services", [item]))
    assert xml == data
    assert data[0]["service_name"].startswith("x\ufffd")
    assert clean_text("é🚧\t\n") == "é🚧\t\n"


@pytest.mark.parametrize(
    ("path", "stem", "fmt"),
    [
        ("services.xml", "services", Format.XML),
        ("/services.JSON", "services", Format.JSON),
        ("services/033.json", "services/033", Format.JSON),
        ("services/a.b.xml", "services/a.b", Format.XML),
        ("//requests//x.xml/", "requests/x", Format.XML),
        ("services.csv", "services", None),
        ("services", "services", None),
    ],
)
def test_split_resource(path: str, stem: str, fmt: Format | None) -> None:
    found = split_resource(path)
    assert (found.stem, found.fmt) == (stem, fmt)


# ----- the schema harness rejects what it must ----------------------------------------------------


def test_the_official_request_schema_is_applied_with_formats() -> None:
    assert check_json("requests.json", [dict(REQUEST, media_url="https://x.example/p.jpg")])
    bad_date = dict(REQUEST, requested_datetime="hier")
    assert schema_errors("requests.json", [bad_date])
    bad_status = dict(REQUEST, status="fixed")
    assert schema_errors("requests.json", [bad_status])
    numeric_id = dict(REQUEST, service_request_id=1)
    assert schema_errors("requests.json", [numeric_id])
    string_lat = dict(REQUEST, lat="45.75")
    assert schema_errors("requests.json", [string_lat])
    too_long = dict(REQUEST, description="x" * 4001)
    assert schema_errors("requests.json", [too_long])
    bad_media = dict(REQUEST, media_url="pas une url")
    assert schema_errors("requests.json", [bad_media])


def test_the_harness_adds_what_the_official_schemas_miss() -> None:
    with pytest.raises(AssertionError):
        check_json("requests.json", ["not an object"])  # the official schema lets it pass
    with pytest.raises(AssertionError):
        check_json("requests.json", [dict(REQUEST, requested_datetime="2026-03-02T10:00:00")])
    with pytest.raises(AssertionError, match="personal data"):
        check_json("requests.json", [dict(REQUEST, email="a@b.fr")])


def test_our_error_schema_wants_an_array_of_code_and_description() -> None:
    assert not schema_errors("errors", [{"code": 404, "description": "x"}])
    assert schema_errors("errors", {"code": 404, "description": "x"})
    assert schema_errors("errors", [{"code": "404", "description": "x"}])
    assert schema_errors("errors", [])
