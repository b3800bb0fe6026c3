"""HTTP read side of the urbanism files, under ``/api/v1/urbanisme``:

- ``/{insee}/dossiers`` (and ``dossiers.csv``) — the files of a commune (or, with the métropole's
  code, of all its communes) ordered by their next legal date; filters ``type``, ``etat``, ``q``
  (number, applicant, address, parcel), ``echeance_avant``; ``alerte_tacite`` flags the files whose
  tacit decision is born within N days (the file's rule set, 15 by default);
- ``/{insee}/registre?mois=AAAA-MM`` (and ``registre.csv``) — the monthly register of filings and
  decisions;
- ``/dossiers/{case_id}/chronologie`` — a file's legal timeline: each date, its rule, its legal
  reference and rule set (the file's agents, and the applicant);
- ``/mes-dossiers`` — a signed-in person's own files: state, expected decision date, missing
  pieces.

An agent without a role in the commune gets 404; a case the actor may not see does not exist.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter, QueryParameter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.policy import Policy, agents, persons, policy_opt
from workflows.cases.repository import visible_case
from workflows.engine.calendar import calendar_for
from workflows.engine.runner import Engine
from workflows.procedures.urbanism import views

READ = policy_opt(
    agents(*views.READ_ROLES, description="instructors, mayor's office, supervisors, counter")
)
FILE_READERS = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.PERSON}),
        description="the file's agents, and the applicant (or who represents them)",
    )
)
PEOPLE = policy_opt(persons("signed-in people: their own files"))

Insee = Annotated[
    str,
    PathParameter(pattern=r"^[0-9][0-9AB][0-9]{3}$", description="Code INSEE", max_length=5),
]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Nombre au plus")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="À partir de")]
PermitTypeFilter = Annotated[
    str | None,
    QueryParameter(
        name="type",
        pattern="^(DP|PCMI|PC|PA|PD|CUa|CUb)$",
        description="Type d'autorisation : DP, PCMI, PC, PA, PD, CUa, CUb",
    ),
]
StateFilter = Annotated[
    str | None,
    QueryParameter(pattern="^[a-z_]{1,40}$", description="État (nom technique, ex. incomplete)"),
]
Text = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="Recherche : numéro, demandeur, adresse, parcelle",
    ),
]
DueBefore = Annotated[
    date | None, QueryParameter(description="Prochaine échéance au plus tard ce jour (AAAA-MM-JJ)")
]
Month = Annotated[
    str,
    QueryParameter(
        min_length=7, max_length=7, pattern=r"^[0-9]{4}-[0-9]{2}$", description="Mois AAAA-MM"
    ),
]
CSV_LIMIT = 20_000


class FilePage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _today(clock: Clock) -> date:
    return calendar_for().local_date(clock.now())


def _csv(text: str, filename: str) -> Response[bytes]:
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class UrbanismViewsController(Controller):
    path = "/urbanisme"
    tags = ["Urbanisme"]

    @get(
        "/{insee:str}/dossiers",
        opt=READ,
        summary="Dossiers d'urbanisme de la commune, par prochaine échéance légale",
    )
    async def list_files(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
        insee: Insee,
        type_: PermitTypeFilter = None,
        etat: StateFilter = None,
        q: Text = None,
        echeance_avant: DueBefore = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> FilePage:
        scope = await views.commune_scope(session, actor, insee)
        items, total = await views.list_files(
            session,
            engine,
            scope.tenant_ids,
            today=_today(clock),
            permit_type=type_,
            state=etat,
            text=q,
            due_before=echeance_avant,
            limit=limit,
            offset=offset,
        )
        return FilePage(items=items, total=total, limit=limit, offset=offset)

    @get(
        "/{insee:str}/dossiers.csv",
        opt=READ,
        summary="Dossiers d'urbanisme de la commune, en CSV (mêmes filtres)",
    )
    async def list_files_csv(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
        insee: Insee,
        type_: PermitTypeFilter = None,
        etat: StateFilter = None,
        q: Text = None,
        echeance_avant: DueBefore = None,
    ) -> Response[bytes]:
        scope = await views.commune_scope(session, actor, insee)
        items, _ = await views.list_files(
            session,
            engine,
            scope.tenant_ids,
            today=_today(clock),
            permit_type=type_,
            state=etat,
            text=q,
            due_before=echeance_avant,
            limit=CSV_LIMIT,
        )
        return _csv(views.files_csv(items), f"dossiers-urbanisme-{insee}.csv")

    @get(
        "/{insee:str}/registre",
        opt=READ,
        summary="Registre mensuel des dépôts et des décisions",
    )
    async def register(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        mois: Month,
    ) -> dict[str, Any]:
        scope = await views.commune_scope(session, actor, insee)
        return await views.register(session, scope, mois)

    @get(
        "/{insee:str}/registre.csv",
        opt=READ,
        summary="Registre mensuel des dépôts et des décisions, en CSV",
    )
    async def register_csv(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        mois: Month,
    ) -> Response[bytes]:
        scope = await views.commune_scope(session, actor, insee)
        data = await views.register(session, scope, mois)
        return _csv(views.register_csv(data), f"registre-urbanisme-{insee}-{data['mois']}.csv")

    @get(
        "/dossiers/{case_id:uuid}/chronologie",
        opt=FILE_READERS,
        summary="Chronologie légale d'un dossier : chaque date, sa règle et sa référence",
    )
    async def chronology(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
        case_id: FromPath[uuid.UUID],
    ) -> dict[str, Any]:
        case = await visible_case(session, case_id, actor)
        row = await views.file_of_case(session, case.id)
        return views.chronology(
            row,
            case,
            views.definition_of(engine, case),
            for_agent=actor.kind is ActorKind.AGENT,
            today=_today(clock),
        )

    @get(
        "/mes-dossiers",
        opt=PEOPLE,
        summary="Mes dossiers d'urbanisme : état, date de décision attendue, pièces manquantes",
    )
    async def my_files(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> FilePage:
        items, total = await views.my_files(session, engine, actor, limit=limit, offset=offset)
        return FilePage(items=items, total=total, limit=limit, offset=offset)
