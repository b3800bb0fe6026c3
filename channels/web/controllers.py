"""The web channel over HTTP: a tenant's online catalogue (public), drafts (signed-in people), and
tracking / claiming a case with its tracking code (no account needed to track). Controllers only
translate; the rules are in ``channels.web.service``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.web import service
from channels.web.service import CatalogueEntry, DraftRead, TenantCatalogue, TrackedCase
from identity.service import TenantCache
from identity.web import client_ip
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.policy import PUBLIC, persons, policy_opt
from workflows.engine.runner import Engine

TenantRef = Annotated[str, PathParameter(min_length=1, max_length=60)]
ProcedureKey = Annotated[str, PathParameter(min_length=1, max_length=80)]


class WebCatalogueController(Controller):
    path = "/tenants/{tenant:str}/demarches"
    tags = ["Démarches en ligne"]

    @get(
        "/",
        opt=policy_opt(PUBLIC),
        summary="Les démarches qu'une collectivité propose en ligne (avec leur schéma JSON)",
    )
    async def list_demarches(
        self,
        session: NamedDependency[AsyncSession],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        tenant: TenantRef,
    ) -> TenantCatalogue:
        return await service.tenant_catalogue(session, engine, tenants, tenant, now=clock.now())

    @get("/{key:str}", opt=policy_opt(PUBLIC), summary="Une démarche proposée en ligne")
    async def get_demarche(
        self,
        session: NamedDependency[AsyncSession],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        tenant: TenantRef,
        key: ProcedureKey,
    ) -> CatalogueEntry:
        info = await service.tenant_info(session, tenants, tenant, now=clock.now())
        return service.catalogue_entry(service.offered_procedure(engine, info, key))


class DraftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=60, description="Code INSEE, slug ou id")
    procedure: str = Field(min_length=1, max_length=80, description="Clé de la démarche")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="Ce qui est saisi (validé seulement au dépôt)"
    )
    submitter: dict[str, Any] = Field(
        default_factory=dict,
        description="Coordonnées pour cette demande : email, phone, postal_address, notification",
    )


class DraftUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = Field(default=None, description="Remplace la saisie")
    submitter: dict[str, Any] | None = Field(default=None, description="Remplace les coordonnées")


class DraftSubmitted(BaseModel):
    case_id: uuid.UUID
    reference: str
    state: str
    procedure: str
    received_at: datetime
    registered_at: datetime
    aee: dict[str, Any]


PEOPLE = policy_opt(persons("signed-in people: their own drafts only"))


class DraftController(Controller):
    path = "/drafts"
    tags = ["Brouillons"]

    @post("/", opt=PEOPLE, summary="Commencer un brouillon de demande")
    async def create_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[DraftCreate],
    ) -> Response[DraftRead]:
        draft = await service.create_draft(
            session,
            engine,
            tenants,
            actor,
            tenant_ref=data.tenant,
            procedure_key=data.procedure,
            payload=data.payload,
            submitter=data.submitter,
            now=clock.now(),
        )
        return Response(service.draft_read(draft), status_code=201)

    @get("/", opt=PEOPLE, summary="Mes brouillons en cours")
    async def list_drafts(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
    ) -> list[DraftRead]:
        drafts = await service.list_drafts(session, actor, now=clock.now())
        return [service.draft_read(d) for d in drafts]

    @get("/{draft_id:uuid}", opt=PEOPLE, summary="Un de mes brouillons")
    async def get_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
    ) -> DraftRead:
        draft = await service.my_draft(session, actor, draft_id, now=clock.now())
        return service.draft_read(draft)

    @patch("/{draft_id:uuid}", opt=PEOPLE, summary="Modifier un brouillon (sans le prolonger)")
    async def update_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[DraftUpdate],
    ) -> DraftRead:
        draft = await service.update_draft(
            session,
            actor,
            draft_id,
            payload=data.payload,
            submitter=data.submitter,
            now=clock.now(),
        )
        return service.draft_read(draft)

    @delete("/{draft_id:uuid}", opt=PEOPLE, status_code=204, summary="Supprimer un brouillon")
    async def delete_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
    ) -> None:
        await service.delete_draft(session, actor, draft_id, now=clock.now())

    @post(
        "/{draft_id:uuid}/submit",
        opt=PEOPLE,
        summary="Déposer le brouillon (la porte unique ; 422 si la saisie est incomplète)",
    )
    async def submit_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        draft_id: FromPath[uuid.UUID],
    ) -> Response[DraftSubmitted]:
        result = await service.submit_draft(session, engine, clock, tenants, actor, draft_id)
        body = DraftSubmitted(
            case_id=result.case_id,
            reference=result.reference,
            state=result.state,
            procedure=result.procedure_key,
            received_at=result.received_at,
            registered_at=result.registered_at,
            aee=result.aee,
        )
        return Response(body, status_code=201)


class TrackingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40, description="Code de suivi reçu au dépôt")
    contact: str = Field(
        min_length=1,
        max_length=254,
        description="L'adresse électronique ou le téléphone donnés au dépôt",
    )


class TrackingController(Controller):
    path = "/suivi"
    tags = ["Suivi sans compte"]

    @post(
        "/",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Suivre une demande avec son code de suivi et le contact donné au dépôt",
    )
    async def track(
        self,
        request: Request[Any, Any, Any],
        state: State,
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        data: JSONBody[TrackingQuery],
    ) -> TrackedCase:
        sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
        return await service.track(
            sessionmaker,
            engine,
            code=data.code,
            contact=data.contact,
            ip=client_ip(request),
            now=clock.now(),
        )

    @post(
        "/claim",
        opt=policy_opt(persons("signed-in people, with the tracking code and the contact")),
        status_code=200,
        summary="Rattacher à mon compte une demande déposée sans compte",
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        state: State,
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        data: JSONBody[TrackingQuery],
    ) -> TrackedCase:
        sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
        return await service.claim(
            sessionmaker,
            engine,
            actor,
            code=data.code,
            contact=data.contact,
            ip=client_ip(request),
            now=clock.now(),
        )
