"""Hostile and malformed input: refused with a clear finding, nothing read, never a crash."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter

from channels.einvoice.validation import Stage, validate
from channels.einvoice.validation import artefacts as artefacts_mod
from channels.einvoice.validation._rules import engine
from channels.einvoice.validation.artefacts import RuleSet
from tests.unit.einvoice import _samples as s

pytestmark = pytest.mark.unit

SECRET = "SECRET-7c1e9b"


def only(report: object) -> set[str]:
    return {f.rule_id for f in report.findings}  # type: ignore[attr-defined]


@pytest.fixture
def secret_file(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def test_xxe_is_refused_and_the_local_file_is_not_read(secret_file) -> None:  # type: ignore[no-untyped-def]
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'
        '<cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "&x;</cbc:ID></Invoice>"
    ).encode()
    report, document = validate(xxe)
    assert only(report) == {"GUICHET-XML-DOCTYPE"}
    assert report.verdict == "invalid" and document is None
    assert SECRET not in repr(report.to_dict())
    assert not report.stage(Stage.EN16931).ran


def test_saxon_itself_refuses_doctype_and_file_access(secret_file) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: even if a DOCTYPE reached Saxon, it would not read the file."""
    xxe = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]><r>&x;</r>'
    with pytest.raises(Exception) as raised:
        engine().processor.parse_xml(xml_text=xxe)
    assert SECRET not in str(raised.value)
    probe = RuleSet(
        "probe",
        "probe",
        secret_file.parent / "probe.xslt",
    )
    probe.xslt.write_text(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">'
        f'<xsl:template match="/"><o><xsl:value-of select="unparsed-text(\'file://{secret_file}\')"/>'
        "</o></xsl:template></xsl:stylesheet>"
    )
    with pytest.raises(Exception) as raised:
        engine().run(probe, "<a/>")
    assert "prohibited" in str(raised.value)


def test_billion_laughs_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><lolz>&lol9;</lolz>"
    )
    report, _ = validate(bomb)
    assert only(report) == {"GUICHET-XML-DOCTYPE"}


def test_50_mb_xml_is_refused_before_parsing() -> None:
    huge = b"<Invoice>" + b"<" * (50 * 1024 * 1024) + b"</Invoice>"  # not even well-formed
    report, _ = validate(huge)
    assert only(report) == {"GUICHET-GATE-SIZE"}
    assert not report.stage(Stage.PARSE).ran


def test_neither_xml_nor_pdf() -> None:
    report, _ = validate(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert only(report) == {"GUICHET-GATE-TYPE"}


@pytest.mark.parametrize(
    "data",
    [
        b"<Invoice><unclosed></Invoice>",
        b"<Invoice>\x00</Invoice>",
        "<Invoice>🧾 facture</Invoic>".encode(),
        b"<",
    ],
)
def test_malformed_xml(data: bytes) -> None:
    report, _ = validate(data)
    assert only(report) == {"GUICHET-XML-SYNTAX"}
    assert report.findings[0].location.startswith("ligne ")


def test_empty_document() -> None:
    report, _ = validate(b"  \n ")
    assert only(report) == {"GUICHET-GATE-EMPTY"}


def test_deep_nesting_is_refused() -> None:
    data = b"<a>" * 200 + b"</a>" * 200
    report, _ = validate(data)
    assert only(report) == {"GUICHET-XML-DEPTH"}


def test_random_xml_is_not_an_invoice() -> None:
    report, _ = validate(b'<Order xmlns="urn:example:order"><ID>1</ID></Order>')
    assert only(report) == {"GUICHET-SYNTAX-UNKNOWN"}


def _pdf(attachments: dict[str, bytes] | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    for name, content in (attachments or {}).items():
        writer.add_attachment(name, content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_without_xml_is_not_processable() -> None:
    report, document = validate(_pdf({"bon-de-livraison.txt": b"hello"}))
    assert report.verdict == "unprocessable"
    assert only(report) == {"GUICHET-PDF-NO-XML", "GUICHET-PDF-NOT-PDFA3"}
    assert {f.flag for f in report.findings if f.rule_id == "GUICHET-PDF-NOT-PDFA3"} == {"warning"}
    assert document is None


def test_pdf_not_pdfa_with_xml_is_a_warning_only() -> None:
    report, _ = validate(_pdf({"factur-x.xml": s.sample("facturx/factur-x-en16931.xml")}))
    assert report.valid
    assert "GUICHET-PDF-NOT-PDFA3" in only(report)


def test_pdf_with_too_many_objects_is_refused_unread() -> None:
    body = b"".join(b"%d 0 obj\n<< >>\nendobj\n" % i for i in range(1, 25_000))
    report, _ = validate(b"%PDF-1.7\n" + body + b"%%EOF\n")
    assert only(report) == {"GUICHET-PDF-LIMITS"}


def test_embedded_xml_too_large_once_decompressed() -> None:
    bomb = b"<a>" + b" " * (11 * 1024 * 1024) + b"</a>"
    report, _ = validate(_pdf({"factur-x.xml": bomb}))
    assert "GUICHET-PDF-LIMITS" in only(report)
    assert report.verdict == "invalid"


def test_garbage_pdf() -> None:
    report, _ = validate(b"%PDF-1.7\n garbage \x00\xff")
    assert only(report) <= {"GUICHET-PDF-UNREADABLE", "GUICHET-PDF-NO-XML", "GUICHET-PDF-NOT-PDFA3"}
    assert report.verdict != "valid"


def test_missing_rule_file_fails_closed(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = RuleSet("missing", "règles absentes", tmp_path / "absent.xslt")
    monkeypatch.setattr(artefacts_mod, "CEN_UBL", missing)
    report, _ = validate(s.sample("ubl/ubl-tc434-example2.xml"))
    assert report.verdict == "invalid"
    assert only(report) == {"GUICHET-RULES-UNAVAILABLE"}
