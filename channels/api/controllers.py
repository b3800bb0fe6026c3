"""The JSON intake endpoint for API clients, agents and signed-in people: translates into one
IntakeRequest.

A person (session cookie + ``X-CSRF-Token``, or bearer) files on the web channel: the submitter
block is taken from their account (``channels.intake``), the body may only set its contact
details; ``on_behalf_of: {"person_id": ...}`` or ``{"organisation_id": ...}`` files for someone
they hold a mandate for. Agents and API clients keep sending the whole submitter block, and
``on_behalf_of`` stays a free note of who asked for whom.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from channels.intake import IntakeRequest, Represented, submit
from identity.service import TenantCache
from services.kernel.actor import Actor, ActorKind, Scope
from services.kernel.clock import Clock
from services.kernel.errors import ValidationFailed
from services.kernel.policy import anyone_signed_in, policy_opt
from services.kernel.validation import french_errors
from workflows.engine.runner import Engine


class IntakeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(
        min_length=1, max_length=60, description="Code INSEE, slug ou id de la collectivité"
    )
    procedure: str = Field(
        min_length=1, max_length=80, description="Clé de la démarche, ex. general.request"
    )
    submitter: dict[str, Any] | None = Field(
        default=None,
        description="Le demandeur (R112-9-1 CRPA). Obligatoire pour les agents et clients API ; "
        "un usager connecté n'y met que ses coordonnées pour ce dossier (email, phone, "
        "postal_address, notification) : son identité vient de son compte.",
    )
    payload: dict[str, Any] = Field(
        description="Les données de la demande, selon le schéma de la démarche"
    )
    received_at: datetime | None = Field(
        default=None, description="Date de réception réelle (dépôt papier)"
    )
    received_at_reason: str | None = Field(default=None, max_length=500)
    on_behalf_of: dict[str, Any] | None = Field(
        default=None,
        description='Usager : {"person_id": ...} ou {"organisation_id": ...}, au titre d\'un '
        "mandat détenu ; agents : note libre sur la personne pour qui la demande est faite.",
    )
    channel: str | None = Field(
        default=None,
        description="Agents : counter ou phone (défaut : api)",
        pattern="^(api|counter|phone)$",
    )
    external_ref: str | None = Field(default=None, max_length=200)


class OnBehalfOf(BaseModel):
    """A person filing for someone they hold a mandate for: exactly one of the two ids."""

    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one(self) -> OnBehalfOf:
        if (self.person_id is None) == (self.organisation_id is None):
            raise ValueError("indiquez soit person_id, soit organisation_id")
        return self


def _person_fields(data: IntakeCreate) -> Represented | None:
    """What a person may send besides the payload; anything else is refused, never ignored."""
    errors: list[dict[str, Any]] = []
    for name, why in (
        ("channel", "un usager dépose en ligne (canal web)"),
        ("received_at", "un dépôt en ligne est reçu à l'instant de l'envoi"),
        ("received_at_reason", "un dépôt en ligne est reçu à l'instant de l'envoi"),
    ):
        if getattr(data, name) is not None:
            errors.append({"field": name, "message": why, "type": "forbidden"})
    represented = None
    if data.on_behalf_of is not None:
        try:
            parsed = OnBehalfOf.model_validate(data.on_behalf_of)
            represented = Represented(parsed.person_id, parsed.organisation_id)
        except ValidationError as exc:
            errors.extend(french_errors(exc, prefix="on_behalf_of"))
    if errors:
        raise ValidationFailed(
            "Demande en ligne invalide : corrigez les champs listés dans « errors ».",
            errors=errors,
        )
    return represented


class IntakeCreated(BaseModel):
    case_id: uuid.UUID
    reference: str
    state: str
    procedure: str
    definition_version: int
    received_at: datetime
    registered_at: datetime
    aee: dict[str, Any]
    tracking_code: str | None = None
    """Shown once when the person has no account: follow or claim the case with it."""


class IntakeController(Controller):
    path = "/intake"
    tags = ["Dépôt"]

    @post(
        "/",
        opt=policy_opt(
            anyone_signed_in(
                Scope.INTAKE_WRITE,
                description="agents; API clients with intake:write; people (published procedures)",
            )
        ),
        summary="Déposer une demande (la porte unique)",
    )
    async def create(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[IntakeCreate],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
        ] = None,
    ) -> Response[IntakeCreated]:
        channel = data.channel or "api"
        represented: Represented | None = None
        on_behalf_of = data.on_behalf_of
        if actor.kind is ActorKind.API_CLIENT:
            channel = "api"
        elif actor.kind is ActorKind.PERSON:
            channel = "web"
            represented = _person_fields(data)
            on_behalf_of = None
        if data.submitter is None and actor.kind is not ActorKind.PERSON:
            raise ValidationFailed(
                "Le demandeur manque : envoyez le bloc « submitter » (R112-9-1 CRPA : nom et "
                "prénom, ou SIREN/SIRET, ou numéro RNA, et un moyen de contact).",
                errors=[
                    {
                        "field": "submitter",
                        "message": "champ obligatoire manquant",
                        "type": "missing",
                    }
                ],
            )
        result = await submit(
            session,
            engine,
            clock,
            IntakeRequest(
                tenant=data.tenant,
                procedure_key=data.procedure,
                channel=channel,  # type: ignore[arg-type]
                submitter=data.submitter or {},
                payload=data.payload,
                actor=actor,
                received_at=data.received_at,
                received_at_reason=data.received_at_reason,
                on_behalf_of=on_behalf_of,
                external_ref=idempotency_key or data.external_ref,
                represented=represented,
            ),
            tenants=tenants,
        )
        body = IntakeCreated(
            case_id=result.case_id,
            reference=result.reference,
            state=result.state,
            procedure=result.procedure_key,
            definition_version=result.definition_version,
            received_at=result.received_at,
            registered_at=result.registered_at,
            aee=result.aee,
            tracking_code=result.tracking_code,
        )
        return Response(body, status_code=201 if result.created else 200)
