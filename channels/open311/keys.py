"""Open311 ``api_key``: one per client application, needed for POSTs only (GeoReport v2).

A key is 32 random bytes (URL-safe base64) after the prefix ``o311_``; only its SHA-256 is stored,
the key itself is shown once, when created. A key is scoped to one tenant — a métropole's key
also covers its communes — or to every tenant (created by a métropole administrator or by the
``guichet demo`` command). A revoked key is refused at once (403).

Decision (open311.md §12 item 13): the key is read from the POST body only (form field
``api_key``, or the ``<api_key>`` element of an XML body). A key sent in the query string of a
POST is refused with 403 saying where to put it: URLs end up in logs and proxies. A key given to a
GET is ignored (GET needs no key; FixMyStreet sends one with ``servicerequestupdates``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311.models import Open311ApiKey
from identity.admin import covers_all_tenants, resolve_tenant, tenants_with
from identity.models import Tenant
from services.kernel.actor import Actor
from services.kernel.errors import Conflict, Forbidden, HiddenDenial

KEY_PREFIX = "o311_"
MAX_KEY_CHARS = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A valid key, as the channel uses it."""

    key_id: uuid.UUID
    name: str
    tenant_id: uuid.UUID | None
    covered: frozenset[uuid.UUID] | None
    """Tenants it may file reports for (its tenant and that tenant's children); None: all."""

    def covers(self, tenant_id: uuid.UUID) -> bool:
        return self.covered is None or tenant_id in self.covered


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    tenant_id: uuid.UUID | None,
    now: datetime,
    created_by_agent_id: uuid.UUID | None = None,
) -> tuple[Open311ApiKey, str]:
    """A new key: (row, clear key — give it to the client now, it is never shown again)."""
    key = new_key()
    row = Open311ApiKey(
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[: len(KEY_PREFIX) + 6],
        tenant_id=tenant_id,
        created_at=now,
        created_by_agent_id=created_by_agent_id,
    )
    session.add(row)
    await session.flush()
    return row, key


async def children_of(session: AsyncSession, tenant_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """The tenant and its children (a métropole's communes)."""
    ids = await session.scalars(select(Tenant.id).where(Tenant.parent_id == tenant_id))
    return frozenset({tenant_id, *ids})


async def verify_key(
    session: AsyncSession, key: str | None, *, now: datetime, query_key: bool = False
) -> KeyUse:
    """The key's use, or Forbidden (403) when missing, unknown or revoked."""
    if not key:
        if query_key:
            raise Forbidden(
                "La clé api_key doit être envoyée dans le corps de la requête (champ de "
                "formulaire api_key), pas dans l'adresse : les adresses sont journalisées."
            )
        raise Forbidden(
            "Clé api_key manquante : envoyez le champ api_key dans le corps de la requête. "
            "Une clé se demande à l'administrateur de la collectivité."
        )
    if len(key) > MAX_KEY_CHARS:
        raise Forbidden("Clé api_key inconnue ou révoquée.")
    row = await session.scalar(select(Open311ApiKey).where(Open311ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        raise Forbidden(
            "Clé api_key inconnue ou révoquée : vérifiez-la, ou demandez-en une nouvelle à "
            "l'administrateur de la collectivité."
        )
    row.last_used_at = now
    covered = None if row.tenant_id is None else await children_of(session, row.tenant_id)
    return KeyUse(row.id, row.name, row.tenant_id, covered)


# ----- administration (tenant administrators) ------------------------------------------------------


async def admin_create_key(
    session: AsyncSession, actor: Actor, *, name: str, tenant: str | None, now: datetime
) -> tuple[Open311ApiKey, str]:
    """A key for a tenant the actor administers, or for every tenant (métropole administrators
    only)."""
    if tenant is None:
        if not await covers_all_tenants(session, actor):
            raise Forbidden(
                "Seul un administrateur de la métropole peut créer une clé valable pour toutes "
                "les collectivités : précisez « tenant »."
            )
        tenant_id = None
    else:
        tenant_id = (await resolve_tenant(session, actor, tenant)).id
    return await create_key(
        session, name=name, tenant_id=tenant_id, now=now, created_by_agent_id=actor.id
    )


async def admin_list_keys(session: AsyncSession, actor: Actor) -> list[Open311ApiKey]:
    scope = tenants_with(actor)
    condition: ColumnElement[bool] = Open311ApiKey.tenant_id.in_(scope)
    if await covers_all_tenants(session, actor):
        condition = or_(condition, Open311ApiKey.tenant_id.is_(None))
    return list(
        await session.scalars(
            select(Open311ApiKey).where(condition).order_by(Open311ApiKey.created_at)
        )
    )


async def admin_revoke_key(
    session: AsyncSession, actor: Actor, key_id: uuid.UUID, *, now: datetime
) -> Open311ApiKey:
    row = await session.get(Open311ApiKey, key_id)
    allowed = row is not None and (
        row.tenant_id in tenants_with(actor)
        if row.tenant_id is not None
        else await covers_all_tenants(session, actor)
    )
    if row is None or not allowed:
        raise HiddenDenial(
            "Clé Open311 introuvable, ou hors des collectivités que vous administrez."
        )
    if row.revoked_at is not None:
        raise Conflict("Cette clé est déjà révoquée.")
    row.revoked_at = now
    row.revoked_by_agent_id = actor.id
    await session.flush()
    return row
