"""Attachments over HTTP, each attack its own test: what is accepted, what is refused, and that a
refused file leaves nothing behind (no row, no stored bytes, no temporary file)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
import unicodedata
import uuid
import zlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import AsyncTestClient
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.attachments import service
from channels.models import Attachment, Draft
from documents.storage import StorageUnavailable, StoredBlob
from services.api.app import AppConfig, create_app
from services.kernel.clock import FrozenClock
from services.kernel.settings import path_settings
from tests.conftest import Seed, permit_request
from tests.support.citizens import as_person
from tests.support.http import assert_problem
from tests.support.people import SignedIn, create_person, sign_in
from workflows.cases.models import Case
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
PROCEDURE = "test.permit"
MiB = 1024 * 1024


# ----- files -----------------------------------------------------------------------------------


def pdf(payload_bytes: int = 1_000_000) -> bytes:
    """A real PDF (one page) carrying ``payload_bytes`` of random data as an embedded file."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("annexe.bin", os.urandom(payload_bytes))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ----- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads are spooled here: a test can check that nothing was left behind."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.delenv("GUICHET_CLAMD_HOST", raising=False)
    return spool


def stored_files() -> list[Path]:
    root = path_settings().data_dir.resolve() / "documents"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def new_draft(
    sm: SM, person_id: uuid.UUID, tenant_id: uuid.UUID, clock: FrozenClock, **fields: Any
) -> uuid.UUID:
    now = clock.now()
    async with sm() as s, s.begin():
        draft = Draft(
            tenant_id=tenant_id,
            procedure_key=PROCEDURE,
            person_id=person_id,
            title="Abri de jardin",
            payload={},
            submitter={},
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(days=30),
            **fields,
        )
        s.add(draft)
        await s.flush()
        return draft.id


async def person_with_draft(
    sm: SM, seed: Seed, clock: FrozenClock, name: str = "Marie"
) -> tuple[SignedIn, uuid.UUID]:
    person_id = await create_person(sm, now=clock.now(), given_name=name)
    draft_id = await new_draft(sm, person_id, seed.commune_id, clock)
    return await sign_in(sm, person_id, now=clock.now()), draft_id


async def rows(sm: SM) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(Attachment)) or 0)


async def upload(
    client: AsyncTestClient[Any],
    me: SignedIn,
    draft_id: uuid.UUID,
    data: bytes,
    filename: str,
    *,
    content_type: str = "application/octet-stream",
) -> Any:
    return await client.post(
        f"/api/v1/drafts/{draft_id}/attachments",
        content=data,
        headers={
            **as_person(me),
            "Content-Type": content_type,
            "X-Filename": quote(filename),
        },
    )


# ----- accepted --------------------------------------------------------------------------------


async def test_a_pdf_is_accepted_typed_from_its_bytes_and_downloaded_intact(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    data = pdf(1_200_000)
    # Over the 1 MiB limit of JSON bodies: uploads have their own, per procedure.
    assert len(data) > MiB

    # The request says "image/png": only the bytes count.
    r = await upload(app_client, me, draft_id, data, "devis.pdf", content_type="image/png")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == "application/pdf"
    assert body["filename"] == "devis.pdf"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["scan_status"] == "not_scanned"
    assert body["draft_id"] == str(draft_id)

    listed = await app_client.get(
        f"/api/v1/drafts/{draft_id}/attachments", headers=as_person(me, csrf=False)
    )
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()] == [body["id"]]

    got = await app_client.get(body["download_url"], headers=as_person(me, csrf=False))
    assert got.status_code == 200, got.text
    assert got.content == data
    assert got.headers["content-type"].startswith("application/pdf")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "devis.pdf" in got.headers["content-disposition"]


async def test_the_name_can_come_from_the_query_string(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await app_client.post(
        f"/api/v1/drafts/{draft_id}/attachments",
        params={"filename": "plan de masse.png"},
        content=png(800, 600),
        headers=as_person(me),
    )
    assert r.status_code == 201, r.text
    assert (r.json()["filename"], r.json()["content_type"]) == ("plan de masse.png", "image/png")


async def test_a_file_without_a_name_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await app_client.post(
        f"/api/v1/drafts/{draft_id}/attachments", content=pdf(1000), headers=as_person(me)
    )
    body = assert_problem(r, 422)
    assert "X-Filename" in body["detail"]


# ----- size, count, quota ----------------------------------------------------------------------


async def test_an_oversized_file_is_refused_and_nothing_is_kept(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    private_tmp: Path,
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    too_big = b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)

    r = await upload(app_client, me, draft_id, too_big, "scan.pdf")
    body = assert_problem(r, 413)
    assert "10 Mo" in body["detail"]
    assert await rows(sessionmaker) == 0
    assert stored_files() == []
    assert list(private_tmp.iterdir()) == []


async def test_an_oversized_stream_without_length_is_cut_off(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    private_tmp: Path,
) -> None:
    """Chunked upload, no Content-Length: reading stops at the limit, not at the end."""
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    offered = 30  # MiB
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": b"%PDF-1.7\n", "more_body": True}
        return {"type": "http.request", "body": b"0" * MiB, "more_body": pulled <= offered}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = {**as_person(me), "X-Filename": "scan.pdf", "Host": "testserver.local"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/drafts/{draft_id}/attachments",
        "raw_path": f"/api/v1/drafts/{draft_id}/attachments".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }
    await app_client.app(scope, receive, send)

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert pulled <= 12  # 10 MiB allowed: stopped right after, not after 30
    assert await rows(sessionmaker) == 0
    assert stored_files() == []
    assert list(private_tmp.iterdir()) == []


async def test_the_person_quota_counts_across_drafts(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        service.RULES, PROCEDURE, replace(service.DEFAULT_RULES, quota_bytes=150_000)
    )
    me, first = await person_with_draft(sessionmaker, seed, clock)
    second = await new_draft(sessionmaker, me.person_id, seed.commune_id, clock)

    r = await upload(app_client, me, first, pdf(100_000), "a.pdf")
    assert r.status_code == 201, r.text
    r = await upload(app_client, me, second, pdf(100_000), "b.pdf")
    body = assert_problem(r, 413)
    assert "Espace de stockage insuffisant" in body["detail"]
    assert await rows(sessionmaker) == 1

    # Another person has their own quota.
    other, theirs = await person_with_draft(sessionmaker, seed, clock, name="Paul")
    r = await upload(app_client, other, theirs, pdf(100_000), "c.pdf")
    assert r.status_code == 201, r.text


async def test_a_draft_holds_a_limited_number_of_files(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(service.RULES, PROCEDURE, replace(service.DEFAULT_RULES, max_files=2))
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    for n in range(2):
        r = await upload(app_client, me, draft_id, png(10 + n, 10), f"photo{n}.png")
        assert r.status_code == 201, r.text
    r = await upload(app_client, me, draft_id, png(12, 10), "photo3.png")
    body = assert_problem(r, 409)
    assert "(2)" in body["detail"]
    assert await rows(sessionmaker) == 2


# ----- types -----------------------------------------------------------------------------------


async def test_a_png_named_pdf_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await upload(app_client, me, draft_id, png(100, 100), "facture.pdf")
    body = assert_problem(r, 415)
    assert "PNG" in body["detail"]
    assert await rows(sessionmaker) == 0
    assert stored_files() == []


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "facture.pdf"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "setup.exe"),
        (b"<!DOCTYPE html><html><script>fetch('/api/v1/me')</script></html>", "page.pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "plan.svg"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "plan.png"),
    ],
    ids=["exe-named-pdf", "exe", "html", "svg", "svg-named-png"],
)
async def test_executables_and_active_content_are_refused(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    data: bytes,
    name: str,
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await upload(app_client, me, draft_id, data, name, content_type="application/pdf")
    body = assert_problem(r, 415)
    assert "PDF" in body["detail"]  # says what is accepted
    assert await rows(sessionmaker) == 0
    assert stored_files() == []


async def test_a_decompression_bomb_png_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    bomb = png(100_000, 100_000)
    assert len(bomb) < 100  # the header claims 10 gigapixels
    r = await upload(app_client, me, draft_id, bomb, "plan.png")
    body = assert_problem(r, 415)
    assert body["type"].endswith("file-bomb")
    assert "100000 × 100000" in body["detail"]
    assert await rows(sessionmaker) == 0


# ----- names -----------------------------------------------------------------------------------


async def test_a_path_in_the_name_is_dropped(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await upload(app_client, me, draft_id, pdf(1000), "../../etc/passwd.pdf")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "passwd.pdf"
    async with sessionmaker() as s:
        stored = await s.scalar(select(Attachment.filename))
    assert stored == "passwd.pdf"


async def test_a_unicode_name_is_kept_in_nfc(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    nfc = "Relevé d'identité bancaire – Zoë.pdf"
    # As macOS sends it: decomposed.
    r = await upload(app_client, me, draft_id, pdf(1000), unicodedata.normalize("NFD", nfc))
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == nfc
    got = await app_client.get(r.json()["download_url"], headers=as_person(me, csrf=False))
    assert quote(nfc, safe="") in got.headers["content-disposition"]


# ----- who ------------------------------------------------------------------------------------


async def test_another_persons_draft_does_not_exist(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    owner, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await upload(app_client, owner, draft_id, pdf(1000), "mine.pdf")
    assert r.status_code == 201, r.text
    download_url = r.json()["download_url"]
    intruder, _ = await person_with_draft(sessionmaker, seed, clock, name="Eve")

    r = await upload(app_client, intruder, draft_id, pdf(1000), "theirs.pdf")
    assert_problem(r, 404)
    r = await app_client.get(
        f"/api/v1/drafts/{draft_id}/attachments", headers=as_person(intruder, csrf=False)
    )
    assert_problem(r, 404)
    r = await app_client.get(download_url, headers=as_person(intruder, csrf=False))
    assert_problem(r, 404)
    assert await rows(sessionmaker) == 1


async def test_a_submitted_draft_takes_no_more_files(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    person_id = await create_person(sessionmaker, now=clock.now())
    me = await sign_in(sessionmaker, person_id, now=clock.now())
    draft_id = await new_draft(
        sessionmaker, person_id, seed.commune_id, clock, deleted_at=clock.now()
    )
    r = await upload(app_client, me, draft_id, pdf(1000), "late.pdf")
    assert_problem(r, 404)


async def test_an_upload_without_the_csrf_token_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await app_client.post(
        f"/api/v1/drafts/{draft_id}/attachments",
        content=pdf(1000),
        headers={**as_person(me, csrf=False), "X-Filename": "a.pdf"},
    )
    assert_problem(r, 403)
    assert await rows(sessionmaker) == 0


async def test_a_file_can_be_removed_from_a_draft(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    r = await upload(app_client, me, draft_id, pdf(1000), "erreur.pdf")
    attachment = r.json()
    intruder, _ = await person_with_draft(sessionmaker, seed, clock, name="Eve")
    url = f"/api/v1/drafts/{draft_id}/attachments/{attachment['id']}"

    assert_problem(await app_client.delete(url, headers=as_person(intruder)), 404)
    r = await app_client.delete(url, headers=as_person(me))
    assert r.status_code == 204, r.text
    listed = await app_client.get(
        f"/api/v1/drafts/{draft_id}/attachments", headers=as_person(me, csrf=False)
    )
    assert listed.json() == []
    got = await app_client.get(attachment["download_url"], headers=as_person(me, csrf=False))
    assert_problem(got, 404)


# ----- agents on cases -------------------------------------------------------------------------


async def open_case(client: AsyncTestClient[Any], seed: Seed) -> str:
    r = await client.post(
        "/api/v1/intake/", json=permit_request(), headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


async def test_a_counter_agent_attaches_a_scan_to_a_case_of_their_commune(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    case_id = await open_case(app_client, seed)
    data = pdf(20_000)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=data,
        headers={**seed.auth(seed.counter_token), "X-Filename": "piece-identite.pdf"},
    )
    assert r.status_code == 201, r.text
    attachment = r.json()
    assert attachment["case_id"] == case_id

    listed = await app_client.get(
        f"/api/v1/cases/{case_id}/attachments", headers=seed.auth(seed.instructor_token)
    )
    assert [a["id"] for a in listed.json()] == [attachment["id"]]
    got = await app_client.get(attachment["download_url"], headers=seed.auth(seed.instructor_token))
    assert got.content == data
    # The métropole's instructors cover its communes.
    got = await app_client.get(
        attachment["download_url"], headers=seed.auth(seed.metropole_instructor_token)
    )
    assert got.status_code == 200, got.text
    # Commune B sees nothing of it.
    got = await app_client.get(
        attachment["download_url"], headers=seed.auth(seed.other_instructor_token)
    )
    assert_problem(got, 404)


async def test_an_agent_of_commune_b_cannot_attach_to_a_case_of_a(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    case_id = await open_case(app_client, seed)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=pdf(1000),
        headers={**seed.auth(seed.other_instructor_token), "X-Filename": "x.pdf"},
    )
    assert_problem(r, 404)
    r = await app_client.get(
        f"/api/v1/cases/{case_id}/attachments", headers=seed.auth(seed.other_instructor_token)
    )
    assert_problem(r, 404)
    assert await rows(sessionmaker) == 0


async def test_an_admin_without_a_desk_role_cannot_attach(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    case_id = await open_case(app_client, seed)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=pdf(1000),
        headers={**seed.auth(seed.admin_token), "X-Filename": "x.pdf"},
    )
    assert_problem(r, (403, 404))
    assert await rows(sessionmaker) == 0


async def test_a_person_cannot_attach_to_a_case_directly(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    case_id = await open_case(app_client, seed)
    me, _ = await person_with_draft(sessionmaker, seed, clock)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=pdf(1000),
        headers={**as_person(me), "X-Filename": "x.pdf"},
    )
    assert_problem(r, (403, 404))
    assert await rows(sessionmaker) == 0


# ----- storage down ----------------------------------------------------------------------------


class BrokenStorage:
    async def put(self, data: bytes) -> StoredBlob:
        raise StorageUnavailable("disk full")

    async def get(self, key: str, *, sha256: str) -> bytes:
        raise StorageUnavailable("disk gone")


async def test_storage_down_means_503_and_no_row(
    seed: Seed, database_url: str, sessionmaker: SM, clock: FrozenClock, engine: Engine
) -> None:
    app = create_app(
        AppConfig(database_url=database_url, clock=clock, engine=engine, storage=BrokenStorage())
    )
    me, draft_id = await person_with_draft(sessionmaker, seed, clock)
    async with AsyncTestClient(app) as client:
        r = await upload(client, me, draft_id, pdf(1000), "a.pdf")
    body = assert_problem(r, 503)
    assert "stockage" in body["detail"]
    assert await rows(sessionmaker) == 0


async def test_the_person_concerned_adds_a_piece_to_their_case_and_the_agent_reads_it(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """Secure messages with attachments (issue 5): the person sends a piece on their own case;
    the agents of the tenant list and download it; another person still gets 404."""
    case_id = await open_case(app_client, seed)
    me, _ = await person_with_draft(sessionmaker, seed, clock)
    async with sessionmaker() as s, s.begin():
        case = await s.get(Case, uuid.UUID(str(case_id)))
        assert case is not None
        case.submitter_id = me.person_id
    body = pdf(2000)
    r = await app_client.post(
        f"/api/v1/cases/{case_id}/attachments",
        content=body,
        headers={**as_person(me), "X-Filename": "justificatif.pdf"},
    )
    assert r.status_code == 201, r.text
    attachment_id = r.json()["id"]
    listed = await app_client.get(
        f"/api/v1/cases/{case_id}/attachments", headers=seed.auth(seed.instructor_token)
    )
    assert [a["filename"] for a in listed.json()] == ["justificatif.pdf"]
    mine = await app_client.get(f"/api/v1/cases/{case_id}/attachments", headers=as_person(me))
    assert [a["id"] for a in mine.json()] == [attachment_id]
    got = await app_client.get(
        f"/api/v1/attachments/{attachment_id}", headers=seed.auth(seed.instructor_token)
    )
    assert got.status_code == 200 and got.content == body
