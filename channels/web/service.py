"""The web channel: what a tenant offers online, the drafts people prepare, and the follow-up of a
case by people without an account.

Catalogue (public): a tenant offers a published procedure when it declares the service named by the
procedure's acknowledgement rules (the same check as ``channels.intake.submit``).

Drafts (signed-in people): a draft keeps what a person typed so far, unvalidated, for a limited
time. Configuration, per procedure key, in ``DRAFT_SETTINGS`` (default ``DEFAULT_DRAFT_SETTINGS``:
100 days, at most 20 open drafts per person — the limit of the procedure being created applies to
the person's open drafts of any procedure). Submitting goes through the one intake door
(``channels.intake.submit``) exactly like ``POST /api/v1/intake/`` for a person; the draft's
uploaded files then belong to the case.

Tracking (no account): the tracking code given in the AEE plus the e-mail or phone given at intake
show the public side of the case. Guessing is bounded twice: wrong contacts are counted on the code
(``TRACKING_MAX_ATTEMPTS``; after that the code only works at the counter) and every failure
(unknown code or wrong contact) is counted per IP address in ``identity.throttle``'s failure table
under the key ``tracking:ip:<address>`` (``TRACKING_IP_SETTINGS``: 30 failures per 15 minutes).
Both answers to a wrong pair are the same 404, whatever was wrong.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import (
    CONTACT_FIELDS,
    IntakeRequest,
    IntakeResult,
    hash_code,
    hash_contact,
    submit,
)
from channels.models import Attachment, Draft, TrackingCode
from documents.models import StoredDocument
from identity import throttle
from identity.models import Tenant
from identity.service import TenantCache, TenantInfo
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import (
    Conflict,
    HiddenDenial,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    ValidationFailed,
)
from services.kernel.journal import JournalEvent, record
from workflows.cases import repository
from workflows.cases.controllers import (
    deadline_is_public,
    public_event,
    public_state,
    public_title,
)
from workflows.cases.models import Case
from workflows.cases.schemas import EventRead
from workflows.engine.definitions import Definition, SilenceRule
from workflows.engine.runner import Engine

# ----- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftSettings:
    lifetime: timedelta = timedelta(days=100)
    """How long a draft is kept after its creation (editing does not extend it)."""
    max_drafts: int = 20
    """Open drafts (not submitted, not deleted, not expired) a person may hold."""


DEFAULT_DRAFT_SETTINGS = DraftSettings()
DRAFT_SETTINGS: dict[str, DraftSettings] = {}
"""Per procedure key; procedures not listed use ``DEFAULT_DRAFT_SETTINGS``."""
MAX_DRAFT_JSON_BYTES = 64_000
"""A draft's payload and contact details, serialised: more is refused (413)."""

TRACKING_MAX_ATTEMPTS = 10
TRACKING_IP_SETTINGS = throttle.ThrottleSettings(
    account_max_failures=30, ip_max_failures=30, window_minutes=15
)
TRACKING_NOT_FOUND = (
    "Aucun dossier ne correspond à ce code de suivi et à cette adresse électronique (ou ce "
    "téléphone) : vérifiez le code reçu lors du dépôt et le contact donné à ce moment-là."
)
DRAFT_NOT_FOUND = "Brouillon introuvable : il a peut-être été supprimé ou déposé."


def draft_settings(procedure_key: str) -> DraftSettings:
    return DRAFT_SETTINGS.get(procedure_key, DEFAULT_DRAFT_SETTINGS)


# ----- catalogue ---------------------------------------------------------------------------------

SILENCE_LABELS = {
    SilenceRule.ACCEPTANCE: "Le silence gardé par l'administration vaut accord",
    SilenceRule.REJECTION: "Le silence gardé par l'administration vaut rejet",
    SilenceRule.NONE: "Aucune décision n'est attendue",
}
# Documents the administration issues itself: not pieces the person brings.
ISSUED_KINDS = frozenset({"are", "aee", "recepisse", "decision", "pieces_letter", "receipt"})


class Piece(BaseModel):
    kind: str
    title: str


class CatalogueEntry(BaseModel):
    key: str
    version: int
    title: str
    description: str
    request_kind: str
    silence: str
    silence_label: str
    decision_delay: str | None
    """In French, e.g. « 2 mois »; None when no decision is expected."""
    legal_basis: str
    service_code: str
    pieces: list[Piece]
    payload_schema: dict[str, Any]


class TenantCatalogue(BaseModel):
    tenant: dict[str, str]
    demarches: list[CatalogueEntry]


def offered(definition: Definition, tenant: TenantInfo) -> bool:
    ack = definition.acknowledgement
    return bool(definition.public) and ack is not None and ack.service_code in tenant.service_codes


def catalogue_entry(definition: Definition) -> CatalogueEntry:
    ack = definition.acknowledgement
    assert ack is not None  # offered() checked it
    return CatalogueEntry(
        key=definition.key,
        version=definition.version,
        title=definition.title,
        description=definition.description,
        request_kind=ack.request_kind,
        silence=ack.silence.value,
        silence_label=SILENCE_LABELS[ack.silence],
        decision_delay=ack.decision_delay.describe() if ack.decision_delay else None,
        legal_basis=ack.legal_basis,
        service_code=ack.service_code,
        pieces=[
            Piece(kind=d.kind, title=d.title)
            for d in definition.documents
            if d.kind not in ISSUED_KINDS
        ],
        payload_schema=definition.payload_schema.model_json_schema(),
    )


async def tenant_info(
    session: AsyncSession, tenants: TenantCache, ref: str, *, now: datetime
) -> TenantInfo:
    try:
        return await tenants.get(session, ref, now=now)
    except NotFound:
        raise NotFound(
            f"Collectivité « {ref[:60]} » inconnue : indiquez son code INSEE ou son nom court "
            "(ex. 69001 ou commune-a)."
        ) from None


def _tenant_json(tenant: TenantInfo) -> dict[str, str]:
    return {
        "id": str(tenant.id),
        "insee_code": tenant.insee_code,
        "slug": tenant.slug,
        "name": tenant.name,
    }


async def tenant_catalogue(
    session: AsyncSession, engine: Engine, tenants: TenantCache, ref: str, *, now: datetime
) -> TenantCatalogue:
    tenant = await tenant_info(session, tenants, ref, now=now)
    return TenantCatalogue(
        tenant=_tenant_json(tenant),
        demarches=[catalogue_entry(d) for d in engine.procedures.latest() if offered(d, tenant)],
    )


def offered_procedure(engine: Engine, tenant: TenantInfo, key: str) -> Definition:
    try:
        definition = engine.procedures.get(key)
    except NotFound:
        definition = None
    if definition is None or not offered(definition, tenant):
        raise NotFound(
            f"La démarche « {key[:80]} » n'est pas proposée en ligne par {tenant.name} : "
            f"consultez la liste des démarches de la collectivité."
        )
    return definition


# ----- drafts ------------------------------------------------------------------------------------


class DraftRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    procedure: str
    title: str
    payload: dict[str, Any]
    submitter: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime


def draft_read(draft: Draft) -> DraftRead:
    return DraftRead(
        id=draft.id,
        tenant_id=draft.tenant_id,
        procedure=draft.procedure_key,
        title=draft.title,
        payload=draft.payload,
        submitter=draft.submitter,
        created_at=draft.created_at,
        updated_at=draft.updated_at,
        expires_at=draft.expires_at,
    )


def _check_contents(payload: dict[str, Any], submitter: dict[str, Any]) -> None:
    size = len(json.dumps({"p": payload, "s": submitter}, ensure_ascii=False).encode())
    if size > MAX_DRAFT_JSON_BYTES:
        raise PayloadTooLarge(
            f"Le brouillon est trop volumineux ({size} octets ; au plus "
            f"{MAX_DRAFT_JSON_BYTES}) : raccourcissez les textes saisis. Les fichiers se "
            "joignent à part."
        )
    refused = sorted(set(submitter) - CONTACT_FIELDS)
    if refused:
        raise ValidationFailed(
            "Vos nom et prénom viennent de votre compte : dans « submitter », seuls email, "
            "phone, postal_address et notification se choisissent.",
            errors=[
                {
                    "field": f"submitter.{key[:60]}",
                    "message": "vient de votre compte : ne l'envoyez pas",
                    "type": "account_field",
                }
                for key in refused[:20]
            ],
        )


def _open(now: datetime) -> Any:
    return (
        Draft.deleted_at.is_(None),
        Draft.submitted_case_id.is_(None),
        Draft.expires_at > now,
    )


async def create_draft(
    session: AsyncSession,
    engine: Engine,
    tenants: TenantCache,
    actor: Actor,
    *,
    tenant_ref: str,
    procedure_key: str,
    payload: dict[str, Any],
    submitter: dict[str, Any],
    now: datetime,
) -> Draft:
    tenant = await tenant_info(session, tenants, tenant_ref, now=now)
    definition = offered_procedure(engine, tenant, procedure_key)
    _check_contents(payload, submitter)
    settings = draft_settings(definition.key)
    count = await session.scalar(
        select(func.count()).select_from(Draft).where(Draft.person_id == actor.id, *_open(now))
    )
    if (count or 0) >= settings.max_drafts:
        raise Conflict(
            f"Vous avez déjà {count} brouillons en cours (au plus {settings.max_drafts}) : "
            "déposez ou supprimez-en un avant d'en commencer un autre."
        )
    draft = Draft(
        tenant_id=tenant.id,
        procedure_key=definition.key,
        person_id=actor.id,
        title=definition.title[:200],
        payload=payload,
        submitter=submitter,
        created_at=now,
        updated_at=now,
        expires_at=now + settings.lifetime,
    )
    session.add(draft)
    await session.flush()
    return draft


async def list_drafts(session: AsyncSession, actor: Actor, *, now: datetime) -> list[Draft]:
    rows = await session.scalars(
        select(Draft)
        .where(Draft.person_id == actor.id, *_open(now))
        .order_by(Draft.updated_at.desc(), Draft.id)
    )
    return list(rows)


async def my_draft(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    *,
    now: datetime,
    allow_expired: bool = False,
    lock: bool = False,
) -> Draft:
    """The person's open draft; another person's draft is a hidden (journaled) denial."""
    stmt = select(Draft).where(Draft.id == draft_id)
    if lock:
        stmt = stmt.with_for_update()
    draft = await session.scalar(stmt)
    if draft is None or draft.deleted_at is not None:
        raise NotFound(DRAFT_NOT_FOUND)
    if draft.person_id != actor.id:
        raise HiddenDenial(DRAFT_NOT_FOUND)
    if draft.submitted_case_id is not None:
        raise Conflict(
            "Ce brouillon a déjà été déposé : suivez la demande dans vos dossiers.",
            extra={"case_id": str(draft.submitted_case_id)},
        )
    if draft.expires_at <= now and not allow_expired:
        raise Conflict(
            f"Ce brouillon a expiré le {draft.expires_at:%d/%m/%Y} (brouillon expiré) : il "
            "n'est plus modifiable ni déposable ; commencez une nouvelle demande."
        )
    return draft


async def update_draft(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    *,
    payload: dict[str, Any] | None,
    submitter: dict[str, Any] | None,
    now: datetime,
) -> Draft:
    draft = await my_draft(session, actor, draft_id, now=now, lock=True)
    new_payload = draft.payload if payload is None else payload
    new_submitter = draft.submitter if submitter is None else submitter
    _check_contents(new_payload, new_submitter)
    draft.payload = new_payload
    draft.submitter = new_submitter
    draft.updated_at = now
    await session.flush()
    return draft


async def delete_draft(
    session: AsyncSession, actor: Actor, draft_id: uuid.UUID, *, now: datetime
) -> None:
    draft = await my_draft(session, actor, draft_id, now=now, allow_expired=True, lock=True)
    draft.deleted_at = now
    await session.flush()


async def submit_draft(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    tenants: TenantCache,
    actor: Actor,
    draft_id: uuid.UUID,
) -> IntakeResult:
    """Through the one door, as ``POST /api/v1/intake/`` for a person (channel web). A payload
    that fails validation raises 422 and the transaction, draft included, is left untouched."""
    now = clock.now()
    draft = await my_draft(session, actor, draft_id, now=now, lock=True)
    result = await submit(
        session,
        engine,
        clock,
        IntakeRequest(
            tenant=str(draft.tenant_id),
            procedure_key=draft.procedure_key,
            channel="web",
            submitter=dict(draft.submitter),
            payload=dict(draft.payload),
            actor=actor,
            external_ref=f"draft:{draft.id}",
            channel_data={"draft_id": str(draft.id)},
        ),
        tenants=tenants,
    )
    draft.submitted_case_id = result.case_id
    draft.updated_at = now
    await session.execute(
        update(Attachment)
        .where(Attachment.draft_id == draft.id, Attachment.case_id.is_(None))
        .values(case_id=result.case_id)
    )
    await session.flush()
    return result


# ----- tracking without an account ---------------------------------------------------------------


class TrackedDocument(BaseModel):
    kind: str
    title: str
    created_at: datetime


class TrackedCase(BaseModel):
    reference: str
    procedure: str
    procedure_title: str
    tenant: str
    state: str
    state_title: str
    received_at: datetime
    registered_at: datetime
    next_due_on: str | None
    timeline: list[EventRead]
    documents: list[TrackedDocument]
    claimable: bool
    """True while no account holds the case: a signed-in person may claim it with the code."""


def _ip_keys(ip: str | None) -> throttle.ThrottleKeys | None:
    return throttle.ThrottleKeys(f"tracking:ip:{ip}"[:300], None) if ip else None


async def _check_ip(session: AsyncSession, ip: str | None, now: datetime) -> None:
    keys = _ip_keys(ip)
    if keys is None:
        return
    found = await throttle.throttled(session, keys.all(), now=now, settings=TRACKING_IP_SETTINGS)
    if found is not None:
        minutes = max(1, math.ceil(found.retry_after / 60))
        raise TooManyRequests(
            "Trop de codes de suivi erronés depuis votre adresse réseau : réessayez dans "
            f"{minutes} minute(s).",
            retry_after=found.retry_after,
        )


def _normal_code(code: str) -> str:
    return "".join(ch for ch in code if ch.isalnum())[:40]


async def _tracked_row(
    sessionmaker: async_sessionmaker[AsyncSession],
    code: str,
    contact: str,
    *,
    ip: str | None,
    now: datetime,
) -> uuid.UUID | None:
    """The tracking code's id when code and contact match; failures counted and committed."""
    async with sessionmaker() as session, session.begin():
        await _check_ip(session, ip, now)
        row = await session.scalar(
            select(TrackingCode).where(TrackingCode.code_hash == hash_code(_normal_code(code)))
        )
        if row is not None and row.attempts >= TRACKING_MAX_ATTEMPTS:
            raise TooManyRequests(
                "Trop de tentatives erronées pour ce code de suivi : il est bloqué. Présentez-vous "
                "à l'accueil de la mairie (avec la référence du dossier) pour suivre votre demande.",
                retry_after=86_400,
            )
        given = hash_contact(contact)
        if row is not None and given is not None and row.contact_hash == given:
            return row.id
        if row is not None:
            row.attempts += 1
        keys = _ip_keys(ip)
        if keys is not None:
            await throttle.record_failure(session, keys, now=now, settings=TRACKING_IP_SETTINGS)
    return None


async def _view(session: AsyncSession, engine: Engine, case: Case, claimable: bool) -> TrackedCase:
    definition = engine.procedures.get(case.procedure_key, case.definition_version)
    events = await repository.timeline(session, case.id)
    shown = [e for e in events if e.public]
    last_public = next((e.to_state for e in reversed(shown) if e.to_state), None)
    state = public_state(definition, case, last_public)
    deadlines = await repository.deadlines(session, case.id)
    active = [
        d.due_on for d in deadlines if d.status == "active" and deadline_is_public(definition, d)
    ]
    tenant = await session.get(Tenant, case.tenant_id)
    documents = await session.scalars(
        select(StoredDocument)
        .where(StoredDocument.case_id == case.id)
        .order_by(StoredDocument.created_at, StoredDocument.seq, StoredDocument.kind)
    )
    return TrackedCase(
        reference=case.reference,
        procedure=case.procedure_key,
        procedure_title=definition.title,
        tenant=tenant.name if tenant is not None else "",
        state=state,
        state_title=public_title(definition, state),
        received_at=case.received_at,
        registered_at=case.registered_at,
        next_due_on=min(active).isoformat() if active else None,
        timeline=[public_event(e) for e in shown],
        documents=[
            TrackedDocument(kind=d.kind, title=d.title, created_at=d.created_at) for d in documents
        ],
        claimable=claimable,
    )


async def track(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    *,
    code: str,
    contact: str,
    ip: str | None,
    now: datetime,
) -> TrackedCase:
    found = await _tracked_row(sessionmaker, code, contact, ip=ip, now=now)
    if found is None:
        raise NotFound(TRACKING_NOT_FOUND)
    async with sessionmaker() as session, session.begin():
        row = await session.get(TrackingCode, found)
        assert row is not None
        case = await session.get(Case, row.case_id)
        if case is None:
            raise NotFound(TRACKING_NOT_FOUND)
        return await _view(session, engine, case, claimable=case.submitter_id is None)


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: Engine,
    actor: Actor,
    *,
    code: str,
    contact: str,
    ip: str | None,
    now: datetime,
) -> TrackedCase:
    """Attach a case filed without an account to the signed-in person: the code and the contact
    are both required (never by e-mail matching alone), and only a case nobody holds yet."""
    found = await _tracked_row(sessionmaker, code, contact, ip=ip, now=now)
    if found is None:
        raise NotFound(TRACKING_NOT_FOUND)
    async with sessionmaker() as session, session.begin():
        row = await session.scalar(
            select(TrackingCode).where(TrackingCode.id == found).with_for_update()
        )
        assert row is not None
        case = await session.scalar(select(Case).where(Case.id == row.case_id).with_for_update())
        if case is None:
            raise NotFound(TRACKING_NOT_FOUND)
        if case.submitter_id is not None:
            if case.submitter_id == actor.id:
                return await _view(session, engine, case, claimable=False)
            raise Conflict(
                "Ce dossier est déjà rattaché à un compte : il ne peut pas être rattaché au "
                "vôtre. Si c'est une erreur, adressez-vous à l'accueil de la mairie."
            )
        if (
            case.organisation_id is not None
            or case.mandate_id is not None
            or case.submitter.get("kind", "person") != "person"
        ):
            raise Conflict(
                "Ce dossier a été déposé pour une organisation ou au titre d'un mandat : il ne se "
                "rattache pas à un compte personnel. Adressez-vous à l'accueil de la mairie."
            )
        case.submitter_id = actor.id
        row.claimed_at = now
        row.claimed_by_person_id = actor.id
        record(
            session,
            JournalEvent.LINKED,
            at=now,
            actor=actor,
            tenant_id=case.tenant_id,
            data={"kind": "case_claimed", "case_id": str(case.id), "reference": case.reference},
            ip=ip,
        )
        await session.flush()
        return await _view(session, engine, case, claimable=False)
