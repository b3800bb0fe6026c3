"""Counter and phone: find or create the person, enter their request, note a call.

An agent at the counter (role ``counter_agent``) or on the phone (``phone_agent``) works for the
people who come or call:

- finds them among the person records (``identity.person_search``), with the records that may be
  the same person (``possible_duplicates``) so that a homonym is not confused and a double is seen;
- creates a record when there is none, saying how the identity was checked (a document seen, none,
  FranceConnect on the counter's screen); the document's number is kept in the journal only;
- enters the request through the one door (``channels.intake.submit``), the agent as actor, on the
  channel of their role, with the receipt to print or read out: the AEE and, when the person has no
  account, the code to follow the case or attach it to an account later — shown once, only its
  hash is kept;
- notes a call on a case of their tenant (an internal event, never shown to the person), and lists
  the caller's other cases in their tenants.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.intake import (
    FRANCECONNECT,
    IntakeRequest,
    IntakeResult,
    issue_tracking_code,
    submit,
)
from identity import person_search
from identity.models import FederatedIdentity, Person
from identity.service import TenantCache
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, HiddenDenial, NotFound, ValidationFailed
from services.kernel.journal import JournalEvent, record
from workflows.cases import repository
from workflows.cases.models import Case, CaseEvent
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

CounterChannel = Literal["counter", "phone"]
IdentityCheck = Literal["document_seen", "none", "franceconnect"]
CHANNEL_ROLE: dict[str, str] = {"counter": Role.COUNTER_AGENT, "phone": Role.PHONE_AGENT}
FRONT_DESK_ROLES = frozenset({Role.COUNTER_AGENT.value, Role.PHONE_AGENT.value})
CALL_NOTE = "call.note"
PARIS = ZoneInfo("Europe/Paris")
PERSON_NOT_FOUND = "Personne introuvable : vérifiez l'identifiant ou recherchez-la à nouveau."


# ----- people --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonCard:
    """A person as the counter sees them."""

    person: Person
    has_account: bool
    identity_check: str
    """document_seen | none | franceconnect (checked by an agent, or their FranceConnect
    identity) | declared (an account they created themselves)."""
    duplicates: list[person_search.Duplicate]


async def _accounts(
    session: AsyncSession, people: list[Person]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(ids of people with an account, ids with a live FranceConnect identity)."""
    ids = [p.id for p in people]
    if not ids:
        return set(), set()
    rows = await session.execute(
        select(FederatedIdentity.person_id, FederatedIdentity.provider).where(
            FederatedIdentity.person_id.in_(ids), FederatedIdentity.retired_at.is_(None)
        )
    )
    federated: set[uuid.UUID] = set()
    franceconnect: set[uuid.UUID] = set()
    for person_id, provider in rows.all():
        if person_id is None:
            continue
        federated.add(person_id)
        if provider == FRANCECONNECT:
            franceconnect.add(person_id)
    with_account = {p.id for p in people if p.login_email} | federated
    return with_account, franceconnect


async def cards(session: AsyncSession, people: list[Person]) -> list[PersonCard]:
    with_account, franceconnect = await _accounts(session, people)
    out: list[PersonCard] = []
    for person in people:
        check = person.identity_check or (
            "franceconnect" if person.id in franceconnect else "declared"
        )
        out.append(
            PersonCard(
                person=person,
                has_account=person.id in with_account,
                identity_check=check,
                duplicates=await person_search.duplicates_of(session, person),
            )
        )
    return out


def _search_journal_event() -> JournalEvent | None:
    """Who searched whom: people's records are personal data (``counter.person.searched``)."""
    return JournalEvent.COUNTER_SEARCH


async def search_people(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    q: str | None,
    birthdate: date | None,
    phone: str | None,
    email: str | None,
) -> tuple[list[PersonCard], bool]:
    """People matching every criterion (at most 20) and whether there were more."""
    found = person_search.criteria(q=q, birthdate=birthdate, phone=phone, email=email)
    if found.empty:
        raise ValidationFailed(
            "Recherche trop large : indiquez un nom (au moins 2 lettres), un téléphone ou une "
            "adresse électronique ; la date de naissance sert à affiner.",
            errors=[
                {
                    "field": "q",
                    "message": "indiquez un nom, un téléphone ou une adresse électronique",
                    "type": "missing",
                }
            ],
        )
    people = await person_search.search(session, found, limit=person_search.MAX_RESULTS + 1)
    more = len(people) > person_search.MAX_RESULTS
    people = people[: person_search.MAX_RESULTS]
    event = _search_journal_event()
    if event is not None:
        record(
            session,
            event,
            at=now,
            actor=actor,
            data={
                "words": list(found.words),
                "birthdate": found.birthdate.isoformat() if found.birthdate else None,
                "phone": bool(found.phone),
                "email": bool(found.email),
                "results": len(people),
            },
        )
    return await cards(session, people), more


@dataclass(frozen=True, slots=True)
class NewPerson:
    given_name: str
    family_name: str
    identity_check: IdentityCheck
    birthdate: date | None = None
    email: str | None = None
    phone: str | None = None
    postal_address: str | None = None
    document: str | None = None


def _home_tenant(actor: Actor) -> uuid.UUID | None:
    """The tenant the agent works at the front desk for, when there is only one."""
    tenants = [t for t, roles in actor.roles.items() if roles & FRONT_DESK_ROLES]
    return tenants[0] if len(tenants) == 1 else None


async def create_person(
    session: AsyncSession, actor: Actor, new: NewPerson, *, now: datetime, ip: str | None
) -> PersonCard:
    """A person record entered by an agent (no account: no login, no password). Possible
    duplicates are returned, not refused: homonyms exist."""
    errors: list[dict[str, Any]] = []
    if new.birthdate is not None and new.birthdate > now.date():
        errors.append(
            {"field": "birthdate", "message": "date de naissance dans le futur", "type": "future"}
        )
    if new.birthdate is not None and new.birthdate.year < 1900:
        errors.append(
            {"field": "birthdate", "message": "date de naissance invalide", "type": "range"}
        )
    if new.document and new.identity_check != "document_seen":
        errors.append(
            {
                "field": "document",
                "message": "un document n'est indiqué que si identity_check vaut document_seen",
                "type": "inconsistent",
            }
        )
    if new.phone and not (
        (digits := person_search.phone_digits(new.phone)) and 6 <= len(digits) <= 15
    ):
        errors.append(
            {"field": "phone", "message": "numéro de téléphone invalide", "type": "format"}
        )
    if errors:
        raise ValidationFailed(
            "Fiche incomplète ou invalide : corrigez les champs listés dans « errors ».",
            errors=errors,
        )
    person = Person(
        given_name=new.given_name,
        family_name=new.family_name,
        birthdate=new.birthdate,
        contact_email=person_search.normal_email(new.email),
        phone=new.phone,
        postal_address=new.postal_address,
        identity_check=new.identity_check,
        created_by_agent_id=actor.id,
        status="active",
        created_at=now,
    )
    person_search.refresh_search_text(person)
    session.add(person)
    await session.flush()
    record(
        session,
        JournalEvent.ACCOUNT_CREATED,
        at=now,
        actor=actor,
        tenant_id=_home_tenant(actor),
        data={
            "person_id": str(person.id),
            "by": "agent",
            "agent_id": str(actor.id),
            "identity_check": new.identity_check,
            "document": new.document,
        },
        ip=ip,
    )
    return (await cards(session, [person]))[0]


async def active_person(session: AsyncSession, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None or person.status != "active":
        raise NotFound(PERSON_NOT_FOUND)
    return person


# ----- entering a request ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CounterRequest:
    tenant: str
    procedure: str
    channel: CounterChannel
    payload: dict[str, Any]
    person_id: uuid.UUID | None = None
    submitter: dict[str, Any] | None = None
    caller_phone: str | None = None
    received_at: datetime | None = None
    received_at_reason: str | None = None
    notification: Literal["email", "postal"] = "email"
    identity_check: IdentityCheck | None = None
    external_ref: str | None = None


@dataclass(frozen=True, slots=True)
class CounterFiled:
    result: IntakeResult
    claim_code: str | None
    notification: str
    letters_to_print: list[dict[str, str]]
    receipt_text: str


def _check_channel(actor: Actor, tenant_id: uuid.UUID, tenant_name: str, channel: str) -> None:
    roles = actor.roles_in(tenant_id)
    if not roles & FRONT_DESK_ROLES:
        raise Forbidden(
            f"Vous n'êtes ni agent d'accueil ni agent du téléphone à {tenant_name} : vous ne "
            "pouvez pas y saisir de demande pour un usager."
        )
    if CHANNEL_ROLE[channel] not in roles:
        allowed = sorted(c for c, role in CHANNEL_ROLE.items() if role in roles)
        raise Forbidden(
            f"Votre rôle à {tenant_name} ne permet pas de saisir une demande sur le canal "
            f"« {channel} » : utilisez le canal « {' ou '.join(allowed)} »."
        )


async def _has_account(session: AsyncSession, person: Person) -> bool:
    with_account, _ = await _accounts(session, [person])
    return person.id in with_account


def _fr_datetime(value: datetime) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def receipt_text(
    result: IntakeResult, *, claim_code: str | None, agent: str, channel: str, postal: bool
) -> str:
    """The receipt the agent prints (counter) or reads out (phone), in French."""
    aee = result.aee
    lines = [
        "ACCUSÉ D'ENREGISTREMENT",
        f"{aee.get('collectivite', '')}",
        "",
        f"Démarche : {aee.get('demarche', result.procedure_key)}",
        f"Référence : {result.reference}",
        f"Demande reçue le : {_fr_datetime(result.received_at)}",
        f"Enregistrée le : {_fr_datetime(result.registered_at)}",
        f"Saisie par : {agent} ({'accueil' if channel == 'counter' else 'téléphone'})",
        "",
    ]
    if claim_code:
        lines += [
            f"Code de suivi : {claim_code}",
            "Conservez ce code : il n'est donné qu'une fois et ne peut pas être retrouvé. Avec "
            "l'adresse électronique ou le téléphone indiqué, il permet de suivre la demande et "
            "de la rattacher à un compte Guichet.",
            "",
        ]
    lines.append(
        "L'accusé de réception vous sera remis ou envoyé par courrier."
        if postal
        else "L'accusé de réception vous sera envoyé par courrier électronique."
    )
    lines.append("Conservez la référence pour toute question sur votre demande.")
    return "\n".join(lines)


def _contains_nul(value: Any) -> bool:
    return "\\u0000" in json.dumps(value)


async def enter_request(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    request: CounterRequest,
    *,
    tenants: TenantCache,
) -> CounterFiled:
    now = clock.now()
    try:
        tenant = await tenants.get(session, request.tenant, now=now)
    except NotFound:
        raise NotFound(f"Collectivité « {request.tenant} » inconnue.") from None
    _check_channel(actor, tenant.id, tenant.name, request.channel)
    if (request.person_id is None) == (request.submitter is None):
        raise ValidationFailed(
            "Indiquez soit la fiche de la personne (person_id), soit le demandeur (submitter), "
            "pas les deux.",
            errors=[
                {
                    "field": "person_id",
                    "message": "person_id ou submitter, un seul des deux",
                    "type": "exclusive",
                }
            ],
        )
    if _contains_nul(request.payload) or _contains_nul(request.submitter):
        raise ValidationFailed(
            "La demande contient un caractère nul : retirez-le.",
            errors=[{"field": "payload", "message": "caractère nul", "type": "format"}],
        )
    submitter: dict[str, Any]
    has_account = False
    if request.person_id is not None:
        if request.identity_check is not None:
            raise ValidationFailed(
                "Le contrôle d'identité est celui de la fiche : ne l'envoyez pas avec person_id.",
                errors=[
                    {
                        "field": "identity_check",
                        "message": "vient de la fiche de la personne",
                        "type": "forbidden",
                    }
                ],
            )
        person = await active_person(session, request.person_id)
        submitter = {
            "kind": "person",
            "given_name": person.given_name or None,
            "family_name": person.family_name or None,
            "email": person.contact_email or person.login_email,
            "phone": person.phone,
            "postal_address": person.postal_address,
        }
        submitter = {k: v for k, v in submitter.items() if v}
        has_account = await _has_account(session, person)
        check = (await cards(session, [person]))[0].identity_check
    else:
        submitter = dict(request.submitter or {})
        check = request.identity_check or "none"
    submitter["notification"] = request.notification
    postal = request.notification == "postal" or not submitter.get("email")
    caller_phone = request.caller_phone
    channel_data: dict[str, Any] = {
        "agent_id": str(actor.id),
        "agent_name": actor.display_name,
        "caller_phone": caller_phone,
        "identity_check": check,
        request.channel: {"tenant_id": str(tenant.id), "tenant": tenant.name},
    }
    if request.person_id is not None:
        channel_data["person_id"] = str(request.person_id)
    result = await submit(
        session,
        engine,
        clock,
        IntakeRequest(
            tenant=str(tenant.id),
            procedure_key=request.procedure,
            channel=request.channel,
            submitter=submitter,
            payload=request.payload,
            actor=actor,
            received_at=request.received_at,
            received_at_reason=request.received_at_reason,
            submitter_id=request.person_id,
            channel_data=channel_data,
            external_ref=request.external_ref,
        ),
        tenants=tenants,
    )
    claim_code = result.tracking_code
    if result.created and request.person_id is not None and not has_account:
        # A record without an account: the person follows the case (or attaches it to an
        # account they open later) with a code, like anyone without an account.
        claim_code = issue_tracking_code(
            session,
            result.case_id,
            contact=submitter.get("email") or submitter.get("phone"),
            now=now,
        )
    letters = (
        [{"kind": "are", "title": "Accusé de réception", "where": "/api/v1/notifications/"}]
        if postal and result.created
        else []
    )
    return CounterFiled(
        result=result,
        claim_code=claim_code,
        notification="postal" if postal else "email",
        letters_to_print=letters,
        receipt_text=receipt_text(
            result,
            claim_code=claim_code,
            agent=actor.display_name,
            channel=request.channel,
            postal=postal,
        ),
    )


# ----- calls and the caller's other cases ---------------------------------------------------


async def note_call(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    text: str,
    caller_phone: str | None,
) -> CaseEvent:
    """An internal note on a case of the agent's tenant: never shown to the person."""
    case = await repository.visible_case(session, case_id, actor)
    roles = actor.roles_in(case.tenant_id)
    if not roles & FRONT_DESK_ROLES:
        raise HiddenDenial(repository.NOT_VISIBLE)
    text = text.strip()
    if not text:
        raise ValidationFailed(
            "La note est vide : écrivez ce que l'usager a dit ou demandé.",
            errors=[{"field": "text", "message": "texte vide", "type": "missing"}],
        )
    on_phone = Role.PHONE_AGENT in roles and (caller_phone or Role.COUNTER_AGENT not in roles)
    data: dict[str, Any] = {"text": text}
    if caller_phone:
        data["caller_phone"] = caller_phone
    return await CaseService(session, engine, clock).record(
        case.id,
        CALL_NOTE,
        actor,
        data,
        public=False,
        channel="phone" if on_phone else "counter",
        visible_to=actor,
    )


async def cases_of_person(
    session: AsyncSession, actor: Actor, person_id: uuid.UUID, *, limit: int = 100
) -> list[Case]:
    """The person's cases in the tenants where the agent has a role, newest first."""
    await active_person(session, person_id)
    rows, _ = await repository.list_cases(
        session,
        tenant_ids=sorted(actor.tenant_ids()),
        person_ids=[person_id],
        limit=limit,
    )
    return [case for case, _ in rows]
