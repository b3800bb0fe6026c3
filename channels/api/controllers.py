"""The JSON intake endpoint for API clients and agents: translates into one IntakeRequest."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from channels.intake import IntakeRequest, submit
from identity.service import TenantCache
from services.kernel.actor import Actor, ActorKind, Scope
from services.kernel.clock import Clock
from services.kernel.policy import agents_or_clients, policy_opt
from workflows.engine.runner import Engine


class IntakeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(
        min_length=1, max_length=60, description="Code INSEE, slug ou id de la collectivité"
    )
    procedure: str = Field(
        min_length=1, max_length=80, description="Clé de la démarche, ex. general.request"
    )
    submitter: dict[str, Any] = Field(description="Le demandeur (R112-9-1 CRPA)")
    payload: dict[str, Any] = Field(
        description="Les données de la demande, selon le schéma de la démarche"
    )
    received_at: datetime | None = Field(
        default=None, description="Date de réception réelle (dépôt papier)"
    )
    received_at_reason: str | None = Field(default=None, max_length=500)
    on_behalf_of: dict[str, Any] | None = None
    channel: str | None = Field(
        default=None,
        description="Agents : counter ou phone (défaut : api)",
        pattern="^(api|counter|phone)$",
    )
    external_ref: str | None = Field(default=None, max_length=200)


class IntakeCreated(BaseModel):
    case_id: uuid.UUID
    reference: str
    state: str
    procedure: str
    definition_version: int
    received_at: datetime
    registered_at: datetime
    aee: dict[str, Any]


class IntakeController(Controller):
    path = "/intake"
    tags = ["Dépôt"]

    @post(
        "/",
        opt=policy_opt(agents_or_clients(Scope.INTAKE_WRITE, description="intake:write / agents")),
        summary="Déposer une demande (la porte unique)",
    )
    async def create(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[IntakeCreate],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
        ] = None,
    ) -> Response[IntakeCreated]:
        channel = data.channel or "api"
        if actor.kind is ActorKind.API_CLIENT:
            channel = "api"
        result = await submit(
            session,
            engine,
            clock,
            IntakeRequest(
                tenant=data.tenant,
                procedure_key=data.procedure,
                channel=channel,  # type: ignore[arg-type]
                submitter=data.submitter,
                payload=data.payload,
                actor=actor,
                received_at=data.received_at,
                received_at_reason=data.received_at_reason,
                on_behalf_of=data.on_behalf_of,
                external_ref=idempotency_key or data.external_ref,
            ),
            tenants=tenants,
        )
        body = IntakeCreated(
            case_id=result.case_id,
            reference=result.reference,
            state=result.state,
            procedure=result.procedure_key,
            definition_version=result.definition_version,
            received_at=result.received_at,
            registered_at=result.registered_at,
            aee=result.aee,
        )
        return Response(body, status_code=201 if result.created else 200)
