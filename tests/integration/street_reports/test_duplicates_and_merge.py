"""Near-duplicates (same category, open, within the radius) and merging: the duplicate goes to
``duplicate`` with the kept reference, its followers move to the kept report."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.kernel.clock import FrozenClock
from services.kernel.errors import GuichetError, HiddenDenial
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.street_reports import actor_of, enable_territory, report, report_row
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.agents import merge
from workflows.procedures.street_reports.models import StreetReportFollower
from workflows.procedures.street_reports.projector import add_follower
from workflows.procedures.street_reports.settings import street_settings

pytestmark = pytest.mark.integration


async def _followers(sm: Any, case_id: Any) -> list[str]:
    async with sm() as s:
        return sorted(
            await s.scalars(
                select(StreetReportFollower.email).where(StreetReportFollower.case_id == case_id)
            )
        )


async def test_suggestions_respect_radius_category_and_state(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    first = await report(sessionmaker, engine, clock, point=(45.75, 4.80), email="a@example.org")
    # 0.002° of latitude ≈ 222 m: within 250 m.
    near = await report(sessionmaker, engine, clock, point=(45.752, 4.80), email="b@example.org")
    assert [s.reference for s in near.suggestions] == [first.reference]
    assert 215 < near.suggestions[0].distance_m < 230
    # 0.0025° ≈ 278 m: beyond.
    far = await report(sessionmaker, engine, clock, point=(45.7525, 4.80), email="c@example.org")
    assert first.reference not in [s.reference for s in far.suggestions]
    other = await report(
        sessionmaker, engine, clock, point=(45.75, 4.80), category="graffiti", email="d@example.org"
    )
    assert other.suggestions == []
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    await apply(sessionmaker, engine, clock, first.case_id, "fix", agent, {})
    again = await report(sessionmaker, engine, clock, point=(45.7501, 4.80), email="e@example.org")
    assert first.reference not in [s.reference for s in again.suggestions]  # fixed: not open


async def test_radius_is_configurable(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_STREET_DUPLICATE_RADIUS_M", "1000")
    street_settings.cache_clear()
    try:
        await enable_territory(sessionmaker, clock)
        first = await report(sessionmaker, engine, clock, point=(45.75, 4.80), email="a@x.org")
        far = await report(sessionmaker, engine, clock, point=(45.757, 4.80), email="b@x.org")
        assert [s.reference for s in far.suggestions] == [first.reference]  # ≈ 778 m
    finally:
        street_settings.cache_clear()


async def test_merge_moves_followers_and_links_the_kept_report(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    kept = await report(sessionmaker, engine, clock, email="first@example.org")
    dup = await report(
        sessionmaker, engine, clock, point=(45.7501, 4.80), email="second@example.org"
    )
    async with sessionmaker() as s, s.begin():
        await add_follower(s, dup.case_id, "voisin@example.org", person_id=None, now=clock.now())
        await add_follower(s, dup.case_id, "first@example.org", person_id=None, now=clock.now())
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    async with sessionmaker() as s, s.begin():
        row = await merge(s, engine, clock, agent, duplicate_id=dup.case_id, kept_id=kept.case_id)
        assert row.state == "duplicate"
    moved = await report_row(sessionmaker, dup.case_id)
    assert moved.duplicate_of == kept.case_id
    assert moved.duplicate_reference == kept.reference and moved.closed_at is not None
    assert await _followers(sessionmaker, dup.case_id) == []
    assert await _followers(sessionmaker, kept.case_id) == [
        "first@example.org",
        "second@example.org",
        "voisin@example.org",
    ]


async def test_merge_refusals(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    a = await report(sessionmaker, engine, clock, email="a@example.org")
    b = await report(sessionmaker, engine, clock, point=(45.7501, 4.80), email="b@example.org")
    in_b = await report(sessionmaker, engine, clock, point=(45.75, 4.90), email="c@example.org")
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    async with sessionmaker() as s:
        with pytest.raises(GuichetError):
            await merge(s, engine, clock, agent, duplicate_id=a.case_id, kept_id=a.case_id)
    async with sessionmaker() as s:
        with pytest.raises(HiddenDenial):  # commune B's report: does not exist for A's agent
            await merge(s, engine, clock, agent, duplicate_id=a.case_id, kept_id=in_b.case_id)
    other = await actor_of(sessionmaker, "instr@b.invalid")
    async with sessionmaker() as s:
        with pytest.raises(HiddenDenial):
            await merge(s, engine, clock, other, duplicate_id=a.case_id, kept_id=b.case_id)
    assert (await report_row(sessionmaker, a.case_id)).state == "submitted"
