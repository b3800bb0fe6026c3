"""The street_report row follows its case: opened, every transition, never disagreeing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.street_reports import (
    POINT_IN_A,
    POINT_IN_B,
    POINT_IN_METROPOLE_ONLY,
    actor_of,
    enable_territory,
    report,
    report_row,
)
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.models import StreetReportFollower


async def test_report_row_is_written_with_the_case(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    done = await report(sessionmaker, engine, clock, point=POINT_IN_A)
    assert done.created and done.tenant_id == seed.commune_id
    assert done.tracking_code
    row = await report_row(sessionmaker, done.case_id)
    assert row.reference == done.reference and row.state == "submitted"
    assert (row.lat, row.lon) == POINT_IN_A
    # Monday 2 March 2026 + 10 working days = Monday 16 March 2026.
    assert row.sla_due == date(2026, 3, 16)
    async with sessionmaker() as s:
        case = await s.get(Case, done.case_id)
        assert case is not None and case.submitter["kind"] == "anonymous"
        followers = list(await s.scalars(select(StreetReportFollower.email)))
        assert followers == ["riverain@example.org"]


async def test_point_routes_to_the_most_specific_tenant(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    b = await report(sessionmaker, engine, clock, point=POINT_IN_B)
    metro = await report(sessionmaker, engine, clock, point=POINT_IN_METROPOLE_ONLY)
    assert b.tenant_id == seed.other_commune_id
    assert metro.tenant_id == seed.metropole_id


async def test_transitions_move_the_row_and_notify_followers(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    done = await report(sessionmaker, engine, clock)
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    await apply(sessionmaker, engine, clock, done.case_id, "acknowledge", agent, {})
    await apply(
        sessionmaker, engine, clock, done.case_id, "schedule", agent, {"date": "2026-03-10"}
    )
    row = await report_row(sessionmaker, done.case_id)
    assert row.state == "scheduled" and row.scheduled_for == date(2026, 3, 10)
    async with sessionmaker() as s:
        rows = list(
            await s.scalars(
                select(Outbox).where(
                    Outbox.case_id == done.case_id, Outbox.kind == "notification.send"
                )
            )
        )
    street = [r for r in rows if r.payload.get("template") == "street_report.updated"]
    assert [r.payload["to"] for r in street] == ["riverain@example.org"] * 2
    assert street[-1].payload["extra"]["label"] == "Intervention programmée le 10 mars 2026"


async def test_no_path_opens_a_report_outside_its_tenants_territory(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    """The generic intake (as the generic mail qualification would call it) with a point in
    commune B for commune A: refused by the projector, nothing written."""
    from channels.intake import IntakeRequest, submit
    from services.kernel.errors import ValidationFailed

    await enable_territory(sessionmaker, clock)
    agent = await actor_of(sessionmaker, "metro@m.invalid")
    request = IntakeRequest(
        tenant="69001",
        procedure_key="street_reports.report",
        channel="mail",
        submitter={"kind": "anonymous", "email": "x@example.org"},
        payload={"category": "chaussee", "lat": POINT_IN_B[0], "lon": POINT_IN_B[1]},
        actor=agent,
    )
    async with sessionmaker() as s:
        with pytest.raises(ValidationFailed) as caught:
            async with s.begin():
                await submit(s, engine, clock, request)
    assert caught.value.errors[0]["type"] == "outside_territory"
    async with sessionmaker() as s:
        assert list(await s.scalars(select(Case))) == []
