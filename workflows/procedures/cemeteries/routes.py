"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from workflows.procedures.cemeteries.procedure_controllers import ExOfficioController
from workflows.procedures.cemeteries.registry_controllers import (
    FollowUpController,
    PublicOssuaryController,
    RegistryController,
)

CONTROLLERS: Sequence[ControllerRouterHandler] = (
    RegistryController,
    FollowUpController,
    PublicOssuaryController,
    ExOfficioController,
)
