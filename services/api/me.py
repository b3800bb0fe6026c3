"""``/me``: a signed-in person's own account — profile, linked identities, mandates, the export
of their data (RGPD art. 15 and 20) and the erasure of their account (art. 17).

It lives in services.api because the export gathers identity data *and* cases (identity never
imports workflows). The rules — what is verified and what is declared, when an identity may be
unlinked, what erasure removes and what the law keeps — are in ``identity.people``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.models import StoredDocument
from identity import people
from identity.models import FederatedIdentity, Person
from identity.web import client_ip, expired_session_cookie
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import ValidationFailed
from services.kernel.journal import JournalEvent, record
from services.kernel.policy import persons, policy_opt
from workflows.cases import repository
from workflows.cases.controllers import public_event, public_state, public_title
from workflows.cases.models import Case
from workflows.engine.runner import Engine

PERSONS = policy_opt(persons(description="the signed-in person, on their own account"))


# ----- wire types ---------------------------------------------------------------------------------


class VerifiedIdentity(BaseModel):
    """What FranceConnect vouched for, when, and at which level (read-only)."""

    provider: str
    issuer: str
    verified_at: datetime
    acr: str | None
    claims: dict[str, Any]


class DeclaredAttributes(BaseModel):
    """What the person declared: the only attributes they edit (PATCH /me)."""

    contact_email: str | None
    phone: str | None
    postal_address: str | None


class AccountRead(BaseModel):
    given_name: str
    family_name: str
    login_email: str | None
    email_verified_at: datetime | None
    has_password: bool


class ProfileRead(BaseModel):
    id: uuid.UUID
    display_name: str
    status: str
    created_at: datetime
    last_login_at: datetime | None
    verified: VerifiedIdentity | None
    declared: DeclaredAttributes
    account: AccountRead


class ProfileUpdate(BaseModel):
    """Declared attributes to change (null or "" clears one). Any other field is refused."""

    model_config = ConfigDict(extra="allow")

    contact_email: str | None = Field(default=None, description="Adresse de contact")
    phone: str | None = Field(default=None, description="Téléphone")
    postal_address: str | None = Field(default=None, description="Adresse postale")


class IdentityRead(BaseModel):
    id: uuid.UUID
    provider: str
    issuer: str
    idp_id: str | None
    acr: str | None
    linked_at: datetime
    verified_at: datetime
    status: str
    """active | retired (kept after a sub change, no longer signs in)."""
    retired_at: datetime | None
    retired_reason: str | None


class PartyRef(BaseModel):
    kind: str
    id: str | None = None
    name: str | None = None
    siren: str | None = None
    siret: str | None = None


class MandateRead(BaseModel):
    id: uuid.UUID
    status: str
    """valid | expired | revoked | upcoming."""
    role: str
    basis: str
    scope: dict[str, Any]
    tenant_id: uuid.UUID | None
    holder: PartyRef
    represented: PartyRef
    valid_from: datetime
    valid_until: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


class MyMandates(BaseModel):
    held: list[MandateRead] = Field(description="Les mandats que je détiens (j'agis pour...)")
    on_me: list[MandateRead] = Field(description="Les mandats détenus sur moi (agit pour moi)")


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Any = Field(
        default=None,
        description="true (le booléen JSON) : j'efface mon compte, définitivement",
        json_schema_extra={"type": "boolean"},
    )
    """Checked as ``is True`` by the handler: the request layer coerces types leniently
    ("true", 1), and an erasure must only follow an unambiguous yes."""


class Erased(BaseModel):
    status: str
    erased_at: datetime
    cases_kept: int
    message: str


# ----- translation --------------------------------------------------------------------------------


async def profile_of(session: AsyncSession, person: Person) -> ProfileRead:
    identity = await people.active_franceconnect(session, person.id)
    verified = (
        VerifiedIdentity(
            provider=identity.provider,
            issuer=identity.issuer,
            verified_at=identity.verified_at,
            acr=identity.acr,
            claims=people.shown_claims(identity.claims),
        )
        if identity is not None
        else None
    )
    return ProfileRead(
        id=person.id,
        display_name=person.display_name,
        status=person.status,
        created_at=person.created_at,
        last_login_at=person.last_login_at,
        verified=verified,
        declared=DeclaredAttributes(
            contact_email=person.contact_email,
            phone=person.phone,
            postal_address=person.postal_address,
        ),
        account=AccountRead(
            given_name=person.given_name,
            family_name=person.family_name,
            login_email=person.login_email,
            email_verified_at=person.email_verified_at,
            has_password=person.password_hash is not None,
        ),
    )


def identity_read(identity: FederatedIdentity) -> IdentityRead:
    return IdentityRead(
        id=identity.id,
        provider=identity.provider,
        issuer=identity.issuer,
        idp_id=identity.idp_id,
        acr=identity.acr,
        linked_at=identity.linked_at,
        verified_at=identity.verified_at,
        status="retired" if identity.retired_at is not None else "active",
        retired_at=identity.retired_at,
        retired_reason=identity.retired_reason,
    )


def mandate_read(view: people.MandateView) -> MandateRead:
    m = view.mandate
    return MandateRead(
        id=m.id,
        status=view.status,
        role=m.role,
        basis=m.basis,
        scope=dict(m.scope or {}),
        tenant_id=m.tenant_id,
        holder=PartyRef.model_validate(view.holder),
        represented=PartyRef.model_validate(view.represented),
        valid_from=m.valid_from,
        valid_until=m.valid_until,
        created_at=m.created_at,
        revoked_at=m.revoked_at,
        revoked_reason=m.revoked_reason,
    )


async def cases_export(
    session: AsyncSession, engine: Engine, person_id: uuid.UUID, mandate_ids: list[uuid.UUID]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the person's own cases in full, public side; the cases they filed for others, briefly)."""
    mine = list(
        await session.scalars(
            select(Case).where(Case.submitter_id == person_id).order_by(Case.received_at, Case.id)
        )
    )
    own: list[dict[str, Any]] = []
    for case in mine:
        definition = engine.procedures.get(case.procedure_key, case.definition_version)
        events = [e for e in await repository.timeline(session, case.id) if e.public]
        last_public = next((e.to_state for e in reversed(events) if e.to_state), None)
        state = public_state(definition, case, last_public)
        documents = await session.scalars(
            select(StoredDocument)
            .where(StoredDocument.case_id == case.id)
            .order_by(StoredDocument.created_at, StoredDocument.seq)
        )
        own.append(
            {
                "id": str(case.id),
                "reference": case.reference,
                "procedure": case.procedure_key,
                "procedure_title": definition.title,
                "state": state,
                "state_title": public_title(definition, state),
                "channel": case.channel,
                "received_at": case.received_at.isoformat(),
                "registered_at": case.registered_at.isoformat(),
                "submitter": case.submitter,
                "on_behalf_of": case.on_behalf_of,
                "payload": case.payload,
                "timeline": [public_event(e).model_dump(mode="json") for e in events],
                "documents": [
                    {
                        "kind": d.kind,
                        "title": d.title,
                        "created_at": d.created_at.isoformat(),
                        "sha256": d.sha256,
                        "download_url": f"/api/v1/documents/{d.id}",
                    }
                    for d in documents
                ],
            }
        )
    filed: list[dict[str, Any]] = []
    if mandate_ids:
        for case in await session.scalars(
            select(Case)
            .where(
                Case.mandate_id.in_(mandate_ids),
                or_(Case.submitter_id.is_(None), Case.submitter_id != person_id),
            )
            .order_by(Case.received_at, Case.id)
        ):
            filed.append(
                {
                    "reference": case.reference,
                    "procedure": case.procedure_key,
                    "received_at": case.received_at.isoformat(),
                    "mandate_id": str(case.mandate_id),
                    "on_behalf_of": case.on_behalf_of,
                }
            )
    return own, filed


# ----- the controller -----------------------------------------------------------------------------


class MeController(Controller):
    path = "/me"
    tags = ["Mon compte"]

    @get("/", opt=PERSONS, summary="Mon profil : identité vérifiée et coordonnées déclarées")
    async def get_profile(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> ProfileRead:
        person = await people.current_person(session, actor)
        return await profile_of(session, person)

    @patch(
        "/",
        opt=PERSONS,
        summary="Modifier mes coordonnées déclarées (e-mail de contact, téléphone, adresse)",
    )
    async def update_profile(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[ProfileUpdate],
    ) -> ProfileRead:
        person = await people.current_person(session, actor)
        changes: dict[str, Any] = {name: getattr(data, name) for name in data.model_fields_set}
        changes.update(data.model_extra or {})
        await people.update_declared(session, person, changes)
        record(
            session,
            JournalEvent.PROFILE_UPDATED,
            at=clock.now(),
            actor=actor,
            ip=client_ip(request),
            data={"fields": sorted(changes)},
        )
        return await profile_of(session, person)

    @get("/identities", opt=PERSONS, summary="Mes identités liées (FranceConnect, ProConnect)")
    async def list_identities(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[IdentityRead]:
        person = await people.current_person(session, actor)
        return [identity_read(i) for i in await people.identities_of(session, person.id)]

    @delete(
        "/identities/{identity_id:uuid}",
        opt=PERSONS,
        summary="Délier une identité (s'il me reste un autre moyen de connexion)",
    )
    async def unlink_identity(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        identity_id: FromPath[uuid.UUID],
    ) -> None:
        person = await people.current_person(session, actor)
        await people.unlink(
            session, person, identity_id, now=clock.now(), actor=actor, ip=client_ip(request)
        )

    @get("/mandates", opt=PERSONS, summary="Mes mandats : ceux que je détiens, ceux sur moi")
    async def list_mandates(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
    ) -> MyMandates:
        person = await people.current_person(session, actor)
        held, on_me = await people.mandates_of(session, person.id, now=clock.now())
        return MyMandates(
            held=[mandate_read(v) for v in held], on_me=[mandate_read(v) for v in on_me]
        )

    @get(
        "/export",
        opt=PERSONS,
        media_type="application/json",
        summary="Télécharger mes données (JSON) : profil, identités, sessions, mandats, "
        "journal, dossiers",
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
    ) -> Response[dict[str, Any]]:
        now = clock.now()
        person = await people.current_person(session, actor)
        body: dict[str, Any] = {
            "exported_at": now.isoformat(),
            "notice": (
                "Données vous concernant détenues par Guichet (RGPD art. 15 et 20). Les dossiers "
                "montrent ce qui vous est communiqué ; pour le reste d'un dossier, adressez-vous "
                "à la collectivité qui l'instruit."
            ),
            **await people.identity_export(session, person, now=now),
        }
        held_ids = [uuid.UUID(m["id"]) for m in body["mandates"]["held"]]
        own, filed = await cases_export(session, engine, person.id, held_ids)
        body["cases"] = own
        body["cases_filed_for_others"] = filed
        record(
            session,
            JournalEvent.DATA_EXPORTED,
            at=now,
            actor=actor,
            ip=client_ip(request),
            data={"person_id": str(person.id), "cases": len(own)},
        )
        filename = f"guichet-mes-donnees-{now.date().isoformat()}.json"
        return Response(
            body,
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @post(
        "/erase",
        opt=PERSONS,
        status_code=200,
        summary="Effacer mon compte (les dossiers sont conservés, réduits à ce que la loi exige)",
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[EraseRequest],
    ) -> Response[Erased]:
        if data.confirm is not True:
            raise ValidationFailed(
                'Effacement non confirmé : envoyez {"confirm": true} pour effacer votre compte. '
                "C'est définitif ; vos dossiers restent conservés par la collectivité.",
                errors=[{"field": "confirm", "message": "doit valoir true", "type": "confirm"}],
            )
        now = clock.now()
        person = await people.current_person(session, actor)
        references = list(
            await session.scalars(
                select(Case.reference)
                .where(Case.submitter_id == person.id)
                .order_by(Case.received_at, Case.id)
            )
        )
        erasure = await people.erase_account(
            session,
            person,
            now=now,
            actor=actor,
            ip=client_ip(request),
            cases_kept=len(references),
            kept_case_references=references[:100],
        )
        kept = len(references)
        message = "Votre compte a été effacé."
        if kept:
            message += (
                f" Vos {kept} dossier(s) restent conservés par la collectivité, comme la loi "
                "l'exige pour les archives publiques (RGPD art. 17.3.b) : pour les suivre, "
                "adressez-vous au guichet de la mairie avec leur référence."
            )
        return Response(
            Erased(status="erased", erased_at=erasure.erased_at, cases_kept=kept, message=message),
            cookies=[expired_session_cookie()],
            headers={"Cache-Control": "no-store"},
        )
