"""Procedure package `supplier_invoices`: definitions, payload schemas, rules and data.

Public contract (the e-invoice channel and the services rely on these names): ``definition``
(KEY, InvoicePayload, roles), ``dgp`` (payment deadline rules), ``lifecycle`` (status table),
``identifiers``, ``models``, ``suppliers`` (master data, CSV import), ``views`` (finance views).
"""

from __future__ import annotations

from workflows.cases.projections import Projector
from workflows.engine.definitions import Definition
from workflows.procedures.supplier_invoices.definition import DEFINITION, KEY
from workflows.procedures.supplier_invoices.projector import SupplierInvoiceProjector

DEFINITIONS: tuple[Definition, ...] = (DEFINITION,)
"""Loaded by ``workflows.procedures.build_engine``."""
PROJECTORS: dict[str, Projector] = {KEY: SupplierInvoiceProjector()}
"""Procedure key → projector keeping this package's tables in step with its cases."""
