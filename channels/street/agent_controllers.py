"""The departments' side: the queue (JSON and CSV), bulk actions, merging duplicates.

``GET /signalements/file?departement=voirie[&collectivite=69001]``: the open reports of the
department(s) with that code in the agent's tenants (or in the one named), most urgent first
(service-level deadline), with ``overdue`` flags. Rules of access: ``workflows.procedures.
street_reports.agents``.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from datetime import date as Date
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from identity.service import get_tenant
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import HiddenDenial, NotFound
from services.kernel.policy import agents, policy_opt
from workflows.engine.calendar import calendar_for
from workflows.engine.runner import Engine
from workflows.procedures.street_reports import agents as rules
from workflows.procedures.street_reports.queries import QueueItem, department_queue
from workflows.procedures.street_reports.states import label

QUEUE = policy_opt(
    agents(description="agents: members of the department, or the tenant's instructors")
)
ACT = policy_opt(
    agents(
        Role.INSTRUCTOR,
        Role.SUPERVISOR,
        Role.ADMIN,
        Role.COUNTER_AGENT,
        Role.PHONE_AGENT,
        description="agents who may see the reports (department members, instructors)",
    )
)


class QueueRow(BaseModel):
    case_id: uuid.UUID
    reference: str
    tenant_id: uuid.UUID
    category: str
    category_name: str
    state: str
    label: str
    address: str
    lat: float
    lon: float
    channel: str
    submitted_at: datetime
    sla_due: date
    overdue: bool
    scheduled_for: date | None


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["acknowledge", "schedule", "close"]
    case_ids: list[uuid.UUID] = Field(min_length=1, max_length=rules.MAX_BULK)
    date: Date | None = None
    reason: str | None = Field(default=None, max_length=500)


class BulkRow(BaseModel):
    case_id: uuid.UUID
    ok: bool
    reference: str | None
    state: str | None
    error: str | None
    code: str | None


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kept_reference: str = Field(min_length=1, max_length=40)


class MergeRead(BaseModel):
    case_id: uuid.UUID
    reference: str
    state: str
    label: str
    kept_reference: str | None


def _row(item: QueueItem) -> QueueRow:
    r = item.report
    return QueueRow(
        case_id=r.case_id,
        reference=r.reference,
        tenant_id=r.tenant_id,
        category=item.category_code,
        category_name=item.category_name,
        state=r.state,
        label=label(r),
        address=r.address,
        lat=r.lat,
        lon=r.lon,
        channel=r.channel,
        submitted_at=r.submitted_at,
        sla_due=r.sla_due,
        overdue=item.overdue,
        scheduled_for=r.scheduled_for,
    )


async def _queue(
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    departement: str,
    collectivite: str | None,
    closed: bool,
) -> list[QueueRow]:
    if collectivite:
        try:
            tenant_ids = [(await get_tenant(session, collectivite)).id]
        except NotFound:
            raise HiddenDenial(rules.NOT_FOUND) from None
    else:
        tenant_ids = sorted(actor.tenant_ids())
    departments = await rules.visible_departments(
        session, actor, tenant_ids=tenant_ids, code=departement
    )
    today = calendar_for().local_date(clock.now())
    items = await department_queue(
        session, department_ids=[d.id for d in departments], today=today, include_closed=closed
    )
    return [_row(i) for i in items]


CSV_COLUMNS = (
    "reference",
    "category",
    "category_name",
    "state",
    "label",
    "address",
    "lat",
    "lon",
    "channel",
    "submitted_at",
    "sla_due",
    "overdue",
    "scheduled_for",
)


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


class StreetAgentController(Controller):
    path = "/signalements"
    tags = ["Signalements (services)"]

    @get("/file", opt=QUEUE, summary="File d'un service, par échéance (retards signalés)")
    async def queue(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        departement: Annotated[str, QueryParameter(min_length=1, max_length=60)],
        collectivite: Annotated[str | None, QueryParameter(max_length=60)] = None,
        clos: Annotated[bool, QueryParameter()] = False,
    ) -> list[QueueRow]:
        return await _queue(session, actor, clock, departement, collectivite, clos)

    @get("/file.csv", opt=QUEUE, summary="File d'un service, en CSV")
    async def queue_csv(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        departement: Annotated[str, QueryParameter(min_length=1, max_length=60)],
        collectivite: Annotated[str | None, QueryParameter(max_length=60)] = None,
        clos: Annotated[bool, QueryParameter()] = False,
    ) -> Response[bytes]:
        rows = await _queue(session, actor, clock, departement, collectivite, clos)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            data = row.model_dump()
            writer.writerow([_csv_cell(data[c]) for c in CSV_COLUMNS])
        return Response(
            ("\ufeff" + out.getvalue()).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="file-{departement}.csv"'},
        )

    @post("/actions", opt=ACT, status_code=200, summary="Action groupée sur une sélection")
    async def bulk(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        data: JSONBody[BulkCreate],
    ) -> list[BulkRow]:
        results = await rules.bulk_apply(
            session,
            engine,
            clock,
            actor,
            action=data.action,
            case_ids=data.case_ids,
            when=data.date,
            reason=data.reason,
        )
        return [
            BulkRow(
                case_id=r.case_id,
                ok=r.ok,
                reference=r.reference,
                state=r.state,
                error=r.error,
                code=r.code,
            )
            for r in results
        ]

    @post(
        "/{reference:str}/fusion",
        opt=ACT,
        status_code=200,
        summary="Fusionner un doublon dans le signalement conservé (abonnés déplacés)",
    )
    async def merge(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        reference: FromPath[str],
        data: JSONBody[MergeCreate],
    ) -> MergeRead:
        report = await rules.merge_references(
            session, engine, clock, actor, duplicate=reference, kept=data.kept_reference
        )
        return MergeRead(
            case_id=report.case_id,
            reference=report.reference,
            state=report.state,
            label=label(report),
            kept_reference=report.duplicate_reference,
        )
