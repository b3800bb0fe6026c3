"""E-invoice validation: UBL 2.1, CII D16B and Factur-X through the EN 16931 standards stages.

``validate(data)`` runs the pipeline on the bytes of one document and returns the report
(findings kept per stage, EN 16931 data as BT ids → values) and the parsed document for the
later stages; ``register_business_stage`` plugs the tenant's business checks in after it.
"""

from channels.einvoice.validation.findings import (
    Finding,
    Flag,
    Stage,
    StageResult,
    ValidationReport,
)
from channels.einvoice.validation.pipeline import (
    BusinessStage,
    Options,
    ParsedInvoice,
    business_stage,
    register_business_stage,
    run_business_stage,
    validate,
    warm_up,
)

__all__ = [
    "BusinessStage",
    "Finding",
    "Flag",
    "Options",
    "ParsedInvoice",
    "Stage",
    "StageResult",
    "ValidationReport",
    "business_stage",
    "register_business_stage",
    "run_business_stage",
    "validate",
    "warm_up",
]
