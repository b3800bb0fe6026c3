"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from channels.einvoice.deposit_controllers import DepositController

CONTROLLERS: Sequence[ControllerRouterHandler] = (DepositController,)
