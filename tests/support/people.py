"""Signed-in people for HTTP tests, without going through a provider (those flows have their own
tests): a Person row and a live session, as a login would leave them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import Person
from identity.sessions import session_settings, start_session


@dataclass(frozen=True)
class SignedIn:
    person_id: uuid.UUID
    cookie: str
    csrf: str

    @property
    def cookies(self) -> dict[str, str]:
        """The browser's cookie header, sent explicitly: the session cookie is ``Secure`` and
        the test client talks plain HTTP (httpx deprecates per-request ``cookies=``)."""
        return {"Cookie": f"{session_settings().cookie_name}={self.cookie}"}

    @property
    def headers(self) -> dict[str, str]:
        """Headers for an unsafe request: the cookie and the CSRF token."""
        return {**self.cookies, "X-CSRF-Token": self.csrf}


async def create_person(
    sm: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    given_name: str = "Marie",
    family_name: str = "Dupont",
    email: str | None = None,
) -> uuid.UUID:
    async with sm() as s, s.begin():
        person = Person(
            given_name=given_name,
            family_name=family_name,
            contact_email=email,
            created_at=now,
        )
        s.add(person)
        await s.flush()
        return person.id


async def sign_in(
    sm: async_sessionmaker[AsyncSession], person_id: uuid.UUID, *, now: datetime
) -> SignedIn:
    async with sm() as s, s.begin():
        started = await start_session(s, now=now, person_id=person_id)
        return SignedIn(person_id, started.token, started.record.csrf_token)
