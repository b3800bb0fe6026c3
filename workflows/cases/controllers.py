"""Agent case API and procedure catalogue. Controllers only translate: services decide."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Scope
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden
from services.kernel.policy import agents, agents_or_clients, policy_opt
from services.kernel.ports import AgentDirectory
from workflows.cases import repository
from workflows.cases.models import Case
from workflows.cases.schemas import (
    AssignRequest,
    CasePage,
    CaseRead,
    CaseSummary,
    DeadlineRead,
    EventRead,
    MessageCreate,
    ProcedureSummary,
    TransitionOption,
    TransitionRequest,
)
from workflows.cases.service import CaseService
from workflows.engine.export import to_json, to_mermaid
from workflows.engine.runner import Engine

READ = policy_opt(
    agents_or_clients(Scope.CASES_READ, description="agents; API clients with cases:read")
)
ACT = policy_opt(agents(description="agents with a role in the case's tenant"))


async def case_read(service: CaseService, case: Case, actor: NamedDependency[Actor]) -> CaseRead:
    session = service.session
    definition = service.definition_of(case)
    events = await repository.timeline(session, case.id)
    deadlines = await repository.deadlines(session, case.id)
    active = [d.due_on for d in deadlines if d.status == "active"]
    options = (
        [
            TransitionOption(
                name=t.name,
                title=t.title,
                target=t.target,
                payload_schema=t.payload_schema.model_json_schema() if t.payload_schema else None,
            )
            for t in service.engine.available(definition, _view(case), actor)
        ]
        if actor.kind is ActorKind.AGENT
        else []
    )
    return CaseRead(
        id=case.id,
        reference=case.reference,
        tenant_id=case.tenant_id,
        procedure_key=case.procedure_key,
        definition_version=case.definition_version,
        state=case.state,
        state_title=definition.state(case.state).title,
        channel=case.channel,
        received_at=case.received_at,
        registered_at=case.registered_at,
        assignee_id=case.assignee_id,
        version=case.version,
        next_due_on=min(active) if active else None,
        submitter=case.submitter,
        on_behalf_of=case.on_behalf_of,
        agent_id=case.agent_id,
        external_ref=case.external_ref,
        payload=case.payload,
        timeline=[EventRead.model_validate(e) for e in events],
        deadlines=[DeadlineRead.model_validate(d) for d in deadlines],
        available_transitions=options,
        chain_valid=repository.verify_chain(events),
    )


def _view(case: Case) -> Any:
    from workflows.cases._store import view_of

    return view_of(case)


class CaseController(Controller):
    path = "/cases"
    tags = ["Dossiers"]

    @get("/", opt=READ, summary="Lister les dossiers (filtres, pagination)")
    async def list_cases(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tenant_id: FromQuery[uuid.UUID | None] = None,
        procedure: Annotated[str | None, QueryParameter(max_length=80)] = None,
        state_name: Annotated[str | None, QueryParameter(name="state", max_length=60)] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None,
        deadline_before: FromQuery[date | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=repository.MAX_PAGE)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> CasePage:
        tenants = actor.tenant_ids()
        if tenant_id is not None:
            if tenant_id not in tenants:
                raise Forbidden("Vous n'avez aucun rôle dans cette collectivité.")
            tenants = frozenset({tenant_id})
        rows, total = await repository.list_cases(
            session,
            tenant_ids=sorted(tenants),
            procedure_key=procedure,
            state=state_name,
            assignee_id=assignee_id,
            deadline_before=deadline_before,
            text=q,
            limit=limit,
            offset=offset,
        )
        items = []
        for case, due in rows:
            summary = CaseSummary.model_validate(case)
            summary.next_due_on = due
            items.append(summary)
        return CasePage(items=items, total=total, limit=limit, offset=offset)

    @get(
        "/{case_id:uuid}",
        opt=READ,
        summary="Un dossier, son historique, ses délais, ses transitions",
    )
    async def get_case(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
    ) -> CaseRead:
        service = CaseService(session, engine, clock)
        case = await service.get_for(case_id, actor)
        return await case_read(service, case, actor)

    @post(
        "/{case_id:uuid}/transitions/{name:str}",
        opt=ACT,
        status_code=200,
        summary="Appliquer une transition (409 si elle n'est pas permise)",
    )
    async def apply_transition(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        name: FromPath[str],
        data: JSONBody[TransitionRequest],
    ) -> CaseRead:
        service = CaseService(session, engine, clock)
        case, _ = await service.apply(
            case_id, name, actor, data.payload, expected_version=data.version
        )
        return await case_read(service, case, actor)

    @post("/{case_id:uuid}/messages", opt=ACT, summary="Ajouter un message au dossier")
    async def add_message(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[MessageCreate],
    ) -> EventRead:
        service = CaseService(session, engine, clock)
        event = await service.add_message(case_id, actor, data.text, public=data.public)
        return EventRead.model_validate(event)

    @post("/{case_id:uuid}/assignment", opt=ACT, status_code=200, summary="Attribuer le dossier")
    async def assign(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[AssignRequest],
        directory: NamedDependency[AgentDirectory],
    ) -> CaseSummary:
        service = CaseService(session, engine, clock)
        case = await service.assign(
            case_id, data.assignee_id, actor, directory=directory, expected_version=data.version
        )
        return CaseSummary.model_validate(case)


class ProcedureController(Controller):
    path = "/procedures"
    tags = ["Démarches"]

    @get("/", opt=READ, summary="Les démarches et leurs versions")
    async def list_procedures(self, engine: NamedDependency[Engine]) -> list[ProcedureSummary]:
        return [
            ProcedureSummary(
                key=d.key,
                version=d.version,
                versions=engine.procedures.versions(d.key),
                title=d.title,
                description=d.description,
            )
            for d in engine.procedures.latest()
        ]

    @get("/{key:str}", opt=READ, summary="La définition d'une démarche (JSON et diagramme Mermaid)")
    async def get_procedure(
        self,
        engine: NamedDependency[Engine],
        key: FromPath[str],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> dict[str, Any]:
        definition = engine.procedures.get(key, version)
        return {**to_json(definition), "mermaid": to_mermaid(definition)}

    @get(
        "/{key:str}/diagram",
        opt=READ,
        media_type="text/vnd.mermaid",
        summary="Le diagramme d'états (Mermaid)",
    )
    async def get_diagram(
        self,
        engine: NamedDependency[Engine],
        key: FromPath[str],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> str:
        return to_mermaid(engine.procedures.get(key, version))
