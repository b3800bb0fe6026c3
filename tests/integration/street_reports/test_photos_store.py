"""Photos filed with a report through the one submit path: stored without metadata, numbered,
limited to three, and all-or-nothing with the report (issue 6, item 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.street._images import PhotoTypeRefused, PhotoUnreadable, TooManyPhotos
from channels.street.photos import attach_photos, prepare_photos, sha256_of_key
from documents.storage import FileStorage
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.street_public import (
    GPS_IFD,
    heic_with_gps,
    jpeg_with_gps,
    png_with_alpha,
    read_back,
)
from tests.support.street_reports import enable_territory, report
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.models import StreetReport, StreetReportPhoto

pytestmark = pytest.mark.integration


async def _photos(sm: Any, case_id: Any) -> list[StreetReportPhoto]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(StreetReportPhoto)
                .where(StreetReportPhoto.case_id == case_id)
                .order_by(StreetReportPhoto.position)
            )
        )


async def test_report_with_photos_keeps_clean_copies_and_thumbnails(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    await enable_territory(sessionmaker, clock)
    storage = FileStorage(tmp_path / "blobs")
    originals = [jpeg_with_gps((3000, 2000)), heic_with_gps(orientation=6), png_with_alpha()]
    done = await report(sessionmaker, engine, clock, photos=originals, storage=storage)
    rows = await _photos(sessionmaker, done.case_id)
    assert [r.position for r in rows] == [1, 2, 3]
    assert [(r.width, r.height) for r in rows] == [(2048, 1365), (240, 320), (300, 200)]
    assert {r.media_type for r in rows} == {"image/jpeg"}
    assert all(r.created_at == clock.now() for r in rows)
    for row in rows:
        image = await storage.get(row.image_key, sha256=sha256_of_key(row.image_key))
        thumb = await storage.get(row.thumb_key, sha256=sha256_of_key(row.thumb_key))
        assert row.size == len(image)
        assert max(read_back(thumb).size) == min(320, max(row.width, row.height))
        for data in (image, thumb):
            kept = read_back(data)
            assert kept.getexif().get_ifd(GPS_IFD) == {}
            assert b"Exif\x00\x00" not in data
    # Nothing under the store is a copy of an original.
    stored = {p.read_bytes() for p in (tmp_path / "blobs").rglob("*") if p.is_file()}
    assert not stored & set(originals)


async def test_a_bad_photo_files_no_report_at_all(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    """All or nothing: the person fixes the photo and sends again, no half report is left."""
    await enable_territory(sessionmaker, clock)
    storage = FileStorage(tmp_path / "blobs")
    with pytest.raises(PhotoTypeRefused):
        await report(
            sessionmaker,
            engine,
            clock,
            photos=[jpeg_with_gps(), b"<html>photo.jpg</html>"],
            storage=storage,
        )
    with pytest.raises(PhotoUnreadable):
        await report(sessionmaker, engine, clock, photos=[jpeg_with_gps()[:-300]], storage=storage)
    with pytest.raises(TooManyPhotos):
        await report(sessionmaker, engine, clock, photos=[jpeg_with_gps()] * 4, storage=storage)
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(StreetReport)) == 0
        assert await s.scalar(select(func.count()).select_from(StreetReportPhoto)) == 0


async def test_photos_added_later_follow_the_existing_ones_up_to_three(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    await enable_territory(sessionmaker, clock)
    storage = FileStorage(tmp_path / "blobs")
    photo = jpeg_with_gps((200, 100))
    done = await report(sessionmaker, engine, clock, photos=[photo, photo], storage=storage)
    prepared = await prepare_photos([png_with_alpha()], already=2)
    async with sessionmaker() as s, s.begin():
        added = await attach_photos(s, storage, done.case_id, prepared, clock.now())
    assert [r.position for r in added] == [3]
    with pytest.raises(TooManyPhotos, match="3 au plus"):
        async with sessionmaker() as s, s.begin():
            await attach_photos(s, storage, done.case_id, [photo], clock.now())
    rows = await _photos(sessionmaker, done.case_id)
    assert [r.position for r in rows] == [1, 2, 3]
    # The same photo twice is stored once (content-addressed), shown twice.
    assert rows[0].image_key == rows[1].image_key != rows[2].image_key
