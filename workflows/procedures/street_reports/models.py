"""Tables of the `street_reports` procedures (registered in ``services.models``)."""

from __future__ import annotations
