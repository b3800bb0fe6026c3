"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from channels.street.admin_controllers import StreetAdminController
from channels.street.agent_controllers import StreetAgentController
from channels.street.controllers import StreetReportController

CONTROLLERS: Sequence[ControllerRouterHandler] = (
    StreetReportController,
    StreetAgentController,
    StreetAdminController,
)
