"""The cemetery procedure definitions, built from the settings (silence rules, legal delays).

Keys: ``cemeteries.concession``, ``.renewal``, ``.conversion`` (requests ending with a title),
``.inhumation``, ``.urn_deposit``, ``.exhumation``, ``.dispersion``, ``.works`` (authorisations),
``.reprise`` and ``.abandon`` (opened by the town hall). A change of settings changes the
definitions loaded at start-up; bump a definition's version when its behaviour changes for cases
already open (they stay pinned to the version they were opened with).
"""

from __future__ import annotations

from workflows.engine.definitions import Definition
from workflows.procedures.cemeteries._definitions_concessions import concession_definitions
from workflows.procedures.cemeteries._definitions_operations import operation_definitions
from workflows.procedures.cemeteries._definitions_reprise import (
    abandon_definition,
    reprise_definition,
)
from workflows.procedures.cemeteries.settings import CemeterySettings, cemetery_settings

REQUEST_KEYS = (
    "cemeteries.concession",
    "cemeteries.renewal",
    "cemeteries.conversion",
    "cemeteries.inhumation",
    "cemeteries.urn_deposit",
    "cemeteries.exhumation",
    "cemeteries.dispersion",
    "cemeteries.works",
)
EX_OFFICIO_KEYS = ("cemeteries.reprise", "cemeteries.abandon")
KEYS = (*REQUEST_KEYS, *EX_OFFICIO_KEYS)


def build_definitions(settings: CemeterySettings | None = None) -> tuple[Definition, ...]:
    cfg = settings or cemetery_settings()
    return (
        *concession_definitions(cfg),
        *operation_definitions(cfg),
        reprise_definition(cfg),
        abandon_definition(cfg),
    )
