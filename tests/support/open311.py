"""Open311 test helpers: the official GeoReport v2 JSON Schemas (read from ``../shared/data/open311``,
never copied), our own schemas for what they do not cover (discovery, errors, the POST reply,
tokens, mySociety updates), an XML → data reader to compare XML and JSON answers, and api keys.

Every JSON answer of the Open311 tests goes through ``check_json``: the official schema with the
format checker (``date-time``, ``uri``), plus the checks the official schemas cannot make (items
are objects; see open311.md §9).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jsonschema import Draft202012Validator
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.open311.keys import create_key
from services.kernel.clock import Clock

SCHEMA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "open311"
BASE = "/api/v1/open311/v2"
OFFICIAL = (
    "services.json",
    "service.json",
    "service-definition.json",
    "requests.json",
    "request.json",
)

# ----- the official schemas -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def registry() -> Registry[Any]:
    if not SCHEMA_DIR.is_dir():
        raise AssertionError(
            f"GeoReport v2 JSON Schemas not found: expected the folder {SCHEMA_DIR} "
            "(../shared/data/open311 beside the project root, see ../shared/data/README.md)"
        )
    resources = []
    for name in OFFICIAL:
        path = SCHEMA_DIR / name
        if not path.is_file():
            raise AssertionError(f"missing {name} in ../shared/data/open311 ({SCHEMA_DIR})")
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((name, Resource.from_contents(schema, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def _official(name: str) -> dict[str, Any]:
    resource = registry().get(name)
    assert resource is not None, name
    contents: dict[str, Any] = resource.contents
    return contents


# ----- our schemas (none exists for these in the specification's repository) ----------------------

_DATE_TIME = {"type": "string", "format": "date-time"}
_ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "integer", "minimum": 400, "maximum": 499},
            "description": {"type": "string", "minLength": 1},
        },
    },
}
_DISCOVERY = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": _DATE_TIME,
        "contact": {"type": "string", "minLength": 1},
        "key_service": {"type": "string", "minLength": 1},
        "max_requests": {"type": "integer", "minimum": 1},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "additionalProperties": False,
                "properties": {
                    "specification": {"type": "string", "format": "uri"},
                    "url": {"type": "string", "format": "uri"},
                    "changeset": _DATE_TIME,
                    "type": {"enum": ["production", "test"]},
                    "formats": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"enum": ["text/xml", "application/json"]},
                    },
                },
            },
        },
    },
}
_POST_REPLY = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "required": ["service_request_id"],
        "additionalProperties": False,
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "service_notice": {"type": "string"},
            "account_id": {"type": "string"},
        },
    },
}
_TOKEN = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "additionalProperties": False,
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
        },
    },
}
_EXTENDED = [
    "open",
    "closed",
    "fixed",
    "in_progress",
    "planned",
    "action_scheduled",
    "investigating",
    "duplicate",
    "not_councils_responsibility",
    "no_further_action",
    "internal_referral",
    "cancelled",
    "reopen",
    "for_triage",
    "unchanged",
]
_UPDATES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "update_id",
            "service_request_id",
            "status",
            "updated_datetime",
            "description",
        ],
        "additionalProperties": False,
        "properties": {
            "update_id": {"type": "string", "minLength": 1},
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": _EXTENDED},
            "updated_datetime": _DATE_TIME,
            "description": {"type": "string", "maxLength": 4000},
            "media_url": {"type": "string", "format": "uri"},
        },
    },
}
_UPDATE_REPLY = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "required": ["update_id"],
        "additionalProperties": False,
        "properties": {"update_id": {"type": "string", "minLength": 1}},
    },
}

OURS: dict[str, dict[str, Any]] = {
    "errors": _ERRORS,
    "discovery": _DISCOVERY,
    "post_reply": _POST_REPLY,
    "token": _TOKEN,
    "updates": _UPDATES,
    "update_reply": _UPDATE_REPLY,
}
PRIVATE_KEYS = frozenset(
    {
        "email",
        "phone",
        "device_id",
        "deviceid",
        "first_name",
        "last_name",
        "contact_name",
        "contact_email",
        "account_id",
        "api_key",
    }
)


def schema_errors(kind: str, body: Any) -> list[str]:
    """Messages of every violation of the schema ``kind`` (an official file name such as
    ``requests.json``, or one of ``OURS``)."""
    schema = _official(kind) if kind.endswith(".json") else OURS[kind]
    validator = Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]


def check_json(kind: str, body: Any) -> Any:
    """Assert ``body`` is valid (module doc) and return it."""
    problems = schema_errors(kind, body)
    assert not problems, f"{kind}: {problems}"
    if kind in ("services.json", "requests.json"):
        assert isinstance(body, list), body
        assert all(isinstance(item, dict) for item in body), body
    if kind == "service-definition.json":
        assert isinstance(body, dict) and all(isinstance(a, dict) for a in body["attributes"])
    if kind == "requests.json":
        for item in body:
            for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
                if item.get(field):
                    assert datetime.fromisoformat(item[field]).utcoffset() is not None, item
    _no_private(body)
    return body


def _no_private(body: Any) -> None:
    if isinstance(body, dict):
        leaked = PRIVATE_KEYS & set(body)
        assert not leaked, f"personal data in an Open311 answer: {leaked}"
        for value in body.values():
            _no_private(value)
    elif isinstance(body, list):
        for value in body:
            _no_private(value)


# ----- XML ---------------------------------------------------------------------------------------

LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
NUMBERS = frozenset(
    {
        ("error", "code"),
        ("request", "lat"),
        ("request", "long"),
        ("attribute", "order"),
        ("discovery", "max_requests"),
    }
)
BOOLEANS = frozenset({"metadata", "variable", "required"})


def parse_xml(raw: bytes) -> etree._Element:
    """Our own XML answers (never a partner's): declaration, UTF-8, no namespace, no DOCTYPE."""
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), raw[:60]
    assert b"<!DOCTYPE" not in raw
    root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    for element in root.iter():
        assert isinstance(element.tag, str) and "{" not in element.tag, element.tag
        assert not element.nsmap, element.nsmap
    return root


def _value(element: etree._Element) -> Any:
    tag = str(element.tag)
    if tag in LIST_ITEMS:
        return [_value(child) for child in element]
    if len(element):
        return {str(child.tag): _value(child) for child in element}
    text = element.text or ""
    if tag in BOOLEANS:
        assert text in ("true", "false"), (tag, text)
        return text == "true"
    parent = element.getparent()
    if parent is not None and (str(parent.tag), tag) in NUMBERS:
        return float(text) if "." in text else int(text)
    return text


def xml_data(raw: bytes) -> Any:
    """An XML answer as the data its JSON twin carries (lists for list roots)."""
    return _value(parse_xml(raw))


def same_data(xml_raw: bytes, json_body: Any) -> None:
    """XML and JSON carry the same data (JSON numbers compared as numbers)."""
    assert xml_data(xml_raw) == _normalise(json_body)


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return value
    return value


# ----- keys and requests --------------------------------------------------------------------------


async def api_key(
    sm: async_sessionmaker[AsyncSession], clock: Clock, *, tenant_id: Any = None, name: str = "App"
) -> str:
    async with sm() as s, s.begin():
        _, key = await create_key(s, name=name, tenant_id=tenant_id, now=clock.now())
        return key


def form(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def encoded(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
