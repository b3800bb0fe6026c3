"""POST requests and POST servicerequestupdates (mySociety), framework-free.

An Open311 POST builds a street report through ``channels.street.service.submit_report`` — the
one submit path of every channel — in the request's transaction: an accepted POST is a case.

Decisions:
- Location: ``lat`` and ``long`` (WGS84) are required together; an ``address_string`` alone is
  refused (400 naming the fields: Guichet routes a report by its point and does not geocode).
  ``address_string`` is kept as the address; ``address_id`` (opaque, e.g. ``#NOTPINPOINTED#``)
  and ``device_id``/``deviceid``/``account_id`` are recorded on the case, never shown.
- A point outside every tenant → 400 (GeoReport has no 422) with the reason in the description.
- Names are never published through Open311; the reporter's e-mail and phone go to the case.
- Photos: multipart parts ``media``, ``photo``, ``photo1``…, ``file_*`` and ``data:image/…;base64``
  ``media_url`` values become the report's photos (at most 3, checked by
  ``channels.street.photos``). An http(s) ``media_url`` is checked (no ``javascript:``/``file:``,
  no private address) and recorded on the case as a link; it is not downloaded.
- Idempotence: the same report posted again by the same key within
  ``GUICHET_STREET_IDEMPOTENCY_SECONDS`` (60 s) gives the same ``service_request_id``
  (street_reports' fingerprint: channel, client, category, point, description, contact). An
  ``Idempotency-Key`` header makes it permanent for that key.
- Updates: ``status`` is any mySociety extended status (case-insensitive, spaces or underscores).
  REOPEN reopens a fixed report (within 30 days); any other status records a public comment and
  changes nothing (an app cannot close a report: its department does). A repeated ``update_id``
  from the same key gets the first answer and records nothing.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311 import parsing
from channels.open311.keys import KeyUse, verify_key
from channels.open311.models import Open311UpdateReceipt
from channels.open311.parsing import Fields, invalid
from channels.open311.service import Jurisdiction, jurisdiction, report_in, require
from channels.street.service import add_public_update, channel_actor, submit_report
from documents.storage import DocumentStorage
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, ValidationFailed
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.queries import get_report

EXTENDED_STATUSES = frozenset(
    {
        "OPEN",
        "CLOSED",
        "FIXED",
        "IN_PROGRESS",
        "PLANNED",
        "ACTION_SCHEDULED",
        "INVESTIGATING",
        "DUPLICATE",
        "NOT_COUNCILS_RESPONSIBILITY",
        "NO_FURTHER_ACTION",
        "INTERNAL_REFERRAL",
        "CANCELLED",
        "REOPEN",
        "FOR_TRIAGE",
        "UNCHANGED",
    }
)
MAX_DATA_URI_CHARS = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Posted:
    fields: Fields
    photos: list[bytes]
    query_key: bool
    """An ``api_key`` was given in the query string."""
    idempotency_key: str | None = None


def app_actor(key: KeyUse) -> Actor:
    return channel_actor(f"Application Open311 « {key.name} »", f"open311:{key.key_id}")


def _check_scope(key: KeyUse, where: Jurisdiction | None) -> None:
    if where is not None and where.explicit and not key.covers(where.tenant.id):
        raise Forbidden(
            f"Cette clé api_key ne permet pas de signaler pour {where.tenant.name} "
            f"(jurisdiction_id {where.tenant.insee_code})."
        )


def _point(fields: Fields) -> tuple[str, str]:
    lat = fields.text("lat", max_chars=40)
    lon = fields.first_of("long", "lon", max_chars=40)
    if lat is None and lon is None:
        raise ValidationFailed(
            "Emplacement manquant : lat et long (WGS84, degrés décimaux) sont obligatoires ; "
            "une adresse seule (address_string, address_id) ne suffit pas.",
            errors=[{"field": "lat", "message": "obligatoire (avec long)", "type": "missing"}],
        )
    if lat is None or lon is None:
        missing = "lat" if lat is None else "long"
        raise invalid(
            missing,
            "lat et long vont ensemble",
            f"« {missing} » manquant : lat et long s'envoient ensemble.",
        )
    return lat, lon


def _data_uri_photo(value: str) -> bytes:
    if len(value) > MAX_DATA_URI_CHARS:
        raise invalid("media_url", "image data: trop volumineuse")
    try:
        return base64.b64decode(value.split(",", 1)[1], validate=False)
    except (binascii.Error, ValueError, IndexError):
        raise invalid("media_url", "image data: illisible (base64 invalide)") from None


def _notice(reference: str, created: bool, suggestions: Sequence[Any], links: int) -> str:
    parts = [
        f"Signalement enregistré sous le n° {reference}."
        if created
        else f"Signalement déjà reçu : n° {reference}."
    ]
    if suggestions:
        near = ", ".join(f"n° {s.reference} ({round(s.distance_m)} m)" for s in suggestions[:3])
        parts.append(f"Signalements semblables en cours à proximité : {near}.")
    if links:
        parts.append("Les liens media_url sont conservés avec le signalement.")
    return " ".join(parts)


async def post_request(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    storage: DocumentStorage | None,
    posted: Posted,
) -> list[dict[str, Any]]:
    fields = posted.fields
    now = clock.now()
    key = await verify_key(
        session, fields.text("api_key", max_chars=300), now=now, query_key=posted.query_key
    )
    where = await jurisdiction(session, fields, required=False)
    _check_scope(key, where)
    code = require(fields, "service_code", max_chars=60)
    lat, lon = _point(fields)
    address = fields.text("address_string", max_chars=300)
    description = fields.text(
        "description", max_chars=parsing.MAX_FIELD_CHARS, multiline=True, strip=False
    )
    attributes = parsing.attributes(fields.pairs)
    photos = list(posted.photos)
    links: list[str] = []
    for url in parsing.media_urls(fields.all("media_url") + fields.all("media_url[]")):
        if url.lower().startswith("data:"):
            photos.append(_data_uri_photo(url))
        else:
            links.append(url)
    submitter = {
        "given_name": fields.text("first_name", max_chars=120),
        "family_name": fields.text("last_name", max_chars=120),
        "email": fields.text("email", max_chars=254),
        "phone": fields.text("phone", max_chars=30),
    }
    recorded = {
        "api_key_id": str(key.key_id),
        "address_id": fields.text("address_id", max_chars=100),
        "device_id": fields.first_of("device_id", "deviceid", max_chars=100),
        "account_id": fields.text("account_id", max_chars=100),
        "media_urls": links or None,
    }
    hint: uuid.UUID | None
    if where is not None and where.explicit:
        hint = where.tenant.id
    elif key.tenant_id is not None:
        hint = key.tenant_id
    else:
        hint = where.tenant.id if where is not None else None
    result = await submit_report(
        session,
        engine,
        clock,
        category_code=code,
        lat=lat,
        lon=lon,
        address=address,
        description=description,
        attributes=attributes,
        channel="open311",
        actor=app_actor(key),
        submitter={k: v for k, v in submitter.items() if v is not None},
        public_name=None,
        tenant_hint=hint,
        idempotency=posted.idempotency_key,
        photos=photos,
        storage=storage,
        channel_data={"open311": {k: v for k, v in recorded.items() if v is not None}},
    )
    if not key.covers(result.tenant_id):
        raise Forbidden("Cette clé api_key ne permet pas de signaler à cet endroit.")
    return [
        {
            "service_request_id": result.reference,
            "service_notice": _notice(
                result.reference, result.created, result.suggestions, len(links)
            ),
        }
    ]


def extended_status(value: str) -> str:
    word = "_".join(value.strip().upper().replace("-", " ").split())
    if word not in EXTENDED_STATUSES:
        raise invalid(
            "status",
            f"statut inconnu « {value[:40]} »",
            f"Statut « {value[:40]} » inconnu : attendu un statut étendu mySociety "
            "(OPEN, CLOSED, FIXED, REOPEN, UNCHANGED…).",
        )
    return word


async def post_update(
    session: AsyncSession, engine: Engine, clock: Clock, posted: Posted
) -> list[dict[str, Any]]:
    fields = posted.fields
    now = clock.now()
    key = await verify_key(
        session, fields.text("api_key", max_chars=300), now=now, query_key=posted.query_key
    )
    where = await jurisdiction(session, fields, required=False)
    _check_scope(key, where)
    reference = require(fields, "service_request_id", max_chars=100)
    client_update_id = require(fields, "update_id", max_chars=100)
    status = extended_status(require(fields, "status", max_chars=60))
    parsing.instant(fields.text("updated_datetime", max_chars=40), "updated_datetime")
    description = fields.text(
        "description", max_chars=parsing.MAX_FIELD_CHARS, multiline=True, strip=False
    )
    if where is not None:
        report = await report_in(session, where, reference)
    else:
        report = await get_report(session, reference, None)
    if not key.covers(report.tenant_id):
        raise Forbidden("Cette clé api_key ne permet pas de commenter ce signalement.")
    receipt = await session.scalar(
        select(Open311UpdateReceipt).where(
            Open311UpdateReceipt.api_key_id == key.key_id,
            Open311UpdateReceipt.client_update_id == client_update_id,
        )
    )
    if receipt is not None:
        if receipt.case_id != report.case_id:
            raise invalid(
                "update_id",
                "déjà utilisé pour une autre demande",
                f"update_id « {client_update_id[:40]} » a déjà servi pour une autre demande.",
            )
        return [{"update_id": receipt.update_id}]
    done = await add_public_update(
        session,
        engine,
        clock,
        reference=report.reference,
        actor=app_actor(key),
        status="REOPEN" if status == "REOPEN" else "UNCHANGED",
        description=description,
        client_update_id=client_update_id,
        tenant_id=report.tenant_id,
        channel="open311",
    )
    session.add(
        Open311UpdateReceipt(
            api_key_id=key.key_id,
            client_update_id=client_update_id,
            case_id=report.case_id,
            update_id=done.update_id,
            created_at=now,
        )
    )
    await session.flush()
    return [{"update_id": done.update_id}]
