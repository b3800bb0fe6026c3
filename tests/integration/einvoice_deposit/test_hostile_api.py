"""Hostile and malformed deposits over HTTP: each refused with a clear French answer, nothing
read from the server's disk, nothing stored for a refused request, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.einvoice.models import EinvoiceDeposit
from channels.einvoice.validation.settings import get_validation_settings
from tests.integration.einvoice_deposit.conftest import Software
from tests.support import supplier_invoices as si
from tests.support.http import assert_problem
from tests.unit.einvoice import _samples as s
from tests.unit.einvoice.test_hostile import SECRET, _pdf, secret_file

pytestmark = pytest.mark.integration
SM = async_sessionmaker[AsyncSession]
URL = "/api/v1/espace-fournisseur/69001/depots"
XML = {"Content-Type": "application/xml"}
__all__ = ["secret_file"]  # the fixture of the unit tests, reused


def rules(body: dict[str, Any]) -> dict[str, str]:
    return {c["regle"]: c["gravite"] for c in body["constats"]}


async def deposits(sm: SM) -> int:
    async with sm() as s_:
        return int(await s_.scalar(select(func.count()).select_from(EinvoiceDeposit)) or 0)


async def send(
    client: AsyncTestClient[Any], who: Software, body: bytes, media: str = "application/xml"
) -> Any:
    return await client.post(
        URL, content=body, headers=who.key(uuid.uuid4().hex, **{"Content-Type": media})
    )


@pytest.mark.usefixtures("enable_deposits")
async def test_xxe_reads_nothing_and_is_refused(
    app_client: AsyncTestClient[Any], supplier: Software, secret_file: Path, sessionmaker: SM
) -> None:
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'
        '<cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "&x;</cbc:ID></Invoice>"
    ).encode()
    r = await send(app_client, supplier, xxe)
    assert r.status_code == 201, r.text
    assert SECRET not in r.text
    body = r.json()
    assert rules(body) == {"GUICHET-XML-DOCTYPE": "fatal"}
    assert body["valide"] is False and body["dossier"] is None
    assert "aucun dossier" in body["message"]
    async with sessionmaker() as s_:
        stored = await s_.scalar(select(EinvoiceDeposit))
    assert stored is not None and SECRET not in repr(stored.report)


async def test_billion_laughs_is_refused(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><lolz>&lol9;</lolz>"
    )
    r = await send(app_client, supplier, bomb)
    assert rules(r.json()) == {"GUICHET-XML-DOCTYPE": "fatal"}


async def test_50_mb_xml_is_413_before_reading_it(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    huge = b"<Invoice>" + b"<" * (50 * 1024 * 1024) + b"</Invoice>"
    r = await send(app_client, supplier, huge)
    problem = assert_problem(r, 413)
    assert "trop volumineuse" in problem["detail"]
    assert await deposits(sessionmaker) == 0


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("GUICHET_EINVOICE_MAX_BYTES", "100000")
    get_validation_settings.cache_clear()
    yield 100_000
    get_validation_settings.cache_clear()


async def test_streamed_body_without_length_stops_at_the_limit(small_limit: int) -> None:
    """No Content-Length (chunked upload): the body is counted while read and refused as soon
    as it passes the limit — the rest is never pulled. (The HTTP test client always sends a
    Content-Length, hence the reader itself here, fed as Litestar's ``request.stream()``.)"""
    from channels.einvoice.deposit import read_body
    from services.kernel.errors import PayloadTooLarge

    pulled = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(40):  # 2.5 MiB announced nowhere
            pulled += 1
            yield b" " * 65536

    with pytest.raises(PayloadTooLarge, match=f"{small_limit} octets"):
        await read_body(stream(), declared_length=None, limit=small_limit)
    assert pulled == small_limit // 65536 + 1
    assert await read_body(stream(), declared_length=None, limit=40 * 65536) == b" " * 40 * 65536


async def test_declared_length_over_the_limit_is_413_at_once(
    app_client: AsyncTestClient[Any], supplier: Software, small_limit: int
) -> None:
    r = await send(app_client, supplier, b" " * (small_limit + 1))
    assert f"{small_limit} octets" in assert_problem(r, 413)["detail"]


@pytest.mark.parametrize(
    ("attachments", "expected"),
    [
        ({"bon-de-livraison.txt": b"hello"}, {"GUICHET-PDF-NO-XML", "GUICHET-PDF-NOT-PDFA3"}),
        (None, {"GUICHET-PDF-NO-XML", "GUICHET-PDF-NOT-PDFA3"}),
    ],
)
async def test_pdf_without_invoice_xml_is_not_processable(
    app_client: AsyncTestClient[Any],
    supplier: Software,
    attachments: dict[str, bytes] | None,
    expected: set[str],
) -> None:
    r = await send(app_client, supplier, _pdf(attachments), "application/pdf")
    body = r.json()
    assert set(rules(body)) == expected
    assert rules(body)["GUICHET-PDF-NOT-PDFA3"] == "avertissement"
    assert body["exploitable"] is False and body["valide"] is False
    assert "PDF seul" in body["message"]


async def test_pdf_not_pdfa_but_with_its_xml_is_a_warning(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    r = await send(
        app_client, supplier, _pdf({"factur-x.xml": si.invoice_xml()}), "application/pdf"
    )
    body = r.json()
    assert rules(body) == {"GUICHET-PDF-NOT-PDFA3": "avertissement"}
    assert body["valide"] is True


async def test_pdf_bombs_are_refused_unread(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    objects = b"".join(b"%d 0 obj\n<< >>\nendobj\n" % i for i in range(1, 25_000))
    r = await send(app_client, supplier, b"%PDF-1.7\n" + objects + b"%%EOF\n", "application/pdf")
    assert rules(r.json()) == {"GUICHET-PDF-LIMITS": "fatal"}
    inflated = _pdf({"factur-x.xml": b"<a>" + b" " * (11 * 1024 * 1024) + b"</a>"})
    r = await send(app_client, supplier, inflated, "application/pdf")
    assert "GUICHET-PDF-LIMITS" in rules(r.json()) and r.json()["valide"] is False


async def test_wrong_profile_minimum_declared_as_basic_wl(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    r = await send(app_client, supplier, s.minimum_as("urn:factur-x.eu:1p0:basicwl"))
    assert rules(r.json()) == {"GUICHET-PROFILE-NOT-PROCESSABLE": "fatal"}


@pytest.mark.parametrize(
    "body",
    [b"<Invoice><unclosed></Invoice>", "<Invoice>🧾</Invoic>".encode(), b"\x00\xff\xfe"],
)
async def test_malformed_documents_get_findings_not_errors(
    app_client: AsyncTestClient[Any], supplier: Software, body: bytes
) -> None:
    r = await send(app_client, supplier, body)
    assert r.status_code == 201, r.text
    assert r.json()["valide"] is False
    assert {c["gravite"] for c in r.json()["constats"]} == {"fatal"}


async def test_missing_or_bad_idempotency_key_is_400(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    r = await app_client.post(URL, content=si.invoice_xml(), headers={**supplier.headers, **XML})
    assert "Idempotency-Key est obligatoire" in assert_problem(r, 400)["detail"]
    for key in (b"x" * 201, "clé-accentuée".encode(), b"a\tb", b"   "):
        r = await app_client.post(
            URL,
            content=si.invoice_xml(),
            headers={**supplier.headers, **XML, "Idempotency-Key": key},
        )
        assert "Idempotency-Key" in assert_problem(r, 400)["detail"], key
    assert await deposits(sessionmaker) == 0


@pytest.mark.parametrize(
    "media", ["application/json", "text/plain", "image/png", "application/octet-stream", ""]
)
async def test_wrong_content_type_is_415(
    app_client: AsyncTestClient[Any], supplier: Software, media: str
) -> None:
    r = await send(app_client, supplier, si.invoice_xml(), media)
    assert "application/xml" in assert_problem(r, 415)["detail"]


async def test_empty_body_is_400(app_client: AsyncTestClient[Any], supplier: Software) -> None:
    for body in (b"", b"  \r\n "):
        r = await send(app_client, supplier, body)
        assert "vide" in assert_problem(r, 400)["detail"]


async def test_broken_multipart_forms_are_400(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    no_boundary = await send(app_client, supplier, b"--x\r\n", "multipart/form-data")
    assert "boundary" in assert_problem(no_boundary, 400)["detail"]
    garbage = await send(
        app_client, supplier, b"pas un formulaire", "multipart/form-data; boundary=abc"
    )
    assert_problem(garbage, 400)
    empty_file = await app_client.post(
        URL,
        files={"facture": ("f.xml", b"", "application/xml")},
        headers=supplier.key("empty-file"),
    )
    assert "vide" in assert_problem(empty_file, 400)["detail"]
    two = await app_client.post(
        URL,
        files=[
            ("facture", ("a.xml", si.invoice_xml(), "application/xml")),
            ("facture", ("b.xml", si.invoice_xml(), "application/xml")),
        ],
        headers=supplier.key("two"),
    )
    assert "Un seul fichier" in assert_problem(two, 400)["detail"]
