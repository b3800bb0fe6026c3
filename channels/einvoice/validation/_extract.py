"""EN 16931 business terms (BT ids → values) read from UBL 2.1 or CII D16B.

Values are the document's text, trimmed; dates are given as ISO ``YYYY-MM-DD`` (CII format
102 ``YYYYMMDD`` is converted). ``BT-29-scheme`` and the like hold the scheme identifier
(``0009`` SIRET, ``0002`` SIREN). Absent terms are ``None``.
"""

from __future__ import annotations

from lxml import etree

from channels.einvoice.validation._xml import NS_CII, NS_RAM, SYNTAX_CII

_UBL_NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
_CII_NS = {
    "rsm": NS_CII,
    "ram": NS_RAM,
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}

_SELLER = "cac:AccountingSupplierParty/cac:Party"
_BUYER = "cac:AccountingCustomerParty/cac:Party"
_TOTALS = "cac:LegalMonetaryTotal"

# BT id → XPath(s) relative to the root; the first non-empty match wins.
UBL_PATHS: dict[str, tuple[str, ...]] = {
    "BT-1": ("cbc:ID",),
    "BT-2": ("cbc:IssueDate",),
    "BT-3": ("cbc:InvoiceTypeCode", "cbc:CreditNoteTypeCode"),
    "BT-5": ("cbc:DocumentCurrencyCode",),
    "BT-9": ("cbc:DueDate", "cac:PaymentMeans/cbc:PaymentDueDate"),
    "BT-10": ("cbc:BuyerReference",),
    "BT-12": ("cac:ContractDocumentReference/cbc:ID",),
    "BT-13": ("cac:OrderReference/cbc:ID",),
    "BT-24": ("cbc:CustomizationID",),
    "BT-25": ("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID",),
    "BT-26": ("cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate",),
    "BT-27": (f"{_SELLER}/cac:PartyLegalEntity/cbc:RegistrationName",),
    "BT-29": (f"{_SELLER}/cac:PartyIdentification/cbc:ID",),
    "BT-30": (f"{_SELLER}/cac:PartyLegalEntity/cbc:CompanyID",),
    "BT-31": (f"{_SELLER}/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID",),
    "BT-34": (f"{_SELLER}/cbc:EndpointID",),
    "BT-44": (f"{_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName",),
    "BT-46": (f"{_BUYER}/cac:PartyIdentification/cbc:ID",),
    "BT-47": (f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID",),
    "BT-49": (f"{_BUYER}/cbc:EndpointID",),
    "BT-84": ("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID",),
    "BT-106": (f"{_TOTALS}/cbc:LineExtensionAmount",),
    "BT-109": (f"{_TOTALS}/cbc:TaxExclusiveAmount",),
    "BT-110": ("cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount", "cac:TaxTotal/cbc:TaxAmount"),
    "BT-112": (f"{_TOTALS}/cbc:TaxInclusiveAmount",),
    "BT-113": (f"{_TOTALS}/cbc:PrepaidAmount",),
    "BT-115": (f"{_TOTALS}/cbc:PayableAmount",),
}

_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_CSELLER = f"{_AGREEMENT}/ram:SellerTradeParty"
_CBUYER = f"{_AGREEMENT}/ram:BuyerTradeParty"
_SUM = f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"

CII_PATHS: dict[str, tuple[str, ...]] = {
    "BT-1": ("rsm:ExchangedDocument/ram:ID",),
    "BT-2": ("rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString",),
    "BT-3": ("rsm:ExchangedDocument/ram:TypeCode",),
    "BT-5": (f"{_SETTLEMENT}/ram:InvoiceCurrencyCode",),
    "BT-9": (
        f"{_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString",
    ),
    "BT-10": (f"{_AGREEMENT}/ram:BuyerReference",),
    "BT-12": (f"{_AGREEMENT}/ram:ContractReferencedDocument/ram:IssuerAssignedID",),
    "BT-13": (f"{_AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID",),
    "BT-24": (
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
    ),
    "BT-25": (f"{_SETTLEMENT}/ram:InvoiceReferencedDocument/ram:IssuerAssignedID",),
    "BT-26": (
        f"{_SETTLEMENT}/ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString",
    ),
    "BT-27": (f"{_CSELLER}/ram:Name",),
    "BT-29": (f"{_CSELLER}/ram:ID", f"{_CSELLER}/ram:GlobalID"),
    "BT-30": (f"{_CSELLER}/ram:SpecifiedLegalOrganization/ram:ID",),
    "BT-31": (f"{_CSELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']",),
    "BT-34": (f"{_CSELLER}/ram:URIUniversalCommunication/ram:URIID",),
    "BT-44": (f"{_CBUYER}/ram:Name",),
    "BT-46": (f"{_CBUYER}/ram:ID", f"{_CBUYER}/ram:GlobalID"),
    "BT-47": (f"{_CBUYER}/ram:SpecifiedLegalOrganization/ram:ID",),
    "BT-49": (f"{_CBUYER}/ram:URIUniversalCommunication/ram:URIID",),
    "BT-84": (
        f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID",
        f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID",
    ),
    "BT-106": (f"{_SUM}/ram:LineTotalAmount",),
    "BT-109": (f"{_SUM}/ram:TaxBasisTotalAmount",),
    "BT-110": (f"{_SUM}/ram:TaxTotalAmount",),
    "BT-112": (f"{_SUM}/ram:GrandTotalAmount",),
    "BT-113": (f"{_SUM}/ram:TotalPrepaidAmount",),
    "BT-115": (f"{_SUM}/ram:DuePayableAmount",),
}

# Terms whose scheme identifier (@schemeID) is kept as "<BT>-scheme".
_WITH_SCHEME = ("BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49")
_DATES = ("BT-2", "BT-9", "BT-26")


_compiled: dict[str, etree.XPath] = {}


def _xpath(path: str, ns: dict[str, str]) -> etree.XPath:
    found = _compiled.get(path)
    if found is None:
        found = _compiled[path] = etree.XPath(path, namespaces=ns)
    return found


def _first(
    root: etree._Element, paths: tuple[str, ...], ns: dict[str, str]
) -> etree._Element | None:
    for p in paths:
        for element in _xpath(p, ns)(root):  # type: ignore[union-attr]
            if isinstance(element, etree._Element) and element.text and element.text.strip():
                return element
    return None


def _iso_date(value: str) -> str:
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def extract(root: etree._Element, syntax: str) -> dict[str, str | None]:
    cii = syntax == SYNTAX_CII
    paths, ns = (CII_PATHS, _CII_NS) if cii else (UBL_PATHS, _UBL_NS)
    data: dict[str, str | None] = {}
    currency = None
    for bt, candidates in paths.items():
        if bt == "BT-110":
            continue
        element = _first(root, candidates, ns)
        value = element.text.strip() if element is not None and element.text else None
        if value is not None and bt in _DATES:
            value = _iso_date(value)
        data[bt] = value
        if bt in _WITH_SCHEME:
            data[f"{bt}-scheme"] = element.get("schemeID") if element is not None else None
        if bt == "BT-5":
            currency = value
    # BT-110 is the VAT total in the invoice currency (BT-111, in the VAT currency, is not it).
    vat = None
    for p in paths["BT-110"]:
        for node in _xpath(p, ns)(root):  # type: ignore[union-attr]
            if not isinstance(node, etree._Element) or not (node.text or "").strip():
                continue
            if node.get("currencyID") in (currency, None):
                vat = (node.text or "").strip()
                break
        if vat is not None:
            break
    data["BT-110"] = vat
    return data
