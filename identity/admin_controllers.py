"""Administration API (``/admin``): agents and invitations, roles, organisations, mandates, API
clients with secret rotation, and the journal (JSON and CSV).

Every endpoint needs the ``admin`` role somewhere (mandates: ``admin`` or ``identity_checker``);
then each object is checked against the tenants where the caller holds it: anything outside
answers 404. The controllers only translate; decisions live in ``identity.admin`` and
``identity.organisations``.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from identity import admin
from identity import organisations as orgs
from identity.models import Agent, ApiClient, Mandate, Organisation
from identity.service import TokenCache
from identity.web import client_ip, public_base_url
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.policy import agents, policy_opt
from services.kernel.ports import Mailer

ADMIN = policy_opt(agents(Role.ADMIN, description="administrators (per tenant)"))
CHECKERS = policy_opt(
    agents(
        Role.ADMIN,
        Role.IDENTITY_CHECKER,
        description="administrators and identity checkers (per tenant)",
    )
)


def _printable(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r" for ch in value):
        raise ValueError("caractère de contrôle refusé (par exemple le caractère nul)")
    return value


def _one_line(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("caractère de contrôle refusé (par exemple le caractère nul)")
    return value


TenantRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="La collectivité : code INSEE (ex. 69001), nom court ou identifiant",
    ),
    AfterValidator(_one_line),
]
RoleName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        description="Rôle : " + ", ".join(r.value for r in Role),
    ),
    AfterValidator(_one_line),
]
Limit = Annotated[int, QueryParameter(ge=1, le=admin.MAX_PAGE, description="Taille de la page")]
Offset = Annotated[int, QueryParameter(ge=0, description="Éléments à sauter")]


def _drop_cached_tokens(state: State) -> None:
    """Make a revocation effective at once on this instance (others: within the cache TTL)."""
    cache = getattr(state, "token_cache", None)
    if isinstance(cache, TokenCache):
        cache.clear()


def _procedure_keys(engine: Any) -> frozenset[str] | None:
    """Keys of the procedures the app's engine knows. Read structurally (``procedures.latest()``)
    because identity never imports workflows; None when unavailable (format check only)."""
    latest = getattr(getattr(engine, "procedures", None), "latest", None)
    if not callable(latest):
        return None
    return frozenset(str(getattr(d, "key", "")) for d in latest())


# ----- wire types --------------------------------------------------------------------------------


class RoleRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: TenantRef
    role: RoleName


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        str,
        Field(min_length=3, max_length=254, description="Adresse professionnelle de l'agent"),
        AfterValidator(_one_line),
    ]
    given_name: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_one_line)]
    family_name: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_one_line)]
    title: Annotated[
        str,
        Field(default="", max_length=200, description="Fonction, imprimée sur les courriers"),
        AfterValidator(_one_line),
    ] = ""
    roles: list[RoleRef] = Field(
        min_length=1, max_length=20, description="Rôles donnés, par collectivité"
    )


class RoleRead(BaseModel):
    tenant_id: uuid.UUID
    tenant: str = Field(description="Code INSEE de la collectivité")
    role: str


class AgentRead(BaseModel):
    id: uuid.UUID
    email: str
    given_name: str
    family_name: str
    title: str
    status: str = Field(description="active, invited (invitation en attente) ou inactive")
    invited_at: datetime | None
    created_at: datetime
    roles: list[RoleRead] = Field(description="Ses rôles dans les collectivités que vous voyez")

    @classmethod
    def of(cls, agent: Agent, roles: list[admin.AgentRole]) -> AgentRead:
        return cls(
            id=agent.id,
            email=agent.email,
            given_name=agent.given_name,
            family_name=agent.family_name,
            title=agent.title,
            status=admin.agent_status(agent),
            invited_at=agent.invited_at,
            created_at=agent.created_at,
            roles=[RoleRead(tenant_id=r.tenant_id, tenant=r.tenant, role=r.role) for r in roles],
        )


class AgentPage(BaseModel):
    items: list[AgentRead]
    total: int
    limit: int
    offset: int


class InvitationRead(BaseModel):
    agent: AgentRead
    expires_at: datetime = Field(description="Fin de validité du lien envoyé par courriel")
    reinvited: bool = Field(description="Vrai si l'agent existait déjà (nouveau lien envoyé)")


class AgentRoles(BaseModel):
    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    roles: list[str] = Field(description="Ses rôles dans cette collectivité, après la demande")


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    siren: Annotated[
        str | None,
        Field(default=None, max_length=20, description="9 chiffres (facultatif avec un SIRET)"),
    ] = None
    siret: Annotated[
        str | None,
        Field(default=None, max_length=20, description="14 chiffres : l'établissement"),
    ] = None
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
    diffusible: bool = Field(
        default=True,
        description="Faux pour une unité non diffusible (jamais montrée au public)",
    )


class OrganisationRead(BaseModel):
    id: uuid.UUID
    siren: str
    siret: str | None
    name: str
    source: str
    diffusible: bool
    verified_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, o: Organisation) -> OrganisationRead:
        return cls(
            id=o.id,
            siren=o.siren,
            siret=o.siret,
            name=o.name,
            source=o.source,
            diffusible=o.diffusible,
            verified_at=o.verified_at,
            created_at=o.created_at,
        )


class OrganisationPage(BaseModel):
    items: list[OrganisationRead]
    total: int
    limit: int
    offset: int


class MandateScope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedures: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list,
        max_length=100,
        description="Démarches couvertes (ex. urbanism.pcmi) ; liste vide : toutes",
    )
    rep_scope: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list,
        max_length=20,
        description="Périmètres Aidants Connect (ex. Social-Santé), pour information",
    )


class MandateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: TenantRef
    holder_person_id: uuid.UUID = Field(description="La personne qui agit (le mandataire)")
    represented_person_id: uuid.UUID | None = Field(
        default=None, description="La personne représentée (ou bien organisation_id)"
    )
    organisation_id: uuid.UUID | None = Field(
        default=None, description="L'organisation représentée (ou bien represented_person_id)"
    )
    role: Annotated[
        str,
        Field(min_length=1, max_length=60, description="Ex. dirigeant, comptable, aidant"),
        AfterValidator(_one_line),
    ]
    basis: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            description="Fondement : " + ", ".join(sorted(orgs.BASES)),
        ),
    ]
    scope: MandateScope = Field(default_factory=MandateScope)
    evidence: Annotated[
        str,
        Field(default="", max_length=2000, description="Pièce vérifiée (nature, référence)"),
        AfterValidator(_printable),
    ] = ""
    valid_until: AwareDatetime | None = Field(
        default=None,
        description=(
            "Fin de validité : obligatoire pour une personne, au plus "
            "GUICHET_MANDATE_PERSON_MAX_DAYS jours (365 par défaut)"
        ),
    )


class MandateRead(BaseModel):
    id: uuid.UUID
    holder_person_id: uuid.UUID | None
    holder_agent_id: uuid.UUID | None
    represented_person_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    role: str
    basis: str
    procedures: list[str]
    rep_scope: list[str]
    evidence: str
    tenant_id: uuid.UUID | None
    valid_from: datetime
    valid_until: datetime | None
    verified_by_agent_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    status: str = Field(description="active, future, expired ou revoked")

    @classmethod
    def of(cls, m: Mandate, now: datetime) -> MandateRead:
        rep = (m.scope or {}).get("rep_scope") or []
        return cls(
            id=m.id,
            holder_person_id=m.holder_person_id,
            holder_agent_id=m.holder_agent_id,
            represented_person_id=m.represented_person_id,
            organisation_id=m.organisation_id,
            role=m.role,
            basis=m.basis,
            procedures=orgs.procedures_of(m),
            rep_scope=[str(r) for r in rep] if isinstance(rep, list) else [],
            evidence=m.evidence,
            tenant_id=m.tenant_id,
            valid_from=m.valid_from,
            valid_until=m.valid_until,
            verified_by_agent_id=m.verified_by_agent_id,
            created_at=m.created_at,
            revoked_at=m.revoked_at,
            revoked_reason=m.revoked_reason,
            status=orgs.mandate_status(m, now),
        )


class MandatePage(BaseModel):
    items: list[MandateRead]
    total: int
    limit: int
    offset: int


class MandateRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str,
        Field(min_length=1, max_length=300, description="Motif de la révocation"),
        AfterValidator(_one_line),
    ]


class ApiClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: TenantRef
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
    scopes: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=10, description="Portées accordées (ex. intake:write)"
    )
    organisation_id: uuid.UUID | None = Field(
        default=None, description="L'organisation pour laquelle ce logiciel agit (facultatif)"
    )


class ApiClientRead(BaseModel):
    client_id: str
    name: str
    tenant_id: uuid.UUID
    scopes: list[str]
    active: bool
    organisation_id: uuid.UUID | None
    created_at: datetime
    secret_rotated_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        description="Jusqu'à quand l'ancien secret reste accepté après une rotation"
    )

    @classmethod
    def of(cls, c: ApiClient) -> ApiClientRead:
        return cls(
            client_id=c.client_id,
            name=c.name,
            tenant_id=c.tenant_id,
            scopes=c.scope_list,
            active=c.active,
            organisation_id=c.organisation_id,
            created_at=c.created_at,
            secret_rotated_at=c.secret_rotated_at,
            previous_secret_valid_until=c.previous_valid_until,
        )


class ApiClientWithSecret(ApiClientRead):
    client_secret: str = Field(
        description="Le secret, montré cette seule fois : conservez-le en lieu sûr"
    )


class ApiClientPage(BaseModel):
    items: list[ApiClientRead]
    total: int
    limit: int
    offset: int


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours: int = Field(
        default=admin.DEFAULT_GRACE_HOURS,
        ge=0,
        le=admin.MAX_GRACE_HOURS,
        description=(
            "Heures pendant lesquelles l'ancien secret reste accepté (0 : coupé tout de suite, "
            "par exemple après une fuite ; 168 au plus)"
        ),
    )


class JournalEntryRead(BaseModel):
    id: uuid.UUID
    at: datetime
    event: str
    actor_id: uuid.UUID | None
    actor_kind: str | None
    tenant_id: uuid.UUID | None
    ip: str | None
    data: dict[str, Any]


class JournalPage(BaseModel):
    items: list[JournalEntryRead]
    total: int
    limit: int
    offset: int


EventFilter = Annotated[
    str | None,
    QueryParameter(
        max_length=80,
        description="Nom d'événement (admin.role.granted) ou préfixe pointé (identity)",
    ),
]
Since = Annotated[
    datetime | None, QueryParameter(description="Depuis (inclus), ISO 8601 avec fuseau")
]
Until = Annotated[
    datetime | None, QueryParameter(description="Jusqu'à (exclu), ISO 8601 avec fuseau")
]
# ----- the controller ------------------------------------------------------------------------------


class AdminController(Controller):
    path = "/admin"
    tags = ["Administration"]

    # --- agents ---

    @get("/agents", opt=ADMIN, summary="Les agents des collectivités que vous administrez")
    async def list_agents(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tenant: Annotated[
            str | None, QueryParameter(max_length=64, description="Une seule collectivité")
        ] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="Nom ou adresse (mots)")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AgentPage:
        page = await admin.list_agents(
            session, actor, tenant=tenant, q=q, limit=limit, offset=offset
        )
        return AgentPage(
            items=[AgentRead.of(v.agent, v.roles) for v in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/agents/invitations",
        opt=ADMIN,
        status_code=201,
        summary="Inviter un agent par courriel, avec ses rôles",
        description=(
            "Crée l'agent (inactif) avec ses rôles et lui envoie un lien valable 7 jours ; sa "
            "première connexion ProConnect par ce lien active le compte. Réinviter un agent en "
            "attente envoie un nouveau lien et annule l'ancien. Une adresse déjà utilisée par un "
            "agent actif : 409."
        ),
    )
    async def invite(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        mailer: NamedDependency[Mailer],
        data: JSONBody[InvitationCreate],
    ) -> InvitationRead:
        invitation = await admin.invite_agent(
            session,
            actor,
            now=clock.now(),
            email=data.email,
            given_name=data.given_name.strip(),
            family_name=data.family_name.strip(),
            title=data.title.strip(),
            roles=[(r.tenant, r.role) for r in data.roles],
            ip=client_ip(request),
        )
        await admin.send_invitation(
            mailer, invitation, base_url=public_base_url(), invited_by=actor.display_name
        )
        return InvitationRead(
            agent=AgentRead.of(invitation.agent, invitation.roles),
            expires_at=invitation.expires_at,
            reinvited=invitation.reinvited,
        )

    @post(
        "/agents/{agent_id:uuid}/deactivate",
        opt=ADMIN,
        status_code=200,
        summary="Désactiver un agent (sessions fermées, jetons révoqués)",
    )
    async def deactivate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        agent_id: FromPath[uuid.UUID],
    ) -> AgentRead:
        agent = await admin.deactivate_agent(
            session, actor, agent_id, now=clock.now(), ip=client_ip(request)
        )
        _drop_cached_tokens(state)
        return AgentRead.of(agent, [])

    @post(
        "/agents/{agent_id:uuid}/roles",
        opt=ADMIN,
        status_code=201,
        summary="Donner un rôle à un agent dans une collectivité",
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        agent_id: FromPath[uuid.UUID],
        data: JSONBody[RoleRef],
    ) -> AgentRoles:
        agent, tenant = await admin.admin_grant_role(
            session,
            actor,
            agent_id,
            tenant=data.tenant,
            role=data.role,
            now=clock.now(),
            ip=client_ip(request),
        )
        roles = await admin.agent_roles_in(session, agent.id, tenant)
        return AgentRoles(
            agent_id=agent.id,
            tenant_id=tenant.id,
            tenant=tenant.insee_code,
            roles=[r.role for r in roles],
        )

    @delete(
        "/agents/{agent_id:uuid}/roles/{role:str}",
        opt=ADMIN,
        status_code=204,
        summary="Retirer un rôle à un agent dans une collectivité",
        description="Vous ne pouvez pas retirer votre propre dernier rôle d'administrateur.",
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        state: State,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        agent_id: FromPath[uuid.UUID],
        role: FromPath[str],
        tenant: Annotated[
            str, QueryParameter(min_length=1, max_length=64, description="La collectivité")
        ],
    ) -> None:
        await admin.admin_revoke_role(
            session,
            actor,
            agent_id,
            tenant=tenant,
            role=role,
            now=clock.now(),
            ip=client_ip(request),
        )
        _drop_cached_tokens(state)

    # --- organisations ---

    @post(
        "/organisations",
        opt=ADMIN,
        status_code=201,
        summary="Enregistrer une organisation (SIREN / SIRET)",
        description=(
            "Le SIRET (14 chiffres) suffit : le SIREN en est tiré (9 premiers chiffres). Les "
            "numéros sont vérifiés par la clé de Luhn (exception connue : La Poste)."
        ),
    )
    async def create_organisation(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[OrganisationCreate],
    ) -> OrganisationRead:
        organisation = await orgs.create_organisation(
            session,
            now=clock.now(),
            name=data.name,
            siren=data.siren,
            siret=data.siret,
            diffusible=data.diffusible,
            source="agent",
            actor=actor,
            ip=client_ip(request),
        )
        return OrganisationRead.of(organisation)

    @get(
        "/organisations",
        opt=CHECKERS,
        summary="Chercher une organisation (nom, SIREN ou SIRET)",
    )
    async def find_organisations(
        self,
        session: NamedDependency[AsyncSession],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> OrganisationPage:
        page = await orgs.find_organisations(session, q=q, limit=limit, offset=offset)
        return OrganisationPage(
            items=[OrganisationRead.of(o) for o in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @get("/organisations/{organisation_id:uuid}", opt=CHECKERS, summary="Une organisation")
    async def get_organisation(
        self,
        session: NamedDependency[AsyncSession],
        organisation_id: FromPath[uuid.UUID],
    ) -> OrganisationRead:
        return OrganisationRead.of(await orgs.get_organisation(session, organisation_id))

    # --- mandates ---

    @post(
        "/mandates",
        opt=CHECKERS,
        status_code=201,
        summary="Enregistrer un mandat vérifié (agir pour une personne ou une organisation)",
        description=(
            "Lire les dossiers d'une organisation : l'appartenance ProConnect suffit. Agir pour "
            "elle : certification_dirigeant, rne_mandataire ou agent_validated. Agir pour une "
            "personne : aidants_connect_mandate, agent_validated ou person_consent, avec une fin "
            "de validité obligatoire."
        ),
    )
    async def create_mandate(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Any],
        data: JSONBody[MandateCreate],
    ) -> MandateRead:
        now = clock.now()
        mandate = await orgs.create_mandate(
            session,
            actor,
            now=now,
            tenant=data.tenant,
            holder_person_id=data.holder_person_id,
            represented_person_id=data.represented_person_id,
            organisation_id=data.organisation_id,
            role=data.role,
            basis=data.basis,
            procedures=data.scope.procedures,
            rep_scope=data.scope.rep_scope,
            evidence=data.evidence,
            valid_until=data.valid_until,
            known_procedures=_procedure_keys(engine),
            ip=client_ip(request),
        )
        return MandateRead.of(mandate, now)

    @get("/mandates", opt=CHECKERS, summary="Les mandats (par personne ou organisation)")
    async def list_mandates(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        person: Annotated[
            uuid.UUID | None,
            QueryParameter(description="Mandataire ou personne représentée"),
        ] = None,
        organisation: Annotated[
            uuid.UUID | None, QueryParameter(description="Organisation représentée")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MandatePage:
        page = await orgs.list_mandates(
            session,
            actor,
            person_id=person,
            organisation_id=organisation,
            limit=limit,
            offset=offset,
        )
        now = clock.now()
        return MandatePage(
            items=[MandateRead.of(m, now) for m in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/mandates/{mandate_id:uuid}/revoke",
        opt=CHECKERS,
        status_code=200,
        summary="Révoquer un mandat",
    )
    async def revoke_mandate(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        mandate_id: FromPath[uuid.UUID],
        data: JSONBody[MandateRevoke],
    ) -> MandateRead:
        now = clock.now()
        mandate = await orgs.revoke_mandate(
            session, actor, mandate_id, reason=data.reason, now=now, ip=client_ip(request)
        )
        return MandateRead.of(mandate, now)

    # --- API clients ---

    @get("/api-clients", opt=ADMIN, summary="Les clients API des collectivités administrées")
    async def list_api_clients(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tenant: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ApiClientPage:
        page = await admin.list_api_clients(
            session, actor, tenant=tenant, limit=limit, offset=offset
        )
        return ApiClientPage(
            items=[ApiClientRead.of(c) for c in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/api-clients",
        opt=ADMIN,
        status_code=201,
        summary="Créer un client API (le secret n'est montré qu'une fois)",
    )
    async def create_api_client(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[ApiClientCreate],
    ) -> ApiClientWithSecret:
        client, secret = await admin.admin_create_api_client(
            session,
            actor,
            now=clock.now(),
            tenant=data.tenant,
            name=data.name.strip(),
            scopes=data.scopes,
            organisation_id=data.organisation_id,
            ip=client_ip(request),
        )
        return ApiClientWithSecret(**ApiClientRead.of(client).model_dump(), client_secret=secret)

    @post(
        "/api-clients/{client_id:str}/rotate",
        opt=ADMIN,
        status_code=200,
        summary="Changer le secret d'un client API sans interruption",
        description=(
            "Renvoie le nouveau secret (une seule fois). L'ancien reste accepté pendant "
            "« grace_hours » heures (24 par défaut, 168 au plus) : déployez le nouveau pendant ce "
            "délai. Une nouvelle rotation pendant ce délai coupe aussitôt le plus ancien."
        ),
    )
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        client_id: FromPath[str],
        data: JSONBody[SecretRotation],
    ) -> ApiClientWithSecret:
        client, secret = await admin.rotate_client_secret(
            session,
            actor,
            client_id,
            grace_hours=data.grace_hours,
            now=clock.now(),
            ip=client_ip(request),
        )
        return ApiClientWithSecret(**ApiClientRead.of(client).model_dump(), client_secret=secret)

    @post(
        "/api-clients/{client_id:str}/revoke",
        opt=ADMIN,
        status_code=200,
        summary="Révoquer un client API et tous ses jetons",
    )
    async def revoke_api_client(
        self,
        request: Request[Any, Any, Any],
        state: State,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        client_id: FromPath[str],
    ) -> ApiClientRead:
        client = await admin.revoke_api_client(
            session, actor, client_id, now=clock.now(), ip=client_ip(request)
        )
        _drop_cached_tokens(state)
        return ApiClientRead.of(client)

    # --- journal ---

    @get(
        "/journal",
        opt=ADMIN,
        summary="Le journal des collectivités que vous administrez",
        description=(
            "Le plus récent d'abord. Un administrateur de la métropole voit aussi les "
            "événements rattachés à aucune collectivité (connexions, jetons refusés…)."
        ),
    )
    async def journal(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        event: EventFilter = None,
        since: Since = None,
        until: Until = None,
        actor_id: Annotated[
            uuid.UUID | None,
            QueryParameter(name="actor", description="Identifiant de l'acteur"),
        ] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> JournalPage:
        page = await admin.query_journal(
            session,
            actor,
            admin.JournalQuery(
                event=event,
                since=since,
                until=until,
                actor_id=actor_id,
                limit=limit,
                offset=offset,
            ),
        )
        return JournalPage(
            items=[
                JournalEntryRead(
                    id=e.id,
                    at=e.at,
                    event=e.event,
                    actor_id=e.actor_id,
                    actor_kind=e.actor_kind,
                    tenant_id=e.tenant_id,
                    ip=e.ip,
                    data=e.data,
                )
                for e in page.items
            ],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/journal.csv",
        opt=ADMIN,
        media_type="text/csv; charset=utf-8",
        summary="Le journal en CSV (mêmes filtres)",
        description=(
            "UTF-8, séparateur virgule, en-têtes en français. Une cellule qui commencerait par "
            "= + - @ est préfixée d'une apostrophe (pas de formule exécutée par un tableur)."
        ),
    )
    async def journal_csv(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        event: EventFilter = None,
        since: Since = None,
        until: Until = None,
        actor_id: Annotated[
            uuid.UUID | None,
            QueryParameter(name="actor", description="Identifiant de l'acteur"),
        ] = None,
        limit: Annotated[
            int, QueryParameter(ge=1, le=admin.MAX_CSV_ROWS, description="Lignes au plus")
        ] = 10_000,
        offset: Offset = 0,
    ) -> Response[str]:
        page = await admin.query_journal(
            session,
            actor,
            admin.JournalQuery(
                event=event,
                since=since,
                until=until,
                actor_id=actor_id,
                limit=limit,
                offset=offset,
            ),
            max_limit=admin.MAX_CSV_ROWS,
        )
        body = await admin.journal_csv(session, page.items)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="journal.csv"',
                "X-Total-Count": str(page.total),
            },
        )
