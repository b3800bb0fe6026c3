"""Where a report is: lenient coordinates, tenants' boundaries, the tenant of a point, distances.

Coordinates are WGS84 decimal degrees. Input is lenient (numbers or numeric strings, spaces
around), never ambiguous: a decimal comma ("48,85") is refused with a message saying so, as are
NaN, infinities and out-of-range values.

The tenant of a point is found with the tenants' GeoJSON boundaries (shapely). The most specific
tenant wins: among the boundaries covering the point, the smallest (a commune lies inside the
métropole, so a point in commune A is commune A's; a point in the métropole but in no commune is
the métropole's). Prepared geometries are cached per boundary digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely import prepare
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import ValidationFailed
from workflows.procedures.street_reports.models import TenantBoundary

EARTH_RADIUS_M = 6_371_008.8
_RANGES = {"lat": 90.0, "latitude": 90.0, "lon": 180.0, "long": 180.0, "longitude": 180.0}


class OutsideTerritory(ValidationFailed):
    """The point is in no tenant's territory (422)."""

    code = "outside-territory"
    title = "Hors du territoire"


def _coordinate_error(field: str, message: str, kind: str) -> ValidationFailed:
    return ValidationFailed(
        f"Coordonnée « {field} » invalide : {message}.",
        errors=[{"field": field, "message": message, "type": kind}],
    )


def parse_coordinate(value: str | float | int | None, field: str) -> float:
    """A latitude (``field`` lat/latitude) or longitude (lon/long/longitude) in decimal degrees.

    Accepts numbers and numeric strings ("45.76", " 4.83 ", "+4.8"); refuses booleans, empty
    values, decimal commas, NaN, infinities (including "1e400") and out-of-range values."""
    if value is None:
        raise _coordinate_error(field, "nombre attendu (degrés décimaux WGS84)", "missing")
    if isinstance(value, bool):
        raise _coordinate_error(field, "nombre attendu, pas un booléen", "number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _coordinate_error(field, "valeur vide : indiquez un nombre", "missing")
        if "," in text:
            raise _coordinate_error(
                field,
                f"« {text[:30]} » utilise une virgule : écrivez le séparateur décimal avec un "
                "point (ex. 45.764)",
                "decimal_comma",
            )
        if "\x00" in text or len(text) > 40:
            raise _coordinate_error(field, "nombre attendu (degrés décimaux WGS84)", "number")
        try:
            number = float(text)
        except ValueError:
            raise _coordinate_error(
                field, f"« {text[:30]} » n'est pas un nombre (degrés décimaux WGS84)", "number"
            ) from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise _coordinate_error(field, "nombre attendu (degrés décimaux WGS84)", "number")
    if not math.isfinite(number):
        raise _coordinate_error(field, "doit être un nombre fini", "finite")
    limit = _RANGES.get(field.lower().rsplit(".", 1)[-1], 180.0)
    if not -limit <= number <= limit:
        raise _coordinate_error(
            field, f"{number:g} est hors de l'intervalle [-{limit:g}, {limit:g}]", "range"
        )
    return number


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) around a point, a little wider than the radius."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    cos = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, dlat / cos)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


# ----- boundaries ---------------------------------------------------------------------------


def _boundary_error(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Contour invalide : {message}.",
        errors=[{"field": "geojson", "message": message, "type": "geojson"}],
    )


def _check_ranges(coords: Any, depth: int = 0) -> None:
    if depth > 6:
        raise _boundary_error("coordonnées trop imbriquées")
    if isinstance(coords, list | tuple) and coords and isinstance(coords[0], int | float):
        if len(coords) < 2 or not all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in coords
        ):
            raise _boundary_error("chaque position est [longitude, latitude]")
        lon, lat = float(coords[0]), float(coords[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _boundary_error("coordonnée non finie")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _boundary_error(
                f"position [{lon:g}, {lat:g}] hors de WGS84 (longitude puis latitude)"
            )
        return
    if not isinstance(coords, list | tuple):
        raise _boundary_error("coordonnées mal formées")
    for item in coords:
        _check_ranges(item, depth + 1)


def validate_boundary(geojson: Any) -> dict[str, Any]:
    """A valid, non-empty Polygon or MultiPolygon in WGS84 (a Feature holding one is accepted),
    as a canonical GeoJSON geometry; ValidationFailed saying what is wrong otherwise."""
    if not isinstance(geojson, dict):
        raise _boundary_error("un objet GeoJSON est attendu")
    if geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
        if not isinstance(geojson, dict):
            raise _boundary_error("la Feature n'a pas de géométrie")
    kind = geojson.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _boundary_error(f"type {str(kind)[:40]!r} : seuls Polygon et MultiPolygon sont admis")
    _check_ranges(geojson.get("coordinates"))
    try:
        geometry = shape(geojson)
    except Exception as exc:  # noqa: BLE001 - shapely raises many kinds on malformed input
        raise _boundary_error(f"géométrie illisible ({str(exc)[:120]})") from None
    if geometry.is_empty:
        raise _boundary_error("géométrie vide")
    if not geometry.is_valid:
        raise _boundary_error(f"géométrie non valide ({explain_validity(geometry)[:160]})")
    canonical: dict[str, Any] = json.loads(json.dumps(mapping(geometry)))
    return canonical


def digest_of(geojson: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(geojson, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


async def set_boundary(
    session: AsyncSession, tenant_id: uuid.UUID, geojson: Any, *, now: datetime
) -> TenantBoundary:
    """Set (or replace) a tenant's territory."""
    canonical = validate_boundary(geojson)
    row = await session.get(TenantBoundary, tenant_id)
    if row is None:
        row = TenantBoundary(tenant_id=tenant_id, geojson=canonical, updated_at=now)
        session.add(row)
    row.geojson = canonical
    row.digest = digest_of(canonical)
    row.updated_at = now
    await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class _Prepared:
    geometry: BaseGeometry
    area: float


_CACHE: dict[str, _Prepared] = {}
_LOCK = threading.Lock()
_CACHE_MAX = 2048


def _prepared(digest: str, geojson: dict[str, Any]) -> _Prepared:
    with _LOCK:
        found = _CACHE.get(digest)
    if found is not None:
        return found
    geometry = shape(geojson)
    prepare(geometry)
    item = _Prepared(geometry=geometry, area=float(geometry.area))
    with _LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[digest] = item
    return item


async def tenants_at(session: AsyncSession, lat: float, lon: float) -> list[uuid.UUID]:
    """Every tenant whose territory covers the point, most specific (smallest) first."""
    rows = (await session.execute(select(TenantBoundary.tenant_id, TenantBoundary.digest))).all()
    point = Point(lon, lat)
    hits: list[tuple[float, str, uuid.UUID]] = []
    for tenant_id, digest in rows:
        with _LOCK:
            cached = _CACHE.get(digest)
        if cached is None:
            geojson = await session.scalar(
                select(TenantBoundary.geojson).where(TenantBoundary.tenant_id == tenant_id)
            )
            if geojson is None:
                continue
            cached = _prepared(digest, geojson)
        if cached.geometry.covers(point):
            hits.append((cached.area, str(tenant_id), tenant_id))
    return [tenant_id for _, _, tenant_id in sorted(hits)]


async def tenant_for_point(session: AsyncSession, lat: float, lon: float) -> uuid.UUID:
    """The most specific tenant covering the point; ``OutsideTerritory`` when none does."""
    lat = parse_coordinate(lat, "lat")
    lon = parse_coordinate(lon, "long")
    found = await tenants_at(session, lat, lon)
    if not found:
        raise OutsideTerritory(
            f"Ce point est hors du territoire couvert par Guichet (latitude {lat:.6f}, "
            f"longitude {lon:.6f}) : vérifiez l'emplacement sur la carte, ou adressez-vous à la "
            "commune concernée.",
            errors=[
                {
                    "field": "location",
                    "message": "hors du territoire de la métropole et de ses communes",
                    "type": "outside_territory",
                }
            ],
        )
    return found[0]
