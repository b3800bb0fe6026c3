"""Render a document through the real job (outbox row → context → weasyprint → storage), as a
transition's ``document.request`` would queue it, and read its text back."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import PREPARERS, JobDeps
from documents.models import StoredDocument
from services.kernel.clock import FrozenClock
from services.kernel.ids import new_id
from services.worker.outbox import MAX_ATTEMPTS, perform
from services.worker.settings import all_failure_handlers, all_handlers
from workflows.cases.models import CaseEvent, Outbox

SM = async_sessionmaker[AsyncSession]
SEQ = 99
"""The event sequence number the queued rows claim (documents are keyed by it)."""


@dataclass
class Doc:
    text: str
    pdf: bytes
    document: StoredDocument


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, whitespace collapsed (what a reader searches in)."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


async def queue(
    sm: SM,
    clock: FrozenClock,
    case_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: dict[str, str],
) -> uuid.UUID:
    """The row a transition's ``document.request`` action writes (transition data + params)."""
    async with sm() as s, s.begin():
        row = Outbox(
            id=new_id(),
            case_id=case_id,
            kind="document.render",
            payload={
                "case_id": str(case_id),
                "kind": kind,
                "seq": SEQ,
                "params": {"requested_by": requested_by, **params},
            },
            dedupe_key=f"document:{case_id}:{kind}:{SEQ}",
            status="pending",
            attempts=0,
            created_at=clock.now(),
        )
        s.add(row)
        return row.id


async def _perform(sm: SM, deps: JobDeps, row_id: uuid.UUID) -> str:
    return await perform(
        sm, all_handlers(), deps, row_id, on_failure=all_failure_handlers(), preparers=PREPARERS
    )


async def render(
    sm: SM,
    deps: JobDeps,
    clock: FrozenClock,
    case_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: dict[str, str],
) -> Doc:
    row_id = await queue(sm, clock, case_id, kind, params, requested_by=requested_by)
    assert await _perform(sm, deps, row_id) == "done"
    async with sm() as s:
        document = await s.scalar(
            select(StoredDocument).where(
                StoredDocument.case_id == case_id,
                StoredDocument.kind == kind,
                StoredDocument.seq == SEQ,
            )
        )
    assert document is not None
    pdf = await deps.storage.get(document.storage_key, sha256=document.sha256)
    return Doc(text=pdf_text(pdf), pdf=pdf, document=document)


async def fails(
    sm: SM,
    deps: JobDeps,
    clock: FrozenClock,
    case_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: dict[str, str],
) -> str:
    """The last try of a render that must fail: no document, the French reason in the case's
    history (agents only). Returns that reason."""
    row_id = await queue(sm, clock, case_id, kind, params, requested_by=requested_by)
    async with sm() as s, s.begin():
        row = await s.get(Outbox, row_id)
        assert row is not None
        row.attempts = MAX_ATTEMPTS - 1
    assert await _perform(sm, deps, row_id) == "failed"
    async with sm() as s:
        assert (
            await s.scalar(
                select(StoredDocument).where(
                    StoredDocument.case_id == case_id,
                    StoredDocument.kind == kind,
                    StoredDocument.seq == SEQ,
                )
            )
            is None
        )
        events = list(
            await s.scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == "document.failed"
                )
            )
        )
    [event] = [e for e in events if e.data.get("seq") == SEQ]
    assert event.public is False
    return str(event.data["error"])
