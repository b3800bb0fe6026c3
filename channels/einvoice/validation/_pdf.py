"""Factur-X / ZUGFeRD: the invoice XML embedded in a PDF/A-3, read with limits.

A PDF is untrusted input like any other: the object count is checked before pypdf walks the
file, an attachment's declared size before it is decompressed (pypdf itself stops any stream
at 75 MB), and the XMP metadata is parsed by our hardened XML parser, not pypdf's.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from channels.einvoice.validation._xml import parse_xml
from channels.einvoice.validation.findings import Finding, Stage
from channels.einvoice.validation.settings import EinvoiceValidationSettings

# Names the Factur-X / ZUGFeRD / XRechnung specifications give the embedded invoice.
INVOICE_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
_OBJ_RE = re.compile(rb"\d{1,10}\s+\d{1,5}\s+obj\b")
_NS_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_NS_FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"


@dataclass(frozen=True, slots=True)
class Extracted:
    xml: bytes
    filename: str
    pdfa_part: str | None
    conformance_level: str | None  # the XMP fx:ConformanceLevel (EN 16931, BASIC, …)


def _finding(rule: str, message: str, flag: str = "fatal") -> Finding:
    return Finding(Stage.FACTURX, rule, "warning" if flag == "warning" else "fatal", "PDF", message)


def _xmp(reader: object, settings: EinvoiceValidationSettings) -> tuple[str | None, str | None]:
    """(pdfaid:part, fx:ConformanceLevel) from the XMP stream, parsed by the hardened parser."""
    try:
        root = reader.trailer["/Root"]  # type: ignore[attr-defined]
        metadata = root.get("/Metadata")
        if metadata is None:
            return None, None
        raw = metadata.get_object().get_data()
    except Exception:  # noqa: BLE001 - a broken XMP is reported as "not PDF/A", not a crash
        return None, None
    start = raw.find(b"<x:xmpmeta")
    if start < 0:
        start = raw.find(b"<rdf:RDF")
    end = raw.rfind(b"</x:xmpmeta>")
    if start < 0:
        return None, None
    body = raw[start : end + len(b"</x:xmpmeta>")] if end > start else raw[start:]
    parsed, _ = parse_xml(body, settings)
    if parsed is None:
        return None, None

    def first(ns: str, name: str) -> str | None:
        for element in parsed.root.iter(f"{{{ns}}}{name}"):
            if element.text and element.text.strip():
                return element.text.strip()
        for element in parsed.root.iter():
            value = element.get(f"{{{ns}}}{name}")
            if value:
                return value.strip()
        return None

    return first(_NS_PDFAID, "part"), first(_NS_FX, "ConformanceLevel")


def extract_facturx(
    data: bytes, settings: EinvoiceValidationSettings
) -> tuple[Extracted | None, list[Finding]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    objects = len(_OBJ_RE.findall(data))
    if objects > settings.max_pdf_objects:
        return None, [
            _finding(
                "GUICHET-PDF-LIMITS",
                f"Le PDF déclare {objects} objets ; la limite est {settings.max_pdf_objects}. "
                "Il n'a pas été lu (protection contre les PDF piégés).",
            )
        ]
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return None, [
                _finding(
                    "GUICHET-PDF-ENCRYPTED",
                    "Le PDF est chiffré : la facture ne peut pas être lue. Envoyez-le sans mot "
                    "de passe ni chiffrement (PDF/A-3 l'interdit).",
                )
            ]
        declared = int(reader.trailer.get("/Size", 0) or 0)
        if declared > settings.max_pdf_objects:
            return None, [
                _finding(
                    "GUICHET-PDF-LIMITS",
                    f"Le PDF déclare {declared} objets ; la limite est "
                    f"{settings.max_pdf_objects}. Il n'a pas été lu.",
                )
            ]
        attachments = list(reader.attachment_list)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        return None, [
            _finding(
                "GUICHET-PDF-UNREADABLE",
                f"Le PDF est illisible ({type(exc).__name__}) : la facture ne peut pas être lue.",
            )
        ]
    findings: list[Finding] = []
    if len(attachments) > settings.max_pdf_attachments:
        return None, [
            _finding(
                "GUICHET-PDF-LIMITS",
                f"Le PDF contient {len(attachments)} fichiers joints ; la limite est "
                f"{settings.max_pdf_attachments}.",
            )
        ]
    chosen = next(
        (a for name in INVOICE_NAMES for a in attachments if (a.name or "").lower() == name), None
    )
    pdfa_part, level = _xmp(reader, settings)
    if pdfa_part != "3":
        findings.append(
            _finding(
                "GUICHET-PDF-NOT-PDFA3",
                "Le PDF ne se déclare pas PDF/A-3 (métadonnées XMP pdfaid:part) : une facture "
                "Factur-X doit l'être. Sa conformité PDF/A n'est pas vérifiée plus avant.",
                "warning",
            )
        )
    if chosen is None:
        others = ", ".join(sorted(a.name or "?" for a in attachments)) or "aucun"
        findings.append(
            _finding(
                "GUICHET-PDF-NO-XML",
                "Ce PDF ne contient pas de XML de facture (factur-x.xml, zugferd-invoice.xml ou "
                f"xrechnung.xml ; fichiers joints : {others}). Le PDF fait foi et la facture doit "
                "être saisie à la main ; demandez au fournisseur une facture Factur-X, UBL ou CII.",
            )
        )
        return None, findings
    size = chosen.size
    if size is not None and size > settings.max_xml_bytes:
        findings.append(
            _finding(
                "GUICHET-PDF-LIMITS",
                f"Le XML joint {chosen.name} déclare {size} octets ; la limite est "
                f"{settings.max_xml_bytes}.",
            )
        )
        return None, findings
    try:
        content = chosen.content
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a finding, never a crash
        findings.append(
            _finding(
                "GUICHET-PDF-UNREADABLE",
                f"Le XML joint {chosen.name} ne peut pas être extrait ({type(exc).__name__}).",
            )
        )
        return None, findings
    if len(content) > settings.max_xml_bytes:
        findings.append(
            _finding(
                "GUICHET-PDF-LIMITS",
                f"Le XML joint {chosen.name} fait {len(content)} octets une fois décompressé ; "
                f"la limite est {settings.max_xml_bytes}.",
            )
        )
        return None, findings
    return Extracted(content, chosen.name or "", pdfa_part, level), findings


def conformance_matches(level: str | None, profile: str | None) -> bool:
    """Whether the XMP ConformanceLevel names the same profile as BT-24 (loosely)."""
    if not level or not profile:
        return True
    norm = {"EN 16931": "EN16931", "BASIC WL": "BASICWL"}
    return norm.get(profile, profile).replace(" ", "") == level.upper().replace(" ", "")


__all__ = ["INVOICE_NAMES", "Extracted", "conformance_matches", "extract_facturx"]
