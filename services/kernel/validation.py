"""pydantic validation errors as a list a person can act on, in French."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_FR: dict[str, str] = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu",
    "string_type": "doit être un texte",
    "string_too_short": "texte trop court (au moins {min_length} caractère(s))",
    "string_too_long": "texte trop long (au plus {max_length} caractères)",
    "string_pattern_mismatch": "format invalide",
    "string_unicode": "texte illisible : caractère Unicode invalide",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "bool_type": "doit être vrai ou faux",
    "bool_parsing": "doit être vrai ou faux",
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "date_type": "doit être une date (AAAA-MM-JJ)",
    "date_parsing": "doit être une date (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "doit être une date (AAAA-MM-JJ)",
    "datetime_type": "doit être une date et heure ISO 8601",
    "datetime_parsing": "doit être une date et heure ISO 8601",
    "timezone_aware": "doit préciser le fuseau horaire",
    "uuid_parsing": "doit être un identifiant UUID",
    "uuid_type": "doit être un identifiant UUID",
    "literal_error": "valeur non permise (attendu : {expected})",
    "enum": "valeur non permise (attendu : {expected})",
    "dict_type": "doit être un objet JSON",
    "model_type": "doit être un objet JSON",
    "model_attributes_type": "doit être un objet JSON",
    "list_type": "doit être une liste",
    "too_short": "liste trop courte (au moins {min_length} élément(s))",
    "too_long": "liste trop longue (au plus {max_length} éléments)",
    "value_error": "{error}",
    "assertion_error": "{error}",
}


def french_errors(exc: ValidationError, *, prefix: str = "") -> list[dict[str, Any]]:
    """Every field error: where (dotted path), what is wrong (French), and pydantic's type."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"])
        template = _FR.get(err["type"])
        ctx = dict(err.get("ctx") or {})
        if "error" in ctx:
            ctx["error"] = str(ctx["error"]).removeprefix("Value error, ")
        message = err["msg"]
        if template is not None:
            try:
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = template
        if err["type"] in {"value_error", "assertion_error"}:
            message = (
                str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            )
        full = ".".join(p for p in (prefix, path) if p)
        out.append({"field": full or "(racine)", "message": message, "type": err["type"]})
    return out
