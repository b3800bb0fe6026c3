"""The three kinds of invoice a commune receives through Chorus Pro, built from the shared
samples (read by path, never copied) and re-addressed to the test communes: a UBL 2.1 invoice
(``ubl-tc434-example1.xml``), a CII D16B invoice (the Factur-X EN 16931 XML, through
``tests.support.supplier_invoices.invoice_xml``) and a Factur-X PDF (``invoice_EN16931.pdf``
with the re-addressed CII embedded). Only identifiers change: every EN 16931 rule still holds.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from tests.support import supplier_invoices as si

UBL_SAMPLE = si.SAMPLES / "ubl" / "ubl-tc434-example1.xml"
PDF_SAMPLE = si.SAMPLES / "facturx" / "invoice_EN16931.pdf"
UBL_ORDER = "PO-UBL-2026-1"


def ubl_invoice(
    *, number: str = "UBL-2026-1", buyer_siret: str = si.SIRET_A, order: str = UBL_ORDER
) -> bytes:
    text = UBL_SAMPLE.read_text("utf-8")
    text = text.replace("<cbc:ID>12115118</cbc:ID>", f"<cbc:ID>{escape(number)}</cbc:ID>", 1)
    currency = "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>"
    text = text.replace(
        currency,
        f"{currency}\n    <cbc:BuyerReference>{si.SERVICE_CODE}</cbc:BuyerReference>"
        f"\n    <cac:OrderReference><cbc:ID>{escape(order)}</cbc:ID></cac:OrderReference>",
        1,
    )
    text = text.replace(
        "<cac:PartyIdentification>\n                <cbc:ID>10202</cbc:ID>",
        f'<cac:PartyIdentification>\n                <cbc:ID schemeID="0009">{buyer_siret}'
        "</cbc:ID>",
        1,
    )
    return text.encode("utf-8")


def cii_invoice(*, number: str = "CII-2026-1", buyer_siret: str = si.SIRET_A) -> bytes:
    return si.invoice_xml(number=number, buyer_siret=buyer_siret)


def facturx_pdf(*, number: str = "FX-2026-1", buyer_siret: str = si.SIRET_A) -> bytes:
    from facturx import generate_from_binary

    xml = si.invoice_xml(number=number, buyer_siret=buyer_siret)
    pdf: bytes = generate_from_binary(PDF_SAMPLE.read_bytes(), xml, check_xsd=False)
    return pdf


def broken_totals(*, number: str = "BAD-2026-1") -> bytes:
    """A CII invoice whose grand total is not net + VAT (BR-CO-15)."""
    xml = si.invoice_xml(number=number).decode("utf-8")
    tag = "<ram:GrandTotalAmount>104.90</ram:GrandTotalAmount>"
    assert tag in xml
    return xml.replace(tag, "<ram:GrandTotalAmount>114.90</ram:GrandTotalAmount>").encode()
