"""The one submit path of street reports, whatever the channel (web, counter, phone, mail,
Open311), and the public updates that come back from reporters and apps.

``submit_report`` resolves the tenant from the point (the most specific tenant covering it that
offers the category; ``tenant_hint`` — an Open311 jurisdiction, an agent's choice — must cover
the point), checks the category's attributes, then calls ``channels.intake.submit``. It is
idempotent twice over: an explicit idempotency key (``external_ref``), and the same report
(same channel and client, category, point rounded to ~1 m, description and contact) posted again
within ``GUICHET_STREET_IDEMPOTENCY_SECONDS`` gives back the first case (a double tap, a retry
after a time-out).

A reporter needs no name: without one, the submitter is ``anonymous`` (e-mail optional). A
reporter who gives an e-mail address follows the report (every public change is mailed).

Actors: a person (signed in), an agent (counter, phone, mail triage), or — for reporters without
an account and for Open311 apps — a system actor named after the channel (``channel_actor``); the
tenant of an Open311 app is checked through ``tenant_hint``, not through the actor.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from channels.intake import CONTACT_FIELDS, IntakeRequest, submit
from channels.street._attributes import checked_values
from channels.street._checks import checked_description, fingerprint_of, reporter_of
from channels.street.photos import attach_photos
from documents.storage import DocumentStorage
from identity.service import TenantCache
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.db import is_postgres
from services.kernel.errors import NotFound, ValidationFailed
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.categories import get_category
from workflows.procedures.street_reports.definition import KEY
from workflows.procedures.street_reports.location import (
    OutsideTerritory,
    parse_coordinate,
    tenants_at,
)
from workflows.procedures.street_reports.models import StreetCategory, StreetReport
from workflows.procedures.street_reports.queries import Nearby, nearby_open
from workflows.procedures.street_reports.settings import street_settings

_CHANNEL_ACTOR_NAMESPACE = uuid.UUID("6f1d1f7e-3c55-4d0b-9a43-5a2b2f1c0a11")


def channel_actor(name: str, key: str) -> Actor:
    """A system actor standing for an unauthenticated reporter or an app (``key`` gives it a
    stable id: "web", "open311:<client id>")."""
    return Actor(
        id=uuid.uuid5(_CHANNEL_ACTOR_NAMESPACE, key),
        kind=ActorKind.SYSTEM,
        display_name=name[:200],
    )


WEB_REPORTER = channel_actor("Usager sans compte (formulaire web)", "web")


class UnknownCategory(NotFound):
    """No tenant covering the point offers this category (Open311: 404)."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An open report nearby of the same category: perhaps the same problem."""

    reference: str
    distance_m: float
    state: str
    submitted_at: datetime
    address: str


@dataclass(frozen=True, slots=True)
class SubmittedReport:
    case_id: uuid.UUID
    reference: str
    tenant_id: uuid.UUID
    created: bool
    tracking_code: str | None
    suggestions: list[Suggestion] = field(default_factory=list)
    state: str = "submitted"
    aee: dict[str, Any] = field(default_factory=dict)


def suggestions_of(found: Sequence[Nearby]) -> list[Suggestion]:
    return [
        Suggestion(
            reference=n.report.reference,
            distance_m=round(n.distance_m, 1),
            state=n.report.state,
            submitted_at=n.report.submitted_at,
            address=n.report.address,
        )
        for n in found
    ]


# ----- the point, the tenant, the category ------------------------------------------------------


def parse_point(lat: Any, lon: Any) -> tuple[float, float]:
    """Both coordinates, every error reported at once."""
    errors: list[dict[str, Any]] = []
    values: list[float] = []
    for value, name in ((lat, "lat"), (lon, "long")):
        try:
            values.append(parse_coordinate(value, name))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(
            "L'emplacement du signalement est invalide : "
            + " ; ".join(str(e["message"]) for e in errors),
            errors=errors,
        )
    return values[0], values[1]


async def locate(
    session: AsyncSession,
    lat: float,
    lon: float,
    category_code: str,
    *,
    tenant_hint: uuid.UUID | None = None,
) -> tuple[uuid.UUID, StreetCategory]:
    """(tenant, category): the most specific tenant covering the point that offers the category."""
    covering = await tenants_at(session, lat, lon)
    if not covering:
        raise OutsideTerritory(
            f"Ce point est hors du territoire couvert par Guichet (latitude {lat:.6f}, "
            f"longitude {lon:.6f}) : vérifiez l'emplacement sur la carte, ou adressez-vous à la "
            "commune concernée.",
            errors=[
                {
                    "field": "location",
                    "message": "hors du territoire de la métropole et de ses communes",
                    "type": "outside_territory",
                }
            ],
        )
    if tenant_hint is not None:
        if tenant_hint not in covering:
            raise OutsideTerritory(
                "Ce point est hors du territoire de la collectivité choisie : vérifiez "
                "l'emplacement, ou adressez le signalement à la collectivité où il se trouve.",
                errors=[
                    {
                        "field": "location",
                        "message": "hors du territoire de la collectivité choisie",
                        "type": "outside_territory",
                    }
                ],
            )
        # The hint and the tenants inside it (a métropole's communes), most specific first.
        covering = covering[: covering.index(tenant_hint) + 1]
    for tenant_id in covering:
        try:
            category = await get_category(session, tenant_id, category_code, active_only=True)
        except NotFound:
            continue
        return tenant_id, category
    raise UnknownCategory(
        f"Catégorie de signalement « {category_code[:60]} » inconnue à cet endroit : "
        "choisissez-en une dans la liste des catégories."
    )


async def _recent_twin(
    session: AsyncSession, fingerprint: str, now: datetime
) -> StreetReport | None:
    window = timedelta(seconds=street_settings().idempotency_seconds)
    if is_postgres(session):
        # Two taps at once: the second waits for the first's COMMIT, then finds its report.
        key = int.from_bytes(bytes.fromhex(fingerprint[:16]), "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    found: StreetReport | None = await session.scalar(
        select(StreetReport)
        .where(StreetReport.fingerprint == fingerprint, StreetReport.submitted_at >= now - window)
        .order_by(StreetReport.submitted_at)
        .limit(1)
    )
    return found


async def submit_report(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    *,
    category_code: str,
    lat: Any,
    lon: Any,
    address: str | None,
    description: str | None,
    attributes: Mapping[str, Any] | None,
    channel: str,
    actor: Actor,
    submitter: Mapping[str, Any],
    public_name: str | None,
    tenant_hint: uuid.UUID | None,
    idempotency: str | None,
    photos: Sequence[Any] = (),
    storage: DocumentStorage | None = None,
    submitter_id: uuid.UUID | None = None,
    received_at: datetime | None = None,
    received_at_reason: str | None = None,
    channel_data: Mapping[str, Any] | None = None,
    tenants: TenantCache | None = None,
) -> SubmittedReport:
    """Open (or find again) the case of a street report (module doc). The caller commits."""
    now = clock.now()
    point = parse_point(lat, lon)
    text_value = checked_description(description)
    if not isinstance(category_code, str) or not category_code.strip():
        raise ValidationFailed(
            "Choisissez la catégorie du signalement.",
            errors=[{"field": "category", "message": "obligatoire", "type": "missing"}],
        )
    code = category_code.strip()
    tenant_id, category = await locate(session, *point, code, tenant_hint=tenant_hint)
    values = checked_values(category.attributes, attributes or {})
    if actor.kind is ActorKind.PERSON:  # identified by their account (channels.intake)
        who = {k: v for k, v in submitter.items() if k in CONTACT_FIELDS and v}
    else:
        who = reporter_of(submitter)
    contact = str(who.get("email") or who.get("phone") or "")
    fingerprint = fingerprint_of(
        channel=channel,
        actor=actor,
        tenant_id=tenant_id,
        category=code,
        lat=point[0],
        lon=point[1],
        description=text_value,
        contact=contact,
    )
    radius = street_settings().duplicate_radius_m
    twin = await _recent_twin(session, fingerprint, now)
    if twin is not None:
        nearby = await nearby_open(
            session,
            tenant_ids=[tenant_id],
            category_code=code,
            lat=point[0],
            lon=point[1],
            radius_m=radius,
            exclude=twin.case_id,
        )
        return SubmittedReport(
            case_id=twin.case_id,
            reference=twin.reference,
            tenant_id=twin.tenant_id,
            created=False,
            tracking_code=None,
            suggestions=suggestions_of(nearby),
            state=twin.state,
        )
    nearby = await nearby_open(
        session,
        tenant_ids=[tenant_id],
        category_code=code,
        lat=point[0],
        lon=point[1],
        radius_m=radius,
    )
    external_ref = None
    if idempotency:
        key = f"{actor.kind.value}:{actor.id}:{idempotency}"
        external_ref = "street:" + hashlib.sha256(key.encode()).hexdigest()[:48]
    result = await submit(
        session,
        engine,
        clock,
        IntakeRequest(
            tenant=str(tenant_id),
            procedure_key=KEY,
            channel=channel,  # type: ignore[arg-type]
            submitter=who,
            payload={
                "category": code,
                "lat": point[0],
                "lon": point[1],
                "address": (address or "").strip(),
                "description": text_value,
                "attributes": values,
                "public_name": (public_name or "").strip() or None,
            },
            actor=actor,
            received_at=received_at,
            received_at_reason=received_at_reason,
            submitter_id=submitter_id,
            channel_data={**(channel_data or {}), "street": {"fingerprint": fingerprint}},
            external_ref=external_ref,
        ),
        tenants=tenants,
    )
    if result.created and photos:
        if storage is None:
            raise ValidationFailed(
                "Les photos ne peuvent pas être enregistrées ici.",
                errors=[{"field": "photos", "message": "non prises en charge", "type": "photos"}],
            )
        await attach_photos(session, storage, result.case_id, list(photos), now)
    return SubmittedReport(
        case_id=result.case_id,
        reference=result.reference,
        tenant_id=tenant_id,
        created=result.created,
        tracking_code=result.tracking_code,
        suggestions=suggestions_of([n for n in nearby if n.report.case_id != result.case_id]),
        state=result.state,
        aee=result.aee,
    )


from channels.street._updates import (  # noqa: E402 - re-exported: the public updates
    PublicUpdate,
    add_public_update,
    check_reopenable,
    reopen,
)

__all__ = [
    "WEB_REPORTER",
    "PublicUpdate",
    "SubmittedReport",
    "Suggestion",
    "UnknownCategory",
    "add_public_update",
    "channel_actor",
    "check_reopenable",
    "locate",
    "parse_point",
    "reopen",
    "submit_report",
]
