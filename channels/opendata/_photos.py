"""Which stored blob answers ``GET /signalements/{reference}/photos/{n}[/vignette]``.

A photo is public while its report is (a state of ``PUBLIC_STATES``) and
``GUICHET_OPENDATA_PUBLIC_PHOTOS`` is on; otherwise, as for an unknown reference or position,
404 — the same answer, so nobody learns that a hidden report exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.opendata._export import PUBLIC_STATES
from channels.opendata.settings import opendata_settings
from channels.street.photos import sha256_of_key
from services.kernel.errors import NotFound
from workflows.procedures.street_reports.models import StreetReport, StreetReportPhoto

PHOTO_NOT_FOUND = "Photo introuvable : vérifiez le numéro du signalement et celui de la photo."
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
"""What a case reference can be (``69001-2026-000042``); anything else is not looked up."""


@dataclass(frozen=True, slots=True)
class PhotoBlob:
    key: str
    sha256: str
    media_type: str
    reference: str
    position: int


async def public_photo(
    session: AsyncSession, reference: str, position: int, *, thumbnail: bool
) -> PhotoBlob:
    if (
        not opendata_settings().public_photos
        or not _REFERENCE.fullmatch(reference)
        or not 1 <= position <= 99
    ):
        raise NotFound(PHOTO_NOT_FOUND)
    row = (
        await session.execute(
            select(
                StreetReportPhoto.image_key,
                StreetReportPhoto.thumb_key,
                StreetReportPhoto.media_type,
            )
            .join(StreetReport, StreetReport.case_id == StreetReportPhoto.case_id)
            .where(
                StreetReport.reference == reference,
                StreetReport.state.in_(PUBLIC_STATES),
                StreetReportPhoto.position == position,
            )
            .limit(1)
        )
    ).first()
    if row is None:
        raise NotFound(PHOTO_NOT_FOUND)
    image_key, thumb_key, media_type = row
    key = thumb_key if thumbnail else image_key
    return PhotoBlob(
        key=key,
        sha256=sha256_of_key(key),
        media_type=media_type,
        reference=reference,
        position=position,
    )
