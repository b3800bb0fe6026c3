"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from workflows.procedures.supplier_invoices._controllers_reference import ReferenceDataController
from workflows.procedures.supplier_invoices.controllers import (
    SupplierInvoiceController,
    SupplierPortalController,
)

CONTROLLERS: Sequence[ControllerRouterHandler] = (
    SupplierPortalController,
    SupplierInvoiceController,
    ReferenceDataController,
)
