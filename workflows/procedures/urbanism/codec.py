"""JSON codec of the urbanism facts and timeline (stored on the ``urbanism_file`` row).

Shape (other modules rely on it):

- dates are ISO strings (``"2025-01-31"``), enums their value, tuples lists, frozensets sorted
  lists, dataclasses objects with their fields by name (the ``RuleSet`` included in the facts);
- timeline = ``{"dates": [{"key", "on", "label", "rule", "reference", "rule_set", "note"}],
  "findings": [{"code", "message", "reference"}], "timers": [{"kind", "last_day", "transition",
  "rule", "reference"}], "instruction_deadline", "tacit_outcome", "complete", "missing_pieces",
  "next_legal_date": {…} | null}``.

Decoding is strict (unknown or missing keys, wrong types, bad dates or enum values raise
``CodecError``, a ``ValueError``) so ``facts_from_json(facts_to_json(f)) == f`` exactly.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date
from enum import Enum
from typing import Any, TypeVar

from workflows.procedures.urbanism.facts import Facts, Timeline

__all__ = [
    "CodecError",
    "facts_from_json",
    "facts_to_json",
    "timeline_from_json",
    "timeline_to_json",
]

_T = TypeVar("_T")


class CodecError(ValueError):
    """The JSON does not describe valid facts or timeline; ``path`` locates the problem."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '$'} : {message}")
        self.path = path


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _encode(value: Any) -> Any:
    # Cheapest tests first: every file write encodes a few hundred values (bench-urbanism).
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(_encode(v) for v in value)
    names = _FIELD_NAMES.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _encode(getattr(value, name)) for name in names}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _decode(tp: Any, raw: Any, path: str) -> Any:
    if tp is str and isinstance(raw, str):
        return raw
    if tp is bool and isinstance(raw, bool):
        return raw
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if raw is None:
            if type(None) in args:
                return None
            raise CodecError(path, "valeur obligatoire")
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, raw, path)
    if origin is tuple:
        if not isinstance(raw, list):
            raise CodecError(path, "liste attendue")
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(raw))
    if origin is frozenset:
        if not isinstance(raw, list):
            raise CodecError(path, "liste attendue")
        (item,) = typing.get_args(tp)
        return frozenset(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(raw))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, raw, path)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError:
            raise CodecError(path, f"valeur inconnue {raw!r}") from None
    if tp is date:
        if not isinstance(raw, str):
            raise CodecError(path, "date ISO attendue (AAAA-MM-JJ)")
        try:
            parsed = date.fromisoformat(raw)
        except ValueError:
            raise CodecError(path, f"date invalide {raw!r}") from None
        if parsed.isoformat() != raw:
            raise CodecError(path, f"date ISO attendue (AAAA-MM-JJ), reçu {raw!r}")
        return parsed
    if tp is bool:
        if not isinstance(raw, bool):
            raise CodecError(path, "booléen attendu")
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise CodecError(path, "entier attendu")
        return raw
    if tp is str:
        if not isinstance(raw, str):
            raise CodecError(path, "texte attendu")
        return raw
    raise CodecError(path, f"type non pris en charge {tp!r}")  # pragma: no cover - contract bug


_FIELDS: dict[type, dict[str, dataclasses.Field[Any]]] = {}


def _decode_dataclass(cls: type[_T], raw: Any, path: str) -> _T:
    if not isinstance(raw, dict):
        raise CodecError(path, "objet attendu")
    hints = _hints(cls)
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(raw) - set(fields)
    if unknown:
        raise CodecError(path, f"champs inconnus : {', '.join(sorted(map(str, unknown)))}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(f"{path}.{name}", "champ obligatoire manquant")
            continue
        kwargs[name] = _decode(hints[name], raw[name], f"{path}.{name}")
    return cls(**kwargs)


def facts_to_json(facts: Facts) -> dict[str, Any]:
    """The facts as a JSON-ready dict."""
    encoded: dict[str, Any] = _encode(facts)
    return encoded


def facts_from_json(data: Any) -> Facts:
    """Facts from ``facts_to_json`` output; ``CodecError`` on anything else."""
    return _decode_dataclass(Facts, data, "facts")


def timeline_to_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline as a JSON-ready dict (see the module docstring for the shape)."""
    encoded: dict[str, Any] = _encode(timeline)
    return encoded


def timeline_from_json(data: Any) -> Timeline:
    """Timeline from ``timeline_to_json`` output; ``CodecError`` on anything else."""
    return _decode_dataclass(Timeline, data, "timeline")
