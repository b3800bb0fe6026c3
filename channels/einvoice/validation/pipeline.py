"""The validation pipeline: standards stages in order, each keeping its own findings.

gate (size, XML or PDF) → facturx (embedded XML, profile) → parse (hardened) → syntax
(UBL Invoice / CreditNote / CII, BT-24 profile) → xsd → en16931 (compiled Schematron) →
br-fr (when enabled) → business (a pluggable stage, see ``BusinessStage``).

Once the XML is well-formed and recognised, every later standards stage runs whatever the
earlier ones found, so that the supplier learns every broken rule at once. A stage that
cannot run its rules (missing artefact, engine error) records a fatal finding: nothing is
ever "valid" by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from channels.einvoice.validation import _pdf, _rules, _xml, artefacts
from channels.einvoice.validation._extract import extract
from channels.einvoice.validation.findings import Finding, Stage, StageResult, ValidationReport
from channels.einvoice.validation.settings import (
    EinvoiceValidationSettings,
    get_validation_settings,
)


@dataclass(frozen=True, slots=True)
class ParsedInvoice:
    """What the standards stages hand to later stages (business checks, case creation)."""

    syntax: str
    profile: str | None
    specification_id: str | None
    root: etree._Element
    data: dict[str, str | None]
    report: ValidationReport


class BusinessStage(Protocol):
    """A stage run after the standards stages for a tenant (duplicates, SIRET, BT-10, BT-13…).

    It receives the parsed document (its EN 16931 data in ``document.data``) and the tenant
    (INSEE code) and returns findings of stage ``Stage.BUSINESS``. It is registered once with
    ``register_business_stage``; ``run_business_stage`` runs it.
    """

    async def __call__(self, document: ParsedInvoice, tenant: str) -> Sequence[Finding]: ...


_business_stage: BusinessStage | None = None


def register_business_stage(stage: BusinessStage | None) -> None:
    global _business_stage
    _business_stage = stage


def business_stage() -> BusinessStage | None:
    return _business_stage


@dataclass(slots=True)
class Options:
    br_fr: bool | None = None  # None: the setting decides
    settings: EinvoiceValidationSettings = field(default_factory=get_validation_settings)


_NOT_RUN = {
    Stage.FACTURX: "sans objet (document XML)",
}


def _skip(report: ValidationReport, stages: Sequence[Stage], why: str) -> None:
    for stage in stages:
        result = report.stage(stage)
        result.ran = False
        result.note = why


def _fail_closed(stage: Stage, exc: Exception) -> Finding:
    return Finding(
        stage,
        "GUICHET-RULES-UNAVAILABLE",
        "fatal",
        "document",
        f"Les règles n'ont pas pu être appliquées ({exc}) : la facture n'est pas déclarée "
        "valide. Réessayez ; si l'erreur persiste, signalez-la à l'administrateur.",
    )


def validate(
    data: bytes, options: Options | None = None
) -> tuple[ValidationReport, ParsedInvoice | None]:
    """Run the standards stages on one document (bytes as received). Stores nothing."""
    options = options or Options()
    settings = options.settings
    br_fr = settings.br_fr_enabled if options.br_fr is None else options.br_fr
    report = ValidationReport()
    later = [Stage.FACTURX, Stage.PARSE, Stage.SYNTAX, Stage.XSD, Stage.EN16931]
    if br_fr:
        later.append(Stage.BR_FR)

    kind, findings = _xml.gate(data, settings)
    report.stage(Stage.GATE).findings.extend(findings)
    if kind is None:
        _skip(report, later, "document refusé à l'entrée")
        return report, None

    xml_bytes = data
    extracted = None
    if kind == "pdf":
        extracted, findings = _pdf.extract_facturx(data, settings)
        report.stage(Stage.FACTURX).findings.extend(findings)
        if extracted is None:
            report.unprocessable = any(f.rule_id == "GUICHET-PDF-NO-XML" for f in findings)
            _skip(report, later[1:], "aucun XML de facture lisible dans le PDF")
            return report, None
        xml_bytes = extracted.xml
    else:
        result = report.stage(Stage.FACTURX)
        result.ran = False
        result.note = _NOT_RUN[Stage.FACTURX]

    parsed, findings = _xml.parse_xml(xml_bytes, settings)
    report.stage(Stage.PARSE).findings.extend(findings)
    if parsed is None:
        _skip(report, later[2:], "XML refusé ou mal formé")
        return report, None

    detected, findings = _xml.detect(parsed.root)
    report.stage(Stage.SYNTAX).findings.extend(findings)
    if detected is None:
        _skip(report, later[3:], "ce n'est pas une facture UBL ou CII")
        return report, None
    report.syntax = detected.syntax
    report.profile = detected.profile
    report.specification_id = detected.specification_id
    report.data = extract(parsed.root, detected.syntax)
    if extracted is not None and not _pdf.conformance_matches(
        extracted.conformance_level, detected.profile
    ):
        report.stage(Stage.FACTURX).findings.append(
            Finding(
                Stage.FACTURX,
                "GUICHET-PDF-PROFILE-MISMATCH",
                "warning",
                "XMP fx:ConformanceLevel",
                f"Les métadonnées du PDF annoncent le profil {extracted.conformance_level}, "
                f"le XML le profil {detected.profile} (BT-24) : c'est le XML qui est retenu.",
            )
        )
    if any(f.flag == "fatal" for f in findings):
        report.unprocessable = any(f.rule_id == "GUICHET-PROFILE-NOT-PROCESSABLE" for f in findings)
        _skip(report, later[3:], "profil non traitable")
        return report, None

    xsd_result = report.stage(Stage.XSD)
    try:
        xsd_result.findings.extend(
            _rules.validate_xsd(parsed.root, artefacts.xsd_for(detected.syntax, detected.profile))
        )
    except (artefacts.MissingArtefact, etree.XMLSchemaParseError) as exc:
        xsd_result.findings.append(_fail_closed(Stage.XSD, exc))

    xml_text = etree.tostring(parsed.root, encoding="unicode")
    stages = [(Stage.EN16931, artefacts.en16931_rules_for(detected.syntax, detected.profile))]
    if br_fr:
        stages.append((Stage.BR_FR, artefacts.br_fr_rules_for(detected.syntax)))
    for stage, rules in stages:
        result = report.stage(stage)
        report.rules.append(rules.label)
        try:
            result.findings.extend(_rules.run_rules(rules, xml_text, stage))
        except (_rules.RulesUnavailable, artefacts.MissingArtefact) as exc:
            result.findings.append(_fail_closed(stage, exc))

    document = ParsedInvoice(
        detected.syntax,
        detected.profile,
        detected.specification_id,
        parsed.root,
        report.data,
        report,
    )
    return report, document


async def run_business_stage(
    report: ValidationReport, document: ParsedInvoice | None, tenant: str
) -> None:
    """Run the registered business stage for ``tenant`` and record its findings apart."""
    result = report.stage(Stage.BUSINESS)
    stage = business_stage()
    if stage is None:
        result.ran = False
        result.note = "contrôles métier pas encore disponibles"
        return
    if document is None:
        result.ran = False
        result.note = "document illisible : contrôles métier non exécutés"
        return
    findings = await stage(document, tenant)
    result.findings.extend(findings)


def warm_up(syntaxes: Sequence[str] = (), *, br_fr: bool = False) -> None:
    """Compile the rules needed for these syntaxes now (once per process)."""
    rule_sets: list[artefacts.RuleSet] = []
    for syntax in syntaxes:
        rule_sets.append(artefacts.en16931_rules_for(syntax, None))
        if br_fr:
            rule_sets.append(artefacts.br_fr_rules_for(syntax))
        _rules.xsd(artefacts.xsd_for(syntax, None))
    _rules.warm_up(*rule_sets)


_ = StageResult  # re-exported for typing by callers
