"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from channels.open311.admin_controllers import Open311KeyAdminController
from channels.open311.controllers import open311_router

CONTROLLERS: Sequence[ControllerRouterHandler] = (open311_router, Open311KeyAdminController)
