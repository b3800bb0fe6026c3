"""Procedures the commune opens of its own motion: a reprise of an expired concession after its
renewal window, and the abandon procedure (L2223-17 CGCT). Nobody files them: an instructor
opens them here, then works them through the case API like any other case."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.policy import agents, policy_opt
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries._controllers_common import MANAGE_ROLES, Insee, tenant_for
from workflows.procedures.cemeteries._procedure_service import open_ex_officio


class ExOfficioBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: Literal["cemeteries.reprise", "cemeteries.abandon"] = Field(
        description="cemeteries.reprise (concession échue non renouvelée) ou cemeteries.abandon"
    )
    payload: dict[str, Any] = Field(description="Données de la procédure (voir son schéma)")


class ExOfficioOpened(BaseModel):
    case_id: str
    reference: str
    state: str


OPEN_EX_OFFICIO = policy_opt(
    agents(*MANAGE_ROLES, description="instructors, supervisors, admins of the commune")
)


class ExOfficioController(Controller):
    path = "/cimetieres/{insee:str}"
    tags = ["Cimetières : procédures d'office"]

    @post(
        "/procedures-d-office",
        opt=OPEN_EX_OFFICIO,
        status_code=201,
        summary="Engager une reprise ou une procédure d'abandon",
    )
    async def open_procedure(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[ExOfficioBody],
    ) -> ExOfficioOpened:
        tenant_id = await tenant_for(session, actor, insee, MANAGE_ROLES)
        case = await open_ex_officio(
            session,
            engine,
            clock,
            tenant_id=tenant_id,
            procedure_key=data.procedure,
            payload=data.payload,
            actor=actor,
        )
        return ExOfficioOpened(case_id=str(case.id), reference=case.reference, state=case.state)
