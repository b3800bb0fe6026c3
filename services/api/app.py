"""Composition root: ``create_app()`` wires everything, with no side effect at import."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.router import Router
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from channels.api.controllers import IntakeController
from channels.attachments.controllers import AttachmentController
from channels.counter.controllers import CounterController
from channels.einvoice.routes import CONTROLLERS as EINVOICE_CONTROLLERS
from channels.mail.controllers import MailRouteController, MailTriageController
from channels.open311.routes import CONTROLLERS as OPEN311_CONTROLLERS
from channels.opendata.routes import CONTROLLERS as OPENDATA_CONTROLLERS
from channels.street.routes import CONTROLLERS as STREET_CONTROLLERS
from channels.urbanism.controllers import UrbanismPiecesController
from channels.web.controllers import DraftController, TrackingController, WebCatalogueController
from documents.controllers import DocumentController
from documents.mail import DirectMailer, transport_for
from documents.notifications_api import PrintQueueController
from documents.storage import DocumentStorage, storage_from_settings
from documents.webhooks_api import WebhookController
from identity.admin_controllers import AdminController
from identity.controllers import AuthController
from identity.guards import ACTOR_STATE_KEY, enforce_policy
from identity.local_controllers import LocalAccountController
from identity.oidc import OidcClient, ProviderConfig, provider_configs_from_settings
from identity.oidc_controllers import FederationController, RelinkAdminController
from identity.service import IdentityDirectory, TenantCache, TokenCache
from services.api.denials import journal_denial
from services.api.me import MeController
from services.api.middleware import request_id_middleware
from services.api.problems import EXCEPTION_HANDLERS
from services.kernel.actor import Actor
from services.kernel.clock import Clock, SystemClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.errors import Unauthenticated, Unavailable
from services.kernel.logging import configure_logging
from services.kernel.policy import PUBLIC, policy_opt
from services.kernel.ports import AgentDirectory, Mailer
from services.kernel.settings import (
    api_settings,
    database_settings,
    effective_database_url,
    engine_settings,
    path_settings,
    redis_settings,
    smtp_settings,
)
from workflows.cases.controllers import CaseController, ProcedureController
from workflows.engine.runner import Engine
from workflows.procedures import build_engine
from workflows.procedures.cemeteries.routes import CONTROLLERS as CEMETERY_CONTROLLERS
from workflows.procedures.street_reports.routes import CONTROLLERS as STREET_REPORT_CONTROLLERS
from workflows.procedures.supplier_invoices.routes import CONTROLLERS as INVOICE_CONTROLLERS
from workflows.procedures.urbanism.routes import CONTROLLERS as URBANISM_CONTROLLERS


@dataclass
class AppConfig:
    """What the app needs; every field defaults from settings."""

    database_url: str | None = None
    redis_url: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    engine: Engine | None = None
    max_body_bytes: int | None = None
    storage: DocumentStorage | None = None
    """Where documents are read from; unset: from GUICHET_STORAGE_URL (storage_from_settings)."""
    mailer: Mailer | None = None
    oidc_providers: Sequence[ProviderConfig] | None = None
    """FranceConnect / ProConnect registrations; unset: from GUICHET_FRANCECONNECT_* and
    GUICHET_PROCONNECT_* settings."""
    """Sends sign-in links and codes at once; unset: SMTP or .eml files, like notifications."""


async def provide_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    actor = request.state.get(ACTOR_STATE_KEY)
    if not isinstance(actor, Actor):
        raise Unauthenticated("Authentification requise.")
    return actor


def provide_engine(state: State) -> Engine:
    engine: Engine = state.engine
    return engine


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def provide_tenants(state: State) -> TenantCache:
    cache: TenantCache = state.tenant_cache
    return cache


def provide_mailer(state: State) -> Mailer:
    mailer: Mailer = state.mailer
    return mailer


def provide_directory() -> AgentDirectory:
    return IdentityDirectory()


@get("/health", opt=policy_opt(PUBLIC), tags=["Santé"], summary="Vivant ?")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", opt=policy_opt(PUBLIC), tags=["Santé"], summary="Prêt ? (base de données et Redis)")
async def ready(state: State) -> dict[str, str]:
    checks: dict[str, str] = {}
    db: AsyncEngine = state.db_engine
    try:
        async with db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"erreur : {type(exc).__name__}"
    redis: Redis[bytes] | None = state.redis
    if redis is None:
        checks["redis"] = "non configuré"
    else:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"erreur : {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        raise Unavailable(
            "Guichet n'est pas prêt : " + ", ".join(f"{k} {v}" for k, v in checks.items()),
            extra={"checks": checks},
        )
    return {"status": "ok", **checks}


def create_app(config: AppConfig | None = None) -> Litestar:
    cfg = config or AppConfig()
    settings = api_settings()
    database_url = cfg.database_url or effective_database_url()
    redis_url = cfg.redis_url or redis_settings().redis_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if not structlog.is_configured():
            configure_logging()
        db = make_engine(
            database_url,
            echo=database_settings().database_echo,
            pool_size=database_settings().database_pool_size,
        )
        app.state.db_engine = db
        app.state.sessionmaker = make_sessionmaker(db)
        app.state.clock = cfg.clock
        app.state.engine = cfg.engine or build_engine(engine_settings().extensions())
        app.state.storage = cfg.storage or storage_from_settings()
        app.state.mailer = cfg.mailer or DirectMailer(
            transport_for(smtp_settings(), path_settings().data_dir),
            smtp_settings().smtp_from,
            cfg.clock,
        )
        app.state.redis = Redis.from_url(redis_url) if redis_url else None
        providers = (
            list(cfg.oidc_providers)
            if cfg.oidc_providers is not None
            else list(provider_configs_from_settings().values())
        )
        app.state.oidc_clients = {p.name: OidcClient(p, now=cfg.clock.now) for p in providers}
        app.state.token_cache = TokenCache(ttl=timedelta(seconds=settings.auth_cache_seconds))
        app.state.tenant_cache = TenantCache(ttl=timedelta(seconds=settings.tenant_cache_seconds))
        try:
            yield
        finally:
            for client in app.state.oidc_clients.values():
                await client.aclose()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await db.dispose()

    api = Router(
        path="/api/v1",
        route_handlers=[
            AuthController,
            FederationController,
            RelinkAdminController,
            AdminController,
            LocalAccountController,
            IntakeController,
            CounterController,
            CaseController,
            ProcedureController,
            WebhookController,
            PrintQueueController,
            DocumentController,
            MeController,
            AttachmentController,
            WebCatalogueController,
            DraftController,
            TrackingController,
            MailTriageController,
            MailRouteController,
            *STREET_REPORT_CONTROLLERS,
            *STREET_CONTROLLERS,
            *OPEN311_CONTROLLERS,
            *OPENDATA_CONTROLLERS,
            *CEMETERY_CONTROLLERS,
            *EINVOICE_CONTROLLERS,
            UrbanismPiecesController,
            *INVOICE_CONTROLLERS,
            *URBANISM_CONTROLLERS,
        ],
    )
    app = Litestar(
        route_handlers=[health, ready, api],
        lifespan=[lifespan],
        guards=[enforce_policy],
        dependencies={
            "session": Provide(provide_session),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "engine": Provide(provide_engine, sync_to_thread=False),
            "clock": Provide(provide_clock, sync_to_thread=False),
            "directory": Provide(provide_directory, sync_to_thread=False),
            "tenants": Provide(provide_tenants, sync_to_thread=False),
            "mailer": Provide(provide_mailer, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        after_exception=[journal_denial],
        request_max_body_size=cfg.max_body_bytes or settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Guichet",
            version="0.1.0",
            description="Guichet unique multicanal : dépôt, dossiers, démarches.",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="opaque")
                }
            ),
            security=[{"bearer": []}],
            openapi_router=Router(path="/schema", route_handlers=[], opt=policy_opt(PUBLIC)),
            render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin(path="/openapi.json")],
        ),
        opt={},
        debug=False,
        logging_config=None,
    )
    # Outside the router, so that 404/405 for unknown paths also get an X-Request-ID (route
    # middleware only wraps matched handlers).
    app.asgi_handler = request_id_middleware(app.asgi_handler)
    return app
