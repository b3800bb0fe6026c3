"""Route handlers of this package, mounted under /api/v1 by ``services.api.app``."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

from workflows.procedures.urbanism.controllers_actions import UrbanismActionsController
from workflows.procedures.urbanism.controllers_pieces import UrbanismPiecesCatalogueController
from workflows.procedures.urbanism.controllers_views import UrbanismViewsController

CONTROLLERS: Sequence[ControllerRouterHandler] = (
    UrbanismViewsController,
    UrbanismActionsController,
    UrbanismPiecesCatalogueController,
)
