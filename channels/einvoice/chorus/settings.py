"""Settings of the Chorus Pro connector (``GUICHET_CHORUS_*``). Nothing secret has a default:
the PISTE application and the Chorus Pro technical account are the deployment's (README)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_TOKEN_URL = "https://sandbox-oauth.piste.gouv.fr/api/oauth/token"
SANDBOX_API_URL = "https://sandbox-api.piste.gouv.fr"
PRODUCTION_TOKEN_URL = "https://oauth.piste.gouv.fr/api/oauth/token"
PRODUCTION_API_URL = "https://api.piste.gouv.fr"


class ChorusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_CHORUS_", extra="ignore", env_file=None)

    token_url: str = Field(
        default=SANDBOX_TOKEN_URL,
        description="PISTE OAuth2 token endpoint (client credentials). Production: "
        f"{PRODUCTION_TOKEN_URL}.",
    )
    api_base_url: str = Field(
        default=SANDBOX_API_URL,
        description=f"PISTE API gateway; paths start with /cpro/. Production: {PRODUCTION_API_URL}.",
    )
    client_id: str = Field(default="", description="PISTE application client id.")
    client_secret: SecretStr = Field(default=SecretStr(""), description="PISTE client secret.")
    login: str = Field(default="", description="Chorus Pro technical account login.")
    password: SecretStr = Field(
        default=SecretStr(""), description="Chorus Pro technical account password."
    )
    user_id: int | None = Field(
        default=None,
        description="idUtilisateurCourant sent with the calls that take it [unverified: "
        "optional for a technical account].",
    )
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10, description="Tries per call (5xx, 429).")
    backoff_seconds: float = Field(
        default=1.0, ge=0, description="First wait between tries, doubled each time."
    )
    page_size: int = Field(default=50, ge=1, le=500)
    first_pull_days: int = Field(
        default=90, ge=1, le=3650, description="How far back the first pull of a SIRET looks."
    )
    download_format: str = Field(
        default="ZIP",
        max_length=20,
        description="telecharger/groupe ``format`` [unverified value list: XML, PDF, ZIP, PIVOT].",
    )
    max_download_bytes: int = Field(
        default=120 * 1024 * 1024,
        ge=1024,
        description="Largest file accepted from a download (Chorus Pro: 120 MB per invoice).",
    )

    @property
    def configured(self) -> bool:
        return bool(
            self.client_id
            and self.client_secret.get_secret_value()
            and self.login
            and self.password.get_secret_value()
        )
