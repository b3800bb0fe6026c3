"""Case API (agents, API clients, people) and procedure catalogue. Controllers only translate.

Who sees which case is decided in ``repository`` (``visible_case``, ``can_see``): agents and API
clients within their tenants, people on the cases concerning them or those they represent. A person
is shown the public side of a case only: public timeline events, the last public state, the
deadlines that end in a public outcome, and no internal field (assignee, entering agent).
"""

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
from services.kernel.errors import Forbidden, NotFound, ValidationFailed
from services.kernel.policy import Policy, anyone_signed_in, policy_opt
from services.kernel.ports import AgentDirectory
from workflows.cases import repository
from workflows.cases.models import Case, CaseEvent, Deadline
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
from workflows.engine.definitions import Definition
from workflows.engine.export import to_json, to_mermaid
from workflows.engine.runner import Engine

CATALOGUE = policy_opt(
    anyone_signed_in(
        Scope.CASES_READ,
        description="agents; API clients with cases:read; people (published démarches only)",
    )
)
NOT_PUBLISHED = "Démarche introuvable ou non ouverte en ligne."


def _catalogue_for(actor: Actor, definition: Definition) -> bool:
    """People see the démarches open online (public); agents and clients see them all."""
    return actor.kind is not ActorKind.PERSON or bool(definition.public)


READ = policy_opt(
    anyone_signed_in(
        Scope.CASES_READ,
        description="agents and API clients (cases:read) of the case's tenant; people: the cases "
        "concerning them or those they represent",
    )
)
ACT = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.PERSON}),
        description="agents with a role in the case's tenant; people on the cases they see "
        "(the transition's guard decides)",
    )
)
# Keys of event data that only agents read (an action's technical failure).
INTERNAL_EVENT_DATA = frozenset({"failures"})


async def case_read(service: CaseService, case: Case, actor: NamedDependency[Actor]) -> CaseRead:
    session = service.session
    definition = service.definition_of(case)
    events = await repository.timeline(session, case.id)
    deadlines = await repository.deadlines(session, case.id)
    if actor.kind is ActorKind.PERSON:
        return person_case_read(service, case, actor, definition, events, deadlines)
    active = [d.due_on for d in deadlines if d.status == "active"]
    options = _options(service, definition, case, actor) if actor.kind is ActorKind.AGENT else []
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


def _options(
    service: CaseService, definition: Definition, case: Case, actor: Actor
) -> list[TransitionOption]:
    return [
        TransitionOption(
            name=t.name,
            title=t.title,
            target=t.target,
            payload_schema=t.payload_schema.model_json_schema() if t.payload_schema else None,
        )
        for t in service.engine.available(definition, _view(case), actor)
    ]


def public_state(definition: Definition, case: Case, last_public: str | None) -> str:
    """The state a person is shown: the current one when public, else the one reached by the
    case's last public event (an internal step such as "late" or "pieces checked" stays inside)."""
    try:
        if definition.state(case.state).public:
            return case.state
    except KeyError:
        pass
    return last_public or definition.initial_state


def public_title(definition: Definition, state: str) -> str:
    try:
        found = definition.state(state)
    except KeyError:
        return state
    return found.public_title or found.title


def deadline_is_public(definition: Definition, deadline: Deadline) -> bool:
    """A deadline is shown to people when it ends in a public outcome (the decision by silence),
    not when it only moves the case to an internal state (an internal answer objective)."""
    try:
        transition = definition.transition(deadline.transition)
        return transition.public and definition.state(transition.target).public
    except KeyError:
        return False


def public_event(event: CaseEvent) -> EventRead:
    read = EventRead.model_validate(event)
    read.data = {k: v for k, v in read.data.items() if k not in INTERNAL_EVENT_DATA}
    return read


def person_case_read(
    service: CaseService,
    case: Case,
    actor: Actor,
    definition: Definition,
    events: list[CaseEvent],
    deadlines: list[Deadline],
) -> CaseRead:
    """The public side of a case, for the person it concerns (or their representative)."""
    shown = [e for e in events if e.public]
    last_public = next((e.to_state for e in reversed(shown) if e.to_state), None)
    state = public_state(definition, case, last_public)
    visible_deadlines = [d for d in deadlines if deadline_is_public(definition, d)]
    active = [d.due_on for d in visible_deadlines if d.status == "active"]
    return CaseRead(
        id=case.id,
        reference=case.reference,
        tenant_id=case.tenant_id,
        procedure_key=case.procedure_key,
        definition_version=case.definition_version,
        state=state,
        state_title=public_title(definition, state),
        channel=case.channel,
        received_at=case.received_at,
        registered_at=case.registered_at,
        assignee_id=None,
        version=case.version,
        next_due_on=min(active) if active else None,
        submitter=case.submitter,
        on_behalf_of=case.on_behalf_of,
        agent_id=None,
        external_ref=case.external_ref,
        payload=case.payload,
        timeline=[public_event(e) for e in shown],
        deadlines=[DeadlineRead.model_validate(d) for d in visible_deadlines],
        available_transitions=_options(service, definition, case, actor),
        chain_valid=repository.verify_chain(events),
    )


def _view(case: Case) -> Any:
    from workflows.cases._store import view_of

    return view_of(case)


def _channel_of(actor: Actor) -> str:
    """People act on the web; agents and software through the API."""
    return "web" if actor.kind is ActorKind.PERSON else "api"


AGENT_ONLY_FILTERS = {
    "assignee_id": "l'agent chargé du dossier",
    "state": "les états internes",
    "deadline_before": "les délais internes",
}


async def _person_page(
    session: AsyncSession,
    engine: Engine,
    actor: Actor,
    *,
    tenant_id: uuid.UUID | None,
    procedure: str | None,
    state_name: str | None,
    assignee_id: uuid.UUID | None,
    deadline_before: date | None,
    q: str | None,
    limit: int,
    offset: int,
) -> CasePage:
    """A person's cases: theirs, and those of the people and organisations they represent."""
    refused = [
        name
        for name, value in (
            ("assignee_id", assignee_id),
            ("state", state_name),
            ("deadline_before", deadline_before),
        )
        if value is not None
    ]
    if refused:
        raise ValidationFailed(
            "Ces filtres sont réservés aux agents : "
            + ", ".join(f"{n} ({AGENT_ONLY_FILTERS[n]})" for n in refused)
            + ". Retirez-les de la requête.",
            errors=[
                {"field": n, "message": "filtre réservé aux agents", "type": "forbidden"}
                for n in refused
            ],
        )
    rows, total = await repository.list_cases(
        session,
        tenant_ids=[tenant_id] if tenant_id is not None else None,
        person_ids=sorted({actor.id, *actor.represents}),
        organisation_ids=sorted(actor.represents),
        procedure_key=procedure,
        text=q,
        limit=limit,
        offset=offset,
    )
    definitions: dict[tuple[str, int], Definition] = {}
    hidden: list[uuid.UUID] = []
    for case, _ in rows:
        key = (case.procedure_key, case.definition_version)
        if key not in definitions:
            definitions[key] = engine.procedures.get(*key)
        if not _is_public_state(definitions[key], case.state):
            hidden.append(case.id)
    last_public = await repository.last_public_states(session, hidden)
    due_on: dict[uuid.UUID, date] = {}
    by_id = {case.id: case for case, _ in rows}
    for deadline in await repository.active_deadlines(session, list(by_id)):
        case = by_id[deadline.case_id]
        definition = definitions[(case.procedure_key, case.definition_version)]
        if deadline_is_public(definition, deadline):
            known = due_on.get(case.id)
            due_on[case.id] = deadline.due_on if known is None else min(known, deadline.due_on)
    items = []
    for case, _ in rows:
        definition = definitions[(case.procedure_key, case.definition_version)]
        summary = CaseSummary.model_validate(case)
        summary.state = public_state(definition, case, last_public.get(case.id))
        summary.assignee_id = None
        summary.next_due_on = due_on.get(case.id)
        items.append(summary)
    return CasePage(items=items, total=total, limit=limit, offset=offset)


def _is_public_state(definition: Definition, state: str) -> bool:
    try:
        return definition.state(state).public
    except KeyError:
        return False


class CaseController(Controller):
    path = "/cases"
    tags = ["Dossiers"]

    @get("/", opt=READ, summary="Lister les dossiers (filtres, pagination)")
    async def list_cases(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        tenant_id: FromQuery[uuid.UUID | None] = None,
        procedure: Annotated[str | None, QueryParameter(max_length=80)] = None,
        state_name: Annotated[str | None, QueryParameter(name="state", max_length=60)] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None,
        deadline_before: FromQuery[date | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=repository.MAX_PAGE)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> CasePage:
        if actor.kind is ActorKind.PERSON:
            return await _person_page(
                session,
                engine,
                actor,
                tenant_id=tenant_id,
                procedure=procedure,
                state_name=state_name,
                assignee_id=assignee_id,
                deadline_before=deadline_before,
                q=q,
                limit=limit,
                offset=offset,
            )
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
            case_id,
            name,
            actor,
            data.payload,
            expected_version=data.version,
            channel=_channel_of(actor),
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
        event = await service.add_message(
            case_id, actor, data.text, public=data.public, channel=_channel_of(actor)
        )
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

    @get("/", opt=CATALOGUE, summary="Les démarches et leurs versions")
    async def list_procedures(
        self, engine: NamedDependency[Engine], actor: NamedDependency[Actor]
    ) -> list[ProcedureSummary]:
        return [
            ProcedureSummary(
                key=d.key,
                version=d.version,
                versions=engine.procedures.versions(d.key),
                title=d.title,
                description=d.description,
            )
            for d in engine.procedures.latest()
            if _catalogue_for(actor, d)
        ]

    @get(
        "/{key:str}",
        opt=CATALOGUE,
        summary="La définition d'une démarche (JSON et diagramme Mermaid)",
    )
    async def get_procedure(
        self,
        engine: NamedDependency[Engine],
        actor: NamedDependency[Actor],
        key: FromPath[str],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> dict[str, Any]:
        definition = engine.procedures.get(key, version)
        if not _catalogue_for(actor, definition):
            raise NotFound(NOT_PUBLISHED)
        return {**to_json(definition), "mermaid": to_mermaid(definition)}

    @get(
        "/{key:str}/diagram",
        opt=CATALOGUE,
        media_type="text/vnd.mermaid",
        summary="Le diagramme d'états (Mermaid)",
    )
    async def get_diagram(
        self,
        engine: NamedDependency[Engine],
        actor: NamedDependency[Actor],
        key: FromPath[str],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> str:
        definition = engine.procedures.get(key, version)
        if not _catalogue_for(actor, definition):
            raise NotFound(NOT_PUBLISHED)
        return to_mermaid(definition)
