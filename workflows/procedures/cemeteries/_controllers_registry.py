"""Agents' registry API: cemeteries, places, concessions, parties, operations, a place's history.

Under ``/api/v1/cimetieres/{insee}``. The tenant is the commune in the path; an agent without a
role there gets 404 (as for an object of another commune). Controllers only translate.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import NotFound
from workflows.procedures.cemeteries import registry
from workflows.procedures.cemeteries._controllers_common import (
    READ,
    WRITE,
    WRITE_ROLES,
    Insee,
    tenant_for,
)
from workflows.procedures.cemeteries.models import CemeteryPlace, Concession, PlaceType


class PlaceCreate(registry.PlaceIn):
    cemetery_id: uuid.UUID


class PlacePage(BaseModel):
    items: list[registry.PlaceRead]
    total: int
    limit: int
    offset: int


class ConcessionPage(BaseModel):
    items: list[registry.ConcessionRead]
    total: int


class OperationResult(BaseModel):
    operation: registry.OperationRead
    deceased: registry.DeceasedRead | None


Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Nombre au plus")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="À partir de")]


class RegistryController(Controller):
    path = "/cimetieres/{insee:str}"
    tags = ["Cimetières : registre"]

    @get("/", opt=READ, summary="Les cimetières de la commune")
    async def list_cemeteries(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> list[registry.CemeteryRead]:
        tenant = await tenant_for(session, actor, insee)
        rows = await registry.list_cemeteries(session, tenant)
        return [registry.CemeteryRead.model_validate(c) for c in rows]

    @post("/", opt=WRITE, status_code=201, summary="Enregistrer un cimetière")
    async def create_cemetery(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[registry.CemeteryIn],
    ) -> registry.CemeteryRead:
        tenant = await tenant_for(session, actor, insee, WRITE_ROLES)
        row = await registry.create_cemetery(session, tenant, data, now=clock.now())
        return registry.CemeteryRead.model_validate(row)

    @get("/emplacements", opt=READ, summary="Les emplacements (filtres : cimetière, type, état)")
    async def list_places(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        cimetiere: Annotated[uuid.UUID | None, QueryParameter(description="Cimetière")] = None,
        type_: Annotated[
            PlaceType | None, QueryParameter(name="type", description="Type d'emplacement")
        ] = None,
        statut: Annotated[
            str | None,
            QueryParameter(pattern="^(libre|attribuee|occupee|indisponible)$", description="État"),
        ] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PlacePage:
        tenant = await tenant_for(session, actor, insee)
        stmt = select(CemeteryPlace).where(CemeteryPlace.tenant_id == tenant)
        if cimetiere is not None:
            stmt = stmt.where(CemeteryPlace.cemetery_id == cimetiere)
        if type_ is not None:
            stmt = stmt.where(CemeteryPlace.place_type == type_.value)
        if statut is not None:
            stmt = stmt.where(CemeteryPlace.status == statut)
        rows = (await session.scalars(stmt.order_by(CemeteryPlace.created_at))).all()
        page = rows[offset : offset + limit]
        return PlacePage(
            items=await registry.place_reads(session, page),
            total=len(rows),
            limit=limit,
            offset=offset,
        )

    @post("/emplacements", opt=WRITE, status_code=201, summary="Enregistrer un emplacement")
    async def create_place(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[PlaceCreate],
    ) -> registry.PlaceRead:
        tenant = await tenant_for(session, actor, insee, WRITE_ROLES)
        place_in = registry.PlaceIn.model_validate(data.model_dump(exclude={"cemetery_id"}))
        place = await registry.create_place(
            session, tenant, data.cemetery_id, place_in, now=clock.now()
        )
        return (await registry.place_reads(session, [place]))[0]

    @get("/emplacements/{place_id:uuid}", opt=READ, summary="Un emplacement et son occupation")
    async def get_place(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        place_id: FromPath[uuid.UUID],
    ) -> registry.PlaceRead:
        tenant = await tenant_for(session, actor, insee)
        place = await registry.get_place(session, tenant, place_id)
        return (await registry.place_reads(session, [place]))[0]

    @get(
        "/emplacements/{place_id:uuid}/historique",
        opt=READ,
        summary="L'historique complet d'un emplacement (concessions, défunts, opérations)",
    )
    async def place_history(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        place_id: FromPath[uuid.UUID],
    ) -> registry.PlaceHistory:
        tenant = await tenant_for(session, actor, insee)
        return await registry.place_history(session, tenant, place_id)

    @get("/concessions", opt=READ, summary="Les concessions (par numéro ou par état)")
    async def list_concessions(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        numero: Annotated[str | None, QueryParameter(max_length=40)] = None,
        statut: Annotated[str | None, QueryParameter(max_length=30)] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> ConcessionPage:
        tenant = await tenant_for(session, actor, insee)
        stmt = select(Concession).where(Concession.tenant_id == tenant)
        if numero is not None:
            stmt = stmt.where(Concession.number == numero)
        if statut is not None:
            stmt = stmt.where(Concession.status == statut)
        rows = (await session.scalars(stmt.order_by(Concession.number))).all()
        items = [await registry.concession_read(session, c) for c in rows[offset : offset + limit]]
        return ConcessionPage(items=items, total=len(rows))

    @post(
        "/concessions",
        opt=WRITE,
        status_code=201,
        summary="Inscrire une concession au registre (emplacement libre ; l'un gagne si deux "
        "agents attribuent le même emplacement en même temps)",
    )
    async def attribute(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[registry.ConcessionIn],
    ) -> registry.ConcessionRead:
        tenant = await tenant_for(session, actor, insee, WRITE_ROLES)
        row = await registry.attribute_concession(session, tenant, data, now=clock.now())
        return await registry.concession_read(session, row)

    @get("/concessions/{concession_id:uuid}", opt=READ, summary="Une concession et ses ayants")
    async def get_concession(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        concession_id: FromPath[uuid.UUID],
    ) -> registry.ConcessionRead:
        tenant = await tenant_for(session, actor, insee)
        row = await registry.get_concession(session, tenant, concession_id)
        return await registry.concession_read(session, row)

    @post(
        "/concessions/{concession_id:uuid}/personnes",
        opt=WRITE,
        status_code=201,
        summary="Ajouter un titulaire (indivision), un ayant droit ou un bénéficiaire",
    )
    async def add_party(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        concession_id: FromPath[uuid.UUID],
        data: JSONBody[registry.PartyIn],
    ) -> registry.ConcessionRead:
        tenant = await tenant_for(session, actor, insee, WRITE_ROLES)
        await registry.add_party(session, tenant, concession_id, data, now=clock.now())
        row = await registry.get_concession(session, tenant, concession_id)
        return await registry.concession_read(session, row)

    @post(
        "/operations",
        opt=WRITE,
        status_code=201,
        summary="Inscrire une opération funéraire (capacité, terrain commun R2223-5 vérifiés)",
    )
    async def record_operation(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[registry.OperationIn],
    ) -> OperationResult:
        tenant = await tenant_for(session, actor, insee, WRITE_ROLES)
        op = await registry.record_operation(
            session, tenant, data, now=clock.now(), actor_id=actor.id
        )
        dead = (
            await registry.get_deceased(session, tenant, op.deceased_id) if op.deceased_id else None
        )
        return OperationResult(
            operation=registry.OperationRead.model_validate(op),
            deceased=registry.DeceasedRead.model_validate(dead) if dead else None,
        )

    @get("/defunts/{deceased_id:uuid}", opt=READ, summary="Un défunt et son emplacement")
    async def get_deceased(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        deceased_id: FromPath[uuid.UUID],
    ) -> registry.DeceasedRead:
        tenant = await tenant_for(session, actor, insee)
        try:
            row = await registry.get_deceased(session, tenant, deceased_id)
        except NotFound:
            raise NotFound(registry.DECEASED_NOT_FOUND) from None
        return registry.DeceasedRead.model_validate(row)
