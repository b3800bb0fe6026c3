"""Settings of the cemetery registry (``GUICHET_CEMETERY_*``), read once.

The procedure rules have their own settings in ``settings.py``; these are the registry's:
- occupancy weights (openCimetière's defaults: a coffin takes one place, an urn 0.1, a reduction
  box 0.5 — its documentation also mentions 5 for a coffin: a commune counting differently
  changes them);
- the limits of a registry CSV import.
The terrain commun rotation (R2223-5) is the rules' setting ``terrain_commun_min_years``.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_CEMETERY_", extra="ignore", env_file=None)

    occupancy_coffin: Decimal = Field(
        default=Decimal("1"), gt=0, description="Places taken by a coffin in a grave's capacity."
    )
    occupancy_urn: Decimal = Field(
        default=Decimal("0.1"), gt=0, description="Places taken by an urn in a grave's capacity."
    )
    occupancy_box: Decimal = Field(
        default=Decimal("0.5"),
        gt=0,
        description="Places taken by a reduction box (reliquaire) in a grave's capacity.",
    )
    import_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest registry CSV accepted by the import (API and command line).",
    )
    import_max_rows: int = Field(
        default=200_000, ge=1, description="Most data lines in one registry CSV import."
    )


@lru_cache
def registry_settings() -> RegistrySettings:
    return RegistrySettings()
