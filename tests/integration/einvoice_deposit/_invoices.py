"""Invoices for the deposit tests, built from the shared samples (read by path, never copied).

``ubl_invoice`` re-addresses the CEN UBL example ``ubl-tc434-example2`` (1 801,78 NOK) from its
seller to commune A the way ``tests.support.supplier_invoices.invoice_xml`` does for the CII
sample: seller SIRET, buyer SIRET (scheme 0009), code service (BT-10) and engagement (BT-13).
Only identifiers change, so every EN 16931 rule stays satisfied.
"""

from __future__ import annotations

import re

from tests.support import supplier_invoices as si
from tests.unit.einvoice import _samples as s

UBL_NUMBER = "TOSL108"


def ubl_invoice(*, number: str = UBL_NUMBER, buyer_siret: str = si.SIRET_A) -> bytes:
    data = s.sample("ubl/ubl-tc434-example2.xml")
    data = s.replace_once(data, b"<cbc:ID>TOSL108</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>".encode())
    data = s.replace_once(
        data,
        b'<cbc:ID schemeID="0088">1238764941386</cbc:ID>',
        f'<cbc:ID schemeID="0009">{si.SELLER_SIRET}</cbc:ID>'.encode(),
    )
    data = s.replace_once(
        data,
        b"<cbc:CompanyID>123456789</cbc:CompanyID>",
        f"<cbc:CompanyID>{si.SELLER_SIRET[:9]}</cbc:CompanyID>".encode(),
    )
    data = s.replace_once(
        data,
        b'<cbc:ID schemeID="0088">3456789012098</cbc:ID>',
        f'<cbc:ID schemeID="0009">{buyer_siret}</cbc:ID>'.encode(),
    )
    data = s.replace_once(
        data,
        b"<cbc:AccountingCost>Project cost code 123</cbc:AccountingCost>",
        b"<cbc:AccountingCost>Project cost code 123</cbc:AccountingCost>"
        + f"<cbc:BuyerReference>{si.SERVICE_CODE}</cbc:BuyerReference>".encode(),
    )
    return s.replace_once(
        data,
        b"<cac:OrderReference>\n        <cbc:ID>123</cbc:ID>",
        f"<cac:OrderReference>\n        <cbc:ID>{si.ORDER}</cbc:ID>".encode(),
    )


def latin1_invoice() -> bytes:
    """The CII invoice to commune A declared ISO-8859-1, with a seller name that needs it."""
    text = si.invoice_xml(seller_name="Société Générale des Eaux").decode("utf-8")
    text = re.sub(r"""encoding=['"][^'"]+['"]""", 'encoding="ISO-8859-1"', text, count=1)
    return text.encode("iso-8859-1", errors="xmlcharrefreplace")


def wrong_vat_total() -> bytes:
    """EN 16931 BR-CO-15: BT-112 (104.90) ≠ BT-109 + BT-110."""
    return s.replace_once(
        si.invoice_xml(number="F-TVA"),
        b"<ram:GrandTotalAmount>104.90</ram:GrandTotalAmount>",
        b"<ram:GrandTotalAmount>999.90</ram:GrandTotalAmount>",
    )
