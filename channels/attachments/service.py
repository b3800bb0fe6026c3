"""Attachments: receive a streamed upload, check it, store it, record it. No framework here.

The checks, in order:

1. Who: a person on their own open draft; an agent (counter, phone, instructor) on a case of a
   tenant where they hold one of those roles. Anyone else: 404, as if it did not exist.
2. Room: the number of files on the draft/case and the person's storage quota.
3. Size: the body is read chunk by chunk into a temporary file while counting and hashing;
   past the procedure's limit reading stops at once (413), and nothing is kept.
4. Virus: when clamd is configured (``GUICHET_CLAMD_HOST``) the file is scanned (INSTREAM)
   before anything else looks at its content; infected: 422, clamd down: 503. The scan is
   synchronous: nothing is accepted, hence nothing reaches a case, before clamd said "clean".
5. Type: sniffed from the first bytes (the request's Content-Type and the file name are not
   trusted); not allowed for the procedure, or an extension that lies about it: 415.
6. Bombs: images whose header declares more pixels than allowed (read from the header, never
   decoded); zip-based documents whose entries inflate past a total or a ratio.
7. Storage: content-addressed (``documents.storage``), then the Attachment row.

The database is used in two short transactions (before reading the body, and after it was
checked), so that a slow upload or scan holds no connection (nor, on SQLite, the write lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import struct
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.attachments.clamd import ClamdClient, ClamdUnavailable
from channels.models import Attachment, Draft
from documents.storage import DocumentStorage, StorageUnavailable
from identity.models import Person
from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.clock import Clock
from services.kernel.errors import (
    Conflict,
    HiddenDenial,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationFailed,
)
from services.kernel.journal import JournalEvent, record
from services.kernel.logging import get_logger
from workflows.cases.models import Case

_log = get_logger("guichet.attachments")

MiB = 1024 * 1024
PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
TIFF = "image/tiff"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"
HTML = "text/html"
SVG = "image/svg+xml"
XML = "application/xml"
EXE = "application/x-msdownload"
ELF = "application/x-executable"
OCTET = "application/octet-stream"

EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"),
    PNG: (".png",),
    GIF: (".gif",),
    WEBP: (".webp",),
    TIFF: (".tif", ".tiff"),
    ODT: (".odt",),
    ODS: (".ods",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
}
"""Extensions a file of each (allowed-able) type may carry; the first is added when none is."""
ZIP_BASED = frozenset({ODT, ODS, DOCX, XLSX})
IMAGES = frozenset({JPEG, PNG})
LABELS: dict[str, str] = {
    PDF: "PDF",
    JPEG: "JPEG",
    PNG: "PNG",
    GIF: "GIF",
    WEBP: "WebP",
    TIFF: "TIFF",
    ODT: "OpenDocument texte (.odt)",
    ODS: "OpenDocument tableur (.ods)",
    DOCX: "Word (.docx)",
    XLSX: "Excel (.xlsx)",
}


@dataclass(frozen=True, slots=True)
class AttachmentRules:
    """What a procedure accepts. ``RULES`` holds the exceptions; ``DEFAULT_RULES`` the rest."""

    max_bytes: int = 10 * MiB
    max_files: int = 20
    """Per draft or per case."""
    allowed_types: frozenset[str] = frozenset({PDF, JPEG, PNG})
    quota_bytes: int = 100 * MiB
    """Sum of the sizes of one person's attachments."""
    max_pixels: int = 40_000_000
    """Images declaring more (width × height) are refused as decompression bombs."""
    max_zip_uncompressed: int = 100 * MiB
    max_zip_ratio: int = 100
    max_zip_entries: int = 2000


DEFAULT_RULES = AttachmentRules()
RULES: dict[str, AttachmentRules] = {}
"""Per procedure key, e.g. ``RULES["urbanisme.permis"] = replace(DEFAULT_RULES, max_bytes=...)``."""
HARD_CEILING = 200 * MiB
"""The HTTP layer's own limit on upload bodies; the procedure's limit is always enforced first."""


def rules_for(procedure_key: str) -> AttachmentRules:
    return RULES.get(procedure_key, DEFAULT_RULES)


def _human(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.0f} Mo" if size % MiB == 0 else f"{size / MiB:.1f} Mo"
    return f"{max(1, size // 1024)} Ko"


# ----- errors ----------------------------------------------------------------------------------


class UnsupportedFile(ValidationFailed):
    """The file's real type is not accepted (shown as 415 by the attachments controller)."""

    code = "unsupported-media-type"
    title = "Type de fichier refusé"


class VirusDetected(ValidationFailed):
    code = "virus-detected"
    title = "Fichier refusé"


class FileBomb(UnsupportedFile):
    code = "file-bomb"


# ----- sniffing --------------------------------------------------------------------------------

_TEXT_MARKUP = re.compile(
    rb"^\s*(<!doctype\s+html|<html|<head|<body|<script|<iframe|<title|<meta|<a\s|<div|<img|<style"
    rb"|<table|<p>|<br|<!--)",
    re.IGNORECASE,
)


def sniff(head: bytes) -> str:
    """The type of a file from its first bytes (a few KiB are enough). Never from its name.

    Zip-based documents need the whole archive: ``sniff`` says ``application/zip`` and
    ``sniff_zip`` tells which document it is.
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[:2] == b"MZ":
        return EXE
    if head[:4] == b"\x7fELF":
        return ELF
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if re.search(rb"<svg[\s>]", text[:2048], re.IGNORECASE):
        return SVG
    if text[:5].lower() == b"<?xml":
        return XML
    if _TEXT_MARKUP.match(text):
        return HTML
    return OCTET


def sniff_zip(path: Path) -> str:
    """Which document a zip archive is: OpenDocument (its ``mimetype`` entry), Office Open XML
    (``[Content_Types].xml`` and the part's folder), or a plain zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 100:
                    declared = archive.read("mimetype").decode("ascii", "replace").strip()
                    if declared in (ODT, ODS):
                        return declared
            if "[Content_Types].xml" in names:
                if any(n.startswith("word/") for n in names):
                    return DOCX
                if any(n.startswith("xl/") for n in names):
                    return XLSX
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return OCTET
    return ZIP


# ----- names -----------------------------------------------------------------------------------

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_UNSAFE = re.compile(r'[<>:"|?*]')
_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
DEFAULT_NAME = "fichier"


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXTENSION.match("." + ext):
        return stem, "." + ext
    return name, ""


def sanitise_filename(raw: str, *, max_length: int = 120) -> str:
    """A name safe to store and to show: the last path segment only (``/`` and ``\\``), NFC,
    no control or invisible formatting character (bidi overrides included), no character
    Windows refuses, no leading or trailing dot or space, at most ``max_length`` characters with
    the extension kept. Nothing left: ``fichier``."""
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        name = DEFAULT_NAME
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    if len(name) > max_length:
        stem, ext = _split_extension(name)
        name = stem[: max_length - len(ext)].rstrip(" .") + ext
    return name


def extension_of(name: str) -> str:
    return _split_extension(name)[1].lower()


def name_for_type(filename: str, content_type: str) -> str:
    """The file name, checked against its real type: no extension gets the type's own; an
    extension of another type (a PNG named ``.pdf``) is refused."""
    allowed = EXTENSIONS.get(content_type, ())
    ext = extension_of(filename)
    if not ext:
        name = filename[: 120 - len(allowed[0])] + allowed[0] if allowed else filename
        return name
    if ext not in allowed:
        label = LABELS.get(content_type, content_type)
        raise UnsupportedFile(
            f"Fichier refusé : son nom se termine par « {ext} » mais son contenu est un fichier "
            f"{label}. Renommez-le avec la bonne extension ({', '.join(allowed)}) ou envoyez "
            "le bon fichier.",
            errors=[{"field": "filename", "message": "extension trompeuse", "type": "mismatch"}],
        )
    return filename


# ----- bombs -----------------------------------------------------------------------------------


def png_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the IHDR chunk, which must come first."""
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    """Width and height from the first SOF segment, walking the segments by their lengths."""
    fh.seek(2)
    for _ in range(10_000):
        if fh.read(1) != b"\xff":
            return None  # segments follow one another: anything else is not a JPEG we read
        byte = fh.read(1)
        while byte == b"\xff":  # fill bytes
            byte = fh.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            continue  # no length
        if marker in (0xD9, 0xDA):
            return None  # end of image, or start of scan before any frame header
        raw = fh.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if length < 2:
            return None
        if marker in _SOF:
            segment = fh.read(5)
            if len(segment) < 5:
                return None
            height, width = struct.unpack(">HH", segment[1:5])
            return width, height
        fh.seek(length - 2, os.SEEK_CUR)
    return None


def check_image(path: Path, content_type: str, head: bytes, rules: AttachmentRules) -> None:
    """Refuse an image whose header is unreadable or declares too many pixels (never decoded)."""
    if content_type == PNG:
        size = png_size(head)
    else:
        with path.open("rb") as fh:
            size = jpeg_size(fh)
    label = LABELS[content_type]
    if size is None or 0 in size:
        raise UnsupportedFile(
            f"Fichier refusé : l'image {label} est illisible (en-tête invalide). Enregistrez-la "
            "de nouveau depuis votre logiciel ou envoyez-la en PDF."
        )
    width, height = size
    if width * height > rules.max_pixels:
        raise FileBomb(
            f"Fichier refusé : l'image annonce {width} × {height} pixels, au-delà du maximum "
            f"accepté ({rules.max_pixels // 1_000_000} mégapixels). Réduisez sa définition "
            "avant de l'envoyer.",
            errors=[{"field": "file", "message": "image trop grande", "type": "image-bomb"}],
        )


def check_zip(path: Path, rules: AttachmentRules) -> None:
    """Refuse an archive that inflates too much: by the sizes it declares, then by the bytes it
    really gives (read in chunks and stopped at the limit; declared sizes can lie)."""
    refused = FileBomb(
        "Fichier refusé : le document compressé se décompresse en un volume anormalement "
        "grand. Enregistrez-le de nouveau ou envoyez-le en PDF.",
        errors=[{"field": "file", "message": "archive anormale", "type": "zip-bomb"}],
    )
    packed = max(1, path.stat().st_size)
    limit = min(rules.max_zip_uncompressed, packed * rules.max_zip_ratio)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > rules.max_zip_entries:
                raise refused
            if sum(i.file_size for i in infos) > limit:
                raise refused
            total = 0
            for info in infos:
                with archive.open(info) as member:
                    while chunk := member.read(256 * 1024):
                        total += len(chunk)
                        if total > limit:
                            raise refused
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise UnsupportedFile(
            "Fichier refusé : le document est endommagé ou chiffré. Enregistrez-le de nouveau "
            "sans mot de passe, ou envoyez-le en PDF."
        ) from exc


# ----- receiving -------------------------------------------------------------------------------

HEAD = 8 * 1024


@dataclass(slots=True)
class Spooled:
    """The received body, on disk: its size, SHA-256 and first bytes."""

    path: Path
    size: int
    sha256: str
    head: bytes

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def too_large(rules: AttachmentRules) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Fichier trop volumineux : la taille maximale est de {_human(rules.max_bytes)} par "
        "fichier. Réduisez-le (compression, numérisation en niveaux de gris, résolution "
        "moindre) ou découpez-le.",
        extra={"max_bytes": rules.max_bytes},
    )


async def spool(chunks: AsyncIterator[bytes], *, max_bytes: int, rules: AttachmentRules) -> Spooled:
    """Write the chunks to a temporary file while counting and hashing; stop reading at once
    past ``max_bytes`` (PayloadTooLarge) and keep nothing."""
    fd, name = tempfile.mkstemp(prefix="guichet-upload-")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(rules)
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Spooled(path=path, size=size, sha256=digest.hexdigest(), head=head)


@dataclass(frozen=True, slots=True)
class Checked:
    content_type: str
    filename: str


def check_content(spooled: Spooled, filename: str, rules: AttachmentRules) -> Checked:
    """Type, name against type, bombs. Raises UnsupportedFile / FileBomb / ValidationFailed."""
    if spooled.size == 0:
        raise ValidationFailed(
            "Le fichier est vide : choisissez de nouveau le fichier à envoyer.",
            errors=[{"field": "file", "message": "fichier vide", "type": "empty"}],
        )
    content_type = sniff(spooled.head)
    if content_type == ZIP:
        content_type = sniff_zip(spooled.path)
    if content_type not in rules.allowed_types:
        accepted = ", ".join(sorted(LABELS.get(t, t) for t in rules.allowed_types))
        raise UnsupportedFile(
            f"Type de fichier refusé : ce fichier n'est pas d'un type accepté pour cette "
            f"démarche ({accepted}). Convertissez-le (par exemple en PDF) puis envoyez-le de "
            "nouveau.",
            errors=[{"field": "file", "message": "type non accepté", "type": "media-type"}],
        )
    filename = name_for_type(filename, content_type)
    if content_type in IMAGES:
        check_image(spooled.path, content_type, spooled.head, rules)
    if content_type in ZIP_BASED:
        check_zip(spooled.path, rules)
    return Checked(content_type=content_type, filename=filename)


# ----- targets, room, records ------------------------------------------------------------------

UPLOADER_ROLES = frozenset({Role.COUNTER_AGENT, Role.PHONE_AGENT, Role.INSTRUCTOR})
DRAFT_NOT_FOUND = "Brouillon introuvable (ou déjà déposé, ou supprimé)."
CASE_NOT_FOUND = "Dossier introuvable (ou hors de vos collectivités)."
ATTACHMENT_NOT_FOUND = "Pièce jointe introuvable."


class AttachmentRead(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    scan_status: str
    draft_id: uuid.UUID | None
    case_id: uuid.UUID | None
    created_at: datetime
    download_url: str


def to_read(a: Attachment) -> AttachmentRead:
    return AttachmentRead(
        id=a.id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
        scan_status=a.scan_status,
        draft_id=a.draft_id,
        case_id=a.case_id,
        created_at=a.created_at,
        download_url=f"/api/v1/attachments/{a.id}",
    )


@dataclass(frozen=True, slots=True)
class Target:
    tenant_id: uuid.UUID
    procedure_key: str
    draft_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    """Whose quota the file counts in (the uploading person); None for agents' uploads."""
    rules: AttachmentRules = field(default=DEFAULT_RULES)


async def open_draft(
    session: AsyncSession, draft_id: uuid.UUID, actor: Actor, now: datetime, *, lock: bool = False
) -> Draft:
    """The actor's own draft, still open; anything else does not exist for them."""
    query = select(Draft).where(Draft.id == draft_id)
    if lock:
        query = query.with_for_update()
    draft = await session.scalar(query)
    if draft is None:
        raise NotFound(DRAFT_NOT_FOUND)
    if actor.kind is not ActorKind.PERSON or draft.person_id != actor.id:
        raise HiddenDenial(DRAFT_NOT_FOUND)
    if draft.deleted_at is not None or draft.submitted_case_id is not None:
        raise NotFound(DRAFT_NOT_FOUND)
    if _aware(draft.expires_at) <= now:
        raise NotFound(DRAFT_NOT_FOUND)
    return draft


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def case_for_upload(
    session: AsyncSession, case_id: uuid.UUID, actor: Actor, *, lock: bool = False
) -> Case:
    query = select(Case).where(Case.id == case_id)
    if lock:
        query = query.with_for_update()
    case = await session.scalar(query)
    if case is None:
        raise NotFound(CASE_NOT_FOUND)
    if actor.kind is ActorKind.PERSON:
        # The person concerned (or who represents them) adds pieces to their own case.
        if not actor.sees_person(case.submitter_id, case.organisation_id):
            raise HiddenDenial(CASE_NOT_FOUND)
        return case
    if actor.kind is not ActorKind.AGENT or not (actor.roles_in(case.tenant_id) & UPLOADER_ROLES):
        raise HiddenDenial(CASE_NOT_FOUND)
    return case


async def _target(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    *,
    draft_id: uuid.UUID | None,
    case_id: uuid.UUID | None,
    lock: bool,
) -> Target:
    if draft_id is not None:
        draft = await open_draft(session, draft_id, actor, now, lock=lock)
        return Target(
            tenant_id=draft.tenant_id,
            procedure_key=draft.procedure_key,
            draft_id=draft.id,
            person_id=actor.id,
            rules=rules_for(draft.procedure_key),
        )
    assert case_id is not None
    case = await case_for_upload(session, case_id, actor, lock=lock)
    return Target(
        tenant_id=case.tenant_id,
        procedure_key=case.procedure_key,
        case_id=case.id,
        rules=rules_for(case.procedure_key),
    )


async def check_room(session: AsyncSession, target: Target, incoming: int) -> None:
    """Room for one more file of ``incoming`` bytes: files per draft/case, the person's quota."""
    rules = target.rules
    where = (
        Attachment.draft_id == target.draft_id
        if target.draft_id is not None
        else Attachment.case_id == target.case_id
    )
    count = await session.scalar(select(func.count()).select_from(Attachment).where(where))
    if (count or 0) >= rules.max_files:
        raise Conflict(
            f"Nombre maximal de pièces jointes atteint ({rules.max_files}) : supprimez une pièce "
            "devenue inutile, ou regroupez plusieurs pages dans un seul PDF.",
            extra={"max_files": rules.max_files},
        )
    if target.person_id is None:
        return
    used = await session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.person_id == target.person_id
        )
    )
    used = int(used or 0)
    if used + incoming > rules.quota_bytes:
        raise PayloadTooLarge(
            f"Espace de stockage insuffisant : vos pièces jointes occupent déjà {_human(used)} "
            f"sur {_human(rules.quota_bytes)}. Supprimez des pièces de vos brouillons devenues "
            "inutiles, ou réduisez la taille de ce fichier.",
            extra={"quota_bytes": rules.quota_bytes, "used_bytes": used},
        )


class Uploads:
    """Receive one file for a draft or a case (module docstring for the order of the checks)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: DocumentStorage,
        clock: Clock,
        scanner: ClamdClient | None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.clock = clock
        self.scanner = scanner

    async def receive(
        self,
        actor: Actor,
        chunks: AsyncIterator[bytes],
        *,
        filename: str | None,
        declared_length: int | None,
        draft_id: uuid.UUID | None = None,
        case_id: uuid.UUID | None = None,
    ) -> AttachmentRead:
        if (draft_id is None) == (case_id is None):
            raise ValueError("exactly one of draft_id and case_id")
        if not filename or not filename.strip():
            raise ValidationFailed(
                "Nom de fichier manquant : indiquez-le dans l'en-tête X-Filename ou le "
                "paramètre filename.",
                errors=[{"field": "filename", "message": "obligatoire", "type": "missing"}],
            )
        name = sanitise_filename(filename)
        async with self.sessionmaker() as session, session.begin():
            target = await _target(
                session, actor, self.clock.now(), draft_id=draft_id, case_id=case_id, lock=False
            )
            await check_room(session, target, max(declared_length or 0, 0))
        rules = target.rules
        if declared_length is not None and declared_length > rules.max_bytes:
            raise too_large(rules)
        spooled = await spool(chunks, max_bytes=rules.max_bytes, rules=rules)
        try:
            scan_status = await self._scan(spooled, actor, target)
            # Off the event loop: reading an archive back may take a moment.
            checked = await asyncio.to_thread(check_content, spooled, name, rules)
            data = await asyncio.to_thread(spooled.path.read_bytes)
        finally:
            spooled.discard()
        async with self.sessionmaker() as session, session.begin():
            now = self.clock.now()
            target = await _target(
                session, actor, now, draft_id=draft_id, case_id=case_id, lock=True
            )
            if target.person_id is not None:
                # One upload at a time per person past this point: the quota holds under races.
                await session.scalar(
                    select(Person.id).where(Person.id == target.person_id).with_for_update()
                )
            await check_room(session, target, spooled.size)
            try:
                blob = await self.storage.put(data)
            except (StorageUnavailable, OSError) as exc:
                _log.error("attachment storage unavailable", error=repr(exc))
                raise Unavailable(
                    "Le fichier n'a pas pu être enregistré : le stockage des documents ne répond "
                    "pas. Réessayez dans quelques instants."
                ) from exc
            attachment = Attachment(
                tenant_id=target.tenant_id,
                person_id=target.person_id,
                agent_id=actor.id if actor.kind is ActorKind.AGENT else None,
                draft_id=target.draft_id,
                case_id=target.case_id,
                filename=checked.filename,
                content_type=checked.content_type,
                size=spooled.size,
                sha256=spooled.sha256,
                storage_key=blob.key,
                scan_status=scan_status,
                created_at=now,
            )
            session.add(attachment)
            await session.flush()
            return to_read(attachment)

    async def _scan(self, spooled: Spooled, actor: Actor, target: Target) -> str:
        if self.scanner is None:
            return "not_scanned"
        try:
            result = await self.scanner.scan_file(spooled.path)
        except ClamdUnavailable as exc:
            _log.error("antivirus unavailable", error=str(exc))
            raise Unavailable(
                "Envoi impossible pour le moment : l'analyse antivirus des fichiers ne répond "
                "pas. Réessayez dans quelques minutes."
            ) from exc
        if result.infected:
            _log.warning(
                "upload refused: virus detected",
                signature=result.signature,
                sha256=spooled.sha256,
                actor_id=str(actor.id),
                tenant_id=str(target.tenant_id),
            )
            async with self.sessionmaker() as session, session.begin():
                record(
                    session,
                    JournalEvent.FILE_INFECTED,
                    at=self.clock.now(),
                    actor=actor,
                    tenant_id=target.tenant_id,
                    data={"signature": result.signature, "sha256": spooled.sha256},
                )
            raise VirusDetected(
                "Fichier refusé : virus détecté. Il n'a pas été enregistré ; analysez votre "
                "appareil avec un antivirus, puis envoyez une copie saine du document.",
                errors=[{"field": "file", "message": "virus détecté", "type": "virus"}],
            )
        return "clean"


# ----- reading, deleting -----------------------------------------------------------------------


async def draft_attachments(
    session: AsyncSession, draft_id: uuid.UUID, actor: Actor, now: datetime
) -> list[AttachmentRead]:
    draft = await open_draft(session, draft_id, actor, now)
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.draft_id == draft.id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [to_read(a) for a in rows]


async def case_attachments(
    session: AsyncSession, case_id: uuid.UUID, actor: Actor
) -> list[AttachmentRead]:
    case = await session.get(Case, case_id)
    if case is None:
        raise NotFound(CASE_NOT_FOUND)
    if actor.kind is ActorKind.PERSON:
        if not actor.sees_person(case.submitter_id, case.organisation_id):
            raise HiddenDenial(CASE_NOT_FOUND)
    elif actor.kind is not ActorKind.AGENT or not actor.can_act_in(case.tenant_id):
        raise HiddenDenial(CASE_NOT_FOUND)
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.case_id == case.id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [to_read(a) for a in rows]


async def readable_attachment(
    session: AsyncSession, attachment_id: uuid.UUID, actor: Actor
) -> Attachment:
    """The person who uploaded it, or an agent with a role in its tenant; else 404."""
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(ATTACHMENT_NOT_FOUND)
    if actor.kind is ActorKind.PERSON and attachment.person_id == actor.id:
        return attachment
    if actor.kind is ActorKind.PERSON and attachment.case_id is not None:
        case = await session.get(Case, attachment.case_id)
        if case is not None and actor.sees_person(case.submitter_id, case.organisation_id):
            return attachment
    if (
        actor.kind is ActorKind.AGENT
        and attachment.tenant_id is not None
        and actor.can_act_in(attachment.tenant_id)
    ):
        return attachment
    raise HiddenDenial(ATTACHMENT_NOT_FOUND)


async def delete_draft_attachment(
    session: AsyncSession,
    draft_id: uuid.UUID,
    attachment_id: uuid.UUID,
    actor: Actor,
    now: datetime,
) -> None:
    """Remove a file from the person's open draft. The stored bytes stay (content-addressed,
    possibly shared with another attachment); an unreferenced blob is for housekeeping."""
    draft = await open_draft(session, draft_id, actor, now)
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.draft_id != draft.id:
        raise NotFound(ATTACHMENT_NOT_FOUND)
    await session.delete(attachment)
