"""Outbox handlers of the documents package: render a requested document and link it to its case.

One transaction (the outbox job's) holds everything: the StoredDocument, the ``document.generated``
event in the case's history, the follow-up notification, and the outbox row marked done. The bytes
go to the content-addressed storage before that transaction commits: a crash in between leaves at
most an unreferenced blob, which the next attempt finds (same key) or rewrites.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.contexts import build_context
from documents.models import StoredDocument
from documents.notifications import after_document
from documents.render import render
from documents.storage import DocumentStorage, StoredBlob
from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.clock import Clock
from services.kernel.ids import new_id
from workflows.cases.models import Case, Outbox
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

DOCUMENT_GENERATED = "document.generated"
DOCUMENT_FAILED = "document.failed"


@dataclass(frozen=True, slots=True)
class JobDeps:
    engine: Engine
    storage: DocumentStorage
    clock: Clock
    prepared: Any = None
    """What the kind's preparer produced outside any transaction (see ``PREPARERS``)."""


class OutboxHandler(Protocol):
    async def __call__(self, session: AsyncSession, row: Outbox, deps: JobDeps) -> None: ...


class Preparer(Protocol):
    """Slow work done before the handler's transaction opens (rendering, storing): on SQLite
    the transaction holds the single write lock, so it must stay short."""

    async def __call__(
        self, sessionmaker: async_sessionmaker[AsyncSession], row: Outbox, deps: JobDeps
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    context: dict[str, Any]
    blob: StoredBlob
    now: datetime


class FailureHandler(Protocol):
    """Called once, in the transaction that marks an outbox row ``failed`` after its last try."""

    async def __call__(
        self, session: AsyncSession, row: Outbox, deps: JobDeps, error: str
    ) -> None: ...


async def _existing(
    session: AsyncSession, case_id: uuid.UUID, kind: str, seq: int
) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(StoredDocument.id).where(
            StoredDocument.case_id == case_id,
            StoredDocument.kind == kind,
            StoredDocument.seq == seq,
        )
    )
    return found


async def prepare_document(
    sessionmaker: async_sessionmaker[AsyncSession], row: Outbox, deps: JobDeps
) -> PreparedDocument | None:
    """Read the context in a short transaction, then render and store with none open.
    None when the document already exists (nothing to do)."""
    payload: dict[str, Any] = row.payload
    async with sessionmaker() as session, session.begin():
        gathered = await _gather(session, payload, deps)
    if gathered is None:
        return None
    context, now = gathered
    pdf = await asyncio.to_thread(render, str(payload["kind"]), context)
    return PreparedDocument(context=context, blob=await deps.storage.put(pdf), now=now)


async def _gather(
    session: AsyncSession, payload: dict[str, Any], deps: JobDeps
) -> tuple[dict[str, Any], datetime] | None:
    case_id = uuid.UUID(payload["case_id"])
    kind = str(payload["kind"])
    seq = int(payload["seq"])
    if await _existing(session, case_id, kind, seq) is not None:
        return None
    case = await session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case {case_id} not found")
    definition = deps.engine.procedures.get(case.procedure_key, case.definition_version)
    now = deps.clock.now()
    context = await build_context(
        kind, session, case, definition, dict(payload.get("params") or {}), now
    )
    return context, now


async def render_document(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Link the rendered document to its case — the caller commits it with the outbox row.

    The worker renders and stores first (``prepare_document``, no transaction open); without a
    preparer the handler does it all itself. Idempotent: (case, kind, seq) is unique; the case
    row is locked and the document checked for again before it is linked.
    """
    payload: dict[str, Any] = row.payload
    case_id = uuid.UUID(payload["case_id"])
    kind = str(payload["kind"])
    seq = int(payload["seq"])
    prepared = deps.prepared
    if not isinstance(prepared, PreparedDocument):
        gathered = await _gather(session, payload, deps)
        if gathered is None:
            return
        context, now = gathered
        pdf = await asyncio.to_thread(render, kind, context)
        prepared = PreparedDocument(context=context, blob=await deps.storage.put(pdf), now=now)
    context, blob, now = prepared.context, prepared.blob, prepared.now

    cases = CaseService(session, deps.engine, deps.clock)
    case = await cases.lock(case_id)
    if await _existing(session, case_id, kind, seq) is not None:
        return
    document = StoredDocument(
        id=new_id(),
        case_id=case_id,
        kind=kind,
        seq=seq,
        title=str(context.get("title", kind))[:200],
        sha256=blob.sha256,
        size=blob.size,
        content_type="application/pdf",
        storage_key=blob.key,
        created_at=now,
    )
    session.add(document)
    await session.flush()
    await cases.record(
        case_id,
        DOCUMENT_GENERATED,
        SYSTEM_ACTOR,
        {
            "document_id": str(document.id),
            "kind": kind,
            "title": document.title,
            "sha256": document.sha256,
        },
        public=True,
    )
    await after_document(session, case, document, now=now)


async def render_failed(session: AsyncSession, row: Outbox, deps: JobDeps, error: str) -> None:
    """The last try failed: agents see it in the case's history (not the public)."""
    payload: dict[str, Any] = row.payload
    try:
        case_id = uuid.UUID(str(payload.get("case_id")))
    except ValueError:
        return
    if await session.get(Case, case_id) is None:
        return
    await CaseService(session, deps.engine, deps.clock).record(
        case_id,
        DOCUMENT_FAILED,
        SYSTEM_ACTOR,
        {
            "kind": str(payload.get("kind")),
            "seq": payload.get("seq"),
            "outbox_id": str(row.id),
            "attempts": row.attempts,
            "error": error[:500],
        },
        public=False,
    )


HANDLERS: dict[str, OutboxHandler] = {"document.render": render_document}
PREPARERS: dict[str, Preparer] = {"document.render": prepare_document}
FAILURE_HANDLERS: dict[str, FailureHandler] = {"document.render": render_failed}
