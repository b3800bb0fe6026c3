"""Administration decisions: agent invitations, roles, API clients (secret rotation), the journal.

Who may do what: an administrator acts only in the tenants where they hold ``admin`` (a role on
the métropole covers its communes, ``Actor.roles_in`` already says so). A tenant, agent or client
outside them answers 404 (``HiddenDenial``), never 403, so that nobody learns what exists elsewhere.

No Litestar here: ``identity.admin_controllers`` translates HTTP to these functions.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import (
    AccessToken,
    Agent,
    ApiClient,
    OneTimeToken,
    Organisation,
    RoleAssignment,
    Tenant,
)
from identity.service import (
    create_api_client,
    get_tenant,
    grant_role,
    hash_token,
    new_secret,
    revoke_role,
)
from identity.sessions import end_sessions_of
from services.kernel.actor import KNOWN_ROLES, Actor, ActorKind, Role
from services.kernel.errors import (
    Conflict,
    Forbidden,
    HiddenDenial,
    NotFound,
    ValidationFailed,
)
from services.kernel.journal import JournalEntry, JournalEvent, record
from services.kernel.ports import Mailer

INVITATION_PURPOSE = "agent_invitation"
INVITATION_TTL = timedelta(days=7)
MAX_GRACE_HOURS = 168
DEFAULT_GRACE_HOURS = 24
MAX_PAGE = 500
MAX_CSV_ROWS = 100_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EVENT = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_hasher = PasswordHasher()
T = TypeVar("T")


# ----- who may act where ----------------------------------------------------------------------------


def tenants_with(actor: Actor, roles: Iterable[str] = (Role.ADMIN,)) -> frozenset[uuid.UUID]:
    """Tenants where the actor holds one of ``roles`` (métropole roles cover its communes)."""
    wanted = {str(r) for r in roles}
    if actor.kind is not ActorKind.AGENT:
        return frozenset()
    return frozenset(t for t, held in actor.roles.items() if held & wanted)


def hidden_tenant(ref: object) -> HiddenDenial:
    return HiddenDenial(
        f"Collectivité « {str(ref)[:64]} » introuvable, ou vous n'en êtes pas administrateur : "
        "vérifiez le code INSEE, le nom court ou l'identifiant."
    )


def require_role_in(
    actor: Actor, tenant_id: uuid.UUID, roles: Iterable[str] = (Role.ADMIN,), ref: object = None
) -> None:
    if tenant_id not in tenants_with(actor, roles):
        raise hidden_tenant(ref if ref is not None else tenant_id)


async def resolve_tenant(
    session: AsyncSession, actor: Actor, ref: str | uuid.UUID, roles: Iterable[str] = (Role.ADMIN,)
) -> Tenant:
    """The tenant named by ``ref`` (INSEE code, slug or id) if the actor holds a role there."""
    roles = tuple(roles)
    if isinstance(ref, str):
        ref = ref.strip()
        if not ref or len(ref) > 64 or _has_control(ref):
            raise hidden_tenant(ref)
    try:
        tenant = await get_tenant(session, ref)
    except NotFound:
        raise hidden_tenant(ref) from None
    require_role_in(actor, tenant.id, roles, ref)
    return tenant


async def covers_all_tenants(
    session: AsyncSession, actor: Actor, roles: Iterable[str] = (Role.ADMIN,)
) -> bool:
    """True for a métropole administrator: they also see what belongs to no tenant (logins,
    organisations, mandates recorded outside any tenant)."""
    ids = tenants_with(actor, roles)
    if not ids:
        return False
    found = await session.scalar(
        select(func.count())
        .select_from(Tenant)
        .where(Tenant.id.in_(ids), Tenant.kind == "metropole")
    )
    return bool(found)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def _invalid(field_name: str, message: str, detail: str, kind: str = "format") -> ValidationFailed:
    return ValidationFailed(
        detail, errors=[{"field": field_name, "message": message, "type": kind}]
    )


def check_role(role: str, field_name: str = "role") -> str:
    if role not in KNOWN_ROLES:
        raise _invalid(
            field_name,
            "rôle inconnu",
            f"Rôle « {role[:60]} » inconnu. Rôles possibles : {', '.join(sorted(KNOWN_ROLES))}.",
            "enum",
        )
    return role


def normalise_email(value: str) -> str:
    email = unicodedata.normalize("NFC", value.strip()).lower()
    if len(email) > 254 or not _EMAIL.match(email) or _has_control(email):
        raise _invalid(
            "email",
            "adresse invalide",
            f"Adresse électronique « {value[:80]} » invalide : écrivez-la sous la forme "
            "prenom.nom@exemple.fr.",
        )
    return email


def _system_actor_of(agent: Agent) -> Actor:
    return Actor(id=agent.id, kind=ActorKind.AGENT, display_name=agent.display_name)


# ----- agents --------------------------------------------------------------------------------------


def agent_status(agent: Agent) -> str:
    if agent.active:
        return "active"
    return "invited" if agent.invited_at is not None else "inactive"


@dataclass(frozen=True, slots=True)
class AgentRole:
    tenant_id: uuid.UUID
    tenant: str
    """The tenant's INSEE code."""
    role: str


@dataclass(frozen=True, slots=True)
class AgentView:
    agent: Agent
    roles: list[AgentRole]
    status: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _words(q: str | None) -> list[str]:
    if q is None:
        return []
    q = q.strip()
    if len(q) > 200:
        raise _invalid("q", "texte trop long (au plus 200 caractères)", "Recherche trop longue.")
    if _has_control(q):
        raise _invalid(
            "q", "caractère de contrôle refusé", "La recherche contient un caractère refusé."
        )
    return [w.lower() for w in q.split()][:8]


async def _tenant_codes(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Tenant.id, Tenant.insee_code).where(Tenant.id.in_(wanted)))
    codes: dict[uuid.UUID, str] = {}
    for tenant_id, code in rows:
        codes[tenant_id] = code
    return codes


async def list_agents(
    session: AsyncSession,
    actor: Actor,
    *,
    tenant: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[AgentView]:
    """Agents holding a role in the tenant (or in any tenant the admin administers)."""
    if tenant is not None:
        scope = frozenset({(await resolve_tenant(session, actor, tenant)).id})
    else:
        scope = tenants_with(actor)
    holders = select(RoleAssignment.agent_id).where(RoleAssignment.tenant_id.in_(scope))
    stmt = select(Agent).where(Agent.id.in_(holders))
    for word in _words(q):
        stmt = stmt.where(
            or_(
                func.lower(Agent.email).contains(word, autoescape=True),
                func.lower(Agent.given_name).contains(word, autoescape=True),
                func.lower(Agent.family_name).contains(word, autoescape=True),
            )
        )
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    agents = list(
        await session.scalars(
            stmt.order_by(Agent.family_name, Agent.given_name, Agent.id).limit(limit).offset(offset)
        )
    )
    by_agent: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    if agents:
        rows = await session.execute(
            select(RoleAssignment.agent_id, RoleAssignment.tenant_id, RoleAssignment.role)
            .where(
                RoleAssignment.agent_id.in_([a.id for a in agents]),
                RoleAssignment.tenant_id.in_(scope),
            )
            .order_by(RoleAssignment.role)
        )
        for agent_id, tenant_id, role in rows.all():
            by_agent.setdefault(agent_id, []).append((tenant_id, role))
    codes = await _tenant_codes(session, {t for pairs in by_agent.values() for t, _ in pairs})
    items = [
        AgentView(
            agent=a,
            roles=[AgentRole(t, codes.get(t, ""), r) for t, r in by_agent.get(a.id, [])],
            status=agent_status(a),
        )
        for a in agents
    ]
    return Page(items, total, limit, offset)


async def _direct_tenants(session: AsyncSession, agent_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(RoleAssignment.tenant_id).where(RoleAssignment.agent_id == agent_id)
    )
    return set(rows)


async def _void_invitations(
    session: AsyncSession, agent_id: uuid.UUID, now: datetime, reason: str
) -> None:
    """Unused invitations of the agent can no longer be accepted (``reason``: superseded by a
    newer invitation, or cancelled by a deactivation)."""
    pending = await session.scalars(
        select(OneTimeToken).where(
            OneTimeToken.agent_id == agent_id,
            OneTimeToken.purpose == INVITATION_PURPOSE,
            OneTimeToken.used_at.is_(None),
        )
    )
    for token in pending:
        token.used_at = now
        token.data = {**token.data, "voided": reason, "voided_at": now.isoformat()}


@dataclass(frozen=True, slots=True)
class Invitation:
    agent: Agent
    token: str
    """The clear token: goes into the e-mailed link, never stored (only its SHA-256)."""
    expires_at: datetime
    reinvited: bool
    roles: list[AgentRole] = field(default_factory=list)


async def invite_agent(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    email: str,
    given_name: str,
    family_name: str,
    title: str,
    roles: Sequence[tuple[str, str]],
    ip: str | None = None,
) -> Invitation:
    """Create (or re-invite) an inactive agent with roles, and a 7-day invitation token.

    The first ProConnect login with the link binds the invitation (``accept_invitation``).
    Re-inviting a pending or deactivated agent issues a new token and voids the older ones."""
    email = normalise_email(email)
    if not roles:
        raise _invalid(
            "roles",
            "au moins un rôle",
            "Une invitation donne au moins un rôle dans une collectivité : complétez « roles ».",
            "too_short",
        )
    for i, (_, role) in enumerate(roles):
        check_role(role, f"roles.{i}.role")
    resolved: list[tuple[Tenant, str]] = []
    for ref, role in roles:
        tenant = await resolve_tenant(session, actor, ref)
        if (tenant, role) not in resolved:
            resolved.append((tenant, role))

    agent = await session.scalar(select(Agent).where(Agent.email == email))
    reinvited = agent is not None
    if agent is not None:
        if agent.active:
            raise Conflict(
                f"Un agent actif utilise déjà l'adresse {email} : donnez-lui plutôt un rôle "
                "(POST /admin/agents/{id}/roles).",
                extra={"agent_id": str(agent.id)},
            )
        outside = await _direct_tenants(session, agent.id) - tenants_with(actor)
        if outside:
            raise Conflict(
                f"L'agent {email} a des rôles dans une collectivité que vous n'administrez pas : "
                "demandez à son administrateur de le réinviter."
            )
        agent.given_name, agent.family_name, agent.title = given_name, family_name, title
        agent.invited_at = now
        await _void_invitations(session, agent.id, now, "superseded")
    else:
        agent = Agent(
            email=email,
            given_name=given_name,
            family_name=family_name,
            title=title,
            active=False,
            invited_at=now,
            created_at=now,
        )
        session.add(agent)
    await session.flush()

    for tenant, role in resolved:
        await grant_role(session, agent, role, tenant, now=now, actor=actor, ip=ip)
    token = secrets.token_urlsafe(32)
    expires = now + INVITATION_TTL
    session.add(
        OneTimeToken(
            purpose=INVITATION_PURPOSE,
            token_hash=hash_token(token),
            agent_id=agent.id,
            data={"invited_by": str(actor.id), "email": email},
            created_at=now,
            expires_at=expires,
        )
    )
    granted = [AgentRole(t.id, t.insee_code, r) for t, r in resolved]
    for tenant_id in dict.fromkeys(t.id for t, _ in resolved):
        record(
            session,
            JournalEvent.AGENT_INVITED,
            at=now,
            actor=actor,
            tenant_id=tenant_id,
            ip=ip,
            data={
                "agent_id": str(agent.id),
                "email": email,
                "roles": [r.role for r in granted if r.tenant_id == tenant_id],
                "expires_at": expires.isoformat(),
                "reinvited": reinvited,
            },
        )
    await session.flush()
    return Invitation(agent, token, expires, reinvited, granted)


def invitation_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/auth/proconnect/login?invitation={token}"


async def send_invitation(
    mailer: Mailer, invitation: Invitation, *, base_url: str, invited_by: str
) -> None:
    agent = invitation.agent
    link = invitation_link(base_url, invitation.token)
    roles = "\n".join(f"  - {r.role} ({r.tenant})" for r in invitation.roles)
    until = invitation.expires_at.strftime("%d/%m/%Y à %H:%M (UTC)")
    text = (
        f"Bonjour {agent.display_name},\n\n"
        f"{invited_by} vous invite à rejoindre Guichet, le guichet unique de votre collectivité,"
        f" avec les rôles suivants :\n{roles}\n\n"
        "Pour accepter, ouvrez ce lien et connectez-vous avec ProConnect (votre compte "
        f"professionnel) :\n{link}\n\n"
        f"Ce lien ne sert qu'une fois et expire le {until}. S'il a expiré, demandez une nouvelle "
        "invitation à votre administrateur.\n\n"
        "Vous n'attendiez pas ce message ? Ignorez-le : rien ne sera créé sans votre connexion.\n"
    )
    await mailer.send(
        to=agent.email,
        to_name=agent.display_name,
        subject="Invitation à rejoindre Guichet",
        text=text,
    )


async def accept_invitation(session: AsyncSession, *, token: str, now: datetime) -> Agent:
    """Bind an invitation at the first ProConnect login: the token must be an unused, unexpired
    ``agent_invitation``; it is then used up and the agent becomes active."""
    token = (token or "").strip()
    if not token or len(token) > 200 or not token.isascii():
        raise _invalid(
            "invitation",
            "lien d'invitation mal formé",
            "Le lien d'invitation est incomplet ou mal formé : ouvrez-le à nouveau depuis "
            "le message reçu, sans le modifier.",
        )
    row = await session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == hash_token(token)).with_for_update()
    )
    if row is None or row.purpose != INVITATION_PURPOSE or row.agent_id is None:
        raise Forbidden(
            "Ce lien d'invitation n'est pas valable : demandez une nouvelle invitation à votre "
            "administrateur."
        )
    if row.used_at is not None:
        voided = row.data.get("voided")
        if voided == "superseded":
            raise Forbidden(
                "Cette invitation a été remplacée par une plus récente : utilisez le lien du "
                "dernier message reçu."
            )
        if voided is not None:
            raise Forbidden(
                "Cette invitation a été annulée par un administrateur : adressez-vous à lui."
            )
        raise Forbidden(
            "Cette invitation a déjà été utilisée : connectez-vous simplement avec ProConnect."
        )
    if row.expires_at <= now:
        raise Forbidden(
            f"Cette invitation a expiré le {row.expires_at.strftime('%d/%m/%Y')} : demandez une "
            "nouvelle invitation à votre administrateur."
        )
    agent = await session.get(Agent, row.agent_id)
    if agent is None:
        raise Forbidden(
            "Le compte de cette invitation n'existe plus : demandez une nouvelle invitation."
        )
    row.used_at = now
    agent.active = True
    agent.invited_at = None
    tenants: list[uuid.UUID | None] = [*sorted(await _direct_tenants(session, agent.id))]
    for tenant_id in tenants or [None]:
        record(
            session,
            JournalEvent.INVITATION_ACCEPTED,
            at=now,
            actor=_system_actor_of(agent),
            tenant_id=tenant_id,
            data={"agent_id": str(agent.id), "email": agent.email},
        )
    await session.flush()
    return agent


async def _get_agent(session: AsyncSession, agent_id: uuid.UUID) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("Agent introuvable : vérifiez son identifiant (GET /admin/agents).")
    return agent


async def deactivate_agent(
    session: AsyncSession, actor: Actor, agent_id: uuid.UUID, *, now: datetime, ip: str | None
) -> Agent:
    """Deactivate an agent: sessions ended, bearer tokens revoked, invitations voided.

    Deactivation is global, so the admin must administer every tenant where the agent holds a
    role; otherwise they can only remove the roles in their own tenants."""
    agent = await session.get(Agent, agent_id)
    mine = tenants_with(actor)
    tenants = await _direct_tenants(session, agent_id) if agent is not None else set()
    visible = bool(tenants & mine) or (
        agent is not None and not tenants and await covers_all_tenants(session, actor)
    )
    if agent is None or not visible:
        raise HiddenDenial(
            "Agent introuvable, ou sans rôle dans les collectivités que vous administrez."
        )
    if agent.id == actor.id:
        raise Conflict(
            "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre "
            "administrateur."
        )
    if tenants - mine:
        raise Conflict(
            "Cet agent a aussi des rôles dans une collectivité que vous n'administrez pas : "
            "retirez-lui plutôt ses rôles chez vous (DELETE /admin/agents/{id}/roles/{role})."
        )
    was = agent_status(agent)
    agent.active = False
    agent.invited_at = None
    await end_sessions_of(session, now=now, agent_id=agent.id)
    await session.execute(
        update(AccessToken)
        .where(AccessToken.agent_id == agent.id, AccessToken.revoked.is_(False))
        .values(revoked=True)
    )
    await _void_invitations(session, agent.id, now, "deactivated")
    targets: list[uuid.UUID | None] = [*sorted(tenants)]
    for tenant_id in targets or [None]:
        record(
            session,
            JournalEvent.AGENT_DEACTIVATED,
            at=now,
            actor=actor,
            tenant_id=tenant_id,
            ip=ip,
            data={"agent_id": str(agent.id), "email": agent.email, "previous_status": was},
        )
    await session.flush()
    return agent


async def agent_roles_in(
    session: AsyncSession, agent_id: uuid.UUID, tenant: Tenant
) -> list[AgentRole]:
    rows = await session.scalars(
        select(RoleAssignment.role)
        .where(RoleAssignment.agent_id == agent_id, RoleAssignment.tenant_id == tenant.id)
        .order_by(RoleAssignment.role)
    )
    return [AgentRole(tenant.id, tenant.insee_code, r) for r in rows]


async def admin_grant_role(
    session: AsyncSession,
    actor: Actor,
    agent_id: uuid.UUID,
    *,
    tenant: str,
    role: str,
    now: datetime,
    ip: str | None,
) -> tuple[Agent, Tenant]:
    """The tenant decides: an admin may give a role in a tenant they administer to any agent."""
    check_role(role)
    target = await resolve_tenant(session, actor, tenant)
    agent = await _get_agent(session, agent_id)
    await grant_role(session, agent, role, target, now=now, actor=actor, ip=ip)
    return agent, target


async def admin_revoke_role(
    session: AsyncSession,
    actor: Actor,
    agent_id: uuid.UUID,
    *,
    tenant: str,
    role: str,
    now: datetime,
    ip: str | None,
) -> None:
    check_role(role)
    target = await resolve_tenant(session, actor, tenant)
    agent = await _get_agent(session, agent_id)
    if agent.id == actor.id and role == Role.ADMIN.value:
        admin_rows = await session.scalar(
            select(func.count())
            .select_from(RoleAssignment)
            .where(RoleAssignment.agent_id == agent.id, RoleAssignment.role == Role.ADMIN.value)
        )
        if (admin_rows or 0) <= 1:
            raise Conflict(
                "Vous ne pouvez pas retirer votre dernier rôle d'administrateur : vous perdriez "
                "l'accès à l'administration. Demandez à un autre administrateur de le faire."
            )
    if not await revoke_role(session, agent, role, target, now=now, actor=actor, ip=ip):
        raise NotFound(
            f"Cet agent n'a pas le rôle « {role} » dans la collectivité {target.insee_code}."
        )


# ----- API clients -----------------------------------------------------------------------------------


async def list_api_clients(
    session: AsyncSession,
    actor: Actor,
    *,
    tenant: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ApiClient]:
    if tenant is not None:
        scope = frozenset({(await resolve_tenant(session, actor, tenant)).id})
    else:
        scope = tenants_with(actor)
    stmt = select(ApiClient).where(ApiClient.tenant_id.in_(scope))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(ApiClient.created_at, ApiClient.client_id).limit(limit).offset(offset)
    )
    return Page(list(rows), total, limit, offset)


async def admin_create_api_client(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    tenant: str,
    name: str,
    scopes: Sequence[str],
    organisation_id: uuid.UUID | None,
    ip: str | None,
) -> tuple[ApiClient, str]:
    target = await resolve_tenant(session, actor, tenant)
    if organisation_id is not None and await session.get(Organisation, organisation_id) is None:
        raise _invalid(
            "organisation_id",
            "organisation inconnue",
            "Aucune organisation avec cet identifiant : créez-la d'abord "
            "(POST /admin/organisations).",
            "not_found",
        )
    return await create_api_client(
        session,
        now=now,
        tenant=target,
        name=name,
        scopes=scopes,
        organisation_id=organisation_id,
        actor=actor,
        ip=ip,
    )


async def _administered_client(session: AsyncSession, actor: Actor, client_id: str) -> ApiClient:
    client = None
    if 0 < len(client_id) <= 80 and not _has_control(client_id):
        client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None or client.tenant_id not in tenants_with(actor):
        raise HiddenDenial(
            f"Client API « {client_id[:80]} » introuvable, ou hors des collectivités que vous "
            "administrez."
        )
    return client


async def rotate_client_secret(
    session: AsyncSession,
    actor: Actor,
    client_id: str,
    *,
    grace_hours: int,
    now: datetime,
    ip: str | None,
) -> tuple[ApiClient, str]:
    """A new secret, returned once; the current one keeps working ``grace_hours`` more, so the
    client's software can switch without downtime (0: it stops at once, e.g. after a leak).

    Rotating again during a grace period ends the older secret's grace at once: only the current
    secret becomes "previous"."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise _invalid(
            "grace_hours",
            f"entre 0 et {MAX_GRACE_HOURS}",
            f"Le délai de grâce doit être compris entre 0 et {MAX_GRACE_HOURS} heures (7 jours).",
            "range",
        )
    client = await _administered_client(session, actor, client_id)
    if not client.active:
        raise Conflict("Ce client API est révoqué : créez-en un nouveau.")
    secret = new_secret()
    client.previous_secret_hash = client.secret_hash if grace_hours else None
    client.previous_valid_until = now + timedelta(hours=grace_hours) if grace_hours else None
    client.secret_hash = _hasher.hash(secret)
    client.secret_rotated_at = now
    record(
        session,
        JournalEvent.SECRET_ROTATED,
        at=now,
        actor=actor,
        tenant_id=client.tenant_id,
        ip=ip,
        data={
            "client_id": client.client_id,
            "grace_hours": grace_hours,
            "previous_valid_until": (
                client.previous_valid_until.isoformat() if client.previous_valid_until else None
            ),
        },
    )
    await session.flush()
    return client, secret


async def revoke_api_client(
    session: AsyncSession, actor: Actor, client_id: str, *, now: datetime, ip: str | None
) -> ApiClient:
    client = await _administered_client(session, actor, client_id)
    if not client.active:
        raise Conflict("Ce client API est déjà révoqué.")
    client.active = False
    client.previous_secret_hash = None
    client.previous_valid_until = None
    result = await session.execute(
        update(AccessToken)
        .where(AccessToken.api_client_id == client.id, AccessToken.revoked.is_(False))
        .values(revoked=True)
    )
    record(
        session,
        JournalEvent.API_CLIENT_REVOKED,
        at=now,
        actor=actor,
        tenant_id=client.tenant_id,
        ip=ip,
        data={"client_id": client.client_id, "tokens_revoked": int(getattr(result, "rowcount", 0))},
    )
    await session.flush()
    return client


# ----- journal -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalQuery:
    event: str | None = None
    """An event name, or a dotted prefix: ``identity`` matches ``identity.login`` and the rest."""
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive."""
    actor_id: uuid.UUID | None = None
    limit: int = 100
    offset: int = 0


def _check_query(query: JournalQuery, max_limit: int) -> None:
    if query.event is not None and (len(query.event) > 80 or not _EVENT.match(query.event)):
        raise _invalid(
            "event",
            "nom d'événement invalide",
            "Le filtre « event » attend un nom d'événement pointé, par exemple "
            "« admin.role.granted », ou un préfixe comme « identity ».",
        )
    for name, value in (("since", query.since), ("until", query.until)):
        if value is not None and value.tzinfo is None:
            raise _invalid(
                name,
                "doit préciser le fuseau horaire",
                f"« {name} » doit préciser le fuseau horaire, par exemple "
                "2026-03-02T09:00:00Z ou 2026-03-02T10:00:00+01:00.",
                "timezone_aware",
            )
    if query.since and query.until and query.since >= query.until:
        raise _invalid(
            "until", "doit suivre « since »", "La fin de la période doit suivre son début."
        )
    if not 1 <= query.limit <= max_limit or query.offset < 0:
        raise _invalid(
            "limit",
            f"entre 1 et {max_limit}",
            f"« limit » doit être compris entre 1 et {max_limit}, « offset » positif.",
            "range",
        )


async def query_journal(
    session: AsyncSession, actor: Actor, query: JournalQuery, *, max_limit: int = MAX_PAGE
) -> Page[JournalEntry]:
    """Entries of the tenants the actor administers, newest first. A métropole administrator
    also sees the entries tied to no tenant (sign-ins, refused tokens, organisations)."""
    _check_query(query, max_limit)
    mine = tenants_with(actor)
    visible: ColumnElement[bool] = JournalEntry.tenant_id.in_(mine)
    if await covers_all_tenants(session, actor):
        visible = or_(visible, JournalEntry.tenant_id.is_(None))
    stmt = select(JournalEntry).where(visible)
    if query.event:
        stmt = stmt.where(
            or_(
                JournalEntry.event == query.event,
                JournalEntry.event.startswith(query.event + ".", autoescape=True),
            )
        )
    if query.since is not None:
        stmt = stmt.where(JournalEntry.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(JournalEntry.at < query.until)
    if query.actor_id is not None:
        stmt = stmt.where(JournalEntry.actor_id == query.actor_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(JournalEntry.at.desc(), JournalEntry.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    )
    return Page(list(rows), total, query.limit, query.offset)


CSV_HEADERS = (
    "Date (UTC)",
    "Événement",
    "Acteur",
    "Type d'acteur",
    "Collectivité (INSEE)",
    "Adresse IP",
    "Détails",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV injection")."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


async def journal_csv(session: AsyncSession, entries: Sequence[JournalEntry]) -> str:
    codes = await _tenant_codes(session, {e.tenant_id for e in entries if e.tenant_id})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for e in entries:
        writer.writerow(
            [
                _cell(e.at.isoformat()),
                _cell(e.event),
                _cell(e.actor_id),
                _cell(e.actor_kind),
                _cell(codes.get(e.tenant_id, "") if e.tenant_id else ""),
                _cell(e.ip),
                _cell(json.dumps(e.data, ensure_ascii=False, sort_keys=True, default=str)),
            ]
        )
    return out.getvalue()
