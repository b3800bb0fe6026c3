"""The procedures Guichet runs, and the engine that runs them.

``build_engine`` registers the built-in actions, loads every procedure (checked at load: a wrong
definition stops start-up) and then any extension named in ``GUICHET_EXTRA_PROCEDURES``
("module:function" items, comma-separated; each function receives the Engine).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from services.kernel.actor import KNOWN_ROLES
from workflows.cases import projections
from workflows.engine.actions import default_action_registry
from workflows.engine.runner import Engine
from workflows.procedures import (
    cemeteries,
    general,
    street_reports,
    supplier_invoices,
    urbanism,
)

CORE_DEFINITIONS = (
    general.DEFINITION,
    *street_reports.DEFINITIONS,
    *cemeteries.DEFINITIONS,
    *supplier_invoices.DEFINITIONS,
    *urbanism.DEFINITIONS,
)

for _package in (street_reports, cemeteries, supplier_invoices, urbanism):
    for _key, _projector in _package.PROJECTORS.items():
        projections.register(_key, _projector)


def load_extension(spec: str) -> Callable[[Engine], None]:
    module_name, _, attr = spec.strip().partition(":")
    if not module_name or not attr:
        raise ValueError(f"extension {spec!r} must read 'module:function'")
    fn: Callable[[Engine], None] = getattr(importlib.import_module(module_name), attr)
    return fn


def build_engine(extensions: Iterable[str] = ()) -> Engine:
    engine = Engine(actions=default_action_registry(), known_roles=KNOWN_ROLES)
    for definition in CORE_DEFINITIONS:
        engine.load(definition)
    for spec in extensions:
        if spec.strip():
            load_extension(spec)(engine)
    return engine
