"""Procedure package `supplier_invoices`: definitions, payload schemas, rules and data."""

from __future__ import annotations

from workflows.cases.projections import Projector
from workflows.engine.definitions import Definition

DEFINITIONS: tuple[Definition, ...] = ()
"""Loaded by ``workflows.procedures.build_engine``."""
PROJECTORS: dict[str, Projector] = {}
"""Procedure key → projector keeping this package's tables in step with its cases."""
