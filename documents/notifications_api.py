"""The counter's print queue: postal notifications to print, then marked printed.

A person who chose postal notification (or gave no e-mail address) gets letters: the documents
(the ARE first) wait here until an agent of the tenant prints them and marks them printed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from documents.models import Notification, StoredDocument
from documents.notifications import LETTER_PRINTED, person_name
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, Forbidden, HiddenDenial, NotFound
from services.kernel.journal import JournalEvent, record
from services.kernel.policy import agents, policy_opt
from workflows.cases.models import Case
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

AGENTS_OF_THE_TENANT = policy_opt(agents(description="agents with a role in the tenant"))
MAX_PAGE = 500


class PrintDocument(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    size: int


class PrintItem(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    procedure_key: str
    person: str
    to_address: str
    template: str
    subject: str
    status: str
    document_ids: list[uuid.UUID]
    documents: list[PrintDocument]
    created_at: datetime
    printed_at: datetime | None


class PrintQueue(BaseModel):
    items: list[PrintItem]
    total: int
    limit: int
    offset: int


async def _items(session: AsyncSession, rows: list[tuple[Notification, Case]]) -> list[PrintItem]:
    ids: set[uuid.UUID] = set()
    for notification, _ in rows:
        ids.update(uuid.UUID(str(i)) for i in notification.document_ids.get("documents", []))
    documents = (
        {
            d.id: d
            for d in await session.scalars(select(StoredDocument).where(StoredDocument.id.in_(ids)))
        }
        if ids
        else {}
    )
    items = []
    for notification, case in rows:
        doc_ids = [uuid.UUID(str(i)) for i in notification.document_ids.get("documents", [])]
        items.append(
            PrintItem(
                id=notification.id,
                tenant_id=case.tenant_id,
                case_id=case.id,
                reference=case.reference,
                procedure_key=case.procedure_key,
                person=person_name(dict(case.submitter)),
                to_address=notification.to_address,
                template=notification.template,
                subject=notification.subject,
                status=notification.status,
                document_ids=doc_ids,
                documents=[
                    PrintDocument(id=d.id, kind=d.kind, title=d.title or d.kind, size=d.size)
                    for d in (documents.get(i) for i in doc_ids)
                    if d is not None
                ],
                created_at=notification.created_at,
                printed_at=notification.sent_at if notification.status == "printed" else None,
            )
        )
    return items


class PrintQueueController(Controller):
    path = "/notifications"
    tags = ["Notifications"]

    @get(
        "/to-print",
        opt=AGENTS_OF_THE_TENANT,
        summary="Courriers à imprimer au guichet (notification postale)",
    )
    async def to_print(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tenant_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[Literal["to_print", "printed"]] = "to_print",
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> PrintQueue:
        """The letters of one tenant (``tenant_id``), or of every tenant the agent works for."""
        tenants = {t for t in actor.tenant_ids() if actor.roles_in(t)}
        if tenant_id is not None:
            if tenant_id not in tenants:
                raise Forbidden("Vous n'avez aucun rôle dans cette collectivité.")
            tenants = {tenant_id}
        where: list[Any] = [
            Case.tenant_id.in_(sorted(tenants)),
            Notification.channel == "postal",
            Notification.status == status,
        ]
        base = select(Notification, Case).join(Case, Notification.case_id == Case.id).where(*where)
        total = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .join(Case, Notification.case_id == Case.id)
            .where(*where)
        )
        result = await session.execute(
            base.order_by(Notification.created_at, Notification.id).limit(limit).offset(offset)
        )
        rows = [(n, c) for n, c in result.all()]
        return PrintQueue(
            items=await _items(session, rows), total=int(total or 0), limit=limit, offset=offset
        )

    @post(
        "/{notification_id:uuid}/printed",
        opt=AGENTS_OF_THE_TENANT,
        status_code=200,
        summary="Marquer un courrier comme imprimé (409 s'il l'est déjà)",
    )
    async def mark_printed(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
        notification_id: FromPath[uuid.UUID],
    ) -> PrintItem:
        found = (
            await session.execute(
                select(Notification, Case)
                .join(Case, Notification.case_id == Case.id)
                .where(Notification.id == notification_id)
            )
        ).first()
        if found is None:
            raise NotFound("Courrier introuvable.")
        if not actor.roles_in(found[1].tenant_id):
            raise HiddenDenial("Courrier introuvable.")
        notification, case = found
        if notification.channel != "postal":
            raise Conflict(
                "Cette notification a été envoyée par e-mail : il n'y a rien à imprimer."
            )
        now = clock.now()
        # One agent only marks a letter printed (two agents at the counter must not post it twice).
        marked = await session.execute(
            update(Notification)
            .where(Notification.id == notification.id, Notification.status == "to_print")
            .values(status="printed", sent_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(marked, "rowcount", 0) != 1:
            await session.refresh(notification)
            when = notification.sent_at.strftime("%d/%m/%Y à %H:%M") if notification.sent_at else ""
            raise Conflict(
                f"Ce courrier a déjà été marqué imprimé{(' le ' + when + ' UTC') if when else ''}."
            )
        await session.refresh(notification)
        await CaseService(session, engine, clock).record(
            case.id,
            LETTER_PRINTED,
            actor,
            {
                "notification_id": str(notification.id),
                "template": notification.template,
                "to": notification.to_address,
                "documents": list(notification.document_ids.get("documents", [])),
            },
            public=True,
            channel="counter",
        )
        record(
            session,
            JournalEvent.LETTER_PRINTED,
            at=now,
            actor=actor,
            tenant_id=case.tenant_id,
            data={
                "notification_id": str(notification.id),
                "case_id": str(case.id),
                "reference": case.reference,
                "to_address": notification.to_address,
                "documents": list(notification.document_ids.get("documents", [])),
            },
        )
        return (await _items(session, [(notification, case)]))[0]
