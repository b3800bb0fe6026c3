"""The standard artefacts vendored under ``artefacts/`` (see its README for sources and licences).

Which XSD and which rule set apply to which syntax and profile is decided here, and only here.
A missing file is an error when it is needed ("fail closed"), never a skipped check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from channels.einvoice.validation._xml import (
    PROFILE_BASIC,
    PROFILE_EXTENDED,
    SYNTAX_CII,
    SYNTAX_UBL_CREDIT_NOTE,
    SYNTAX_UBL_INVOICE,
)

ROOT = Path(__file__).resolve().parent / "artefacts"


class MissingArtefact(RuntimeError):
    """A standard file the pipeline needs is not in the project."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A compiled-Schematron XSLT 2.0 stylesheet and, for Factur-X ones, its code-list file.

    ``key`` names it in reports; ``codedb`` is handed to the stylesheet as a parameter, so that
    it never reads a file while untrusted input is processed.
    """

    key: str
    label: str
    xslt: Path
    codedb: Path | None = None


def path(relative: str) -> Path:
    p = ROOT / relative
    if not p.is_file():
        raise MissingArtefact(f"artefact manquant : {p}")
    return p


UBL_INVOICE_XSD = "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"
UBL_CREDIT_NOTE_XSD = "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd"
CII_XSD = {
    PROFILE_BASIC: "facturx/facturx-basic/Factur-X_BASIC.xsd",
    PROFILE_EXTENDED: "facturx/facturx-extended/Factur-X_EXTENDED.xsd",
}
CII_XSD_DEFAULT = "facturx/facturx-en16931/Factur-X_EN16931.xsd"

CEN_UBL = RuleSet(
    "cen-ubl-1.3.16",
    "EN 16931 UBL (CEN, validation 1.3.16)",
    ROOT / "cen/EN16931-UBL-validation.xslt",
)
# The official CEN CII stylesheet, used as soon as it is vendored (see the artefacts README).
CEN_CII = RuleSet("cen-cii", "EN 16931 CII (CEN)", ROOT / "cen/EN16931-CII-validation.xslt")
FX_EN16931 = RuleSet(
    "facturx-1.09.2-en16931",
    "Factur-X 1.09.2 EN 16931 (FNFE-MPE / FeRD, règles EN 16931 CII)",
    ROOT / "facturx/facturx-en16931/FACTUR-X_EN16931.xslt",
    ROOT / "facturx/facturx-en16931/FACTUR-X_EN16931_codedb.xml",
)
FX_BASIC = RuleSet(
    "facturx-1.09.2-basic",
    "Factur-X 1.09.2 BASIC (FNFE-MPE / FeRD)",
    ROOT / "facturx/facturx-basic/Factur-X_1.09_BASIC.xsl",
    ROOT / "facturx/facturx-basic/FACTUR-X_BASIC_codedb.xml",
)
FX_EXTENDED = RuleSet(
    "facturx-1.09.2-extended",
    "Factur-X 1.09.2 EXTENDED (FNFE-MPE / FeRD)",
    ROOT / "facturx/facturx-extended/FACTUR-X_EXTENDED.xslt",
    ROOT / "facturx/facturx-extended/FACTUR-X_EXTENDED_codedb.xml",
)
BR_FR_UBL = RuleSet(
    "br-fr-flux2-ubl", "BR-FR Flux 2 UBL (FNFE-MPE)", ROOT / "br-fr/BR-FR-Flux2-Schematron-UBL.xslt"
)
BR_FR_CII = RuleSet(
    "br-fr-flux2-cii", "BR-FR Flux 2 CII (FNFE-MPE)", ROOT / "br-fr/BR-FR-Flux2-Schematron-CII.xslt"
)


def xsd_for(syntax: str, profile: str | None) -> str:
    if syntax == SYNTAX_UBL_INVOICE:
        return UBL_INVOICE_XSD
    if syntax == SYNTAX_UBL_CREDIT_NOTE:
        return UBL_CREDIT_NOTE_XSD
    if syntax == SYNTAX_CII:
        return CII_XSD.get(profile or "", CII_XSD_DEFAULT)
    raise ValueError(syntax)


def en16931_rules_for(syntax: str, profile: str | None) -> RuleSet:
    """The EN 16931 business rules for a syntax and profile.

    UBL: the official CEN stylesheet. CII: the official CEN stylesheet when vendored; until
    then the FNFE-MPE / FeRD Factur-X stylesheet of the profile, which carries the CEN rules
    (BR-*, BR-CO-*, BR-DEC-*, VAT categories) under their CEN ids plus the profile's own
    restrictions (FX-SCH-A-*).
    """
    if syntax in (SYNTAX_UBL_INVOICE, SYNTAX_UBL_CREDIT_NOTE):
        return CEN_UBL
    if syntax == SYNTAX_CII:
        if profile == PROFILE_BASIC:
            return FX_BASIC
        if profile == PROFILE_EXTENDED:
            return FX_EXTENDED
        return CEN_CII if CEN_CII.xslt.is_file() else FX_EN16931
    raise ValueError(syntax)


def br_fr_rules_for(syntax: str) -> RuleSet:
    return BR_FR_CII if syntax == SYNTAX_CII else BR_FR_UBL
