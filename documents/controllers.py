"""Documents of a case over HTTP: the list, and the PDF itself (ETag, integrity checked on read).

Who may read: agents with a role in the case's tenant (a role on the métropole covers its
communes), API clients of the case's tenant with ``cases:read``, and the people who see the case
(the person concerned, those holding a valid mandate for them or for the organisation concerned:
``workflows.cases.repository.can_see``). Every document of a case is addressed to its applicant
(acknowledgements, letters, decisions), so a person who sees the case sees all of them. Anybody
else gets 404, as if the document did not exist.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.models import StoredDocument
from documents.storage import CorruptDocument, DocumentStorage, StorageUnavailable
from services.kernel.actor import Actor, Scope
from services.kernel.clock import Clock
from services.kernel.errors import NotFound, Unavailable
from services.kernel.journal import JournalEvent, record
from services.kernel.logging import get_logger
from services.kernel.policy import anyone_signed_in, policy_opt
from workflows.cases.repository import visible_case

READ = policy_opt(
    anyone_signed_in(
        Scope.CASES_READ,
        description="agents of the case's tenant; API clients of that tenant with cases:read; "
        "people who see the case",
    )
)
PDF = "application/pdf"
_log = get_logger("guichet.documents")
_NOT_FOUND = "Document introuvable (ou hors de vos collectivités)."


class DocumentRead(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    seq: int
    size: int
    sha256: str
    created_at: datetime
    download_url: str


def provide_storage(state: State) -> DocumentStorage:
    storage: DocumentStorage = state.storage
    return storage


def etag_of(document: StoredDocument) -> str:
    return f'"{document.sha256}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison; ``*`` matches any current representation."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` (no quote, backslash, control or path character)
    and, when the name is not plain ASCII, its UTF-8 form in ``filename*`` (RFC 6266, RFC 8187)."""
    cleaned = "".join(c for c in filename if unicodedata.category(c)[0] != "C")
    cleaned = re.sub(r'[\\/"]+', "_", cleaned).strip(" .") or "document.pdf"
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("_.") or "document.pdf"
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != cleaned:
        header += f"; filename*=UTF-8''{quote(cleaned, safe='')}"
    return header


def _to_read(document: StoredDocument) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        kind=document.kind,
        title=document.title,
        seq=document.seq,
        size=document.size,
        sha256=document.sha256,
        created_at=document.created_at,
        download_url=f"/api/v1/documents/{document.id}",
    )


async def _journal_unreadable(
    state: State, actor: Actor, tenant_id: uuid.UUID, data: dict[str, str]
) -> None:
    """In its own transaction: the request's one is rolled back with the error it answers."""
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    clock: Clock = state.clock
    async with sessionmaker() as session, session.begin():
        record(
            session,
            JournalEvent.DOCUMENT_UNREADABLE,
            at=clock.now(),
            actor=actor,
            tenant_id=tenant_id,
            data=data,
        )


class DocumentController(Controller):
    path = "/"
    tags = ["Documents"]
    dependencies = {"storage": Provide(provide_storage, sync_to_thread=False)}

    @get(
        "/cases/{case_id:uuid}/documents",
        opt=READ,
        summary="Les documents d'un dossier (accusés, courriers, décisions)",
    )
    async def list_documents(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
    ) -> list[DocumentRead]:
        await visible_case(session, case_id, actor, not_found=_NOT_FOUND)
        documents = await session.scalars(
            select(StoredDocument)
            .where(StoredDocument.case_id == case_id)
            .order_by(StoredDocument.created_at, StoredDocument.seq, StoredDocument.kind)
        )
        return [_to_read(d) for d in documents]

    @get(
        "/documents/{document_id:uuid}",
        opt=READ,
        media_type=PDF,
        summary="Télécharger un document (PDF ; ETag, If-None-Match)",
        response_description="Le PDF, vérifié (SHA-256) avant d'être servi.",
    )
    async def download(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        storage: NamedDependency[DocumentStorage],
        state: State,
        document_id: FromPath[uuid.UUID],
        if_none_match: Annotated[
            str | None,
            HeaderParameter(
                name="If-None-Match", description="ETag déjà détenu (304 s'il n'a pas changé)"
            ),
        ] = None,
    ) -> Response[bytes]:
        document = await session.get(StoredDocument, document_id)
        if document is None:
            raise NotFound(_NOT_FOUND)
        case = await visible_case(session, document.case_id, actor, not_found=_NOT_FOUND)
        etag = etag_of(document)
        headers = {"ETag": etag, "Cache-Control": "private"}
        if etag_matches(if_none_match, etag):
            return Response(b"", status_code=304, headers=headers, media_type=PDF)
        incident = {
            "document_id": str(document.id),
            "case_id": str(case.id),
            "storage_key": document.storage_key,
            "sha256": document.sha256,
        }
        tenant_id = case.tenant_id
        filename = f"{case.reference}-{document.kind}.pdf"
        # Nothing more to read from the database: end the (read-only) transaction before the
        # storage is read, so that a slow object store holds no connection (nor, on SQLite, the
        # write lock) and an incident can be journaled in a transaction of its own.
        await session.rollback()
        try:
            data = await storage.get(incident["storage_key"], sha256=incident["sha256"])
        except (CorruptDocument, FileNotFoundError) as exc:
            # Never serve bytes that are not the ones recorded: say so, and leave a trace.
            incident["reason"] = "corrupt" if isinstance(exc, CorruptDocument) else "missing"
            _log.error("document failed its integrity check", error=repr(exc), **incident)
            await _journal_unreadable(state, actor, tenant_id, incident)
            raise Unavailable(
                "Document temporairement indisponible (contrôle d'intégrité) : le fichier "
                "conservé ne correspond pas à l'original enregistré. L'incident est signalé ; "
                "réessayez plus tard ou contactez la collectivité.",
                extra={"document_id": incident["document_id"]},
            ) from exc
        except StorageUnavailable as exc:
            _log.error(
                "document storage unavailable", document_id=incident["document_id"], error=repr(exc)
            )
            raise Unavailable(
                "Document temporairement indisponible : le stockage des documents ne répond pas. "
                "Réessayez dans quelques instants.",
                extra={"document_id": incident["document_id"]},
            ) from exc
        return Response(
            data,
            media_type=PDF,
            headers={
                **headers,
                "Content-Disposition": content_disposition(filename),
                "X-Content-Type-Options": "nosniff",
            },
        )
