"""A person reports from the web form with photos (issue 6, item 4): up to 3, re-encoded, EXIF and
GPS gone, thumbnails made; a 50 MB photo, a text file called photo.jpg, a 4th photo, a broken
form — each a clear 4xx, and no report is left behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.street.photos import photo_path
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.street_public import GPS_IFD, jpeg_with_gps, png_with_alpha, read_back
from tests.support.street_reports import enable_territory, web_body
from workflows.procedures.street_reports.models import StreetReport, StreetReportPhoto

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
URL = "/api/v1/signalements/avec-photos"


def form(**overrides: Any) -> dict[str, str]:
    return {"signalement": json.dumps(web_body(**overrides), ensure_ascii=False)}


async def counts(sm: SM) -> tuple[int, int]:
    async with sm() as s:
        reports = await s.scalar(select(func.count()).select_from(StreetReport))
        photos = await s.scalar(select(func.count()).select_from(StreetReportPhoto))
    return int(reports or 0), int(photos or 0)


async def test_report_with_two_photos_from_the_web(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    r = await app_client.post(
        URL,
        data=form(description="Lampadaire éteint 💡 depuis lundi"),
        files={
            "photo1": ("IMG_0001.jpg", jpeg_with_gps((3000, 2000)), "image/jpeg"),
            "photo2": ("capture.png", png_with_alpha(), "image/png"),
        },
    )
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    assert await counts(sessionmaker) == (1, 2)
    first = await app_client.get(photo_path(reference, 1))
    assert first.status_code == 200
    image = read_back(first.content)
    assert max(image.size) == 2048  # shrunk to 2048 px on the long side
    assert image.getexif().get_ifd(GPS_IFD) == {}  # the position of the phone is gone
    assert b"Exif" not in first.content
    thumb = await app_client.get(photo_path(reference, 2, thumbnail=True))
    assert thumb.status_code == 200 and max(read_back(thumb.content).size) <= 320


async def test_a_fourth_photo_is_refused_and_nothing_is_kept(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    photo = jpeg_with_gps()
    r = await app_client.post(
        URL,
        data=form(),
        files=[
            ("photo1", ("a.jpg", photo, "image/jpeg")),
            ("photo2", ("b.jpg", photo, "image/jpeg")),
            ("photo3", ("c.jpg", photo, "image/jpeg")),
            ("photo3", ("d.jpg", photo, "image/jpeg")),
        ],
    )
    body = assert_problem(r, 400)
    assert "3" in body["detail"]
    assert await counts(sessionmaker) == (0, 0)


async def test_a_text_file_named_photo_jpg_is_not_a_photo(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    r = await app_client.post(
        URL,
        data=form(),
        files={"photo1": ("photo.jpg", b"ceci n'est pas une image\n" * 10, "image/jpeg")},
    )
    assert_problem(r, (415, 422))
    assert await counts(sessionmaker) == (0, 0)


async def test_a_50_mb_photo_is_refused_with_413(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    big = jpeg_with_gps() + b"\0" * (50 * 1024 * 1024)
    r = await app_client.post(URL, data=form(), files={"photo1": ("grande.jpg", big, "image/jpeg")})
    assert_problem(r, 413)
    assert await counts(sessionmaker) == (0, 0)


def multipart(*parts: tuple[str, bytes, str | None]) -> tuple[bytes, str]:
    """A multipart/form-data body by hand (name, content, filename or None for a field)."""
    boundary = "guichet-test-boundary"
    out = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def report_json(**overrides: Any) -> bytes:
    return json.dumps(web_body(**overrides), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ((("photo1", jpeg_with_gps(), "a.jpg"),), "signalement"),
        ((("signalement", b"{pas du json", None),), "signalement"),
        ((("signalement", report_json(lat=91), None),), "lat"),
        ((("signalement", report_json(description="x" * 4001), None),), "description"),
        ((("signalement", report_json(), None), ("autre", b"x", None)), "autre"),
        ((("signalement", report_json(), None), ("document", b"%PDF-1.4", "a.pdf")), "document"),
    ],
)
async def test_broken_forms_name_the_field(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    parts: tuple[tuple[str, bytes, str | None], ...],
    field: str,
) -> None:
    await enable_territory(sessionmaker, clock)
    body, content_type = multipart(*parts)
    r = await app_client.post(URL, content=body, headers={"Content-Type": content_type})
    problem = assert_problem(r, (400, 422))
    assert field in json.dumps(problem, ensure_ascii=False)
    assert await counts(sessionmaker) == (0, 0)


async def test_json_sent_to_the_photo_form_says_what_to_send(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    r = await app_client.post(URL, json=web_body())
    body = assert_problem(r, 422)
    assert "multipart/form-data" in body["detail"]
