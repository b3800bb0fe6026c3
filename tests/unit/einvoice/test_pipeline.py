"""The standards stages on the shared samples and on invalid variants, one rule broken each."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.einvoice.validation import Options, Stage, validate
from channels.einvoice.validation.settings import EinvoiceValidationSettings
from tests.unit.einvoice import _samples as s

pytestmark = pytest.mark.unit


def ids(report: object, stage: Stage | None = None) -> set[str]:
    return {f.rule_id for f in report.findings if stage is None or f.stage == stage}  # type: ignore[attr-defined]


def fatal_ids(report: object) -> set[str]:
    return {f.rule_id for f in report.findings if f.flag == "fatal"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", s.processable_samples(), ids=lambda p: p.name)
def test_every_shared_sample_is_valid(path: Path) -> None:
    report, document = validate(path.read_bytes())
    assert report.verdict == "valid", [f.to_dict() for f in report.findings if f.flag == "fatal"]
    assert document is not None
    ran = {r.stage for r in report.stages if r.ran}
    assert {Stage.GATE, Stage.PARSE, Stage.SYNTAX, Stage.XSD, Stage.EN16931} <= ran


def test_vat_total_one_cent_off_is_br_co_15_ubl() -> None:
    """EN 16931 BR-CO-15: BT-112 = BT-109 + BT-110, exact to the cent (UBL)."""
    report, _ = validate(s.ubl_wrong_total())
    assert report.verdict == "invalid"
    assert "BR-CO-15" in ids(report, Stage.EN16931)
    assert fatal_ids(report) == {"BR-CO-15", "BR-CO-16"}  # BT-115 no longer matches either


def test_vat_total_off_is_br_co_15_cii() -> None:
    """EN 16931 BR-CO-15 on a CII invoice."""
    report, _ = validate(s.cii_wrong_total())
    assert "BR-CO-15" in {f.rule_id for f in report.findings if f.flag == "fatal"}


def test_missing_invoice_number_is_br_02_and_later_stages_still_run() -> None:
    """EN 16931 BR-02 (BT-1 mandatory): the XSD stage fails too, the rules still run."""
    report, _ = validate(s.ubl_without_number())
    assert report.verdict == "invalid"
    assert report.stage(Stage.XSD).fatal
    assert "BR-02" in ids(report, Stage.EN16931)
    assert report.stage(Stage.EN16931).ran


def test_findings_carry_stage_flag_location_and_official_text() -> None:
    report, _ = validate(s.ubl_wrong_total())
    finding = next(f for f in report.findings if f.rule_id == "BR-CO-15")
    assert finding.flag == "fatal"
    assert finding.location.startswith("/")
    assert "Invoice total amount with VAT (BT-112)" in finding.message


def test_credit_note_without_preceding_invoice_is_br_fr_co_05() -> None:
    """BR-FR-CO-05 (French rules, Flux 2): a credit note (381) references the invoice it credits."""
    data = s.sample("ubl/ubl-tc434-creditnote1.xml")
    report, _ = validate(data, Options(br_fr=True))
    assert "BR-FR-CO-05_BT-3" in ids(report, Stage.BR_FR)
    with_reference = s.replace_once(
        data,
        b"<cac:AccountingSupplierParty>",
        b"<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>F-2017-001</cbc:ID>"
        b"<cbc:IssueDate>2017-09-01</cbc:IssueDate></cac:InvoiceDocumentReference>"
        b"</cac:BillingReference><cac:AccountingSupplierParty>",
    )
    report, _ = validate(with_reference, Options(br_fr=True))
    assert "BR-FR-CO-05_BT-3" not in ids(report)
    assert report.data["BT-25"] == "F-2017-001"


def test_br_fr_stage_only_when_enabled() -> None:
    data = s.sample("ubl/ubl-tc434-creditnote1.xml")
    report, _ = validate(data, Options(br_fr=False))
    assert all(r.stage != Stage.BR_FR for r in report.stages)
    assert report.valid


@pytest.mark.parametrize(
    ("spec", "profile"),
    [("urn:factur-x.eu:1p0:minimum", "MINIMUM"), ("urn:factur-x.eu:1p0:basicwl", "BASIC WL")],
)
def test_minimum_and_basic_wl_are_not_processable(spec: str, profile: str) -> None:
    report, document = validate(s.minimum_as(spec))
    assert report.verdict == "unprocessable"
    assert report.profile == profile
    assert ids(report) == {"GUICHET-PROFILE-NOT-PROCESSABLE"}
    assert "saisi à la main" in report.findings[0].message
    assert document is None


def test_bom_is_stripped() -> None:
    report, _ = validate(b"\xef\xbb\xbf" + s.sample("ubl/ubl-tc434-example2.xml"))
    assert report.valid
    assert report.data["BT-1"] == "TOSL108"


def test_iso_8859_1_cii_is_read_from_its_bytes_with_a_warning() -> None:
    """Decision: a declared ISO-8859-1 document is parsed with that encoding and warned about."""
    report, _ = validate(s.cii_latin1())
    assert report.valid
    assert ids(report, Stage.PARSE) == {"GUICHET-XML-ENCODING"}
    assert report.data["BT-27"] == "Société Générale des Eaux"


def test_iso_8859_1_can_be_refused_by_setting() -> None:
    options = Options(settings=EinvoiceValidationSettings(non_utf8="reject"))
    report, _ = validate(s.cii_latin1(), options)
    assert fatal_ids(report) == {"GUICHET-XML-ENCODING"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "ubl/ubl-tc434-example2.xml",
            {
                "BT-1": "TOSL108",
                "BT-2": "2013-06-30",
                "BT-3": "380",
                "BT-5": "NOK",
                "BT-13": "123",
                "BT-27": "Salescompany ltd.",
                "BT-84": "NO9386011117947",
                "BT-109": "1436.50",
                "BT-110": "365.28",
                "BT-112": "1801.78",
                "BT-115": "801.78",
            },
        ),
        ("cii/CII_example2.xml", {"BT-1": "TOSL108", "BT-2": "2013-06-30", "BT-5": "NOK"}),
    ],
)
def test_en16931_data_extracted(path: str, expected: dict[str, str]) -> None:
    report, document = validate(s.sample(path))
    assert document is not None
    for bt, value in expected.items():
        assert report.data[bt] == value, bt


def test_credit_note_data() -> None:
    report, _ = validate(s.sample("ubl/ubl-tc434-creditnote1.xml"))
    assert report.syntax == "UBL-CreditNote-2.1"
    assert report.data["BT-3"] == "381"


def test_facturx_pdf_gives_its_embedded_xml() -> None:
    report, document = validate(s.sample("facturx/invoice_EN16931.pdf"))
    assert report.valid
    assert report.stage(Stage.FACTURX).ran
    assert report.profile == "EN 16931"
    assert document is not None and report.data["BT-1"]
