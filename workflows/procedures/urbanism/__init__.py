"""Procedure package `urbanism`: autorisations d'urbanisme (DP, PCMI, PC, PA, PD, CUa, CUb and
their follow-ups), instructed on legal dates computed from recorded facts (``timeline``).

``DEFINITIONS`` and ``PROJECTORS`` are loaded by ``workflows.procedures``.
"""

from __future__ import annotations

from workflows.cases.projections import Projector
from workflows.engine.definitions import Definition
from workflows.procedures.urbanism.definitions import build_definitions
from workflows.procedures.urbanism.projector import PROJECTOR

DEFINITIONS: tuple[Definition, ...] = build_definitions()
PROJECTORS: dict[str, Projector] = {d.key: PROJECTOR for d in DEFINITIONS}
