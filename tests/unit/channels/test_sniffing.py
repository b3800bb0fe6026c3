"""The checks of an uploaded file that need no server: type from the bytes, names, image headers,
zip archives, clamd replies."""

from __future__ import annotations

import io
import struct
import unicodedata
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from channels.attachments.clamd import ClamdUnavailable, ScanResult, parse_reply
from channels.attachments.service import (
    DEFAULT_RULES,
    DOCX,
    EXE,
    HTML,
    JPEG,
    ODT,
    PDF,
    PNG,
    SVG,
    FileBomb,
    Spooled,
    UnsupportedFile,
    check_content,
    check_zip,
    jpeg_size,
    name_for_type,
    png_size,
    sanitise_filename,
    sniff,
    sniff_zip,
)
from tests.support.files import png

pytestmark = pytest.mark.unit


def jpeg(width: int, height: int, *, exif_bytes: int = 0) -> bytes:
    """SOI, APP0 (JFIF), an optional APP1 of ``exif_bytes``, SOF0 with the size, SOS, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b""
    if exif_bytes:
        app1 = b"\xff\xe1" + struct.pack(">H", exif_bytes + 2) + b"\x00" * exif_bytes
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + app1 + sof + sos + b"\x00\x01\x02" + b"\xff\xd9"


def spooled(tmp_path: Path, data: bytes) -> Spooled:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return Spooled(path=path, size=len(data), sha256="0" * 64, head=data[:8192])


# ----- type from the bytes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", PDF),
        (png(10, 10), PNG),
        (jpeg(10, 10), JPEG),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", EXE),
        (b"  <!DOCTYPE html><html><script>alert(1)</script>", HTML),
        (b"<html><body>bonjour", HTML),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script/>', SVG),
        (b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">', SVG),
        (b"just some text", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_type_comes_from_the_first_bytes(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


def test_a_pdf_hidden_after_html_is_html() -> None:
    # A PDF header further down does not make an HTML page a PDF.
    assert sniff(b"<html><script>x</script></html>\n%PDF-1.7") == HTML


def office(kind: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if kind == "odt":
            archive.writestr("mimetype", ODT, compress_type=zipfile.ZIP_STORED)
            archive.writestr("content.xml", "<office:document-content/>")
        else:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<w:document/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_based_documents_are_told_apart(tmp_path: Path) -> None:
    for kind, expected in (("odt", ODT), ("docx", DOCX)):
        path = tmp_path / kind
        path.write_bytes(office(kind))
        assert sniff(path.read_bytes()[:8]) == "application/zip"
        assert sniff_zip(path) == expected
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("a.txt", "a")
    assert sniff_zip(plain) == "application/zip"


# ----- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\Windows\\system32\\x.pdf", "x.pdf"),
        ("/absolute/path/scan.png", "scan.png"),
        ("..", "fichier"),
        ("", "fichier"),
        ("   .hidden.pdf  ", "hidden.pdf"),
        ("facture\x00.pdf", "facture.pdf"),
        ("a\nb\rc\t.pdf", "abc.pdf"),
        ("facture\u202egpj.pdf", "facturegpj.pdf"),  # right-to-left override removed
        ('pi<è>ce:"1"|?*.pdf', "pi_è_ce__1____.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("relevé   de   compte.pdf", "relevé de compte.pdf"),
    ],
)
def test_names_are_sanitised(raw: str, expected: str) -> None:
    assert sanitise_filename(raw) == expected


def test_names_are_stored_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Relevé d'identité bancaire.pdf")
    assert decomposed != "Relevé d'identité bancaire.pdf"
    cleaned = sanitise_filename(decomposed)
    assert cleaned == "Relevé d'identité bancaire.pdf"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_long_names_are_cut_keeping_the_extension() -> None:
    cleaned = sanitise_filename("x" * 300 + ".pdf")
    assert len(cleaned) == 120
    assert cleaned.endswith("xxx.pdf")


def test_an_extension_must_match_the_real_type() -> None:
    assert name_for_type("scan.PNG", PNG) == "scan.PNG"
    assert name_for_type("photo.jpeg", JPEG) == "photo.jpeg"
    assert name_for_type("sans extension", PDF) == "sans extension.pdf"
    with pytest.raises(UnsupportedFile) as refused:
        name_for_type("facture.pdf", PNG)
    assert "« .pdf »" in refused.value.detail
    assert "PNG" in refused.value.detail


# ----- images: sizes from the header -------------------------------------------------------------


def test_image_sizes_are_read_from_the_header(tmp_path: Path) -> None:
    assert png_size(png(1920, 1080)) == (1920, 1080)
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg(4032, 3024, exif_bytes=30_000))
    with path.open("rb") as fh:
        assert jpeg_size(fh) == (4032, 3024)


def test_a_png_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    with pytest.raises(FileBomb) as refused:
        check_content(spooled(tmp_path, png(100_000, 100_000)), "plan.png", DEFAULT_RULES)
    assert "100000 × 100000" in refused.value.detail
    assert (
        check_content(spooled(tmp_path, png(6000, 6000)), "plan.png", DEFAULT_RULES).content_type
        == PNG
    )


def test_a_jpeg_decompression_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileBomb):
        check_content(spooled(tmp_path, jpeg(65_000, 65_000)), "photo.jpg", DEFAULT_RULES)


def test_an_image_without_a_readable_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFile, match="illisible"):
        check_content(
            spooled(tmp_path, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "x.png", DEFAULT_RULES
        )
    with pytest.raises(UnsupportedFile, match="illisible"):
        check_content(spooled(tmp_path, b"\xff\xd8\xff\xd9"), "x.jpg", DEFAULT_RULES)


# ----- zip bombs -------------------------------------------------------------------------------

DOCS = replace(DEFAULT_RULES, allowed_types=frozenset({PDF, DOCX, ODT}))


def test_an_ordinary_office_document_passes(tmp_path: Path) -> None:
    checked = check_content(spooled(tmp_path, office("docx")), "lettre.docx", DOCS)
    assert checked.content_type == DOCX
    checked = check_content(spooled(tmp_path, office("odt")), "lettre", DOCS)
    assert (checked.content_type, checked.filename) == (ODT, "lettre.odt")


def test_office_documents_are_refused_unless_the_procedure_accepts_them(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFile, match="type accepté"):
        check_content(spooled(tmp_path, office("docx")), "lettre.docx", DEFAULT_RULES)


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    # 8 MiB of zeros deflate to a few KiB: a ratio far above 100.
    bomb = office("docx", {"word/media/zeros.bin": b"\x00" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(FileBomb):
        check_content(spooled(tmp_path, bomb), "lettre.docx", DOCS)


def test_a_zip_over_the_total_is_refused_even_at_a_modest_ratio(tmp_path: Path) -> None:
    rules = replace(DOCS, max_zip_uncompressed=1024 * 1024)
    data = office("docx", {"word/media/a.bin": bytes(range(256)) * 8192})  # 2 MiB
    path = tmp_path / "a.docx"
    path.write_bytes(data)
    with pytest.raises(FileBomb):
        check_zip(path, rules)


def test_a_damaged_zip_is_refused(tmp_path: Path) -> None:
    data = office("docx")
    path = tmp_path / "b.docx"
    path.write_bytes(data[: len(data) // 2])  # cut: no central directory
    with pytest.raises(UnsupportedFile):
        check_zip(path, DOCS)


# ----- what a file may not be ------------------------------------------------------------------


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="vide"):
        check_content(spooled(tmp_path, b""), "x.pdf", DEFAULT_RULES)


@pytest.mark.parametrize(
    "data",
    [b"MZ\x90\x00" + b"\x00" * 60, b"<html><script>alert(1)</script>", b"<svg onload=alert(1)>"],
)
def test_executables_and_active_content_are_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedFile):
        check_content(spooled(tmp_path, data), "facture.pdf", DEFAULT_RULES)


# ----- clamd replies ---------------------------------------------------------------------------


def test_clamd_replies_are_understood() -> None:
    assert parse_reply(b"stream: OK\0") == ScanResult(infected=False)
    assert parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0") == ScanResult(
        infected=True, signature="Win.Test.EICAR_HDB-1"
    )
    with pytest.raises(ClamdUnavailable):
        parse_reply(b"INSTREAM size limit exceeded. ERROR\0")
    with pytest.raises(ClamdUnavailable):
        parse_reply(b"UNKNOWN COMMAND\0")
