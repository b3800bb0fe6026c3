"""GeoReport v2 output: one data structure, two serialisations (XML and JSON), always strict.

The JSON is the mechanical mapping of the XML (the "Spark" convention of the specification): a
list root becomes a top-level array, ``service_definition`` and ``discovery`` become objects whose
lists are arrays. XML is produced by lxml (never by string templates), starts with
``<?xml version="1.0" encoding="utf-8"?>`` and has no namespace. ``None`` values are left out in
both formats, so that XML and JSON always carry the same fields.

Text that XML 1.0 cannot carry (control characters such as NUL, lone surrogates, U+FFFE/U+FFFF) is
replaced by U+FFFD in both formats: nothing stored by another channel can make an answer fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lxml import etree

XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ITEM_TAGS: dict[str, str] = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "groups": "group",
}
"""XML name of the items of each list (the container keeps the list's name)."""


class Format(StrEnum):
    XML = "xml"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return XML_CONTENT_TYPE if self is Format.XML else JSON_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class Resource:
    """A path below the base URL split into its resource and its format: ``services/033.json`` →
    (``services/033``, json). ``fmt`` is None when the extension is missing or unknown."""

    stem: str
    fmt: Format | None
    extension: str


def split_resource(path: str) -> Resource:
    """Separate the format suffix. The extension is matched case-insensitively (``.XML``);
    leading, trailing and doubled slashes are ignored."""
    clean = "/".join(part for part in path.split("/") if part)
    stem, dot, extension = clean.rpartition(".")
    if not dot:
        return Resource(clean, None, "")
    try:
        fmt = Format(extension.lower())
    except ValueError:
        return Resource(stem, None, extension)
    return Resource(stem, fmt, extension)


def clean_text(value: str) -> str:
    """Replace what XML 1.0 cannot carry by U+FFFD (the same in JSON, for equal data)."""
    return _NOT_XML.sub("\ufffd", value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    return clean_text(str(value))


def _clean(value: Any) -> Any:
    """The JSON form: None dropped from objects, text cleaned."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value if v is not None]
    return _scalar(value)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return clean_text(str(value))


def _xml_fill(element: etree._Element, value: Any, name: str) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            if child is not None:
                _xml_fill(etree.SubElement(element, str(key)), child, str(key))
        return
    if isinstance(value, list | tuple):
        item_tag = ITEM_TAGS.get(name, "item")
        for child in value:
            if child is not None:
                _xml_fill(etree.SubElement(element, item_tag), child, item_tag)
        return
    element.text = _xml_text(value)


def to_xml(root: str, value: Mapping[str, Any] | Sequence[Any]) -> bytes:
    element = etree.Element(root)
    _xml_fill(element, value, root)
    return XML_DECLARATION + etree.tostring(element, encoding="utf-8", xml_declaration=False)


def to_json(value: Mapping[str, Any] | Sequence[Any]) -> bytes:
    return json.dumps(_clean(value), ensure_ascii=False, allow_nan=False).encode("utf-8")


def render(fmt: Format, root: str, value: Mapping[str, Any] | Sequence[Any]) -> bytes:
    """``root`` is the XML root element (``services``, ``service_requests``, ``discovery``…);
    in JSON a list is the top-level array and a mapping the top-level object."""
    return to_xml(root, value) if fmt is Format.XML else to_json(value)


def errors_document(errors: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "description": description} for code, description in errors]
