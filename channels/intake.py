"""The one door: every channel builds an IntakeRequest and calls ``submit``.

``submit`` checks who may file what where, validates the payload against the procedure's schema,
opens the case (its first event, deadlines and outbox rows in the caller's transaction) and returns
the immediate registration acknowledgement (AEE: reference, date and time of receipt).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from identity.service import TenantCache
from identity.siret import is_valid_siren, is_valid_siret
from services.kernel.actor import Actor, ActorKind, Scope
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.kernel.ids import new_id
from services.kernel.validation import french_errors
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

Channel = Literal["web", "counter", "phone", "mail", "open311", "einvoice", "api"]
CLOCK_SKEW = timedelta(minutes=5)


class Submitter(BaseModel):
    """Who asks (CRPA R112-9-1): a company gives its SIREN/SIRET, an association its RNA number,
    anyone else their name and first name with a way to reach them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["person", "organisation", "association"] = "person"
    given_name: str | None = Field(default=None, max_length=120)
    family_name: str | None = Field(default=None, max_length=120)
    organisation_name: str | None = Field(default=None, max_length=200)
    siret: str | None = Field(default=None, max_length=14)
    siren: str | None = Field(default=None, max_length=9)
    rna: str | None = Field(default=None, pattern=r"^W\d{9}$")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=30)
    postal_address: str | None = Field(default=None, max_length=300)
    notification: Literal["email", "postal"] = "email"
    """How the person wants to hear from the administration (postal: letters printed at the
    counter and posted). Without an e-mail address, postal."""

    @model_validator(mode="after")
    def _identification(self) -> Submitter:
        if self.kind == "person" and not (self.given_name and self.family_name):
            raise ValueError("une personne doit donner son nom et son prénom (R112-9-1 CRPA)")
        if self.kind == "organisation":
            if not (self.siret or self.siren):
                raise ValueError(
                    "une entreprise doit donner son SIREN ou son SIRET (R112-9-1 CRPA)"
                )
            if self.siret and not is_valid_siret(self.siret):
                raise ValueError(f"SIRET {self.siret} invalide (clé de contrôle)")
            if self.siren and not is_valid_siren(self.siren):
                raise ValueError(f"SIREN {self.siren} invalide (clé de contrôle)")
        if self.kind == "association" and not self.rna:
            raise ValueError("une association doit donner son numéro RNA (R112-9-1 CRPA)")
        if not (self.email or self.phone or self.postal_address):
            raise ValueError("indiquez au moins un moyen de contact : e-mail, téléphone ou adresse")
        if self.notification == "email" and not self.email:
            self.notification = "postal"  # printed: posted, or handed over at the counter
        return self

    def display_name(self) -> str:
        if self.kind == "person":
            return f"{self.given_name} {self.family_name}"
        return self.organisation_name or self.siret or self.siren or self.rna or ""


@dataclass(frozen=True, slots=True)
class IntakeRequest:
    tenant: str
    """Tenant id, INSEE code or slug."""
    procedure_key: str
    channel: Channel
    submitter: dict[str, Any]
    payload: dict[str, Any]
    actor: Actor
    received_at: datetime | None = None
    received_at_reason: str | None = None
    on_behalf_of: dict[str, Any] | None = None
    submitter_id: uuid.UUID | None = None
    attachments: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    external_ref: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeResult:
    case_id: uuid.UUID
    reference: str
    state: str
    procedure_key: str
    definition_version: int
    received_at: datetime
    registered_at: datetime
    created: bool
    aee: dict[str, Any]


def _check_actor(
    actor: Actor,
    tenant_id: uuid.UUID,
    intake_roles: tuple[str, ...],
    public: bool,
    tenant_name: str,
    procedure: str,
) -> None:
    if actor.kind is ActorKind.API_CLIENT:
        if Scope.INTAKE_WRITE not in actor.scopes:
            raise Forbidden("Ce client API n'a pas la portée « intake:write ».")
        if actor.home_tenant_id != tenant_id:
            raise Forbidden(f"Ce client API ne dépose pas de demandes pour {tenant_name}.")
        if not public:
            raise Forbidden(f"La démarche {procedure} n'est pas ouverte aux clients API.")
        return
    if actor.kind is ActorKind.AGENT:
        roles = actor.roles_in(tenant_id)
        if not roles:
            raise Forbidden(f"Vous n'avez aucun rôle dans la collectivité {tenant_name}.")
        if not roles & set(intake_roles):
            raise Forbidden(
                f"Votre rôle ne permet pas de saisir la démarche {procedure} "
                f"(rôles admis : {', '.join(intake_roles) or 'aucun'})."
            )
        return
    raise Forbidden("Ce type de compte ne peut pas déposer de demande.")


def acknowledgement_rows(
    case_id: uuid.UUID, submitter: Submitter
) -> list[tuple[str, dict[str, Any], str]]:
    """DESIGN §4: the AEE goes at once (by e-mail when there is an address; its content is also in
    the API answer), the ARE is rendered as a PDF by the worker and sent (or printed) after.
    Outbox rows (kind, payload, dedupe key), written with the case in one transaction."""
    rows: list[tuple[str, dict[str, Any], str]] = [
        (
            "document.render",
            {"case_id": str(case_id), "kind": "are", "seq": 1, "params": {}},
            f"document:{case_id}:are:1",
        )
    ]
    if submitter.email and submitter.notification != "postal":
        rows.append(
            (
                "notification.send",
                {"case_id": str(case_id), "template": "aee"},
                f"notification:{case_id}:aee",
            )
        )
    return rows


async def submit(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    request: IntakeRequest,
    *,
    tenants: TenantCache | None = None,
) -> IntakeResult:
    now = clock.now()
    try:
        tenant = await (tenants or TenantCache(ttl=timedelta(0))).get(
            session, request.tenant, now=now
        )
    except NotFound:
        raise NotFound(f"Collectivité « {request.tenant} » inconnue.") from None
    definition = engine.procedures.get(request.procedure_key)
    ack = definition.acknowledgement
    if ack is None:
        raise Conflict(
            f"La démarche « {definition.title} » n'est pas publiée : ses règles d'accusé de "
            "réception (service, règle de silence, délai) ne sont pas définies (R112-11-1 CRPA)."
        )
    _check_actor(
        request.actor,
        tenant.id,
        definition.intake_roles,
        definition.public,
        tenant.name,
        definition.key,
    )
    if ack.service_code not in tenant.service_codes:
        raise Conflict(
            f"La démarche « {definition.title} » n'est pas ouverte à {tenant.name} : le service "
            f"« {ack.service_code} » et ses coordonnées, qui figurent sur l'accusé de réception "
            "(R112-11-1 CRPA), n'y sont pas déclarés."
        )
    errors: list[dict[str, Any]] = []
    try:
        submitter = Submitter.model_validate(request.submitter)
    except ValidationError as exc:
        errors.extend(french_errors(exc, prefix="submitter"))
        submitter = None
    try:
        payload = definition.payload_schema.model_validate(request.payload)
    except ValidationError as exc:
        errors.extend(french_errors(exc, prefix="payload"))
        payload = None
    received_at = request.received_at or now
    if received_at.tzinfo is not None:
        received_at = received_at.astimezone(UTC)
    if received_at.tzinfo is None:
        errors.append(
            {
                "field": "received_at",
                "message": "doit préciser le fuseau horaire",
                "type": "timezone_aware",
            }
        )
    elif received_at > now + CLOCK_SKEW:
        errors.append(
            {
                "field": "received_at",
                "message": "la date de réception est dans le futur",
                "type": "future",
            }
        )
    elif received_at < now - CLOCK_SKEW and not (request.received_at_reason or "").strip():
        errors.append(
            {
                "field": "received_at_reason",
                "message": "une date de réception passée doit être justifiée (dépôt papier, courrier)",
                "type": "missing",
            }
        )
    if errors or submitter is None or payload is None:
        raise ValidationFailed(
            f"La demande « {definition.title} » est incomplète ou invalide : "
            f"{len(errors)} erreur(s) à corriger.",
            errors=errors,
        )
    payload_json = payload.model_dump(mode="json")
    search = " ".join(
        str(v)
        for v in (
            submitter.display_name(),
            submitter.email,
            submitter.phone,
            submitter.siret,
            request.external_ref,
        )
        if v
    ).lower()
    service = CaseService(session, engine, clock)
    case_id = new_id()
    opened = await service.open(
        definition,
        case_id=case_id,
        extra_outbox=acknowledgement_rows(case_id, submitter),
        tenant_id=tenant.id,
        insee_code=tenant.insee_code,
        calendar_options={"alsace_moselle": tenant.alsace_moselle, "timezone": "Europe/Paris"},
        channel=request.channel,
        actor=request.actor,
        submitter=submitter.model_dump(mode="json", exclude_none=True),
        submitter_id=request.submitter_id,
        on_behalf_of=request.on_behalf_of,
        agent_id=request.actor.id if request.actor.kind is ActorKind.AGENT else None,
        api_client_id=request.actor.id if request.actor.kind is ActorKind.API_CLIENT else None,
        received_at=received_at,
        payload=payload_json,
        external_ref=request.external_ref,
        search_text=search,
    )
    case = opened.case
    if request.received_at_reason and opened.created:
        from services.kernel.journal import JournalEvent, record

        record(
            session,
            JournalEvent.RECEIPT_BACKDATED,
            at=now,
            actor=request.actor,
            tenant_id=tenant.id,
            data={
                "case_id": str(case.id),
                "received_at": received_at.isoformat(),
                "reason": request.received_at_reason,
            },
        )
    return IntakeResult(
        case_id=case.id,
        reference=case.reference,
        state=case.state,
        procedure_key=case.procedure_key,
        definition_version=case.definition_version,
        received_at=case.received_at,
        registered_at=case.registered_at,
        created=opened.created,
        aee={
            "titre": "Accusé d'enregistrement électronique",
            "reference": case.reference,
            "demarche": definition.title,
            "collectivite": tenant.name,
            "recu_le": case.received_at.isoformat(),
            "enregistre_le": case.registered_at.isoformat(),
            "message": (
                f"Votre demande « {definition.title} » a été enregistrée sous la référence "
                f"{case.reference}. Conservez cette référence pour suivre votre demande."
            ),
        },
    )
