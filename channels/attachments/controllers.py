"""Attachments over HTTP. The body of an upload is the file itself, streamed (not a form): its
name comes from the ``X-Filename`` header (percent-encoded UTF-8 allowed) or ``?filename=``; the
request's Content-Type is ignored, the type is read from the bytes (``service``).

- ``POST /drafts/{id}/attachments``: a person, on their own open draft.
- ``POST /cases/{id}/attachments``: counter and phone agents, instructors, of the case's tenant.
- ``GET /drafts/{id}/attachments``, ``GET /cases/{id}/attachments``: the lists.
- ``GET /attachments/{id}``: the file, to the person who uploaded it or agents of its tenant.
- ``DELETE /drafts/{id}/attachments/{attachment_id}``: remove a file from an open draft.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.attachments.clamd import ClamdClient
from channels.attachments.service import (
    HARD_CEILING,
    UPLOADER_ROLES,
    AttachmentRead,
    UnsupportedFile,
    Uploads,
    case_attachments,
    delete_draft_attachment,
    draft_attachments,
    readable_attachment,
)
from documents.controllers import content_disposition, provide_storage
from documents.storage import CorruptDocument, DocumentStorage, StorageUnavailable
from services.api.problems import problem
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Unavailable
from services.kernel.logging import get_logger
from services.kernel.policy import Policy, persons, policy_opt

_log = get_logger("guichet.attachments")

UPLOAD_TO_DRAFT = policy_opt(persons(description="the person who owns the open draft"))
UPLOAD_TO_CASE = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.PERSON}),
        roles=frozenset(UPLOADER_ROLES),
        description=(
            "counter and phone agents, instructors, of the case's tenant; the person concerned"
        ),
    )
)
LIST_CASE = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.PERSON}),
        description="agents with a role in the case's tenant; the person concerned",
    )
)
READ = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.PERSON, ActorKind.AGENT}),
        description="the person who uploaded the file; agents with a role in its tenant",
    )
)

FilenameHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-Filename",
        max_length=1000,
        description="Nom du fichier (UTF-8 encodé en pourcentage si besoin)",
    ),
]
FilenameQuery = Annotated[
    str | None,
    QueryParameter(max_length=1000, description="Nom du fichier, si pas d'en-tête X-Filename"),
]


def unsupported_file_handler(
    request: Request[Any, Any, Any], exc: UnsupportedFile
) -> Response[Any]:
    """The file's real type is refused: 415 Unsupported Media Type."""
    return problem(
        request,
        status=415,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extra=exc.extra,
    )


def header_filename(value: str) -> str:
    """Header values arrive as Latin-1: undo that for raw UTF-8, then percent-decoding."""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value, errors="replace")


def uploads(state: State, clock: Clock) -> Uploads:
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    storage: DocumentStorage = state.storage
    return Uploads(sessionmaker, storage, clock, ClamdClient.from_settings())


class AttachmentController(Controller):
    path = "/"
    tags = ["Pièces jointes"]
    dependencies = {"storage": Provide(provide_storage, sync_to_thread=False)}
    exception_handlers = {UnsupportedFile: unsupported_file_handler}

    @post(
        "/drafts/{draft_id:uuid}/attachments",
        opt=UPLOAD_TO_DRAFT,
        status_code=201,
        request_max_body_size=HARD_CEILING,
        summary="Joindre un fichier à son brouillon (corps = le fichier)",
        description="Corps brut : le fichier. Nom dans X-Filename ou ?filename=. PDF, JPEG, PNG "
        "par défaut ; 413 trop volumineux ou quota dépassé ; 415 type refusé ; 422 virus.",
    )
    async def upload_to_draft(
        self,
        request: Request[Any, Any, Any],
        state: State,
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
        x_filename: FilenameHeader = None,
        filename: FilenameQuery = None,
    ) -> AttachmentRead:
        return await uploads(state, clock).receive(
            actor,
            request.stream(),
            filename=header_filename(x_filename) if x_filename else filename,
            declared_length=request.content_length,
            draft_id=draft_id,
        )

    @post(
        "/cases/{case_id:uuid}/attachments",
        opt=UPLOAD_TO_CASE,
        status_code=201,
        request_max_body_size=HARD_CEILING,
        summary="Joindre un fichier à un dossier (agents ; corps = le fichier)",
    )
    async def upload_to_case(
        self,
        request: Request[Any, Any, Any],
        state: State,
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        x_filename: FilenameHeader = None,
        filename: FilenameQuery = None,
    ) -> AttachmentRead:
        return await uploads(state, clock).receive(
            actor,
            request.stream(),
            filename=header_filename(x_filename) if x_filename else filename,
            declared_length=request.content_length,
            case_id=case_id,
        )

    @get(
        "/drafts/{draft_id:uuid}/attachments",
        opt=UPLOAD_TO_DRAFT,
        summary="Les pièces jointes de son brouillon",
    )
    async def list_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
    ) -> list[AttachmentRead]:
        return await draft_attachments(session, draft_id, actor, clock.now())

    @get(
        "/cases/{case_id:uuid}/attachments",
        opt=LIST_CASE,
        summary="Les pièces jointes d'un dossier (agents)",
    )
    async def list_case(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        case_id: FromPath[uuid.UUID],
    ) -> list[AttachmentRead]:
        return await case_attachments(session, case_id, actor)

    @delete(
        "/drafts/{draft_id:uuid}/attachments/{attachment_id:uuid}",
        opt=UPLOAD_TO_DRAFT,
        status_code=204,
        summary="Retirer une pièce jointe de son brouillon",
    )
    async def remove_from_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        draft_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> None:
        await delete_draft_attachment(session, draft_id, attachment_id, actor, clock.now())

    @get(
        "/attachments/{attachment_id:uuid}",
        opt=READ,
        summary="Télécharger une pièce jointe",
        response_description="Le fichier, vérifié (SHA-256) avant d'être servi.",
    )
    async def download(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        storage: NamedDependency[DocumentStorage],
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        attachment = await readable_attachment(session, attachment_id, actor)
        key, sha256 = attachment.storage_key, attachment.sha256
        media_type, filename = attachment.content_type, attachment.filename
        # Nothing more from the database: no connection held while the storage is read.
        await session.rollback()
        try:
            data = await storage.get(key, sha256=sha256)
        except (CorruptDocument, FileNotFoundError, StorageUnavailable) as exc:
            _log.error("attachment unreadable", attachment_id=str(attachment_id), error=repr(exc))
            raise Unavailable(
                "Pièce jointe temporairement indisponible : le fichier conservé ne peut pas être "
                "lu. L'incident est signalé ; réessayez plus tard.",
                extra={"attachment_id": str(attachment_id)},
            ) from exc
        return Response(
            data,
            media_type=media_type,
            headers={
                "Content-Disposition": content_disposition(filename),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private",
                "ETag": f'"{sha256}"',
            },
        )
