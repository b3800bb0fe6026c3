"""Outbox handlers of the documents package: render a requested document and link it to its case."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.models import StoredDocument
from documents.render import render
from documents.storage import FileStorage
from identity.models import Tenant
from services.kernel.clock import Clock
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine


@dataclass(frozen=True, slots=True)
class JobDeps:
    engine: Engine
    storage: FileStorage
    clock: Clock


class OutboxHandler(Protocol):
    async def __call__(self, session: AsyncSession, row: Outbox, deps: JobDeps) -> None: ...


async def render_document(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Idempotent: (case, kind, seq) is unique; a second run finds the document and stops."""
    payload: dict[str, Any] = row.payload
    case_id = uuid.UUID(payload["case_id"])
    kind = str(payload["kind"])
    seq = int(payload["seq"])
    existing = await session.scalar(
        select(StoredDocument.id).where(
            StoredDocument.case_id == case_id,
            StoredDocument.kind == kind,
            StoredDocument.seq == seq,
        )
    )
    if existing is not None:
        return
    case = await session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case {case_id} not found")
    tenant = await session.get(Tenant, case.tenant_id)
    definition = deps.engine.procedures.get(case.procedure_key, case.definition_version)
    title = next((d.title for d in definition.documents if d.kind == kind), kind)
    context = {
        "title": title,
        "reference": case.reference,
        "procedure_title": definition.title,
        "tenant_name": tenant.name if tenant else "",
        "received_at": case.received_at.strftime("%d/%m/%Y à %H:%M UTC"),
        "state_title": definition.state(case.state).title,
        "issued_at": deps.clock.now().strftime("%d/%m/%Y"),
    }
    pdf = await asyncio.to_thread(render, kind, context)
    sha = await asyncio.to_thread(deps.storage.put, pdf)
    session.add(
        StoredDocument(
            case_id=case_id,
            kind=kind,
            seq=seq,
            sha256=sha,
            size=len(pdf),
            content_type="application/pdf",
            created_at=deps.clock.now(),
        )
    )


HANDLERS: dict[str, OutboxHandler] = {"document.render": render_document}
