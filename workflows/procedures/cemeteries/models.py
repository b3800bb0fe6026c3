"""Tables of the `cemeteries` procedures (registered in ``services.models``)."""

from __future__ import annotations
