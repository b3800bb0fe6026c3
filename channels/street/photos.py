"""Photos of a street report: checked and re-encoded (``_images``), stored, recorded.

How a channel uses it (``submit_report`` and any later "add a photo"):

    prepared = await prepare_photos(photos)          # before the transaction: CPU work, in a
                                                     # thread; 400/413/415/422 raised here
    async with sessionmaker() as session, session.begin():
        case = ...                                   # open the case
        await attach_photos(session, storage, case.id, prepared, now)

``attach_photos`` also takes raw bytes (it then prepares them itself, in a thread, inside the
caller's transaction: simpler, but the transaction stays open while images are decoded — on
SQLite that holds the write lock). The photos are stored in the content-addressed document storage
(same bytes, same key: a retried submission stores nothing twice) and one ``StreetReportPhoto`` row
per photo is added, numbered after the report's existing photos, at most ``photo_max_count`` (3).

Public addresses (served by ``channels.opendata`` while the report is public):
``/api/v1/signalements/{reference}/photos/{n}`` and ``…/photos/{n}/vignette`` (``photo_path``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.street._images import (
    PhotoSettings,
    ProcessedPhoto,
    photo_settings,
    process_photo,
    too_large,
    too_many_photos,
)
from documents.storage import DocumentStorage, StorageUnavailable
from services.kernel.errors import Unavailable
from services.kernel.logging import get_logger
from workflows.procedures.street_reports.models import StreetReport, StreetReportPhoto

__all__ = [
    "PhotoSettings",
    "ProcessedPhoto",
    "attach_photos",
    "photo_path",
    "photo_settings",
    "prepare_photos",
    "sha256_of_key",
]

_log = get_logger("guichet.street.photos")

API_PREFIX = "/api/v1"


def photo_path(reference: str, position: int, *, thumbnail: bool = False) -> str:
    """The public path of a report's photo (prefix it with the public base URL for a
    ``media_url``)."""
    path = f"{API_PREFIX}/signalements/{reference}/photos/{position}"
    return path + "/vignette" if thumbnail else path


def sha256_of_key(key: str) -> str:
    """Storage keys end with the SHA-256 of the bytes (``<sha>`` on files,
    ``documents/ab/<sha>`` on S3): the digest reads are checked against."""
    return key.rsplit("/", 1)[-1]


async def prepare_photos(
    photos: Sequence[bytes], settings: PhotoSettings | None = None, *, already: int = 0
) -> list[ProcessedPhoto]:
    """Check and re-encode photos, off the event loop. The count (with ``already`` attached)
    and every size are checked before any photo is decoded."""
    settings = settings or photo_settings()
    if already + len(photos) > settings.photo_max_count:
        raise too_many_photos(already + len(photos), settings.photo_max_count)
    for index, data in enumerate(photos, start=already + 1):
        if len(data) > settings.photo_max_bytes:
            raise too_large(len(data), settings.photo_max_bytes, index)
    prepared: list[ProcessedPhoto] = []
    for index, data in enumerate(photos, start=already + 1):
        prepared.append(await asyncio.to_thread(process_photo, data, settings, index=index))
    return prepared


async def attach_photos(
    session: AsyncSession,
    storage: DocumentStorage,
    case_id: uuid.UUID,
    photos: Sequence[bytes | ProcessedPhoto],
    now: datetime,
    *,
    settings: PhotoSettings | None = None,
) -> list[StreetReportPhoto]:
    """Store the photos and add their rows to the session (flushed), after the report's
    existing ones. Raw bytes are prepared first (``prepare_photos``)."""
    settings = settings or photo_settings()
    if not photos:
        return []
    # One attachment at a time per report: positions are numbered from what is already there.
    await session.scalar(
        select(StreetReport.case_id).where(StreetReport.case_id == case_id).with_for_update()
    )
    last = await session.scalar(
        select(func.max(StreetReportPhoto.position)).where(StreetReportPhoto.case_id == case_id)
    )
    already = int(last or 0)
    if already + len(photos) > settings.photo_max_count:
        raise too_many_photos(already + len(photos), settings.photo_max_count)
    raw = [p for p in photos if isinstance(p, bytes)]
    fresh = iter(await prepare_photos(raw, settings, already=already) if raw else [])
    ready = [p if isinstance(p, ProcessedPhoto) else next(fresh) for p in photos]
    rows: list[StreetReportPhoto] = []
    for position, photo in enumerate(ready, start=already + 1):
        try:
            image = await storage.put(photo.data)
            thumb = await storage.put(photo.thumbnail)
        except (StorageUnavailable, OSError) as exc:
            _log.error("photo storage unavailable", case_id=str(case_id), error=repr(exc))
            raise Unavailable(
                "Les photos n'ont pas pu être enregistrées : le stockage des documents ne répond "
                "pas. Réessayez dans quelques instants."
            ) from exc
        row = StreetReportPhoto(
            case_id=case_id,
            position=position,
            image_key=image.key,
            thumb_key=thumb.key,
            media_type=photo.media_type,
            width=photo.width,
            height=photo.height,
            size=image.size,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows
