"""Browser sessions, server-side, in the database (both engines).

The cookie carries 32 random bytes; the table stores only their SHA-256 (ANSSI PA-080: hashed
session storage), so a database dump cannot be replayed as cookies. A session ends on logout, after
``idle_minutes`` without a request, or ``absolute_hours`` after login, whichever comes first.

Anonymous sessions hold a pending login (OIDC ``state``, ``nonce``, PKCE verifier) or a pending
logout ``state``; a login always ends them and starts a fresh session with a new id (ASVS 7.2.4:
no session fixation). Every unsafe request authenticated by the cookie must carry the session's
CSRF token in the ``X-CSRF-Token`` header (or the ``csrf_token`` form field for HTML forms).

Why the database and not Redis: sessions survive a Redis restart (Redis keeps nothing on disk here),
the embedded default needs no second store, and the request already has a database connection.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Agent, Mandate, Person, WebSession
from identity.service import agent_actor
from services.kernel.actor import Actor, ActorKind

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
TOUCH_EVERY = timedelta(seconds=60)


class SessionSettings(BaseSettings):
    """Browser sessions (cookie and timeouts)."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_SESSION_", extra="ignore")

    cookie_name: str = Field(default="guichet_session", description="Name of the session cookie.")
    cookie_secure: bool = Field(
        default=True,
        description="Send the cookie over HTTPS only. Set to false for local HTTP development.",
    )
    idle_minutes: int = Field(default=30, ge=1, description="Ends after this long without use.")
    absolute_hours: int = Field(default=12, ge=1, description="Ends this long after login.")
    pending_login_minutes: int = Field(
        default=10, ge=1, description="A login started at a provider must finish within this."
    )


@lru_cache(maxsize=1)
def session_settings() -> SessionSettings:
    return SessionSettings()


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


@dataclass(frozen=True, slots=True)
class StartedSession:
    token: str
    """The clear cookie value: goes into Set-Cookie, never stored."""
    record: WebSession


async def start_session(
    session: AsyncSession,
    *,
    now: datetime,
    person_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    settings: SessionSettings | None = None,
) -> StartedSession:
    cfg = settings or session_settings()
    anonymous = person_id is None and agent_id is None
    lifetime = (
        timedelta(minutes=cfg.pending_login_minutes)
        if anonymous
        else timedelta(hours=cfg.absolute_hours)
    )
    token = secrets.token_urlsafe(32)
    record = WebSession(
        id_hash=hash_session_token(token),
        person_id=person_id,
        agent_id=agent_id,
        csrf_token=secrets.token_urlsafe(32),
        data=dict(data or {}),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(record)
    await session.flush()
    return StartedSession(token, record)


async def load_session(
    session: AsyncSession,
    token: str | None,
    *,
    now: datetime,
    settings: SessionSettings | None = None,
    touch: bool = True,
) -> WebSession | None:
    """The live session behind a cookie value, or None (unknown, ended, idle or too old)."""
    if not token or len(token) > 200:
        return None
    cfg = settings or session_settings()
    record = await session.scalar(
        select(WebSession).where(WebSession.id_hash == hash_session_token(token))
    )
    if record is None or record.ended_at is not None:
        return None
    idle = timedelta(minutes=cfg.idle_minutes)
    if record.expires_at <= now or record.last_seen_at + idle <= now:
        record.ended_at = now
        await session.flush()
        return None
    if touch and now - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now
        await session.flush()
    return record


async def end_session(session: AsyncSession, record: WebSession, *, now: datetime) -> None:
    record.ended_at = now
    await session.flush()


async def end_sessions_of(
    session: AsyncSession,
    *,
    now: datetime,
    person_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
) -> None:
    """End every live session of a person or an agent (account erased, agent deactivated)."""
    conditions = []
    if person_id is not None:
        conditions.append(WebSession.person_id == person_id)
    if agent_id is not None:
        conditions.append(WebSession.agent_id == agent_id)
    if not conditions:
        return
    await session.execute(
        update(WebSession)
        .where(or_(*conditions), WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def set_data(record: WebSession, key: str, value: Any) -> None:
    """JSON columns are replaced, not mutated in place (SQLAlchemy tracks assignment)."""
    data = dict(record.data)
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    record.data = data


# ----- the Actor behind a session -----------------------------------------------------------------


async def represented_by(
    session: AsyncSession, person_id: uuid.UUID, *, now: datetime
) -> frozenset[uuid.UUID]:
    """Persons and organisations a person may act for now (valid, unrevoked mandates)."""
    rows = await session.execute(
        select(Mandate.represented_person_id, Mandate.organisation_id).where(
            Mandate.holder_person_id == person_id,
            Mandate.revoked_at.is_(None),
            Mandate.valid_from <= now,
            or_(Mandate.valid_until.is_(None), Mandate.valid_until > now),
        )
    )
    ids: set[uuid.UUID] = set()
    for represented, organisation in rows.all():
        if represented is not None:
            ids.add(represented)
        if organisation is not None:
            ids.add(organisation)
    return frozenset(ids)


async def person_actor(
    session: AsyncSession,
    person: Person,
    *,
    now: datetime,
    session_id: uuid.UUID | None = None,
) -> Actor:
    return Actor(
        id=person.id,
        kind=ActorKind.PERSON,
        display_name=person.display_name,
        represents=await represented_by(session, person.id, now=now),
        session_id=session_id,
    )


async def session_actor(
    session: AsyncSession, record: WebSession, *, now: datetime
) -> Actor | None:
    """The person or agent signed in on this session; None for an anonymous or dead account."""
    if record.person_id is not None:
        person = await session.get(Person, record.person_id)
        if person is None or person.status != "active":
            return None
        return await person_actor(session, person, now=now, session_id=record.id)
    if record.agent_id is not None:
        agent = await session.get(Agent, record.agent_id)
        if agent is None or not agent.active:
            return None
        actor = await agent_actor(session, agent)
        return Actor(
            id=actor.id,
            kind=actor.kind,
            display_name=actor.display_name,
            roles=actor.roles,
            title=actor.title,
            session_id=record.id,
        )
    return None
