"""Notifications to people about their cases (e-mail, or letters printed for posting)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from documents.models import StoredDocument
from workflows.cases.models import Case, Outbox


async def after_document(
    session: AsyncSession, case: Case, document: StoredDocument, *, now: datetime
) -> None:
    """A rendered ARE is sent to the person (e-mail with the PDF attached), in the same
    transaction as the document, through the outbox."""
    if document.kind != "are":
        return
    session.add(
        Outbox(
            case_id=case.id,
            kind="notification.send",
            payload={"case_id": str(case.id), "template": "are", "documents": [str(document.id)]},
            dedupe_key=f"notification:{case.id}:are:{document.seq}",
            status="pending",
            attempts=0,
            created_at=now,
        )
    )
