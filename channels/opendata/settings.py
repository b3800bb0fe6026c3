"""Open data settings (``GUICHET_OPENDATA_*``), read once."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpenDataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_OPENDATA_", extra="ignore", env_file=None)

    decimals: int = Field(
        default=3,
        ge=1,
        le=5,
        description=(
            "Decimals kept of a report's latitude and longitude in the open data export: 3 "
            "puts the point on a grid of about 111 m (north-south) by 78 m (east-west) at Lyon's "
            "latitude, enough to find the street, too coarse to point at a front door. 2 ≈ 1 km, "
            "4 ≈ 10 m (not advised: a report made from home would show the home)."
        ),
    )
    export_hour: int = Field(
        default=3,
        ge=0,
        le=23,
        description="Hour (worker's local time) of the daily GeoJSON export.",
    )
    export_minute: int = Field(default=40, ge=0, le=59, description="Minute of the export.")
    cache_seconds: int = Field(
        default=3600,
        ge=0,
        description="Cache-Control max-age of the public export, statistics and photos.",
    )
    licence: str = Field(
        default="Licence Ouverte / Open Licence version 2.0 (Etalab)",
        description="Licence named in the export (the French public sector's default).",
    )
    public_photos: bool = Field(
        default=True,
        description=(
            "Serve the photos of public reports to anyone (the Open311 media_url points there). "
            "False: photos are never served publicly."
        ),
    )


@lru_cache
def opendata_settings() -> OpenDataSettings:
    return OpenDataSettings()
