"""Outbox handlers of the documents package: render a requested document and link it to its case."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.contexts import build_context
from documents.models import StoredDocument
from documents.notifications import after_document
from documents.render import render
from documents.storage import DocumentStorage
from services.kernel.clock import Clock
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine


@dataclass(frozen=True, slots=True)
class JobDeps:
    engine: Engine
    storage: DocumentStorage
    clock: Clock


class OutboxHandler(Protocol):
    async def __call__(self, session: AsyncSession, row: Outbox, deps: JobDeps) -> None: ...


async def render_document(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Gather the context, render, store, link — the caller commits it with the outbox row.

    Idempotent: (case, kind, seq) is unique; a second run finds the document and stops.
    """
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
    definition = deps.engine.procedures.get(case.procedure_key, case.definition_version)
    now = deps.clock.now()
    context = await build_context(
        kind, session, case, definition, dict(payload.get("params") or {}), now
    )
    pdf = await asyncio.to_thread(render, kind, context)
    blob = await deps.storage.put(pdf)
    document = StoredDocument(
        case_id=case_id,
        kind=kind,
        seq=seq,
        title=str(context.get("title", kind)),
        sha256=blob.sha256,
        size=blob.size,
        content_type="application/pdf",
        storage_key=blob.key,
        created_at=now,
    )
    session.add(document)
    await session.flush()
    await after_document(session, case, document, now=now)


HANDLERS: dict[str, OutboxHandler] = {"document.render": render_document}
