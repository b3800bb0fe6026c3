"""The daily GeoJSON export of street reports (RFC 7946 FeatureCollection).

One feature per public report, with only these properties (``PROPERTIES``)::

    reference        the report's number (69001-2026-000042)
    category_code    the category (Open311 service_code) and its name
    category_name
    state            the state's code (submitted, acknowledged, in_progress, scheduled, fixed,
                     closed, rejected, transferred, duplicate, cancelled) and its generic French
    state_label      label (never the rejection reason, the third party or a date: those are
                     free text written by agents)
    status           open | closed (as Open311)
    submitted_on     dates (YYYY-MM-DD, Europe/Paris): a day is enough for open data and says
    fixed_on         less about someone's habits than a time would
    closed_on
    commune_insee    the INSEE code of the tenant that handles the report

and a Point geometry rounded to ``GUICHET_OPENDATA_DECIMALS`` decimals (3 by default, about
100 m). Nothing else is read from the database (the query names its columns): no name, e-mail,
phone, address text, description, attribute or photo. The description would only be published
for reports a moderator approved; street reports have no moderation, so it never is.

Reports of any state that is not one of the definition's public states are left out (a state
added later, e.g. a moderation hold, stays private until listed here).

The export is regenerated whole by the daily cron (``jobs.py``) and, the first time, on demand:
one file for everything (``all``) and one per tenant, stored in the content-addressed document
storage; ``_index`` says which blob is the latest of each.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.opendata._index import read_index, write_index
from channels.opendata.settings import OpenDataSettings, opendata_settings
from documents.storage import DocumentStorage
from identity.models import Tenant
from services.kernel.clock import Clock
from services.kernel.settings import legal_settings
from workflows.procedures.street_reports.definition import CLOSED_STATES, OPEN_STATES
from workflows.procedures.street_reports.models import StreetCategory, StreetReport
from workflows.procedures.street_reports.states import public_status, state_title

PUBLIC_STATES: tuple[str, ...] = (*OPEN_STATES, *CLOSED_STATES)
ALL = "all"
GEOJSON = "application/geo+json"
PROPERTIES = (
    "reference",
    "category_code",
    "category_name",
    "state",
    "state_label",
    "status",
    "submitted_on",
    "fixed_on",
    "closed_on",
    "commune_insee",
)

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _lock() -> asyncio.Lock:
    """One generation at a time in this process (per event loop)."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def round_coordinate(value: float, decimals: int) -> float:
    """The coordinate on the export's grid (``decimals`` decimals)."""
    return round(value, decimals)


def _day(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).date().isoformat() if at is not None else None


async def features_by_commune(
    session: AsyncSession, decimals: int
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """The public reports as GeoJSON features grouped by commune, and every tenant's code."""
    tz = ZoneInfo(legal_settings().timezone)
    rows = await session.execute(
        select(
            StreetReport.reference,
            StreetReport.state,
            StreetReport.lat,
            StreetReport.lon,
            StreetReport.submitted_at,
            StreetReport.fixed_at,
            StreetReport.closed_at,
            StreetCategory.code,
            StreetCategory.name,
            Tenant.insee_code,
        )
        .join(StreetCategory, StreetCategory.id == StreetReport.category_id)
        .join(Tenant, Tenant.id == StreetReport.tenant_id)
        .where(StreetReport.state.in_(PUBLIC_STATES))
        .order_by(StreetReport.submitted_at, StreetReport.reference)
    )
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        (reference, state, lat, lon, submitted, fixed, closed, code, name, insee) = row
        properties = {
            "reference": reference,
            "category_code": code,
            "category_name": name,
            "state": state,
            "state_label": state_title(state),
            "status": public_status(state),
            "submitted_on": _day(submitted, tz),
            "fixed_on": _day(fixed, tz),
            "closed_on": _day(closed, tz),
            "commune_insee": insee,
        }
        grouped[insee].append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        round_coordinate(lon, decimals),
                        round_coordinate(lat, decimals),
                    ],
                },
                "properties": properties,
            }
        )
    codes = list(await session.scalars(select(Tenant.insee_code).order_by(Tenant.insee_code)))
    return dict(grouped), codes


def collection(
    features: list[dict[str, Any]],
    *,
    scope: str,
    generated_at: datetime,
    settings: OpenDataSettings,
) -> bytes:
    """The FeatureCollection's bytes (UTF-8, stable key order: same data, same bytes)."""
    body = {
        "type": "FeatureCollection",
        "name": "signalements" if scope == ALL else f"signalements-{scope}",
        "generated_at": generated_at.isoformat(),
        "licence": settings.licence,
        "coordinate_decimals": settings.decimals,
        "commune_insee": None if scope == ALL else scope,
        "features": features,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Published:
    generated_at: datetime
    scopes: int
    reports: int


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: DocumentStorage,
    clock: Clock,
    settings: OpenDataSettings | None = None,
) -> Published:
    """Build every export (all, then one per tenant), store them, then point the index at them.
    The database is read in one short transaction; nothing is held while storing."""
    settings = settings or opendata_settings()
    async with sessionmaker() as session, session.begin():
        grouped, codes = await features_by_commune(session, settings.decimals)
        generated_at = clock.now()
    everything = [f for insee in sorted(grouped) for f in grouped[insee]]
    everything.sort(key=lambda f: (f["properties"]["submitted_on"], f["properties"]["reference"]))
    scopes: dict[str, list[dict[str, Any]]] = {ALL: everything}
    for code in codes:
        scopes[code] = grouped.get(code, [])
    entries: dict[str, dict[str, Any]] = {}
    for scope, features in scopes.items():
        data = await asyncio.to_thread(
            collection, features, scope=scope, generated_at=generated_at, settings=settings
        )
        blob = await storage.put(data)
        entries[scope] = {
            "key": blob.key,
            "sha256": blob.sha256,
            "size": blob.size,
            "count": len(features),
        }
    await write_index(storage, {"generated_at": generated_at.isoformat(), "exports": entries})
    return Published(generated_at=generated_at, scopes=len(entries), reports=len(everything))


@dataclass(frozen=True, slots=True)
class LatestExport:
    key: str
    sha256: str
    size: int
    count: int
    generated_at: datetime


def _entry(index: dict[str, Any] | None, scope: str) -> LatestExport | None:
    if index is None:
        return None
    entry = index["exports"].get(scope)
    if not isinstance(entry, dict):
        return None
    try:
        return LatestExport(
            key=str(entry["key"]),
            sha256=str(entry["sha256"]),
            size=int(entry["size"]),
            count=int(entry["count"]),
            generated_at=datetime.fromisoformat(str(index["generated_at"])),
        )
    except (KeyError, TypeError, ValueError):
        return None


async def latest(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: DocumentStorage,
    clock: Clock,
    scope: str,
) -> LatestExport:
    """The latest export of ``scope``; made now when there is none yet (first call, or a tenant
    created since the last daily run). One generation at a time in this process."""
    found = _entry(await read_index(storage), scope)
    if found is not None:
        return found
    async with _lock():
        found = _entry(await read_index(storage), scope)
        if found is None:
            await publish(sessionmaker, storage, clock)
            found = _entry(await read_index(storage), scope)
    if found is None:  # the scope's tenant is gone since the caller checked it
        raise LookupError(scope)
    return found
