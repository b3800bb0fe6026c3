"""The counter's and the phone desk's API (``/guichet``): controllers only translate; the rules are
in ``channels.counter.service``.

The code to follow a case (``claim_code``) is in the answer of ``POST /guichet/demandes`` only:
Guichet keeps its hash, so it can never be shown again — the agent prints ``receipt_text`` (or
reads it out on the phone) at once.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from channels.counter import service
from identity.person_search import Duplicate
from identity.service import TenantCache
from identity.web import client_ip
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import NotFound
from services.kernel.policy import agents, policy_opt
from workflows.engine.runner import Engine

FRONT_DESK = policy_opt(
    agents(
        Role.COUNTER_AGENT,
        Role.PHONE_AGENT,
        description="counter and phone agents (the case's or request's tenant is checked)",
    )
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _no_control(value: str | None, *, lines: bool = False) -> str | None:
    if value is None:
        return None
    if (_CONTROL if lines else _LINE_CONTROL).search(value):
        raise ValueError("contient un caractère de contrôle : retirez-le")
    return value


# ----- schemas ---------------------------------------------------------------------------------


class DuplicateRead(BaseModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    birthdate: date | None
    reasons: list[str]
    """same_name_and_birthdate | same_email | same_phone"""


class PersonRead(BaseModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    birthdate: date | None
    email: str | None
    phone: str | None
    postal_address: str | None
    identity_check: str
    """document_seen | none | franceconnect | declared (an account they created)"""
    has_account: bool
    created_by_agent_id: uuid.UUID | None
    possible_duplicates: list[DuplicateRead]


class PersonPage(BaseModel):
    items: list[PersonRead]
    more: bool
    """More than 20 people match: add criteria (birth date, phone)."""


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=120)
    birthdate: date | None = None
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, max_length=30)
    postal_address: str | None = Field(default=None, max_length=300)
    identity_check: Literal["document_seen", "none", "franceconnect"]
    document: str | None = Field(
        default=None,
        max_length=200,
        description="Pièce vue, ex. « CNI n°… » : gardée au journal seulement",
    )

    @field_validator("given_name", "family_name", "email", "phone", "document")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return _no_control(value)

    @field_validator("postal_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return _no_control(value, lines=True)


class CounterRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=60, description="Code INSEE, slug ou id")
    procedure: str = Field(min_length=1, max_length=80)
    channel: Literal["counter", "phone"]
    payload: dict[str, Any]
    person_id: uuid.UUID | None = Field(
        default=None, description="La fiche de la personne (le dossier apparaît dans son compte)"
    )
    submitter: dict[str, Any] | None = Field(
        default=None, description="Sans fiche : le demandeur (nom, prénom, un moyen de contact)"
    )
    caller_phone: str | None = Field(default=None, max_length=30)
    received_at: datetime | None = Field(
        default=None, description="Date de réception réelle (dépôt papier) ; passée : motif"
    )
    received_at_reason: str | None = Field(default=None, max_length=500)
    notification: Literal["email", "postal"] = "email"
    identity_check: Literal["document_seen", "none", "franceconnect"] | None = Field(
        default=None, description="Sans fiche : comment l'identité a été vérifiée (défaut none)"
    )

    @field_validator("caller_phone", "received_at_reason")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return _no_control(value, lines=True)


class LetterRead(BaseModel):
    kind: str
    title: str
    where: str


class CounterRequestCreated(BaseModel):
    case_id: uuid.UUID
    reference: str
    state: str
    procedure: str
    channel: str
    received_at: datetime
    registered_at: datetime
    aee: dict[str, Any]
    claim_code: str | None
    """Shown once (only its hash is kept): print it with the receipt or read it out."""
    notification: str
    letters_to_print: list[LetterRead]
    receipt_text: str


class CallNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)
    caller_phone: str | None = Field(default=None, max_length=30)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _no_control(value, lines=True) or ""

    @field_validator("caller_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return _no_control(value)


class CallNoteRead(BaseModel):
    case_id: uuid.UUID
    seq: int
    at: datetime
    kind: str
    channel: str
    public: bool
    data: dict[str, Any]


class PersonCaseRead(BaseModel):
    id: uuid.UUID
    reference: str
    tenant_id: uuid.UUID
    procedure: str
    procedure_title: str
    state: str
    state_title: str
    channel: str
    received_at: datetime


# ----- translation ----------------------------------------------------------------------------


def _duplicate(found: Duplicate) -> DuplicateRead:
    return DuplicateRead(
        id=found.person.id,
        given_name=found.person.given_name,
        family_name=found.person.family_name,
        birthdate=found.person.birthdate,
        reasons=list(found.reasons),
    )


def _person(card: service.PersonCard) -> PersonRead:
    person = card.person
    return PersonRead(
        id=person.id,
        given_name=person.given_name,
        family_name=person.family_name,
        birthdate=person.birthdate,
        email=person.contact_email or person.login_email,
        phone=person.phone,
        postal_address=person.postal_address,
        identity_check=card.identity_check,
        has_account=card.has_account,
        created_by_agent_id=person.created_by_agent_id,
        possible_duplicates=[_duplicate(d) for d in card.duplicates],
    )


def _title(engine: Engine, key: str, version: int, state: str) -> tuple[str, str]:
    try:
        definition = engine.procedures.get(key, version)
    except NotFound:  # a retired definition must not hide the case from the list
        return key, state
    try:
        return definition.title, definition.state(state).title
    except KeyError:
        return definition.title, state


class CounterController(Controller):
    path = "/guichet"
    tags = ["Guichet (accueil, téléphone)"]

    @get(
        "/personnes",
        opt=FRONT_DESK,
        summary="Rechercher une personne (nom sans accents, téléphone, e-mail, naissance)",
    )
    async def search_people(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        birthdate: Annotated[date | None, QueryParameter()] = None,
        phone: Annotated[str | None, QueryParameter(max_length=30)] = None,
        email: Annotated[str | None, QueryParameter(max_length=254)] = None,
    ) -> PersonPage:
        found, more = await service.search_people(
            session, actor, now=clock.now(), q=q, birthdate=birthdate, phone=phone, email=email
        )
        return PersonPage(items=[_person(c) for c in found], more=more)

    @post(
        "/personnes",
        opt=FRONT_DESK,
        summary="Créer la fiche d'une personne (doublons possibles signalés)",
    )
    async def create_person(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[PersonCreate],
    ) -> Response[PersonRead]:
        card = await service.create_person(
            session,
            actor,
            service.NewPerson(
                given_name=data.given_name,
                family_name=data.family_name,
                identity_check=data.identity_check,
                birthdate=data.birthdate,
                email=data.email,
                phone=data.phone,
                postal_address=data.postal_address,
                document=data.document,
            ),
            now=clock.now(),
            ip=client_ip(request),
        )
        return Response(_person(card), status_code=201)

    @get(
        "/personnes/{person_id:uuid}/dossiers",
        opt=FRONT_DESK,
        summary="Les autres dossiers de la personne, dans vos collectivités",
    )
    async def person_cases(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        person_id: FromPath[uuid.UUID],
    ) -> list[PersonCaseRead]:
        cases = await service.cases_of_person(session, actor, person_id)
        out: list[PersonCaseRead] = []
        for case in cases:
            procedure_title, state_title = _title(
                engine, case.procedure_key, case.definition_version, case.state
            )
            out.append(
                PersonCaseRead(
                    id=case.id,
                    reference=case.reference,
                    tenant_id=case.tenant_id,
                    procedure=case.procedure_key,
                    procedure_title=procedure_title,
                    state=case.state,
                    state_title=state_title,
                    channel=case.channel,
                    received_at=case.received_at,
                )
            )
        return out

    @post(
        "/demandes",
        opt=FRONT_DESK,
        summary="Saisir la demande d'un usager (accueil ou téléphone)",
    )
    async def enter_request(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[CounterRequestCreate],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
        ] = None,
    ) -> Response[CounterRequestCreated]:
        filed = await service.enter_request(
            session,
            engine,
            clock,
            actor,
            service.CounterRequest(
                tenant=data.tenant,
                procedure=data.procedure,
                channel=data.channel,
                payload=data.payload,
                person_id=data.person_id,
                submitter=data.submitter,
                caller_phone=data.caller_phone,
                received_at=data.received_at,
                received_at_reason=data.received_at_reason,
                notification=data.notification,
                identity_check=data.identity_check,
                external_ref=idempotency_key,
            ),
            tenants=tenants,
        )
        result = filed.result
        body = CounterRequestCreated(
            case_id=result.case_id,
            reference=result.reference,
            state=result.state,
            procedure=result.procedure_key,
            channel=data.channel,
            received_at=result.received_at,
            registered_at=result.registered_at,
            aee=result.aee,
            claim_code=filed.claim_code,
            notification=filed.notification,
            letters_to_print=[LetterRead(**letter) for letter in filed.letters_to_print],
            receipt_text=filed.receipt_text,
        )
        return Response(body, status_code=201 if result.created else 200)

    @post(
        "/dossiers/{case_id:uuid}/notes",
        opt=FRONT_DESK,
        summary="Noter un appel ou une visite sur un dossier (note interne)",
    )
    async def note_call(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[CallNoteCreate],
    ) -> Response[CallNoteRead]:
        event = await service.note_call(
            session,
            engine,
            clock,
            actor,
            case_id,
            text=data.text,
            caller_phone=data.caller_phone,
        )
        return Response(
            CallNoteRead(
                case_id=event.case_id,
                seq=event.seq,
                at=event.at,
                kind=event.kind,
                channel=event.channel,
                public=event.public,
                data=event.data,
            ),
            status_code=201,
        )
