"""A report's photos at their public address, as an Open311 client or a browser fetches them
(issue 6, item 4): the metadata-free copy, its thumbnail, ETag, 404 for anything else."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from channels.opendata.settings import opendata_settings
from channels.street.photos import photo_path
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.street_public import GPS_IFD, heic_with_gps, jpeg_with_gps, read_back
from tests.support.street_reports import enable_territory, report
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e


async def _with_photos(sm: Any, engine: Engine, clock: FrozenClock) -> Any:
    await enable_territory(sm, clock)
    return await report(
        sm,
        engine,
        clock,
        photos=[jpeg_with_gps((2400, 1800)), heic_with_gps()],
        storage=storage_from_settings(),  # the app's storage (same data directory)
    )


async def test_photo_and_thumbnail_are_public_without_metadata(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    done = await _with_photos(sessionmaker, engine, clock)
    path = photo_path(done.reference, 1)
    assert path == f"/api/v1/signalements/{done.reference}/photos/1"
    r = await app_client.get(path)  # no credentials at all
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"].startswith("public")
    photo = read_back(r.content)
    assert photo.size == (2048, 1536)
    assert photo.getexif().get_ifd(GPS_IFD) == {} and b"Exif\x00\x00" not in r.content
    thumb = await app_client.get(photo_path(done.reference, 1, thumbnail=True))
    assert thumb.status_code == 200
    assert read_back(thumb.content).size == (320, 240)
    assert thumb.headers["etag"] != r.headers["etag"]
    heic = await app_client.get(photo_path(done.reference, 2))
    assert heic.status_code == 200 and heic.headers["content-type"] == "image/jpeg"
    assert read_back(heic.content).getexif().get_ifd(GPS_IFD) == {}
    again = await app_client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_anything_else_is_404(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    done = await _with_photos(sessionmaker, engine, clock)
    base = f"/api/v1/signalements/{done.reference}/photos"
    for path in (
        f"{base}/3",
        f"{base}/0",
        f"{base}/-1",
        f"{base}/99999999999999999999",
        "/api/v1/signalements/69001-2026-999999/photos/1",
        "/api/v1/signalements/%F0%9F%93%B7/photos/1",
        "/api/v1/signalements/" + "x" * 500 + "/photos/1",
        "/api/v1/signalements/69001-2026-000001%00/photos/1",
    ):
        r = await app_client.get(path)
        assert_problem(r, (400, 404))
    r = await app_client.get(f"{base}/deux")
    assert r.status_code in (400, 404), r.text


async def test_photos_can_be_kept_private_by_setting(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = await _with_photos(sessionmaker, engine, clock)
    monkeypatch.setenv("GUICHET_OPENDATA_PUBLIC_PHOTOS", "false")
    opendata_settings.cache_clear()
    try:
        r = await app_client.get(photo_path(done.reference, 1))
    finally:
        opendata_settings.cache_clear()
    assert_problem(r, 404)
