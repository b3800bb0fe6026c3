"""Registry CSV import and export (format and columns: ``_csv_format``'s docstring).

``import_registry(session, tenant_id, data, now=, dry_run=False, progress=None) -> ImportReport``
validates everything first and writes nothing unless the whole file is right (one transaction);
``export_registry(session, tenant_id) -> str`` writes the same columns.
"""

from __future__ import annotations

from workflows.procedures.cemeteries._csv_export import csv_text, export_registry
from workflows.procedures.cemeteries._csv_format import COLUMNS, RECORD_TYPES, LineError
from workflows.procedures.cemeteries._csv_import import ImportReport, read_rows
from workflows.procedures.cemeteries._csv_write import import_registry

__all__ = [
    "COLUMNS",
    "RECORD_TYPES",
    "ImportReport",
    "LineError",
    "csv_text",
    "export_registry",
    "import_registry",
    "read_rows",
]
