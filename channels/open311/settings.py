"""Settings of the Open311 GeoReport v2 channel (environment ``GUICHET_OPEN311_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Open311Settings(BaseSettings):
    """What the discovery document says and which jurisdiction answers when none is given."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_OPEN311_", extra="ignore", env_file=None)

    default_jurisdiction: str | None = Field(
        default=None,
        description=(
            "INSEE code or slug of the tenant that answers when a request carries no "
            "jurisdiction_id. Unset: the only tenant of kind 'metropole' (400 when there are "
            "none or several)."
        ),
    )
    endpoint_type: Literal["production", "test"] = Field(
        default="production", description="The discovery endpoint's type (production or test)."
    )
    contact: str | None = Field(
        default=None,
        description=(
            "Contact shown in the discovery document. Unset: the jurisdiction's name, e-mail "
            "and phone."
        ),
    )
    key_service: str = Field(
        default=(
            "Clé api_key délivrée par l'administrateur de la collectivité "
            "(POST /api/v1/admin/open311/keys)."
        ),
        description="How an application gets an api_key (discovery 'key_service').",
    )


@lru_cache(maxsize=1)
def open311_settings() -> Open311Settings:
    return Open311Settings()
