"""Tenant administrators: turn street reports on, set the territory, manage categories,
departments and their members (``/signalements/admin/{collectivite}/…``). Another tenant's
administrator gets 404."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.street.setup import enable_street_reports
from identity.models import Agent, Tenant
from identity.service import agent_actor, get_tenant
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, HiddenDenial, NotFound, ValidationFailed
from services.kernel.policy import agents, policy_opt
from services.kernel.validation import french_errors
from workflows.procedures.street_reports.categories import (
    checked_attributes,
    get_category,
    get_department,
    list_categories,
    list_departments,
)
from workflows.procedures.street_reports.location import set_boundary
from workflows.procedures.street_reports.models import (
    StreetCategory,
    StreetDepartment,
    StreetDepartmentMember,
)

ADMIN = policy_opt(agents(Role.ADMIN, description="the tenant's administrators"))
HIDDEN = "Collectivité introuvable (ou hors de celles que vous administrez)."


async def _tenant(session: AsyncSession, actor: Actor, ref: str) -> Tenant:
    try:
        tenant = await get_tenant(session, ref)
    except NotFound:
        raise HiddenDenial(HIDDEN) from None
    if Role.ADMIN.value not in actor.roles_in(tenant.id):
        raise HiddenDenial(HIDDEN)
    return tenant


class CategoryWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f/]+$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    group: str = Field(default="", max_length=100)
    keywords: str = Field(default="", max_length=300)
    department: str = Field(min_length=1, max_length=60, description="Code du service")
    sla_working_days: int = Field(ge=0, le=365)
    attributes: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    position: int = Field(default=0, ge=0, le=10_000)


class CategoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    group: str | None = Field(default=None, max_length=100)
    keywords: str | None = Field(default=None, max_length=300)
    department: str | None = Field(default=None, min_length=1, max_length=60)
    sla_working_days: int | None = Field(default=None, ge=0, le=365)
    attributes: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    position: int | None = Field(default=None, ge=0, le=10_000)
    active: bool | None = None


class CategoryAdminRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    description: str
    group: str
    keywords: str
    department: str
    sla_working_days: int
    attributes: list[dict[str, Any]]
    position: int
    active: bool
    updated_at: datetime


class DepartmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    email: str | None
    active: bool
    members: list[uuid.UUID]


class MemberWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID


class BoundaryWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    geojson: dict[str, Any]


class BoundaryRead(BaseModel):
    tenant_id: uuid.UUID
    updated_at: datetime
    digest: str


def _attributes(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return checked_attributes(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            "Les attributs de la catégorie sont invalides.",
            errors=french_errors(exc, prefix="attributes"),
        ) from None
    except ValueError as exc:
        raise ValidationFailed(
            f"Les attributs de la catégorie sont invalides : {exc}.",
            errors=[{"field": "attributes", "message": str(exc), "type": "attributes"}],
        ) from None


async def _category_read(session: AsyncSession, c: StreetCategory) -> CategoryAdminRead:
    department = await session.get(StreetDepartment, c.department_id)
    return CategoryAdminRead(
        id=c.id,
        code=c.code,
        name=c.name,
        description=c.description,
        group=c.group,
        keywords=c.keywords,
        department=department.code if department else "",
        sla_working_days=c.sla_working_days,
        attributes=list(c.attributes),
        position=c.position,
        active=c.active,
        updated_at=c.updated_at,
    )


async def _department_read(session: AsyncSession, d: StreetDepartment) -> DepartmentRead:
    members = list(
        await session.scalars(
            select(StreetDepartmentMember.agent_id).where(
                StreetDepartmentMember.department_id == d.id
            )
        )
    )
    return DepartmentRead(
        id=d.id, code=d.code, name=d.name, email=d.email, active=d.active, members=members
    )


class StreetAdminController(Controller):
    path = "/signalements/admin/{collectivite:str}"
    tags = ["Signalements (administration)"]

    @post("/activer", opt=ADMIN, status_code=200, summary="Ouvrir les signalements")
    async def enable(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        collectivite: FromPath[str],
    ) -> list[CategoryAdminRead]:
        tenant = await _tenant(session, actor, collectivite)
        done = await enable_street_reports(session, tenant, clock.now())
        return [await _category_read(session, c) for c in done]

    @put("/territoire", opt=ADMIN, status_code=200, summary="Définir le territoire (GeoJSON)")
    async def boundary(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        collectivite: FromPath[str],
        data: JSONBody[BoundaryWrite],
    ) -> BoundaryRead:
        tenant = await _tenant(session, actor, collectivite)
        row = await set_boundary(session, tenant.id, data.geojson, now=clock.now())
        return BoundaryRead(tenant_id=tenant.id, updated_at=row.updated_at, digest=row.digest)

    @get("/categories", opt=ADMIN, summary="Catégories (actives ou non)")
    async def categories(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        collectivite: FromPath[str],
    ) -> list[CategoryAdminRead]:
        tenant = await _tenant(session, actor, collectivite)
        found = await list_categories(session, tenant.id, active_only=False)
        return [await _category_read(session, c) for c in found]

    @post("/categories", opt=ADMIN, summary="Créer une catégorie")
    async def create_category(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        collectivite: FromPath[str],
        data: JSONBody[CategoryWrite],
    ) -> CategoryAdminRead:
        tenant = await _tenant(session, actor, collectivite)
        department = await get_department(session, tenant.id, data.department)
        try:
            await get_category(session, tenant.id, data.code)
        except NotFound:
            pass
        else:
            raise Conflict(f"La catégorie « {data.code} » existe déjà : modifiez-la.")
        category = StreetCategory(
            tenant_id=tenant.id,
            code=data.code,
            name=data.name,
            description=data.description,
            group=data.group,
            keywords=data.keywords,
            department_id=department.id,
            sla_working_days=data.sla_working_days,
            attributes=_attributes(data.attributes),
            position=data.position,
            active=True,
            updated_at=clock.now(),
        )
        session.add(category)
        await session.flush()
        return await _category_read(session, category)

    @patch("/categories/{code:str}", opt=ADMIN, summary="Modifier ou désactiver une catégorie")
    async def update_category(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        collectivite: FromPath[str],
        code: FromPath[str],
        data: JSONBody[CategoryPatch],
    ) -> CategoryAdminRead:
        tenant = await _tenant(session, actor, collectivite)
        category = await get_category(session, tenant.id, code)
        changes = data.model_dump(exclude_unset=True)
        if "department" in changes:
            category.department_id = (
                await get_department(session, tenant.id, changes.pop("department"))
            ).id
        if "attributes" in changes:
            category.attributes = _attributes(changes.pop("attributes"))
        for key, value in changes.items():
            if value is not None:
                setattr(category, key, value)
        category.updated_at = clock.now()
        await session.flush()
        return await _category_read(session, category)

    @get("/services", opt=ADMIN, summary="Services (départements) et leurs membres")
    async def departments(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        collectivite: FromPath[str],
    ) -> list[DepartmentRead]:
        tenant = await _tenant(session, actor, collectivite)
        return [
            await _department_read(session, d) for d in await list_departments(session, tenant.id)
        ]

    @post("/services", opt=ADMIN, summary="Créer un service")
    async def create_department(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        collectivite: FromPath[str],
        data: JSONBody[DepartmentWrite],
    ) -> DepartmentRead:
        tenant = await _tenant(session, actor, collectivite)
        try:
            await get_department(session, tenant.id, data.code)
        except NotFound:
            pass
        else:
            raise Conflict(f"Le service « {data.code} » existe déjà.")
        department = StreetDepartment(
            tenant_id=tenant.id, code=data.code, name=data.name, email=data.email, active=True
        )
        session.add(department)
        await session.flush()
        return await _department_read(session, department)

    @post("/services/{code:str}/membres", opt=ADMIN, summary="Ajouter un agent à un service")
    async def add_member(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        collectivite: FromPath[str],
        code: FromPath[str],
        data: JSONBody[MemberWrite],
    ) -> DepartmentRead:
        tenant = await _tenant(session, actor, collectivite)
        department = await get_department(session, tenant.id, code)
        agent = await session.get(Agent, data.agent_id)
        if agent is None or not (await agent_actor(session, agent)).roles_in(tenant.id):
            raise ValidationFailed(
                "Cet agent n'a aucun rôle dans la collectivité : donnez-lui d'abord un rôle.",
                errors=[{"field": "agent_id", "message": "aucun rôle ici", "type": "role"}],
            )
        if not await session.scalar(
            select(StreetDepartmentMember.id).where(
                StreetDepartmentMember.department_id == department.id,
                StreetDepartmentMember.agent_id == agent.id,
            )
        ):
            session.add(StreetDepartmentMember(department_id=department.id, agent_id=agent.id))
            await session.flush()
        return await _department_read(session, department)

    @delete(
        "/services/{code:str}/membres/{agent_id:uuid}",
        opt=ADMIN,
        status_code=200,
        summary="Retirer un agent d'un service",
    )
    async def remove_member(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        collectivite: FromPath[str],
        code: FromPath[str],
        agent_id: FromPath[uuid.UUID],
    ) -> DepartmentRead:
        tenant = await _tenant(session, actor, collectivite)
        department = await get_department(session, tenant.id, code)
        member = await session.scalar(
            select(StreetDepartmentMember).where(
                StreetDepartmentMember.department_id == department.id,
                StreetDepartmentMember.agent_id == agent_id,
            )
        )
        if member is not None:
            await session.delete(member)
            await session.flush()
        return await _department_read(session, department)
