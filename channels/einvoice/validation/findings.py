"""Findings and the validation report: what every stage records, kept apart per stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Flag = Literal["fatal", "warning"]


class Stage(StrEnum):
    """The stages of the pipeline, in the order they run."""

    GATE = "gate"
    FACTURX = "facturx"
    PARSE = "parse"
    SYNTAX = "syntax"
    XSD = "xsd"
    EN16931 = "en16931"
    BR_FR = "br-fr"
    BUSINESS = "business"


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: where, how serious, and what to do about it.

    ``rule_id`` is the official identifier when a standard defines one (``BR-CO-15``,
    ``FX-SCH-A-000556``, ``BR-FR-09``) and a ``GUICHET-…`` identifier for our own checks.
    ``message`` is the official rule text for Schematron rules, French for ours.
    ``location`` is an XPath (Schematron, XSD) or ``ligne N`` when only a line is known.
    """

    stage: Stage
    rule_id: str
    flag: Flag
    location: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "stage": str(self.stage),
            "rule_id": self.rule_id,
            "flag": self.flag,
            "location": self.location,
            "message": self.message,
        }


@dataclass(slots=True)
class StageResult:
    """What one stage did. ``ran`` is False when an earlier stage made it impossible."""

    stage: Stage
    ran: bool = True
    findings: list[Finding] = field(default_factory=list)
    note: str = ""

    @property
    def fatal(self) -> bool:
        return any(f.flag == "fatal" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": str(self.stage),
            "ran": self.ran,
            "note": self.note,
            "findings": [f.to_dict() for f in self.findings],
        }


Verdict = Literal["valid", "invalid", "unprocessable"]


@dataclass(slots=True)
class ValidationReport:
    """The outcome of one document through the pipeline.

    ``verdict``: ``valid`` (no fatal finding in any stage that ran, and every mandatory stage
    ran), ``invalid`` (at least one fatal finding), ``unprocessable`` (a structured invoice
    cannot be read from it: not XML nor PDF, a PDF without invoice XML, a MINIMUM or BASIC WL
    profile — the PDF is then the invoice and must be keyed by hand).
    """

    syntax: str | None = None
    profile: str | None = None
    specification_id: str | None = None
    rules: list[str] = field(default_factory=list)
    stages: list[StageResult] = field(default_factory=list)
    data: dict[str, str | None] = field(default_factory=dict)
    unprocessable: bool = False

    def stage(self, stage: Stage) -> StageResult:
        for result in self.stages:
            if result.stage == stage:
                return result
        result = StageResult(stage)
        self.stages.append(result)
        return result

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.stages for f in s.findings]

    @property
    def verdict(self) -> Verdict:
        if self.unprocessable:
            return "unprocessable"
        if any(s.fatal for s in self.stages):
            return "invalid"
        return "valid"

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "syntax": self.syntax,
            "profile": self.profile,
            "specification_id": self.specification_id,
            "rules": list(self.rules),
            "stages": [s.to_dict() for s in self.stages],
            "data": dict(self.data),
        }
