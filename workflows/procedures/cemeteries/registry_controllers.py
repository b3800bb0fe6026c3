"""The cemetery registry's HTTP API (agents), its follow-up views, tariffs, import/export, and
the public ossuary register. Mounted by ``routes.CONTROLLERS`` under ``/api/v1``:

- ``/cimetieres/{insee}`` — cemeteries; ``/emplacements`` (list, create, one, ``/historique``);
  ``/concessions`` (list, record, one, ``/personnes``); ``/operations``; ``/defunts/{id}``;
- ``/cimetieres/{insee}/tarifs`` (list, create, ``/en-vigueur``); ``/vues/places-libres``,
  ``/vues/echeances?mois=N``, ``/vues/echues[?au-dela=true]``, ``/vues/abandons`` (each with
  ``?format=csv``); ``/registre/import[?essai=true]`` (raw CSV body), ``/registre/export``;
- ``/cimetieres/{insee}/ossuaire/registre`` — public.
"""

from __future__ import annotations

from workflows.procedures.cemeteries._controllers_follow import (
    FollowUpController,
    PublicOssuaryController,
)
from workflows.procedures.cemeteries._controllers_registry import RegistryController

__all__ = ["FollowUpController", "PublicOssuaryController", "RegistryController"]
