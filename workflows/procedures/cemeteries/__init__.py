"""Procedure package `cemeteries`: definitions, payload schemas, rules and data.

``DEFINITIONS`` (built from ``settings.cemetery_settings()`` at import: silence rules and legal
delays) and ``PROJECTORS`` (the registry kept in step with decided cases) are loaded by
``workflows.procedures``.
"""

from __future__ import annotations

from workflows.cases.projections import Projector
from workflows.engine.definitions import Definition
from workflows.procedures.cemeteries.definitions import KEYS, build_definitions
from workflows.procedures.cemeteries.projector import PROJECTOR

DEFINITIONS: tuple[Definition, ...] = build_definitions()
"""Loaded by ``workflows.procedures.build_engine``."""
PROJECTORS: dict[str, Projector] = dict.fromkeys(KEYS, PROJECTOR)
"""Procedure key → projector keeping this package's tables in step with its cases."""
