"""Helpers for street-report tests (S1 owns this module; Open311, photos and open-data tests use it).

``enable_territory`` gives the seeded tenants (métropole 69000, communes A 69001 and B 69002)
their shipped test boundaries, the ``signalements`` service and the default categories.
``report`` files a report through the one submit path, as a given actor.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.street.service import WEB_REPORTER, SubmittedReport, submit_report
from channels.street.setup import enable_shipped_territories
from identity.models import Agent
from identity.service import agent_actor
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.boundaries import (
    POINT_IN_A,
    POINT_IN_B,
    POINT_IN_METROPOLE_ONLY,
    POINT_OUTSIDE,
)
from workflows.procedures.street_reports.models import (
    StreetDepartment,
    StreetDepartmentMember,
    StreetReport,
)

BASE = "/api/v1/signalements"

__all__ = [
    "BASE",
    "POINT_IN_A",
    "POINT_IN_B",
    "POINT_IN_METROPOLE_ONLY",
    "POINT_OUTSIDE",
    "actor_of",
    "add_member",
    "enable_territory",
    "report",
    "report_row",
    "web_body",
]


async def enable_territory(sm: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    async with sm() as s, s.begin():
        await enable_shipped_territories(s, clock.now())


async def actor_of(sm: async_sessionmaker[AsyncSession], email: str) -> Actor:
    """The Actor of a seeded agent (e.g. ``instr@a.invalid``, ``metro@m.invalid``)."""
    async with sm() as s:
        agent = await s.scalar(select(Agent).where(Agent.email == email))
        assert agent is not None, email
        return await agent_actor(s, agent)


async def add_member(
    sm: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, department: str, email: str
) -> uuid.UUID:
    async with sm() as s, s.begin():
        dept = await s.scalar(
            select(StreetDepartment).where(
                StreetDepartment.tenant_id == tenant_id, StreetDepartment.code == department
            )
        )
        agent = await s.scalar(select(Agent).where(Agent.email == email))
        assert dept is not None and agent is not None
        s.add(StreetDepartmentMember(department_id=dept.id, agent_id=agent.id))
        return dept.id


async def report(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    *,
    point: tuple[float, float] = POINT_IN_A,
    category: str = "chaussee",
    description: str = "Nid-de-poule devant l'école",
    email: str | None = "riverain@example.org",
    actor: Actor = WEB_REPORTER,
    channel: str = "web",
    attributes: dict[str, Any] | None = None,
    **extra: Any,
) -> SubmittedReport:
    async with sm() as s, s.begin():
        return await submit_report(
            s,
            engine,
            clock,
            category_code=category,
            lat=point[0],
            lon=point[1],
            address=extra.pop("address", "1 rue de l'École"),
            description=description,
            attributes=attributes or {},
            channel=channel,
            actor=actor,
            submitter=extra.pop("submitter", {"email": email} if email else {}),
            public_name=extra.pop("public_name", None),
            tenant_hint=extra.pop("tenant_hint", None),
            idempotency=extra.pop("idempotency", None),
            **extra,
        )


async def report_row(sm: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> StreetReport:
    async with sm() as s:
        row = await s.get(StreetReport, case_id)
        assert row is not None
        return row


def web_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "chaussee",
        "lat": POINT_IN_A[0],
        "lon": POINT_IN_A[1],
        "address": "1 rue de l'École",
        "description": "Nid-de-poule devant l'école",
        "email": "riverain@example.org",
    }
    body.update(overrides)
    return body
