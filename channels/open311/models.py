"""Tables of the Open311 channel (registered in ``services.models``)."""

from __future__ import annotations
