"""Supplier master data input: SIRET and IBAN keys, the CSV parser's per-line report."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.kernel.errors import ValidationFailed
from tests.support import supplier_invoices as si
from workflows.procedures.supplier_invoices.identifiers import (
    buyer_siret_candidates,
    normal_iban,
    normal_siret,
)
from workflows.procedures.supplier_invoices.suppliers import SupplierIn, parse_csv

pytestmark = pytest.mark.unit
HEADER = "siret;nom;iban;contact_nom;contact_email;contact_telephone;actif\n"


def test_siret_and_iban_keys() -> None:
    assert normal_siret("123 456 782 00077") == si.SELLER_SIRET
    assert normal_siret(si.BAD_SIRET) is None
    assert normal_siret("１２３４５６７８２０００７７") is None  # full-width digits
    assert normal_iban("fr20 1254 2547 2569 8542 5874 698") == si.SELLER_IBAN
    assert normal_iban("FR20 1254 2547 2569 8542 5874 699") is None
    assert normal_iban("FR20\x0012542547256985425874698") is None


def test_supplier_in_refuses_a_wrong_siret_and_control_characters() -> None:
    with pytest.raises(ValidationError, match="SIRET invalide"):
        SupplierIn(siret=si.BAD_SIRET, name="X")
    with pytest.raises(ValidationError, match="contrôle"):
        SupplierIn(siret=si.SELLER_SIRET, name="A\x00B")
    ok = SupplierIn(siret=si.SELLER_SIRET, name="Société Générale des Eaux 💧", iban="")
    assert ok.iban is None and ok.name.endswith("💧")


def test_buyer_siret_candidates_read_bt46_bt47_and_bt49() -> None:
    found, bad = buyer_siret_candidates(
        {
            "BT-46": si.SIRET_A,
            "BT-46-scheme": "0009",
            "BT-47": si.BAD_SIRET,
            "BT-49": f"0009:{si.SIRET_B}",
        }
    )
    assert found == [si.SIRET_A, si.SIRET_B]
    assert bad == [f"BT-47={si.BAD_SIRET}"]


def test_csv_all_good_lines() -> None:
    data = (
        "\ufeff"
        + HEADER
        + f"{si.SELLER_SIRET};LE FOURNISSEUR;{si.SELLER_IBAN};Compta;c@f.invalid;0400000000;oui\n"
        + f"{si.SIRET_B};Élagage & Fils 🌳;;;;;non\n"
    ).encode()
    good, errors = parse_csv(data)
    assert errors == []
    assert [(line, item.siret, item.active) for line, item in good] == [
        (2, si.SELLER_SIRET, True),
        (3, si.SIRET_B, False),
    ]
    assert good[0][1].contacts[0].email == "c@f.invalid"


def test_csv_reports_every_bad_line_with_its_column() -> None:
    data = (
        HEADER
        + f"{si.BAD_SIRET};Mauvais SIRET;;;;;\n"
        + f"{si.SELLER_SIRET};Bon;;;;;\n"
        + f"{si.SELLER_SIRET};Doublon;;;;;\n"
        + f"{si.SIRET_A};IBAN faux;FR00 0000;;;;\n"
        + f"{si.SIRET_B};Actif ?;;;;;peut-être\n"
    ).encode()
    good, errors = parse_csv(data)
    assert [e["field"] for e in errors] == [
        "ligne 2.siret",
        "ligne 4.siret",
        "ligne 5.iban",
        "ligne 6.actif",
    ]
    assert "ligne 3" in errors[1]["message"]
    assert [line for line, _ in good] == [3]


def test_csv_without_required_columns_or_not_text() -> None:
    with pytest.raises(ValidationFailed, match="colonnes manquantes siret"):
        parse_csv(b"nom;iban\nX;Y\n")
    with pytest.raises(ValidationFailed, match="octet nul"):
        parse_csv(b"siret;nom\n\x00\x01\n")
    with pytest.raises(ValidationFailed, match="UTF-8"):
        parse_csv(HEADER.encode() + "123;Soci\u00e9t\u00e9\n".encode("latin-1"))
