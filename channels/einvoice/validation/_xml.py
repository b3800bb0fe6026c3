"""Size and type gate, hardened XML parsing, syntax and profile detection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from lxml import etree

from channels.einvoice.validation.findings import Finding, Stage
from channels.einvoice.validation.settings import EinvoiceValidationSettings

Kind = Literal["xml", "pdf"]

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DOCTYPE_PATTERNS = (
    b"<!DOCTYPE",
    b"<!ENTITY",
    "<!DOCTYPE".encode("utf-16-le"),
    "<!DOCTYPE".encode("utf-16-be"),
)
_ENCODING_RE = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

NS_UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

SYNTAX_UBL_INVOICE = "UBL-Invoice-2.1"
SYNTAX_UBL_CREDIT_NOTE = "UBL-CreditNote-2.1"
SYNTAX_CII = "CII-D16B"

# Profiles (BT-24, see domain/einvoicing.md §2). MINIMUM and BASIC WL are not EN 16931 invoices.
PROFILE_MINIMUM = "MINIMUM"
PROFILE_BASIC_WL = "BASIC WL"
PROFILE_BASIC = "BASIC"
PROFILE_EN16931 = "EN 16931"
PROFILE_EXTENDED = "EXTENDED"
PROFILE_EXTENDED_CTC_FR = "EXTENDED-CTC-FR"
NOT_PROCESSABLE = frozenset({PROFILE_MINIMUM, PROFILE_BASIC_WL})


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} Mo".replace(".", ",")


def gate(data: bytes, settings: EinvoiceValidationSettings) -> tuple[Kind | None, list[Finding]]:
    """Byte size first (nothing is parsed past the limit), then XML or PDF by their first bytes."""
    if len(data) > settings.max_bytes:
        return None, [
            Finding(
                Stage.GATE,
                "GUICHET-GATE-SIZE",
                "fatal",
                "document",
                f"Le document fait {_mb(len(data))} ; la limite est {_mb(settings.max_bytes)}. "
                "Il n'a pas été lu. Réduisez les pièces jointes intégrées ou envoyez-les à part.",
            )
        ]
    if not data.strip():
        return None, [
            Finding(Stage.GATE, "GUICHET-GATE-EMPTY", "fatal", "document", "Le document est vide.")
        ]
    head = data[:1024].removeprefix(UTF8_BOM).lstrip()
    if head.startswith(b"%PDF-"):
        return "pdf", []
    if head.startswith(b"<") or data.startswith(_UTF16_BOMS):
        return "xml", []
    return None, [
        Finding(
            Stage.GATE,
            "GUICHET-GATE-TYPE",
            "fatal",
            "document",
            "Le document n'est ni un XML (UBL, CII) ni un PDF (Factur-X) : ses premiers octets ne "
            "correspondent à aucun des deux. Envoyez la facture au format UBL 2.1, CII D16B ou "
            "Factur-X.",
        )
    ]


class _RefuseAll(etree.Resolver):
    """No DTD, entity or XInclude is ever fetched, from a file or the network."""

    def resolve(  # type: ignore[override]  # lxml passes a context the stubs omit
        self, system_url: str, public_id: str, context: object
    ) -> Any:
        return self.resolve_string("", context, base_url=None)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseAll())
    return parser


@dataclass(frozen=True, slots=True)
class Parsed:
    root: etree._Element
    encoding: str


_TOO_DEEP = etree.XPath("boolean(//*[count(ancestor::*) >= $limit])")


def _too_deep(root: etree._Element, limit: int) -> bool:
    """Whether any element is nested deeper than ``limit`` levels (evaluated by libxml2)."""
    return bool(_TOO_DEEP(root, limit=limit))


def parse_xml(
    data: bytes, settings: EinvoiceValidationSettings
) -> tuple[Parsed | None, list[Finding]]:
    """Parse untrusted XML: any DOCTYPE is refused before the parser sees the document.

    The document is parsed from its bytes (its declared encoding applies); a UTF-8 byte-order
    mark is removed first. DTDs, entities and network access are off, and nothing external is
    ever resolved; libxml2's own limits stay on (no ``huge_tree``).
    """
    findings: list[Finding] = []
    if len(data) > settings.max_xml_bytes:
        return None, [
            Finding(
                Stage.PARSE,
                "GUICHET-XML-SIZE",
                "fatal",
                "document",
                f"Le XML fait {_mb(len(data))} ; la limite est {_mb(settings.max_xml_bytes)}. "
                "Il n'a pas été lu.",
            )
        ]
    data = data.removeprefix(UTF8_BOM)
    if any(p in data for p in _DOCTYPE_PATTERNS):
        return None, [
            Finding(
                Stage.PARSE,
                "GUICHET-XML-DOCTYPE",
                "fatal",
                "prologue",
                "Le XML contient une déclaration DOCTYPE ou ENTITY : refusée par sécurité "
                "(entités externes, expansion d'entités). Une facture UBL ou CII n'en a jamais "
                "besoin ; retirez-la.",
            )
        ]
    declared = _ENCODING_RE.match(data[:200].lstrip())
    encoding = declared.group(1).decode("ascii").upper() if declared else "UTF-8"
    if data.startswith(_UTF16_BOMS):
        encoding = "UTF-16"
    if encoding not in ("UTF-8", "UTF8"):
        findings.append(
            Finding(
                Stage.PARSE,
                "GUICHET-XML-ENCODING",
                "fatal" if settings.non_utf8 == "reject" else "warning",
                "prologue",
                f"Le XML est encodé en {encoding} : l'encodage attendu est UTF-8 (Peppol, "
                "plateformes françaises).",
            )
        )
        if settings.non_utf8 == "reject":
            return None, findings
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None) or (exc.position[0] if exc.position else 0)
        return None, [
            *findings,
            Finding(
                Stage.PARSE,
                "GUICHET-XML-SYNTAX",
                "fatal",
                f"ligne {line}",
                f"Le XML est mal formé : {exc.msg}. Corrigez le fichier (il n'a pas été lu).",
            ),
        ]
    tree = root.getroottree()
    if (
        getattr(tree.docinfo, "doctype", "") or tree.docinfo.internalDTD is not None
    ):  # belt and braces
        return None, [
            *findings,
            Finding(
                Stage.PARSE,
                "GUICHET-XML-DOCTYPE",
                "fatal",
                "prologue",
                "Le XML contient une déclaration DOCTYPE : refusée par sécurité.",
            ),
        ]
    if _too_deep(root, settings.max_xml_depth):
        return None, [
            *findings,
            Finding(
                Stage.PARSE,
                "GUICHET-XML-DEPTH",
                "fatal",
                "document",
                f"Le XML imbrique plus de {settings.max_xml_depth} niveaux d'éléments : refusé "
                "(une facture EN 16931 en compte une douzaine).",
            ),
        ]
    return Parsed(root, encoding), findings


@dataclass(frozen=True, slots=True)
class Detected:
    syntax: str
    specification_id: str | None
    profile: str | None


def _text(root: etree._Element, path: str, ns: dict[str, str]) -> str | None:
    found = root.find(path, ns)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def profile_of(specification_id: str | None, syntax: str) -> str | None:
    """The Factur-X / EN 16931 profile named by BT-24 (None when it names none we know)."""
    if not specification_id:
        return None
    spec = specification_id.strip().lower()
    if spec == "urn:factur-x.eu:1p0:minimum":
        return PROFILE_MINIMUM
    if spec == "urn:factur-x.eu:1p0:basicwl":
        return PROFILE_BASIC_WL
    if "extended-ctc-fr" in spec:
        return PROFILE_EXTENDED_CTC_FR
    if spec.endswith("urn:factur-x.eu:1p0:basic"):
        return PROFILE_BASIC
    if "urn:factur-x.eu:1p0:extended" in spec:
        return PROFILE_EXTENDED
    if spec.startswith("urn:cen.eu:en16931:2017"):
        return PROFILE_EN16931
    return None


def detect(root: etree._Element) -> tuple[Detected | None, list[Finding]]:
    """UBL Invoice, UBL CreditNote or CII D16B, from the root element; BT-24 and its profile."""
    qname = etree.QName(root)
    if qname.namespace == NS_UBL_INVOICE and qname.localname == "Invoice":
        syntax = SYNTAX_UBL_INVOICE
    elif qname.namespace == NS_UBL_CREDIT_NOTE and qname.localname == "CreditNote":
        syntax = SYNTAX_UBL_CREDIT_NOTE
    elif qname.namespace == NS_CII and qname.localname == "CrossIndustryInvoice":
        syntax = SYNTAX_CII
    else:
        return None, [
            Finding(
                Stage.SYNTAX,
                "GUICHET-SYNTAX-UNKNOWN",
                "fatal",
                f"/{root.tag}",
                f"L'élément racine {{{qname.namespace or ''}}}{qname.localname} n'est pas celui "
                "d'une facture UBL 2.1 (Invoice, CreditNote) ni CII D16B (CrossIndustryInvoice).",
            )
        ]
    if syntax == SYNTAX_CII:
        spec = _text(
            root,
            "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
            {"rsm": NS_CII, "ram": NS_RAM},
        )
    else:
        spec = _text(root, "cbc:CustomizationID", {"cbc": NS_CBC})
    profile = profile_of(spec, syntax)
    findings: list[Finding] = []
    if profile in NOT_PROCESSABLE:
        findings.append(
            Finding(
                Stage.SYNTAX,
                "GUICHET-PROFILE-NOT-PROCESSABLE",
                "fatal",
                "BT-24",
                f"Profil Factur-X {profile} ({spec}) : ce n'est pas une facture EN 16931 "
                "exploitable (pas de lignes, mentions obligatoires non structurées). Le PDF fait "
                "foi et doit être saisi à la main ; demandez au fournisseur le profil EN 16931.",
            )
        )
    elif profile == PROFILE_EXTENDED_CTC_FR:
        findings.append(
            Finding(
                Stage.SYNTAX,
                "GUICHET-PROFILE-UNSUPPORTED",
                "fatal",
                "BT-24",
                f"Profil EXTENDED-CTC-FR ({spec}) : il n'est pas encore pris en charge par Guichet "
                "(CII D22B). Demandez au fournisseur le profil EN 16931.",
            )
        )
    return Detected(syntax, spec, profile), findings
