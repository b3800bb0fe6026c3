"""Procedure package `cemeteries`: definitions, payload schemas, rules and data."""

from __future__ import annotations

from workflows.engine.definitions import Definition

DEFINITIONS: tuple[Definition, ...] = ()
"""Loaded by ``workflows.procedures.build_engine``."""
