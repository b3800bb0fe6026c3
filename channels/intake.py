"""The one door: every channel builds an IntakeRequest and calls ``submit``.

``submit`` checks who may file what where, validates the payload against the procedure's schema,
opens the case (its first event, deadlines and outbox rows in the caller's transaction) and returns
the immediate registration acknowledgement (AEE: reference, date and time of receipt).

A signed-in person files on the web, for a published procedure only. Their identification
(CRPA R112-9-1: name, first name and a way to reach them) comes from their account, not from the
request: the names verified by FranceConnect when they have a FranceConnect identity (R112-9-1
lets the terms of use accept FranceConnect as the identification), else the names of their
account; the request may only choose the contact details of this case. ``case.submitter_id`` is
the person concerned, who then sees the case.

Filing for someone else needs a mandate the filer holds (``IntakeRequest.represented``), allowing
them to *act* by ``identity.organisations.mandate_allows`` (valid, unrevoked, scope covering the
procedure; for an organisation, a basis giving the power to act — a ProConnect ``siret``
membership only lets staff read its cases, identity.md §3), and covering the case's tenant when
the mandate names one. The case then records the mandate (``mandate_id``), the
person or organisation concerned (``submitter_id`` / ``organisation_id``) and the helper
(``on_behalf_of``). No such mandate: 403 with the reason (absent, expired, revoked, out of scope).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.models import TrackingCode
from identity.models import FederatedIdentity, Mandate, Organisation, Person
from identity.organisations import (
    ACTING_FOR_ORGANISATION,
    mandate_allows,
    mandate_status,
    procedures_of,
)
from identity.person_search import normal_email, phone_digits
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
PARIS = ZoneInfo("Europe/Paris")


class Submitter(BaseModel):
    """Who asks (CRPA R112-9-1): a company gives its SIREN/SIRET, an association its RNA number,
    anyone else their name and first name with a way to reach them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["person", "organisation", "association", "anonymous"] = "person"
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
        if self.kind == "anonymous":
            # Only for procedures with ``anonymous_intake`` (checked by ``submit``): no name, and
            # a contact only if the person chose to give one.
            if self.given_name or self.family_name or self.organisation_name:
                raise ValueError("un dépôt anonyme ne porte pas de nom")
            if self.notification == "email" and not self.email:
                self.notification = "postal"
            return self
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
        if self.kind == "anonymous":
            return "Anonyme"
        if self.kind == "person":
            return f"{self.given_name} {self.family_name}"
        return self.organisation_name or self.siret or self.siren or self.rna or ""


@dataclass(frozen=True, slots=True)
class Represented:
    """Whom a signed-in person files for, under a mandate they hold (exactly one id)."""

    person_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None


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
    represented: Represented | None = None
    """A person filing for someone else (people only; checked against their mandates)."""
    channel_data: dict[str, Any] | None = None
    """What the channel knows (counter agent, caller's phone, identity check, mail Message-ID):
    recorded on the case, never read by the engine."""


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
    tracking_code: str | None = None
    """Given once, to people without an account: follow the case, or claim it into an account
    later (with the e-mail or phone given as second factor)."""


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
    if actor.kind is ActorKind.PERSON:
        if not public:
            raise Forbidden(
                f"La démarche {procedure} ne se dépose pas en ligne : adressez-vous à l'accueil "
                f"de {tenant_name}."
            )
        return
    if actor.kind is ActorKind.SYSTEM:
        # Guichet itself: the mail channel opening a case for a routed mail. No HTTP request
        # is ever authenticated as SYSTEM. Published procedures only, as for people.
        if not public:
            raise Forbidden(
                f"La démarche {procedure} ne s'ouvre pas automatiquement : un agent doit la saisir."
            )
        return
    raise Forbidden("Ce type de compte ne peut pas déposer de demande.")


# ----- people filing on the web -------------------------------------------------------------------

CONTACT_FIELDS = frozenset({"email", "phone", "postal_address", "notification"})
"""What a person may set in the submitter block: the contact details of this case."""
FRANCECONNECT = "franceconnect"


@dataclass(frozen=True, slots=True)
class PersonFiling:
    """What a person's account says about a filing: the identification and the links."""

    submitter: dict[str, Any]
    identification: dict[str, Any]
    submitter_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    mandate_id: uuid.UUID | None
    on_behalf_of: dict[str, Any] | None


def _fr_date(at: datetime) -> str:
    """The date in the legal time zone (a mandate ending at 23:30 UTC ends the next day in
    Paris)."""
    return at.astimezone(PARIS).strftime("%d/%m/%Y")


async def _franceconnect_identity(
    session: AsyncSession, person_id: uuid.UUID
) -> FederatedIdentity | None:
    found: FederatedIdentity | None = await session.scalar(
        select(FederatedIdentity)
        .where(
            FederatedIdentity.person_id == person_id,
            FederatedIdentity.provider == FRANCECONNECT,
            FederatedIdentity.retired_at.is_(None),
        )
        .order_by(FederatedIdentity.verified_at.desc())
        .limit(1)
    )
    return found


async def _person_identification(
    session: AsyncSession, person: Person
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(submitter fields, how the person was identified): verified names when FranceConnect."""
    fields: dict[str, Any] = {"kind": "person"}
    identity = await _franceconnect_identity(session, person.id)
    if identity is not None and identity.claims.get("family_name"):
        fields["given_name"] = str(identity.claims.get("given_name") or "")[:120] or None
        fields["family_name"] = str(identity.claims["family_name"])[:120]
        how: dict[str, Any] = {
            "method": "franceconnect",
            "verified_at": identity.verified_at.isoformat(),
            "acr": identity.acr,
        }
    else:
        fields["given_name"] = person.given_name or None
        fields["family_name"] = person.family_name or None
        how = {"method": "account", "email_verified": person.email_verified_at is not None}
    for key, value in (
        ("email", person.contact_email or person.login_email),
        ("phone", person.phone),
        ("postal_address", person.postal_address),
    ):
        if value:
            fields[key] = value
    return {k: v for k, v in fields.items() if v is not None}, how


def _mandate_refusal(
    mandate: Mandate, *, procedure_key: str, tenant_id: uuid.UUID, now: datetime
) -> str:
    """Why this mandate does not let its holder file this procedure here, in words a person can
    act on (the rule itself is identity.organisations.mandate_allows)."""
    status = mandate_status(mandate, now)
    if status == "revoked" and mandate.revoked_at is not None:
        return f"votre mandat a été révoqué le {_fr_date(mandate.revoked_at)}"
    if status == "future":
        return f"votre mandat ne prend effet que le {_fr_date(mandate.valid_from)}"
    if status == "expired" and mandate.valid_until is not None:
        return f"votre mandat a expiré le {_fr_date(mandate.valid_until)}"
    if mandate.tenant_id is not None and mandate.tenant_id != tenant_id:
        return "votre mandat ne couvre pas cette collectivité"
    procedures = procedures_of(mandate)
    if procedures and procedure_key not in procedures:
        return f"votre mandat ne couvre pas la démarche {procedure_key}"
    if mandate.organisation_id is not None and mandate.basis not in ACTING_FOR_ORGANISATION:
        return (
            "votre rattachement à cette organisation permet de consulter ses dossiers, pas "
            "d'agir en son nom (il faut la certification dirigeant ou un mandat vérifié par un "
            "agent)"
        )
    return "votre mandat ne permet pas de déposer une demande en son nom"


async def acting_mandate(
    session: AsyncSession,
    *,
    holder_person_id: uuid.UUID,
    represented: Represented,
    procedure_key: str,
    tenant_id: uuid.UUID,
    now: datetime,
) -> Mandate:
    """The most recent mandate under which the holder may file (``act``) this procedure for
    ``represented`` in this tenant — identity.organisations.mandate_allows, plus the mandate's
    tenant — or Forbidden with the reason (absent, revoked, expired, out of scope)."""
    organisation = represented.organisation_id is not None
    column = Mandate.organisation_id if organisation else Mandate.represented_person_id
    target = represented.organisation_id if organisation else represented.person_id
    mandates = list(
        await session.scalars(
            select(Mandate)
            .where(Mandate.holder_person_id == holder_person_id, column == target)
            .order_by(Mandate.created_at.desc(), Mandate.id.desc())
        )
    )
    for mandate in mandates:
        if mandate_allows(
            mandate, action="act", procedure_key=procedure_key, now=now
        ) and mandate.tenant_id in (None, tenant_id):
            return mandate
    whom = "cette organisation" if organisation else "cette personne"
    reasons = [
        _mandate_refusal(m, procedure_key=procedure_key, tenant_id=tenant_id, now=now)
        for m in mandates
    ] or [f"vous ne détenez aucun mandat pour {whom}"]
    raise Forbidden(
        f"Vous ne pouvez pas déposer cette demande au nom de {whom} : {reasons[0]}. Demandez un "
        "mandat valide (à la personne concernée ou au guichet de la mairie), ou déposez la "
        "demande en votre nom.",
        extra={"reasons": reasons},
    )


async def person_filing(
    session: AsyncSession,
    actor: Actor,
    *,
    represented: Represented | None,
    procedure_key: str,
    tenant_id: uuid.UUID,
    now: datetime,
) -> PersonFiling:
    """Who a signed-in person's filing concerns, and how they were identified (module doc)."""
    me = await session.get(Person, actor.id)
    if me is None or me.status != "active":
        raise Forbidden("Votre compte n'est plus actif : reconnectez-vous.")
    if represented is None or represented.person_id == actor.id:
        submitter, how = await _person_identification(session, me)
        return PersonFiling(submitter, how, actor.id, None, None, None)
    mandate = await acting_mandate(
        session,
        holder_person_id=actor.id,
        represented=represented,
        procedure_key=procedure_key,
        tenant_id=tenant_id,
        now=now,
    )
    helper = {
        "helper": {"kind": "person", "id": str(me.id), "name": me.display_name},
        "mandate_id": str(mandate.id),
        "basis": mandate.basis,
        "role": mandate.role,
    }
    if represented.organisation_id is not None:
        organisation = await session.get(Organisation, represented.organisation_id)
        if organisation is None:
            raise Forbidden("Cette organisation est introuvable : vérifiez le mandat.")
        submitter = {
            "kind": "organisation",
            "organisation_name": organisation.name,
            "siren": organisation.siren,
            **({"siret": organisation.siret} if organisation.siret else {}),
        }
        contact = me.contact_email or me.login_email
        if contact:
            submitter["email"] = contact
        how = {"method": "mandate", "holder_id": str(me.id), "mandate_id": str(mandate.id)}
        return PersonFiling(submitter, how, None, organisation.id, mandate.id, helper)
    person = await session.get(Person, represented.person_id)
    if person is None or person.status != "active":
        raise Forbidden(
            "La personne que vous représentez n'a plus de compte actif : adressez-vous au "
            "guichet de la mairie."
        )
    submitter, how = await _person_identification(session, person)
    how = {**how, "filed_by": str(me.id), "mandate_id": str(mandate.id)}
    return PersonFiling(submitter, how, person.id, None, mandate.id, helper)


def person_external_ref(actor: Actor, key: str | None) -> str | None:
    """A person's idempotency key, namespaced by the person: another person sending the same key
    must never get the first one's case back."""
    if key is None:
        return None
    return f"{actor.id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def acknowledgement_rows(
    case_id: uuid.UUID, submitter: Submitter
) -> list[tuple[str, dict[str, Any], str]]:
    """DESIGN §4: the AEE goes at once (by e-mail when there is an address; its content is also in
    the API answer), the ARE is rendered as a PDF by the worker and sent (or printed) after.
    Outbox rows (kind, payload, dedupe key), written with the case in one transaction.
    An anonymous filer who gave no e-mail address gets none: there is nobody to send it to."""
    if submitter.kind == "anonymous" and not submitter.email:
        return []
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
    submitter_data = request.submitter
    filing: PersonFiling | None = None
    if request.actor.kind is ActorKind.PERSON:
        filing = await person_filing(
            session,
            request.actor,
            represented=request.represented,
            procedure_key=definition.key,
            tenant_id=tenant.id,
            now=now,
        )
        for key in sorted(set(request.submitter) - CONTACT_FIELDS):
            errors.append(
                {
                    "field": f"submitter.{key}",
                    "message": "vient de votre compte (identité vérifiée ou déclarée) : ne "
                    "l'envoyez pas ; seuls email, phone, postal_address et notification se "
                    "choisissent ici",
                    "type": "account_field",
                }
            )
        contact = {k: v for k, v in request.submitter.items() if k in CONTACT_FIELDS}
        submitter_data = {**filing.submitter, **contact}
    elif request.represented is not None:
        raise Forbidden("Seul un usager connecté dépose une demande au titre d'un mandat.")
    try:
        submitter = Submitter.model_validate(submitter_data)
    except ValidationError as exc:
        errors.extend(french_errors(exc, prefix="submitter"))
        submitter = None
    if submitter is not None and submitter.kind == "anonymous" and not definition.anonymous_intake:
        errors.append(
            {
                "field": "submitter.kind",
                "message": "cette démarche demande votre nom et un moyen de contact "
                "(R112-9-1 CRPA)",
                "type": "anonymous",
            }
        )
    try:
        payload = definition.payload_schema.model_validate(request.payload)
    except ValidationError as exc:
        errors.extend(french_errors(exc, prefix="payload"))
        payload = None
    if request.actor.kind is ActorKind.PERSON and request.received_at is not None:
        errors.append(
            {
                "field": "received_at",
                "message": "un dépôt en ligne est reçu à l'instant de l'envoi : ne l'indiquez pas",
                "type": "forbidden",
            }
        )
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
    submitter_json = submitter.model_dump(mode="json", exclude_none=True)
    submitter_id = request.submitter_id
    on_behalf_of = request.on_behalf_of
    external_ref = request.external_ref
    mandate_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    if filing is not None:
        submitter_json["identification"] = filing.identification
        submitter_id = filing.submitter_id
        on_behalf_of = filing.on_behalf_of
        mandate_id = filing.mandate_id
        organisation_id = filing.organisation_id
        external_ref = person_external_ref(request.actor, external_ref)
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
        submitter=submitter_json,
        submitter_id=submitter_id,
        on_behalf_of=on_behalf_of,
        mandate_id=mandate_id,
        organisation_id=organisation_id,
        channel_data=request.channel_data,
        agent_id=request.actor.id if request.actor.kind is ActorKind.AGENT else None,
        api_client_id=request.actor.id if request.actor.kind is ActorKind.API_CLIENT else None,
        received_at=received_at,
        payload=payload_json,
        external_ref=external_ref,
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
    tracking_code: str | None = None
    if opened.created and submitter_id is None:
        tracking_code = issue_tracking_code(
            session, case.id, contact=submitter.email or submitter.phone, now=now
        )
    aee_extra = (
        {
            "code_de_suivi": tracking_code,
            "suivi": (
                "Sans compte, suivez votre demande avec ce code et l'adresse électronique (ou "
                "le téléphone) donnés ; il permet aussi de la rattacher à un compte plus tard."
            ),
        }
        if tracking_code
        else {}
    )
    return IntakeResult(
        tracking_code=tracking_code,
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
            **aee_extra,
        },
    )


# ----- tracking codes (people without an account) ----------------------------------------------

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the counter


def normalise_contact(value: str | None) -> str | None:
    """An e-mail lower-cased, or a phone number's digits: the same rules as the counter's person
    search (identity.person_search), so a number typed as +33, 0033 or 06 is one number."""
    if not value:
        return None
    if "@" in value:
        return normal_email(value)
    return phone_digits(value)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


def hash_contact(value: str | None) -> str | None:
    normal = normalise_contact(value)
    return hashlib.sha256(normal.encode()).hexdigest() if normal else None


def issue_tracking_code(
    session: AsyncSession, case_id: uuid.UUID, *, contact: str | None, now: datetime
) -> str:
    """A 12-character code (60 bits) shown once; only its hash is kept."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    session.add(
        TrackingCode(
            case_id=case_id,
            code_hash=hash_code(code),
            contact_hash=hash_contact(contact),
            created_at=now,
        )
    )
    return code
