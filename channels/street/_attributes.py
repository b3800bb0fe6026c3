"""A report's answers to its category's questions (Open311 attributes), checked and normalised.

Lenient in what is accepted: numbers as numeric strings, a single value for a multivaluelist,
zone-less datetimes read in Europe/Paris (open311.md §8 [decide]), empty optional answers
dropped. Strict on the rest: a required answer missing, a value not in the list, a number that is
not one, a datetime that is not ISO 8601 → 422 naming the attribute. Answers to questions the
category does not ask are ignored, except when it asks none (kept as short strings: Open311 §12
case 10). Non-variable attributes (information only) are never stored from input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.kernel.errors import ValidationFailed
from workflows.procedures.street_reports.definition import DESCRIPTION_MAX, no_control

PARIS = ZoneInfo("Europe/Paris")
MAX_FREE_ATTRIBUTES = 20
FREE_VALUE_MAX = 500
STRING_MAX = 1000


def _err(code: str, message: str, kind: str) -> dict[str, Any]:
    return {"field": f"attributes.{code}", "message": message, "type": kind}


def _one(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _text(code: str, value: Any, limit: int, *, lines: bool) -> tuple[Any, dict[str, Any] | None]:
    value = _one(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, _err(code, "texte attendu", "string")
    value = str(value)
    if len(value) > limit:
        return None, _err(code, f"{limit} caractères au plus", "too_long")
    try:
        return no_control(value, lines=lines).strip(), None
    except ValueError as exc:
        return None, _err(code, str(exc), "control")


def _number(code: str, value: Any) -> tuple[Any, dict[str, Any] | None]:
    value = _one(value)
    if isinstance(value, bool):
        return None, _err(code, "nombre attendu", "number")
    if isinstance(value, str):
        raw = value.strip()
        if "," in raw:
            return None, _err(code, "écrivez le séparateur décimal avec un point", "number")
        try:
            value = float(raw)
        except ValueError:
            return None, _err(code, f"« {raw[:30]} » n'est pas un nombre", "number")
    if not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None, _err(code, "nombre fini attendu", "number")
    number = float(value)
    return (int(number) if number.is_integer() and abs(number) < 2**53 else number), None


def _datetime(code: str, value: Any) -> tuple[Any, dict[str, Any] | None]:
    value = _one(value)
    if not isinstance(value, str):
        return None, _err(code, "date et heure ISO 8601 attendues", "datetime")
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, _err(code, f"« {value[:40]} » n'est pas une date ISO 8601", "datetime")
    if at.tzinfo is None:
        at = at.replace(tzinfo=PARIS)
    return at.isoformat(), None


def _choices(definition: Mapping[str, Any]) -> dict[str, str]:
    return {str(v["key"]): str(v["name"]) for v in definition.get("values") or []}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == [""]


def checked_values(definitions: list[dict[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to store (module doc); ValidationFailed listing every problem."""
    if not isinstance(given, Mapping):
        raise ValidationFailed(
            "Les attributs doivent être un objet {code: valeur}.",
            errors=[{"field": "attributes", "message": "objet attendu", "type": "object"}],
        )
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    if not definitions:
        for code, value in list(given.items())[:MAX_FREE_ATTRIBUTES]:
            if _empty(value):
                continue
            text, refused = _text(str(code)[:100], value, FREE_VALUE_MAX, lines=False)
            if refused is None and isinstance(code, str) and len(code) <= 100:
                values[code] = text
        return values
    for definition in definitions:
        code = str(definition["code"])
        if not definition.get("variable", True):
            continue
        value = given.get(code)
        if _empty(value):
            if definition.get("required"):
                errors.append(
                    _err(code, f"réponse obligatoire : {definition['description']}", "missing")
                )
            continue
        datatype = definition.get("datatype", "string")
        problem: dict[str, Any] | None
        if datatype == "number":
            result, problem = _number(code, value)
        elif datatype == "datetime":
            result, problem = _datetime(code, value)
        elif datatype == "singlevaluelist":
            choice = _one(value)
            choices = _choices(definition)
            result, problem = str(choice), None
            if not isinstance(choice, str | int) or str(choice) not in choices:
                problem = _err(
                    code, f"valeur non admise (valeurs : {', '.join(choices)})", "choice"
                )
        elif datatype == "multivaluelist":
            items = value if isinstance(value, list) else [value]
            choices = _choices(definition)
            bad = [
                str(i)[:40] for i in items if not isinstance(i, str | int) or str(i) not in choices
            ]
            result, problem = sorted({str(i) for i in items}), None
            if bad:
                problem = _err(
                    code,
                    f"valeur(s) non admise(s) : {', '.join(bad)} (valeurs : {', '.join(choices)})",
                    "choice",
                )
        elif datatype == "text":
            result, problem = _text(code, value, DESCRIPTION_MAX, lines=True)
        else:
            result, problem = _text(code, value, STRING_MAX, lines=False)
        if problem is not None:
            errors.append(problem)
        elif not _empty(result):
            values[code] = result
    if errors:
        raise ValidationFailed(
            "Les réponses aux questions de la catégorie sont incomplètes ou invalides : "
            + " ; ".join(
                f"{e['field'].removeprefix('attributes.')} : {e['message']}" for e in errors
            ),
            errors=errors,
        )
    return values
