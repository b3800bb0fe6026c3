"""The Actor value: who acts, as the engine and the services see it (never a user object)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    AGENT = "agent"
    API_CLIENT = "api_client"
    PERSON = "person"
    SYSTEM = "system"


class Role(StrEnum):
    """Agent roles, granted per tenant. A role granted on the métropole covers its communes."""

    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    COUNTER_AGENT = "counter_agent"
    PHONE_AGENT = "phone_agent"
    MAYOR_OFFICE = "mayor_office"
    SUPERVISOR = "supervisor"
    IDENTITY_CHECKER = "identity_checker"
    """Checks ID documents: approves re-links after a FranceConnect sub change, validates mandates."""


KNOWN_ROLES: frozenset[str] = frozenset(r.value for r in Role)


class Scope(StrEnum):
    """What an API client may do."""

    INTAKE_WRITE = "intake:write"
    CASES_READ = "cases:read"


KNOWN_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


@dataclass(frozen=True, slots=True)
class Actor:
    id: uuid.UUID
    kind: ActorKind
    display_name: str
    roles: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    home_tenant_id: uuid.UUID | None = None
    title: str | None = None
    represents: frozenset[uuid.UUID] = frozenset()
    """Persons and organisations this actor holds a valid mandate for (persons only)."""
    session_id: uuid.UUID | None = None
    """Set when the actor was authenticated by a browser session cookie (CSRF applies)."""

    def sees_person(self, person_id: uuid.UUID | None, organisation_id: uuid.UUID | None) -> bool:
        """A person sees what concerns them and those they represent."""
        if self.kind is not ActorKind.PERSON:
            return False
        mine = {self.id, *self.represents}
        return (person_id is not None and person_id in mine) or (
            organisation_id is not None and organisation_id in self.represents
        )

    def roles_in(self, tenant_id: uuid.UUID) -> frozenset[str]:
        return self.roles.get(tenant_id, frozenset())

    def tenant_ids(self) -> frozenset[uuid.UUID]:
        ids = {t for t, roles in self.roles.items() if roles}
        if self.home_tenant_id is not None:
            ids.add(self.home_tenant_id)
        return frozenset(ids)

    def can_act_in(self, tenant_id: uuid.UUID) -> bool:
        if self.kind is ActorKind.SYSTEM:
            return True
        if self.kind is ActorKind.API_CLIENT:
            return self.home_tenant_id == tenant_id
        return bool(self.roles_in(tenant_id))


SYSTEM_ACTOR = Actor(
    id=uuid.UUID("00000000-0000-7000-8000-000000000000"),
    kind=ActorKind.SYSTEM,
    display_name="Guichet (automatique)",
)
