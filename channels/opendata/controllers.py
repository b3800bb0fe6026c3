"""Public outputs of the street reports over HTTP (no sign-in; CORS open: anyone may reuse them).

- ``GET /opendata/signalements.geojson[?commune=INSEE]``: the latest daily export
  (``_export``); ``ETag``, ``Last-Modified``, ``If-None-Match``/``If-Modified-Since`` → 304.
- ``GET /opendata/signalements/statistiques[?commune=INSEE]``: counts by category, state and
  month, median time to fix (``_stats``); ``…/statistiques.csv``: the same for a spreadsheet.
- ``GET /signalements/{reference}/photos/{n}`` and ``…/photos/{n}/vignette``: a public report's
  photo, re-encoded without metadata (``channels.street.photos``); ``ETag``.

An unknown commune is a 404; a commune without any public report gets an empty collection
(and zero counts).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.opendata._export import ALL, GEOJSON, LatestExport, latest, publish
from channels.opendata._photos import PhotoBlob, public_photo
from channels.opendata._stats import Statistics, compute, to_csv
from channels.opendata.settings import opendata_settings
from documents.controllers import etag_matches, provide_storage
from documents.storage import CorruptDocument, DocumentStorage, StorageUnavailable
from identity.models import Tenant
from services.kernel.clock import Clock
from services.kernel.errors import NotFound, Unavailable
from services.kernel.logging import get_logger
from services.kernel.policy import Policy, policy_opt

_log = get_logger("guichet.opendata")

OPEN_DATA = policy_opt(
    Policy(public=True, description="public: open data, no personal data, no free text")
)
PUBLIC_PHOTO = policy_opt(
    Policy(public=True, description="public while the report is public (metadata-free copy)")
)
COMMUNE_UNKNOWN = (
    "Commune inconnue : ce code INSEE ne désigne aucune collectivité de Guichet. Indiquez le "
    "code INSEE à 5 caractères de la commune (par exemple 69123), ou aucun pour toutes."
)
CSV = "text/csv; charset=utf-8"
_INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}")
"""Code officiel géographique: 5 characters, Corsica's departments 2A and 2B."""

CommuneQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=100,
        description="Code INSEE de la collectivité (absent : toutes)",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(name="If-None-Match", description="ETag déjà détenu (304 s'il n'a pas changé)"),
]
IfModifiedSince = Annotated[
    str | None,
    HeaderParameter(name="If-Modified-Since", description="Date HTTP (304 si rien de plus récent)"),
]


async def _tenant(session: AsyncSession, commune: str | None) -> Tenant | None:
    """The tenant named by ``?commune=`` (None when absent or empty); unknown: 404."""
    if commune is None or not commune.strip():
        return None
    code = commune.strip().upper()
    if not _INSEE.fullmatch(code):  # never sent to the database (PostgreSQL refuses NUL)
        raise NotFound(COMMUNE_UNKNOWN, extra={"parameter": "commune"})
    tenant = await session.scalar(select(Tenant).where(Tenant.insee_code == code))
    if tenant is None:
        raise NotFound(COMMUNE_UNKNOWN, extra={"parameter": "commune"})
    return tenant


def _public_headers(etag: str) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={opendata_settings().cache_seconds}",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }


def _not_modified_since(header: str | None, modified: datetime) -> bool:
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an unreadable date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified.replace(microsecond=0) <= since


async def _read_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: DocumentStorage,
    clock: Clock,
    scope: str,
) -> LatestExport:
    """The latest export's entry; its bytes are read by the caller unless a 304 answers."""
    try:
        return await latest(sessionmaker, storage, clock, scope)
    except LookupError as exc:
        raise NotFound(COMMUNE_UNKNOWN) from exc
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> Unavailable:
    _log.error("open data storage unreadable", error=repr(exc))
    return Unavailable(
        "Données temporairement indisponibles : le stockage ne répond pas. Réessayez plus tard."
    )


class OpenDataController(Controller):
    path = "/"
    tags = ["Données ouvertes"]
    dependencies = {"storage": Provide(provide_storage, sync_to_thread=False)}

    @get(
        "/opendata/signalements.geojson",
        opt=OPEN_DATA,
        media_type=GEOJSON,
        summary="Export GeoJSON quotidien des signalements (données ouvertes)",
        description="FeatureCollection (RFC 7946) : référence, catégorie, état, dates, position "
        "arrondie (3 décimales par défaut, environ 100 m), code INSEE. Aucune donnée "
        "personnelle, aucun texte libre. Régénéré chaque nuit.",
    )
    async def geojson(
        self,
        state: State,
        session: NamedDependency[AsyncSession],
        storage: NamedDependency[DocumentStorage],
        clock: NamedDependency[Clock],
        commune: CommuneQuery = None,
        if_none_match: IfNoneMatch = None,
        if_modified_since: IfModifiedSince = None,
    ) -> Response[bytes]:
        tenant = await _tenant(session, commune)
        scope = tenant.insee_code if tenant is not None else ALL
        await session.rollback()  # nothing more from this transaction: none held meanwhile
        sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
        entry = await _read_export(sessionmaker, storage, clock, scope)
        etag = f'"{entry.sha256}"'
        headers = _public_headers(etag)
        headers["Last-Modified"] = format_datetime(entry.generated_at.astimezone(UTC), usegmt=True)
        if etag_matches(if_none_match, etag) or (
            if_none_match is None and _not_modified_since(if_modified_since, entry.generated_at)
        ):
            return Response(b"", status_code=304, headers=headers, media_type=GEOJSON)
        try:
            data = await storage.get(entry.key, sha256=entry.sha256)
        except (FileNotFoundError, CorruptDocument) as exc:
            # The blob is gone or damaged: make the export again, once.
            _log.warning("open data export unreadable, regenerating", error=repr(exc))
            try:
                await publish(sessionmaker, storage, clock)
                entry = await _read_export(sessionmaker, storage, clock, scope)
                data = await storage.get(entry.key, sha256=entry.sha256)
            except (FileNotFoundError, CorruptDocument, StorageUnavailable, OSError) as again:
                raise _unavailable(again) from again
            headers = _public_headers(f'"{entry.sha256}"')
            headers["Last-Modified"] = format_datetime(
                entry.generated_at.astimezone(UTC), usegmt=True
            )
        except (StorageUnavailable, OSError) as exc:
            raise _unavailable(exc) from exc
        name = "signalements" if scope == ALL else f"signalements-{scope}"
        headers["Content-Disposition"] = f'inline; filename="{name}.geojson"'
        return Response(data, media_type=GEOJSON, headers=headers)

    @get(
        "/opendata/signalements/statistiques",
        opt=OPEN_DATA,
        summary="Statistiques publiques des signalements",
        description="Nombres par catégorie, par état, par mois de dépôt ; délai médian de "
        "résolution en jours. Par collectivité (?commune=) ou pour toutes.",
    )
    async def statistics(
        self,
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        commune: CommuneQuery = None,
    ) -> Response[Statistics]:
        tenant = await _tenant(session, commune)
        stats = await compute(
            session,
            tenant_id=tenant.id if tenant is not None else None,
            commune_insee=tenant.insee_code if tenant is not None else None,
            now=clock.now(),
        )
        headers = {
            "Cache-Control": f"public, max-age={opendata_settings().cache_seconds}",
            "Access-Control-Allow-Origin": "*",
        }
        return Response(stats, headers=headers)

    @get(
        "/opendata/signalements/statistiques.csv",
        opt=OPEN_DATA,
        media_type=CSV,
        summary="Statistiques publiques des signalements (CSV pour tableur)",
        description="Séparateur « ; », virgule décimale, UTF-8 avec BOM : s'ouvre tel quel "
        "dans un tableur. Colonnes : rubrique, code, libelle, valeur.",
    )
    async def statistics_csv(
        self,
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        commune: CommuneQuery = None,
    ) -> Response[bytes]:
        tenant = await _tenant(session, commune)
        stats = await compute(
            session,
            tenant_id=tenant.id if tenant is not None else None,
            commune_insee=tenant.insee_code if tenant is not None else None,
            now=clock.now(),
        )
        name = "statistiques-signalements" + (f"-{tenant.insee_code}" if tenant else "")
        return Response(
            ("\ufeff" + to_csv(stats)).encode(),
            media_type=CSV,
            headers={
                "Content-Disposition": f'attachment; filename="{name}.csv"',
                "Cache-Control": f"public, max-age={opendata_settings().cache_seconds}",
                "Access-Control-Allow-Origin": "*",
            },
        )

    @get(
        "/signalements/{reference:str}/photos/{position:int}",
        opt=PUBLIC_PHOTO,
        summary="Photo d'un signalement public",
        response_description="La photo, réencodée sans métadonnées (ni EXIF ni GPS).",
    )
    async def photo(
        self,
        session: NamedDependency[AsyncSession],
        storage: NamedDependency[DocumentStorage],
        reference: FromPath[str],
        position: FromPath[int],
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        blob = await public_photo(session, reference, position, thumbnail=False)
        return await _serve_photo(session, storage, blob, if_none_match)

    @get(
        "/signalements/{reference:str}/photos/{position:int}/vignette",
        opt=PUBLIC_PHOTO,
        summary="Vignette d'une photo d'un signalement public",
    )
    async def thumbnail(
        self,
        session: NamedDependency[AsyncSession],
        storage: NamedDependency[DocumentStorage],
        reference: FromPath[str],
        position: FromPath[int],
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        blob = await public_photo(session, reference, position, thumbnail=True)
        return await _serve_photo(session, storage, blob, if_none_match)


async def _serve_photo(
    session: AsyncSession, storage: DocumentStorage, blob: PhotoBlob, if_none_match: str | None
) -> Response[bytes]:
    etag = f'"{blob.sha256}"'
    headers = _public_headers(etag)
    headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if etag_matches(if_none_match, etag):
        return Response(b"", status_code=304, headers=headers, media_type=blob.media_type)
    await session.rollback()  # no connection held while the storage is read
    try:
        data = await storage.get(blob.key, sha256=blob.sha256)
    except (FileNotFoundError, CorruptDocument, StorageUnavailable, OSError) as exc:
        _log.error(
            "report photo unreadable",
            reference=blob.reference,
            position=blob.position,
            error=repr(exc),
        )
        raise Unavailable(
            "Photo temporairement indisponible : le fichier conservé ne peut pas être lu. "
            "L'incident est signalé ; réessayez plus tard."
        ) from exc
    return Response(data, media_type=blob.media_type, headers=headers)
