"""The agents' triage of received mail (``/courriels``) and the tenants' inbound addresses
(``/courriels/adresses``, admins).

Triage: the counter, phone and instruction agents of a tenant see its mails waiting to be sorted,
open the case a mail asks for (``qualifier``: through the one intake door, channel ``mail``), or
answer and close it (``rejeter``: the reply threads under the sender's mail and leaves after
COMMIT).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.mail import service as mails
from channels.models import MailRoute
from documents.storage import storage_from_settings
from identity.service import TenantCache
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, Forbidden, ValidationFailed
from services.kernel.policy import agents, policy_opt
from workflows.engine.runner import Engine

TRIAGE_POLICY = agents(
    Role.COUNTER_AGENT,
    Role.INSTRUCTOR,
    Role.PHONE_AGENT,
    description="agents at the counter, on the phone or instructing: their tenants' mail",
)


class MailItem(BaseModel):
    id: uuid.UUID
    message_id: str
    received_at: datetime
    source: str
    sender: str
    recipient: str
    subject: str
    status: str
    reason: str | None
    case_id: uuid.UUID | None
    tenant_id: uuid.UUID | None


class MailAttachmentItem(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int


class MailDetail(MailItem):
    body_text: str
    attachments: list[MailAttachmentItem]
    decided_by_agent_id: uuid.UUID | None
    decided_at: datetime | None


class QualifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: str = Field(min_length=1, max_length=80, description="Clé de la démarche")
    payload: dict[str, Any] = Field(description="Les données de la demande (schéma de la démarche)")
    submitter: dict[str, Any] | None = Field(
        default=None,
        description="Le demandeur ; par défaut l'expéditeur du courriel (nom tiré de son adresse)",
    )


class QualifyResult(BaseModel):
    mail: MailItem
    case_id: uuid.UUID
    reference: str
    aee: dict[str, Any]


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reply: str = Field(
        min_length=3, max_length=5_000, description="La réponse envoyée à l'expéditeur"
    )


def _item(mail: Any) -> MailItem:
    return MailItem.model_validate(mail, from_attributes=True)


_STATUS_PATTERN = "^(" + "|".join(mails.STATUSES) + ")$"


class MailTriageController(Controller):
    path = "/courriels"
    tags = ["Courriels"]

    @get(
        "/",
        opt=policy_opt(TRIAGE_POLICY),
        summary="Courriels reçus, par statut (à trier par défaut)",
    )
    async def list_mails(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        statut: Annotated[
            str, QueryParameter(pattern=_STATUS_PATTERN, description="triage, rejected…")
        ] = mails.TRIAGE,
        limite: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[MailItem]:
        found = await mails.list_mails(session, actor, status=statut, limit=limite)
        return [_item(m) for m in found]

    @get("/{mail_id:uuid}", opt=policy_opt(TRIAGE_POLICY), summary="Un courriel reçu")
    async def show(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        mail_id: FromPath[uuid.UUID],
    ) -> MailDetail:
        mail = await mails.visible_mail(session, actor, mail_id)
        files = await mails.mail_attachments(session, mail)
        return MailDetail(
            **_item(mail).model_dump(),
            body_text=mail.body_text,
            attachments=[MailAttachmentItem.model_validate(f, from_attributes=True) for f in files],
            decided_by_agent_id=mail.decided_by_agent_id,
            decided_at=mail.decided_at,
        )

    @post(
        "/{mail_id:uuid}/qualifier",
        opt=policy_opt(TRIAGE_POLICY),
        summary="Ouvrir le dossier que demande un courriel (canal courriel)",
    )
    async def qualify(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        mail_id: FromPath[uuid.UUID],
        data: JSONBody[QualifyBody],
    ) -> Response[QualifyResult]:
        mail, result = await mails.qualify(
            session,
            engine,
            clock,
            actor,
            mail_id,
            procedure=data.procedure,
            payload=data.payload,
            submitter=data.submitter,
            tenants=tenants,
            storage=storage_from_settings(),
        )
        body = QualifyResult(
            mail=_item(mail), case_id=result.case_id, reference=result.reference, aee=result.aee
        )
        return Response(body, status_code=201)

    @post(
        "/{mail_id:uuid}/rejeter",
        opt=policy_opt(TRIAGE_POLICY),
        summary="Répondre à un courriel sans ouvrir de dossier",
        status_code=200,
    )
    async def reject(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        mail_id: FromPath[uuid.UUID],
        data: JSONBody[RejectBody],
    ) -> Response[MailItem]:
        # The reply is queued in the outbox by this request's transaction.
        mail, _ = await mails.reject(session, clock, actor, mail_id, reply=data.reply)
        return Response(_item(mail))


# ----- inbound addresses (admins) -------------------------------------------------------------


class RouteItem(BaseModel):
    id: uuid.UUID
    address: str
    tenant_id: uuid.UUID
    procedure_key: str | None
    active: bool


class RouteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenant_id: uuid.UUID
    address: str = Field(max_length=254, pattern=r"^[^@\s+]+@[^@\s]+\.[^@\s]+$")
    procedure: str | None = Field(
        default=None,
        max_length=80,
        description="Démarche ouverte par les courriels reçus ; vide : tout va au tri",
    )


ADMIN_POLICY = agents(Role.ADMIN, description="tenant admins: their inbound mail addresses")


def _admin_tenants(actor: Actor) -> frozenset[uuid.UUID]:
    return frozenset(t for t, roles in actor.roles.items() if Role.ADMIN.value in roles)


class MailRouteController(Controller):
    path = "/courriels/adresses"
    tags = ["Courriels"]

    @get("/", opt=policy_opt(ADMIN_POLICY), summary="Adresses de réception des collectivités")
    async def list_routes(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[RouteItem]:
        tenant_ids = _admin_tenants(actor)
        routes = await session.scalars(
            select(MailRoute).where(MailRoute.tenant_id.in_(tenant_ids)).order_by(MailRoute.address)
        )
        return [RouteItem.model_validate(r, from_attributes=True) for r in routes]

    @post("/", opt=policy_opt(ADMIN_POLICY), summary="Ajouter une adresse de réception")
    async def create_route(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        data: JSONBody[RouteCreate],
    ) -> RouteItem:
        if data.tenant_id not in _admin_tenants(actor):
            raise Forbidden(
                "Vous n'administrez pas cette collectivité : choisissez une collectivité dont "
                "vous êtes administrateur."
            )
        if data.procedure is not None:
            try:
                engine.procedures.get(data.procedure)
            except Exception:  # noqa: BLE001 - NotFound from the registry
                raise ValidationFailed(
                    f"La démarche « {data.procedure} » n'existe pas.",
                    errors=[
                        {"field": "procedure", "message": "démarche inconnue", "type": "unknown"}
                    ],
                ) from None
        route = MailRoute(
            address=data.address.lower(),
            tenant_id=data.tenant_id,
            procedure_key=data.procedure,
            active=True,
        )
        try:
            async with session.begin_nested():
                session.add(route)
                await session.flush()
        except IntegrityError:
            raise Conflict(
                f"L'adresse {data.address} est déjà utilisée : choisissez-en une autre."
            ) from None
        return RouteItem.model_validate(route, from_attributes=True)
