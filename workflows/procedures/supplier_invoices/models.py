"""Tables of the `supplier_invoices` procedures (registered in ``services.models``)."""

from __future__ import annotations
