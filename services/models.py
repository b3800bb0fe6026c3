"""Every table module, imported so that ``metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

import importlib

from services.kernel.db import metadata

MODEL_MODULES = (
    "services.kernel.journal",
    "identity.models",
    "workflows.cases.models",
    "documents.models",
    "channels.models",
    "workflows.procedures.street_reports.models",
    "workflows.procedures.cemeteries.models",
    "channels.open311.models",
    "workflows.procedures.supplier_invoices.models",
    "workflows.procedures.urbanism.models",
    "channels.einvoice.models",
    "channels.einvoice.chorus.models",
)


def load_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


__all__ = ["load_all_models", "metadata"]
