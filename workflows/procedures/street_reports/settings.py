"""Street reports' settings (``GUICHET_STREET_*``), read once."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_STREET_", extra="ignore", env_file=None)

    duplicate_radius_m: float = Field(
        default=250.0,
        gt=0,
        le=5000,
        description=(
            "Open reports of the same category within this distance (metres) are suggested as "
            "possible duplicates (FixMyStreet's 250 m)."
        ),
    )
    reopen_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Days after a report was fixed during which its reporter may reopen it.",
    )
    idempotency_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description=(
            "The same report (same channel/client, category, point rounded to ~1 m, description "
            "and contact) posted again within this window gives back the first case."
        ),
    )


@lru_cache
def street_settings() -> StreetSettings:
    return StreetSettings()
