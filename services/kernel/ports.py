"""Ports: what one package asks of another without importing it (wired in services.api)."""

from __future__ import annotations

import uuid
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession


@runtime_checkable
class AgentDirectory(Protocol):
    """What the case engine may ask of the identity layer about agents."""

    async def roles_of(
        self, session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID
    ) -> frozenset[str] | None:
        """The agent's roles in the tenant (métropole roles included); None if no such agent."""
        ...


@runtime_checkable
class Mailer(Protocol):
    """Sends one plain message at once (sign-in links, verification codes, invitations).

    Case notifications go through the outbox instead; these messages are only useful now, and the
    person asking waits for them: a failure is reported to them (503) rather than queued."""

    async def send(self, *, to: str, to_name: str, subject: str, text: str) -> None: ...
