"""Identity core decisions: tenants, agents, roles, API clients, bearer tokens, the Actor."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import AccessToken, Agent, ApiClient, RoleAssignment, Tenant, TenantService
from services.kernel.actor import KNOWN_ROLES, KNOWN_SCOPES, Actor, ActorKind
from services.kernel.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.kernel.journal import JournalEvent, record

_hasher = PasswordHasher()
TOKEN_PREFIX = "gch_"
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    scopes: tuple[str, ...]


# ----- tenants ---------------------------------------------------------------------------------


async def create_tenant(
    session: AsyncSession,
    *,
    now: datetime,
    insee_code: str,
    slug: str,
    name: str,
    kind: str,
    address: str,
    postal_code: str,
    city: str,
    phone: str,
    email: str,
    parent: Tenant | None = None,
    alsace_moselle: bool = False,
) -> Tenant:
    if not _INSEE.match(insee_code):
        raise ValidationFailed(
            f"Code INSEE « {insee_code} » invalide : 5 caractères (chiffres, ou 2A/2B en Corse).",
            errors=[{"field": "insee_code", "message": "format invalide", "type": "format"}],
        )
    if kind not in {"commune", "metropole"}:
        raise ValidationFailed(
            "Le type de collectivité doit être « commune » ou « metropole ».",
            errors=[{"field": "kind", "message": "valeur inconnue", "type": "enum"}],
        )
    existing = await session.scalar(
        select(Tenant).where((Tenant.insee_code == insee_code) | (Tenant.slug == slug))
    )
    if existing is not None:
        raise Conflict(f"La collectivité {insee_code} / {slug} existe déjà.")
    tenant = Tenant(
        insee_code=insee_code,
        slug=slug,
        name=name,
        kind=kind,
        parent_id=parent.id if parent else None,
        address=address,
        postal_code=postal_code,
        city=city,
        phone=phone,
        email=email,
        alsace_moselle=alsace_moselle,
        created_at=now,
    )
    session.add(tenant)
    await session.flush()
    record(
        session,
        JournalEvent.TENANT_CREATED,
        at=now,
        tenant_id=tenant.id,
        data={"insee": insee_code},
    )
    return tenant


async def add_tenant_service(
    session: AsyncSession,
    tenant: Tenant,
    *,
    code: str,
    name: str,
    address: str,
    phone: str,
    email: str,
    opening_hours: str = "",
) -> TenantService:
    service = TenantService(
        tenant_id=tenant.id,
        code=code,
        name=name,
        address=address,
        phone=phone,
        email=email,
        opening_hours=opening_hours,
    )
    session.add(service)
    await session.flush()
    return service


async def get_tenant(session: AsyncSession, ref: str | uuid.UUID) -> Tenant:
    """A tenant by id, INSEE code or slug."""
    if isinstance(ref, uuid.UUID):
        tenant = await session.get(Tenant, ref)
    else:
        stmt = select(Tenant).where((Tenant.insee_code == ref) | (Tenant.slug == ref))
        tenant = await session.scalar(stmt)
        if tenant is None:
            try:
                tenant = await session.get(Tenant, uuid.UUID(ref))
            except ValueError:
                tenant = None
    if tenant is None:
        raise NotFound(f"Collectivité « {ref} » inconnue.")
    return tenant


# ----- agents and roles --------------------------------------------------------------------------


async def create_agent(
    session: AsyncSession,
    *,
    now: datetime,
    email: str,
    given_name: str,
    family_name: str,
    title: str,
) -> Agent:
    email = email.strip().lower()
    if "@" not in email:
        raise ValidationFailed(
            f"Adresse électronique « {email} » invalide.",
            errors=[{"field": "email", "message": "adresse invalide", "type": "format"}],
        )
    if await session.scalar(select(Agent).where(Agent.email == email)) is not None:
        raise Conflict(f"Un agent avec l'adresse {email} existe déjà.")
    agent = Agent(
        email=email, given_name=given_name, family_name=family_name, title=title, created_at=now
    )
    session.add(agent)
    await session.flush()
    record(session, JournalEvent.AGENT_CREATED, at=now, data={"agent_id": str(agent.id)})
    return agent


async def grant_role(
    session: AsyncSession,
    agent: Agent,
    role: str,
    tenant: Tenant,
    *,
    now: datetime,
    actor: Actor | None = None,
    ip: str | None = None,
) -> RoleAssignment:
    """Grant ``role`` in ``tenant`` (idempotent); ``actor``/``ip``: who did it, for the journal."""
    if role not in KNOWN_ROLES:
        raise ValidationFailed(
            f"Rôle « {role} » inconnu. Rôles possibles : {', '.join(sorted(KNOWN_ROLES))}.",
            errors=[{"field": "role", "message": "rôle inconnu", "type": "enum"}],
        )
    existing = await session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.agent_id == agent.id,
            RoleAssignment.role == role,
            RoleAssignment.tenant_id == tenant.id,
        )
    )
    if existing is not None:
        return existing
    assignment = RoleAssignment(agent_id=agent.id, role=role, tenant_id=tenant.id, granted_at=now)
    session.add(assignment)
    await session.flush()
    record(
        session,
        JournalEvent.ROLE_GRANTED,
        at=now,
        actor=actor,
        tenant_id=tenant.id,
        data={"agent_id": str(agent.id), "role": role},
        ip=ip,
    )
    return assignment


async def revoke_role(
    session: AsyncSession,
    agent: Agent,
    role: str,
    tenant: Tenant,
    *,
    now: datetime,
    actor: Actor | None = None,
    ip: str | None = None,
) -> bool:
    """Remove ``role`` in ``tenant``; False when the agent did not hold it there.

    Bearer tokens already cached keep the old roles for at most the token cache's lifetime."""
    assignment = await session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.agent_id == agent.id,
            RoleAssignment.role == role,
            RoleAssignment.tenant_id == tenant.id,
        )
    )
    if assignment is None:
        return False
    await session.delete(assignment)
    await session.flush()
    record(
        session,
        JournalEvent.ROLE_REVOKED,
        at=now,
        actor=actor,
        tenant_id=tenant.id,
        data={"agent_id": str(agent.id), "role": role},
        ip=ip,
    )
    return True


# ----- API clients ---------------------------------------------------------------------------------


async def create_api_client(
    session: AsyncSession,
    *,
    now: datetime,
    tenant: Tenant,
    name: str,
    scopes: Iterable[str],
    organisation_id: uuid.UUID | None = None,
    actor: Actor | None = None,
    ip: str | None = None,
) -> tuple[ApiClient, str]:
    """Create a client; the clear secret is returned once and never stored."""
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in KNOWN_SCOPES]
    if unknown:
        raise ValidationFailed(
            f"Portée(s) inconnue(s) : {', '.join(unknown)}. "
            f"Portées possibles : {', '.join(sorted(KNOWN_SCOPES))}.",
            errors=[{"field": "scopes", "message": "portée inconnue", "type": "enum"}],
        )
    secret = new_secret()
    client = ApiClient(
        client_id=f"{tenant.slug}-{secrets.token_hex(4)}",
        name=name,
        tenant_id=tenant.id,
        secret_hash=_hasher.hash(secret),
        scopes={"scopes": scope_list},
        organisation_id=organisation_id,
        created_at=now,
    )
    session.add(client)
    await session.flush()
    record(
        session,
        JournalEvent.API_CLIENT_CREATED,
        at=now,
        actor=actor,
        tenant_id=tenant.id,
        data={"client_id": client.client_id, "scopes": scope_list},
        ip=ip,
    )
    return client, secret


async def issue_client_token(
    session: AsyncSession,
    *,
    now: datetime,
    client_id: str,
    client_secret: str,
    requested_scopes: Iterable[str] | None,
    ttl: timedelta,
) -> IssuedToken:
    """OAuth 2 client credentials (RFC 6749 §4.4).

    After a rotation the previous secret is accepted until ``previous_valid_until`` (exclusive),
    so that the client's software can switch without downtime; the journal says which secret
    was used (``"secret": "previous"``) so that the administrator sees who has not switched yet."""
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    valid = False
    used_previous = False
    if client is not None and client.active:
        valid = _secret_matches(client.secret_hash, client_secret)
        if (
            not valid
            and client.previous_secret_hash is not None
            and client.previous_valid_until is not None
            and now < client.previous_valid_until
        ):
            valid = used_previous = _secret_matches(client.previous_secret_hash, client_secret)
    if client is None or not valid:
        record(session, JournalEvent.TOKEN_REFUSED, at=now, data={"client_id": client_id[:80]})
        raise Unauthenticated("Identifiant ou secret du client API incorrect.")
    granted = client.scope_list
    scopes = list(granted) if requested_scopes is None else sorted(set(requested_scopes))
    refused = [s for s in scopes if s not in granted]
    if refused:
        raise Forbidden(
            f"Portée(s) non accordée(s) à ce client : {', '.join(refused)}.",
            extra={"granted_scopes": granted},
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + ttl
    session.add(
        AccessToken(
            token_hash=hash_token(token), api_client_id=client.id, issued_at=now, expires_at=expires
        )
    )
    record(
        session,
        JournalEvent.TOKEN_ISSUED,
        at=now,
        tenant_id=client.tenant_id,
        data={"client_id": client.client_id, "secret": "previous" if used_previous else "current"},
    )
    return IssuedToken(token, expires, tuple(scopes))


def _secret_matches(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


async def issue_agent_token(
    session: AsyncSession, agent: Agent, *, now: datetime, ttl: timedelta
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + ttl
    session.add(
        AccessToken(
            token_hash=hash_token(token), agent_id=agent.id, issued_at=now, expires_at=expires
        )
    )
    record(session, JournalEvent.TOKEN_ISSUED, at=now, data={"agent_id": str(agent.id)})
    return IssuedToken(token, expires, ())


# ----- authentication ------------------------------------------------------------------------------


async def authenticate(session: AsyncSession, token: str, *, now: datetime) -> Actor:
    """The Actor behind a bearer token, or Unauthenticated with the reason."""
    actor, _ = await authenticate_with_expiry(session, token, now=now)
    return actor


async def authenticate_with_expiry(
    session: AsyncSession, token: str, *, now: datetime
) -> tuple[Actor, datetime]:
    row = await session.scalar(
        select(AccessToken).where(AccessToken.token_hash == hash_token(token))
    )
    if row is None or row.revoked:
        raise Unauthenticated("Jeton d'accès inconnu ou révoqué : demandez-en un nouveau.")
    if row.expires_at <= now:
        raise Unauthenticated(
            f"Jeton d'accès expiré le {row.expires_at.isoformat()} : demandez-en un nouveau.",
            extra={"expired_at": row.expires_at.isoformat()},
        )
    if row.agent_id is not None:
        agent = await session.get(Agent, row.agent_id)
        if agent is None or not agent.active:
            raise Unauthenticated("Ce compte agent est désactivé.")
        return await agent_actor(session, agent), row.expires_at
    client = await session.get(ApiClient, row.api_client_id)
    if client is None or not client.active:
        raise Unauthenticated("Ce client API est désactivé.")
    actor = Actor(
        id=client.id,
        kind=ActorKind.API_CLIENT,
        display_name=client.name,
        scopes=frozenset(client.scope_list),
        home_tenant_id=client.tenant_id,
    )
    return actor, row.expires_at


async def agent_actor(session: AsyncSession, agent: Agent) -> Actor:
    rows = (
        await session.execute(
            select(RoleAssignment.tenant_id, RoleAssignment.role).where(
                RoleAssignment.agent_id == agent.id
            )
        )
    ).all()
    direct: dict[uuid.UUID, set[str]] = {}
    for tenant_id, role in rows:
        direct.setdefault(tenant_id, set()).add(role)
    roles: dict[uuid.UUID, set[str]] = {t: set(r) for t, r in direct.items()}
    if direct:
        children = (
            await session.execute(
                select(Tenant.id, Tenant.parent_id).where(Tenant.parent_id.in_(list(direct)))
            )
        ).all()
        for child_id, parent_id in children:
            if parent_id is not None:
                roles.setdefault(child_id, set()).update(direct[parent_id])
    return Actor(
        id=agent.id,
        kind=ActorKind.AGENT,
        display_name=agent.display_name,
        roles={t: frozenset(r) for t, r in roles.items()},
        title=agent.title or None,
    )


class IdentityDirectory:
    """``services.kernel.ports.AgentDirectory`` implemented on the identity tables."""

    async def roles_of(
        self, session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID
    ) -> frozenset[str] | None:
        agent = await session.get(Agent, agent_id)
        if agent is None or not agent.active:
            return None
        actor = await agent_actor(session, agent)
        return actor.roles_in(tenant_id)


# ----- short-lived caches (per application instance) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: uuid.UUID
    insee_code: str
    slug: str
    name: str
    alsace_moselle: bool
    service_codes: frozenset[str]


class TenantCache:
    """Tenants change rarely: keep what intake needs for ``ttl`` (a rename shows after it)."""

    def __init__(self, ttl: timedelta = timedelta(seconds=60), max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[TenantInfo, datetime]] = {}

    async def get(self, session: AsyncSession, ref: str, *, now: datetime) -> TenantInfo:
        hit = self._entries.get(ref)
        if hit is not None and hit[1] > now:
            return hit[0]
        tenant = await get_tenant(session, ref)
        codes = await session.scalars(
            select(TenantService.code).where(TenantService.tenant_id == tenant.id)
        )
        info = TenantInfo(
            tenant.id,
            tenant.insee_code,
            tenant.slug,
            tenant.name,
            tenant.alsace_moselle,
            frozenset(codes),
        )
        if len(self._entries) >= self.max_size:
            self._entries.clear()
        self._entries[ref] = (info, now + self.ttl)
        return info


class TokenCache:
    """Bearer token → Actor for at most ``ttl``: a revoked token or a changed role takes effect
    within ``ttl``; an expired token never passes (its expiry bounds the entry)."""

    def __init__(self, ttl: timedelta = timedelta(seconds=30), max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[Actor, datetime]] = {}

    async def authenticate(
        self, session_factory: async_sessionmaker[AsyncSession], token: str, *, now: datetime
    ) -> Actor:
        key = hash_token(token)
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        async with session_factory() as session, session.begin():
            actor, expires_at = await authenticate_with_expiry(session, token, now=now)
        if self.ttl > timedelta(0):
            if len(self._entries) >= self.max_size:
                self._entries.clear()
            self._entries[key] = (actor, min(expires_at, now + self.ttl))
        return actor

    def clear(self) -> None:
        self._entries.clear()
