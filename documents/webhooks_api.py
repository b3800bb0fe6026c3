"""Admin API of outbound webhooks: subscribe, list, unsubscribe, and every delivery attempt.

Only agents with the ``admin`` role in the tenant; another tenant's subscriptions answer 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from documents import webhooks
from documents.models import WebhookSubscription
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.policy import agents, policy_opt

ADMIN = policy_opt(agents(Role.ADMIN, description="agents with the admin role in the tenant"))

SIGNATURE_DOC = (
    "Chaque envoi est un POST JSON signé : en-tête `X-Guichet-Signature: t=<horodatage unix>,"
    "v1=<HMAC-SHA256 hexadécimal>` calculé avec le secret de l'abonnement sur "
    "`<horodatage>.<corps brut>`. Le destinataire recalcule la signature sur le corps reçu, la "
    "compare en temps constant, et refuse un horodatage de plus de 5 minutes (rejeu). "
    "Un envoi peut arriver deux fois : dédoublonnez sur `id` (= `X-Guichet-Delivery`). "
    "Une réponse 2xx vaut réception ; toute autre réponse ou l'absence de réponse est retentée "
    "avec un délai croissant, puis abandonnée (statut `failed`)."
)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: uuid.UUID = Field(
        description="La collectivité abonnée (vous en êtes administrateur)"
    )
    url: str = Field(
        min_length=1, max_length=2000, description="Adresse http(s) qui reçoit les événements"
    )
    event_kinds: list[str] = Field(
        default_factory=list,
        max_length=webhooks.MAX_KINDS,
        description=(
            "Types d'événements voulus (ex. case.opened, case.transitioned). Liste vide : tous "
            "les événements publics ; un événement interne n'est envoyé que si son type est listé."
        ),
    )


class WebhookRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    event_kinds: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, s: WebhookSubscription) -> WebhookRead:
        return cls(
            id=s.id,
            tenant_id=s.tenant_id,
            url=s.url,
            event_kinds=list(s.event_kinds.get("kinds") or []),
            active=s.active,
            created_at=s.created_at,
        )


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="Secret de signature, montré cette seule fois : conservez-le en lieu sûr."
    )


class WebhookList(BaseModel):
    items: list[WebhookRead]


class DeliveryRead(BaseModel):
    id: uuid.UUID
    delivery_id: uuid.UUID = Field(description="Identifiant de l'envoi (X-Guichet-Delivery)")
    event_id: uuid.UUID
    event_kind: str
    attempt: int = Field(description="Numéro de la tentative, à partir de 1")
    status_code: int | None = Field(description="Code HTTP reçu (aucun si pas de réponse)")
    error: str | None
    duration_ms: int
    at: datetime
    delivery_status: str = Field(
        description="enqueued (nouvel essai prévu), done (reçu), failed (abandonné)"
    )


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]

    @post(
        "/",
        opt=ADMIN,
        summary="Abonner une adresse aux événements des dossiers",
        description=SIGNATURE_DOC,
    )
    async def create(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[WebhookCreate],
    ) -> WebhookCreated:
        created = await webhooks.create_subscription(
            session,
            actor,
            tenant_id=data.tenant_id,
            url=data.url,
            kinds=data.event_kinds,
            now=clock.now(),
        )
        return WebhookCreated(
            **WebhookRead.of(created.subscription).model_dump(), secret=created.secret
        )

    @get("/", opt=ADMIN, summary="Les abonnements des collectivités que vous administrez")
    async def list_webhooks(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tenant_id: FromQuery[uuid.UUID | None] = None,
    ) -> WebhookList:
        rows = await webhooks.list_subscriptions(session, actor, tenant_id)
        return WebhookList(items=[WebhookRead.of(s) for s in rows])

    @delete(
        "/{subscription_id:uuid}",
        opt=ADMIN,
        status_code=204,
        summary="Désabonner (plus aucun envoi, même les nouveaux essais)",
    )
    async def deactivate(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        subscription_id: FromPath[uuid.UUID],
    ) -> None:
        await webhooks.deactivate_subscription(session, actor, subscription_id, now=clock.now())

    @get(
        "/{subscription_id:uuid}/deliveries",
        opt=ADMIN,
        summary="Chaque tentative d'envoi, la plus récente d'abord",
    )
    async def deliveries(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        subscription_id: FromPath[uuid.UUID],
        limit: Annotated[int, QueryParameter(ge=1, le=webhooks.MAX_PAGE)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> DeliveryPage:
        items, total = await webhooks.list_attempts(
            session, actor, subscription_id, limit=limit, offset=offset
        )
        return DeliveryPage(
            items=[
                DeliveryRead(
                    id=i.attempt.id,
                    delivery_id=i.attempt.outbox_id,
                    event_id=i.attempt.event_id,
                    event_kind=i.event_kind,
                    attempt=i.attempt.attempt,
                    status_code=i.attempt.status_code,
                    error=i.attempt.error,
                    duration_ms=i.attempt.duration_ms,
                    at=i.attempt.at,
                    delivery_status=i.delivery_status,
                )
                for i in items
            ],
            total=total,
            limit=limit,
            offset=offset,
        )
