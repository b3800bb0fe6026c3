"""One table maps errors to RFC 9457 problem+json. Never a bare 500 for bad input."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError

from services.kernel import errors as e
from services.kernel.logging import get_logger

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://guichet.example/problemes/"

STATUS: dict[type[e.GuichetError], int] = {
    e.NotFound: 404,
    e.StaleVersion: 409,
    e.InvalidTransition: 409,
    e.Conflict: 409,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.ValidationFailed: 422,
    e.PayloadTooLarge: 413,
    e.TooManyRequests: 429,
    e.Unavailable: 503,
}

_log = get_logger("guichet.api")


def status_of(exc: e.GuichetError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def guichet_error_handler(request: Request[Any, Any, Any], exc: e.GuichetError) -> Response[Any]:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="guichet"'} if status == 401 else None
    if isinstance(exc, e.TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(
        request,
        status=status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extra=exc.extra,
        headers=headers,
    )


_EN_FR: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), french)
    for pattern, french in (
        (r"^Field required", "champ obligatoire manquant"),
        (r"^Extra inputs are not permitted", "champ inconnu"),
        (r"^Input should be a valid string", "doit être un texte"),
        (r"^Input should be a valid integer", "doit être un nombre entier"),
        (r"^Input should be a valid number", "doit être un nombre"),
        (r"^Input should be a valid boolean", "doit être vrai ou faux"),
        (r"^Input should be a valid dictionary", "doit être un objet JSON"),
        (r"^Input should be a valid list", "doit être une liste"),
        (r"^Input should be a valid UUID", "doit être un identifiant UUID"),
        (r"^Input should be a valid date", "doit être une date (AAAA-MM-JJ)"),
        (r"^Input should be a valid datetime", "doit être une date et heure ISO 8601"),
        (r"^Input should have timezone info", "doit préciser le fuseau horaire"),
        (r"^Input should be greater than or equal to (\S+)", r"doit être supérieur ou égal à \1"),
        (r"^Input should be less than or equal to (\S+)", r"doit être inférieur ou égal à \1"),
        (
            r"^String should have at most (\d+) characters?",
            r"texte trop long (au plus \1 caractères)",
        ),
        (r"^String should have at least (\d+) characters?", r"texte trop court (au moins \1)"),
        (r"^String should match pattern '(.*)'", r"format invalide (attendu : \1)"),
        (r"^Expected `(\w+)`, got `(\w+)`", r"type attendu : \1 (reçu : \2)"),
        (r"^Missing required (\w+) parameter '([^']+)'", r"paramètre obligatoire manquant : \2"),
        (r"^Missing required", "champ obligatoire manquant"),
    )
)


def french_message(message: str) -> str:
    for pattern, french in _EN_FR:
        if pattern.search(message):
            return pattern.sub(french, message, count=1).split(" [")[0]
    return message


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            source = item.get("source")
            source = getattr(source, "value", source)
            errors.append(
                {
                    "field": ".".join(str(p) for p in [source, item.get("key")] if p),
                    "message": french_message(str(item.get("message", ""))),
                    "type": "invalid",
                }
            )
    detail = french_message(str(exc.detail))
    if detail.startswith("Validation failed for"):
        detail = "La requête est invalide : corrigez les champs listés dans « errors »."
    return problem(
        request,
        status=400,
        code="bad-request",
        title="Requête invalide",
        detail=detail,
        extra={"errors": errors},
    )


_HTTP_FR: dict[int, tuple[str, str, str]] = {
    400: ("bad-request", "Requête invalide", "La requête est mal formée."),
    404: ("not-found", "Introuvable", "Aucune ressource à cette adresse."),
    405: ("method-not-allowed", "Méthode non permise", "Cette méthode n'est pas permise ici."),
    413: (
        "payload-too-large",
        "Contenu trop volumineux",
        "Le corps de la requête dépasse la taille maximale acceptée.",
    ),
    415: (
        "unsupported-media-type",
        "Type de contenu non pris en charge",
        "Type de contenu refusé.",
    ),
}


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code >= 500:
        return internal_error_handler(request, exc)
    code, title, default = _HTTP_FR.get(exc.status_code, ("http-error", "Erreur", str(exc.detail)))
    detail = default
    if exc.status_code == 400 and exc.detail and "JSON" in str(exc.detail):
        detail = f"Le corps de la requête n'est pas un JSON valide ({exc.detail})."
    elif exc.status_code == 405 or exc.status_code == 413:
        detail = default
    elif exc.detail and exc.status_code not in _HTTP_FR:
        detail = str(exc.detail)
    headers = dict(exc.headers or {})
    return problem(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=headers or None,
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.exception("unhandled error", path=request.url.path)
    return problem(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        code="internal-error",
        title="Erreur interne",
        detail="Une erreur inattendue est survenue ; elle a été enregistrée. Réessayez plus tard.",
    )


# PostgreSQL refuses the NUL character (U+0000) in text and JSONB: the request, not the server, is
# at fault. SQLSTATE 22021 character_not_in_repertoire, 22P05 untranslatable_character.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def database_error_handler(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    if getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        return problem(
            request,
            status=422,
            code="validation-failed",
            title="Données invalides",
            detail=(
                "Le texte envoyé contient un caractère refusé (le caractère nul U+0000) : "
                "retirez-le et renvoyez la requête."
            ),
            extra={
                "errors": [
                    {
                        "field": "(corps)",
                        "message": "caractère nul (U+0000) refusé",
                        "type": "null_character",
                    }
                ]
            },
        )
    return internal_error_handler(request, exc)


def recursion_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """msgspec raises RecursionError on a JSON body nested too deeply: a bad request."""
    if "deserializing" in str(exc):
        return problem(
            request,
            status=400,
            code="bad-request",
            title="Requête invalide",
            detail="Le corps JSON de la requête est trop profondément imbriqué.",
        )
    return internal_error_handler(request, exc)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    e.GuichetError: guichet_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_exception_handler,
    DBAPIError: database_error_handler,
    RecursionError: recursion_handler,
    Exception: internal_error_handler,
}
