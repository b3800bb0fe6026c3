"""Procedure package `street_reports`: definitions, payload schemas, rules and data.

Public contract (other packages rely on these names): ``categories`` (list_categories,
get_category, seed_default_categories), ``location`` (tenant_for_point, parse_coordinate,
OutsideTerritory), ``states`` (public_status, label, extended_status), ``queries`` (find_reports,
get_report, updates_between), ``models``.
"""

from __future__ import annotations

from workflows.cases.projections import Projector
from workflows.engine.definitions import Definition
from workflows.procedures.street_reports.definition import DEFINITION, KEY
from workflows.procedures.street_reports.projector import StreetReportProjector

DEFINITIONS: tuple[Definition, ...] = (DEFINITION,)
"""Loaded by ``workflows.procedures.build_engine``."""
PROJECTORS: dict[str, Projector] = {KEY: StreetReportProjector()}
"""Procedure key → projector keeping this package's tables in step with its cases."""
