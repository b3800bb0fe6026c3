"""The Open311 GeoReport v2 server over HTTP, under ``/api/v1/open311/v2``.

Resources (each as ``.xml`` — the default — or ``.json``): ``discovery``, ``services``,
``services/{service_code}``, ``requests`` (GET and POST), ``requests/{service_request_id}``,
``tokens/{token}`` and mySociety's ``servicerequestupdates`` (GET and POST). One handler per
method reads the resource and its format from the path, so that a code holding a ``/`` or a dot
still works and any unknown resource or extension gets a GeoReport error, never a 500.

Errors are always the specification's array (``<errors><error><code/><description/></error>
</errors>``, JSON ``[{"code": 404, "description": "…"}]``) in the requested format, XML when the
extension is unknown: 404 for what does not exist (resource, jurisdiction, service, request),
403 for a missing, wrong or revoked ``api_key``, 405 for other methods, 413 for a body past the
limit, 400 for everything else (including a back end failing: GeoReport lists no 5xx).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post, route
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311 import parsing, service, submission
from channels.open311.parsing import Fields
from channels.open311.wire import Format, errors_document, render, split_resource
from services.kernel import errors as e
from services.kernel.clock import Clock
from services.kernel.logging import get_logger
from services.kernel.policy import PUBLIC, policy_opt
from workflows.engine.runner import Engine

BASE = "/open311/v2"
MAX_POST_BYTES = 32 * 1024 * 1024
"""Largest POST body (three photos of GUICHET_PHOTO_MAX_BYTES, 10 MiB each, and the form). Each
photo is then held to its own limit by channels.street.photos."""
PHOTO_FIELDS = ("photo", "media", "file")
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
XML_TYPES = ("text/xml", "application/xml")

_log = get_logger("guichet.open311")
_OPEN = policy_opt(PUBLIC)


# ----- responses --------------------------------------------------------------------------------


def document(fmt: Format, root: str, data: Any, status: int = 200) -> Response[bytes]:
    # Litestar adds "; charset=utf-8" to text/* types itself.
    media_type = "text/xml" if fmt is Format.XML else fmt.content_type
    return Response(render(fmt, root, data), status_code=status, media_type=media_type)


def _format_of(request: Request[Any, Any, Any]) -> Format:
    path = request.url.path
    at = path.find(BASE)
    rest = path[at + len(BASE) :] if at >= 0 else ""
    return split_resource(rest).fmt or Format.XML


def errors_response(
    request: Request[Any, Any, Any],
    status: int,
    items: list[tuple[int, str]],
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    fmt = _format_of(request)
    media_type = "text/xml" if fmt is Format.XML else fmt.content_type
    return Response(
        render(fmt, "errors", errors_document(items)),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def _status(exc: e.GuichetError) -> int:
    if isinstance(exc, e.NotFound):
        return 404
    if isinstance(exc, e.Forbidden | e.Unauthenticated):
        return 403
    if isinstance(exc, e.PayloadTooLarge):
        return 413
    return 400


def _guichet_items(status: int, exc: e.GuichetError) -> list[tuple[int, str]]:
    items = [(status, exc.detail)]
    for problem in exc.extra.get("errors") or []:
        if not isinstance(problem, dict):
            continue
        message = str(problem.get("message") or "")
        field = str(problem.get("field") or "")
        if message and message not in exc.detail and (not field or field not in exc.detail):
            items.append((status, f"{field} : {message}" if field else message))
    return items


_HTTP_FR = {
    404: "Aucune ressource Open311 à cette adresse.",
    405: "Méthode non permise : GET, ou POST pour requests et servicerequestupdates.",
    413: (
        "Le corps de la requête dépasse la taille maximale acceptée (photos comprises) : "
        "réduisez les photos ou leur nombre."
    ),
}


def open311_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Every error on the Open311 routes, as the specification's array."""
    if isinstance(exc, e.GuichetError):
        status = _status(exc)
        return errors_response(request, status, _guichet_items(status, exc))
    if isinstance(exc, HTTPException):
        status = exc.status_code if exc.status_code in (403, 404, 405, 413) else 400
        detail = _HTTP_FR.get(status) or (
            "Requête invalide : le corps ou les paramètres sont mal formés."
            if exc.status_code < 500
            else "Le service est momentanément indisponible : réessayez plus tard."
        )
        if exc.status_code >= 500:
            _log.error("open311 server error", path=request.url.path, detail=str(exc.detail))
        return errors_response(request, status, [(status, detail)])
    if isinstance(exc, UnicodeError):
        return errors_response(
            request, 400, [(400, "Le texte envoyé n'est pas de l'UTF-8 valide.")]
        )
    _log.exception("open311 unexpected error", path=request.url.path)
    return errors_response(
        request,
        400,
        [(400, "Le service n'a pas pu traiter la demande ; elle a été journalisée. Réessayez.")],
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    e.GuichetError: open311_error,
    HTTPException: open311_error,
    DBAPIError: open311_error,
    RecursionError: open311_error,
    Exception: open311_error,
}


# ----- request bodies ---------------------------------------------------------------------------


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_photo_field(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(PHOTO_FIELDS)


async def read_posted(request: Request[Any, Any, Any]) -> submission.Posted:
    """The fields and photos of a POST: form-urlencoded (any charset parameter, read as
    UTF-8), multipart (with photos) or XML (defusedxml). JSON and anything else: 400."""
    media_type = _media_type(request)
    photos: list[bytes] = []
    if media_type == FORM or (not media_type and not await request.body()):
        pairs = parsing.parse_urlencoded(await request.body())
    elif media_type == MULTIPART:
        try:
            form = await request.form()
        except UnicodeDecodeError:
            raise e.ValidationFailed(
                "Un champ du formulaire n'est pas de l'UTF-8 valide : envoyez le texte en UTF-8."
            ) from None
        pairs = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if not _is_photo_field(name):
                    raise parsing.invalid(
                        name, "fichier inattendu (photos : media, photo1 à photo3)"
                    )
                photos.append(await value.read())
                await value.close()
            else:
                pairs.append((name, str(value)))
    elif media_type in XML_TYPES:
        pairs = parsing.xml_form(await request.body())
    elif media_type == "application/json" or media_type.endswith("+json"):
        raise e.ValidationFailed(
            "Corps JSON non accepté : GeoReport v2 attend un formulaire "
            "application/x-www-form-urlencoded (ou multipart/form-data avec des photos).",
            errors=[{"field": "Content-Type", "message": "type non accepté", "type": "media"}],
        )
    else:
        raise e.ValidationFailed(
            f"Type de contenu « {media_type[:60] or 'absent'} » non accepté : envoyez un "
            "formulaire application/x-www-form-urlencoded (ou multipart/form-data avec des "
            "photos).",
            errors=[{"field": "Content-Type", "message": "type non accepté", "type": "media"}],
        )
    query = parsing.parse_urlencoded(request.scope.get("query_string", b""), "adresse")
    idempotency = request.headers.get("idempotency-key")
    if idempotency is not None and (not 0 < len(idempotency) <= 200):
        raise parsing.invalid("Idempotency-Key", "de 1 à 200 caractères")
    return submission.Posted(
        fields=Fields(pairs),
        photos=photos,
        query_key=any(k == "api_key" and v for k, v in query),
        idempotency_key=idempotency,
    )


# ----- handlers -----------------------------------------------------------------------------------

_GET_DOC = (
    "Ressources : discovery, services, services/{service_code}, requests, requests/{id}, "
    "tokens/{token}, servicerequestupdates — suivies de .xml ou .json. Paramètres : "
    "jurisdiction_id (code INSEE ; absent : la métropole), et pour requests : service_request_id, "
    "service_code, start_date, end_date, status."
)


def _resource(rest: str) -> tuple[Format, str, str | None]:
    found = split_resource(rest)
    if found.fmt is None:
        shown = f".{found.extension}" if found.extension else "aucune"
        raise e.NotFound(
            f"Format inconnu (extension {shown[:20]}) : terminez l'adresse par .xml ou .json."
        )
    head, _, tail = found.stem.partition("/")
    return found.fmt, head.lower(), tail or None


def _no_resource(name: str) -> e.NotFound:
    return e.NotFound(
        f"Ressource Open311 « {name[:60]} » inconnue : discovery, services, requests, tokens, "
        "servicerequestupdates."
    )


@route(
    ["/", "/{rest:path}"],
    http_method=["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
    status_code=405,
    opt=_OPEN,
    include_in_schema=False,
)
async def open311_other_methods(request: Request[Any, Any, Any]) -> Response[bytes]:
    return errors_response(request, 405, [(405, _HTTP_FR[405])], headers={"Allow": "GET, POST"})


@route("/", http_method=["GET", "POST"], opt=_OPEN, include_in_schema=False)
async def open311_index() -> Response[bytes]:
    raise e.NotFound(
        "Ressource Open311 manquante : commencez par discovery.xml (ou discovery.json)."
    )


@get(
    "/{rest:path}",
    opt=_OPEN,
    summary="Open311 GeoReport v2 : lecture (XML ou JSON)",
    description=_GET_DOC,
)
async def open311_get(
    request: Request[Any, Any, Any],
    session: NamedDependency[AsyncSession],
    clock: NamedDependency[Clock],
    rest: FromPath[str],
) -> Response[bytes]:
    fmt, head, tail = _resource(rest)
    fields = Fields(parsing.parse_urlencoded(request.scope.get("query_string", b""), "adresse"))
    if head == "discovery" and tail is None:
        where = await service.jurisdiction(session, fields)
        assert where is not None
        return document(fmt, "discovery", await service.discovery(session, where))
    if head not in ("services", "requests", "tokens", "servicerequestupdates"):
        raise _no_resource(head)
    where = await service.jurisdiction(session, fields)
    assert where is not None
    now = clock.now()
    if head == "services":
        if tail is None:
            return document(fmt, "services", await service.services(session, where))
        definition = await service.service_definition(session, where, tail)
        return document(fmt, "service_definition", definition)
    if head == "requests":
        if tail is None:
            found = await service.requests(session, where, fields, now)
        else:
            found = await service.one_request(session, where, tail)
        return document(fmt, "service_requests", found)
    if head == "tokens" and tail is not None:
        return document(fmt, "service_requests", await service.token(session, where, tail))
    if head == "servicerequestupdates" and tail is None:
        found = await service.updates(session, where, fields, now)
        return document(fmt, "service_request_updates", found)
    raise _no_resource(f"{head}/{tail}")


@post(
    "/{rest:path}",
    opt=_OPEN,
    status_code=200,
    request_max_body_size=MAX_POST_BYTES,
    summary="Open311 GeoReport v2 : signaler (requests) ou commenter (servicerequestupdates)",
    description=(
        "POST requests.xml|json et servicerequestupdates.xml|json, formulaire "
        "application/x-www-form-urlencoded (ou multipart/form-data avec photos photo1…photo3), "
        "avec le champ api_key."
    ),
)
async def open311_post(
    request: Request[Any, Any, Any],
    state: State,
    session: NamedDependency[AsyncSession],
    engine: NamedDependency[Engine],
    clock: NamedDependency[Clock],
    rest: FromPath[str],
) -> Response[bytes]:
    fmt, head, tail = _resource(rest)
    if tail is not None or head not in ("requests", "servicerequestupdates"):
        if head in ("discovery", "services", "requests", "tokens"):
            return errors_response(request, 405, [(405, _HTTP_FR[405])], headers={"Allow": "GET"})
        raise _no_resource(head)
    posted = await read_posted(request)
    if head == "requests":
        storage = getattr(state, "storage", None)
        reply = await submission.post_request(session, engine, clock, storage, posted)
        return document(fmt, "service_requests", reply)
    reply = await submission.post_update(session, engine, clock, posted)
    return document(fmt, "service_request_updates", reply)


open311_router = Router(
    path=BASE,
    route_handlers=[open311_other_methods, open311_index, open311_get, open311_post],
    exception_handlers=EXCEPTION_HANDLERS,
    tags=["Open311"],
)
