"""Reopening a fixed report within 30 days (configurable), refused after; every public change
mailed to the followers, a reopening to the department too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.street.service import add_public_update, channel_actor
from documents.models import Notification
from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict
from services.kernel.settings import path_settings
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.outbox import run_pending
from tests.support.street_reports import actor_of, enable_territory, report, report_row
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.models import StreetDepartment
from workflows.procedures.street_reports.settings import street_settings

pytestmark = pytest.mark.integration
APP = channel_actor("Application de test (Open311)", "open311:test")


async def _fixed_report(sm: Any, engine: Engine, clock: FrozenClock) -> Any:
    await enable_territory(sm, clock)
    async with sm() as s, s.begin():
        dept = await s.scalar(select(StreetDepartment).where(StreetDepartment.code == "voirie"))
        assert dept is not None
        for d in await s.scalars(select(StreetDepartment).where(StreetDepartment.code == "voirie")):
            d.email = "voirie@a.invalid"
    done = await report(sm, engine, clock)
    agent = await actor_of(sm, "instr@a.invalid")
    await apply(sm, engine, clock, done.case_id, "fix", agent, {"note": "Rebouché"})
    return done


async def test_reopen_within_30_days_goes_back_and_tells_the_department(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    done = await _fixed_report(sessionmaker, engine, clock)
    clock.advance(timedelta(days=30))
    async with sessionmaker() as s, s.begin():
        update = await add_public_update(
            s,
            engine,
            clock,
            reference=done.reference,
            actor=APP,
            status="REOPEN",
            description="Toujours un trou",
            client_update_id="42",
        )
    assert update.reopened and update.state == "acknowledged"
    row = await report_row(sessionmaker, done.case_id)
    assert row.state == "acknowledged" and row.fixed_at is None
    async with sessionmaker() as s:
        sent_to = [
            o.payload.get("to")
            for o in await s.scalars(
                select(Outbox).where(
                    Outbox.case_id == done.case_id, Outbox.kind == "notification.send"
                )
            )
        ]
    assert "voirie@a.invalid" in sent_to
    assert sent_to.count("riverain@example.org") == 2  # fixed, then reopened


async def test_reopen_after_30_days_is_refused(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    done = await _fixed_report(sessionmaker, engine, clock)
    clock.advance(timedelta(days=30, seconds=1))
    async with sessionmaker() as s:
        with pytest.raises(Conflict) as caught:
            await add_public_update(
                s,
                engine,
                clock,
                reference=done.reference,
                actor=APP,
                status="REOPEN",
                description="Toujours un trou",
                client_update_id=None,
            )
    assert "30 jours" in caught.value.detail
    assert (await report_row(sessionmaker, done.case_id)).state == "fixed"


async def test_reopen_window_is_configurable(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_STREET_REOPEN_DAYS", "7")
    street_settings.cache_clear()
    try:
        done = await _fixed_report(sessionmaker, engine, clock)
        clock.advance(timedelta(days=8))
        async with sessionmaker() as s:
            with pytest.raises(Conflict):
                await add_public_update(
                    s,
                    engine,
                    clock,
                    reference=done.reference,
                    actor=APP,
                    status="REOPEN",
                    description=None,
                    client_update_id=None,
                )
    finally:
        street_settings.cache_clear()


async def test_a_comment_reaches_the_agents_and_an_unknown_status_is_refused(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    done = await _fixed_report(sessionmaker, engine, clock)
    async with sessionmaker() as s, s.begin():
        update = await add_public_update(
            s,
            engine,
            clock,
            reference=done.reference,
            actor=APP,
            status=None,
            description="Merci 👍",
            client_update_id="c1",
        )
    assert not update.reopened and update.state == "fixed"
    from services.kernel.errors import ValidationFailed

    async with sessionmaker() as s:
        with pytest.raises(ValidationFailed):
            await add_public_update(
                s,
                engine,
                clock,
                reference=done.reference,
                actor=APP,
                status="EXPLODED",
                description="x",
                client_update_id=None,
            )


async def test_follower_mails_are_sent_without_personal_data(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    await enable_territory(sessionmaker, clock)
    done = await report(
        sessionmaker,
        engine,
        clock,
        submitter={"given_name": "Jeanne", "family_name": "Martin", "email": "jm@example.org"},
    )
    async with sessionmaker() as s, s.begin():
        from workflows.procedures.street_reports.projector import add_follower

        await add_follower(s, done.case_id, "voisin@example.org", person_id=None, now=clock.now())
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    await apply(
        sessionmaker,
        engine,
        clock,
        done.case_id,
        "reject",
        agent,
        {"reason": "domaine_prive", "details": "parking de la résidence"},
    )
    await run_pending(sessionmaker, engine, clock, kinds=["notification.send"])
    async with sessionmaker() as s:
        sent = list(
            await s.scalars(
                select(Notification).where(Notification.template == "street_report.updated")
            )
        )
    assert sorted(n.to_address for n in sent) == ["jm@example.org", "voisin@example.org"]
    assert all("Non retenu" in n.subject for n in sent)
    mails = list((tmp_path / "data" / "mail").glob("*.eml"))
    to_neighbour = [m.read_text() for m in mails if "voisin@example.org" in m.read_text()]
    assert to_neighbour and all(
        "Martin" not in m and "jm@example.org" not in m for m in to_neighbour
    )
    assert any(
        "sur une propri=C3=A9t=C3=A9 priv=C3=A9e" in m or "propriété privée" in m
        for m in to_neighbour
    )


async def test_a_new_report_is_mailed_to_its_department_without_the_reporters_details(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    async with sessionmaker() as s, s.begin():
        for d in await s.scalars(select(StreetDepartment).where(StreetDepartment.code == "voirie")):
            d.email = "voirie@a.invalid"
    done = await report(sessionmaker, engine, clock)
    await run_pending(sessionmaker, engine, clock, kinds=["notification.send"])
    async with sessionmaker() as s:
        sent = {
            n.to_address: n
            for n in await s.scalars(
                select(Notification).where(Notification.case_id == done.case_id)
            )
        }
    assert "voirie@a.invalid" in sent, sent
    mail = sent["voirie@a.invalid"]
    assert f"Nouveau signalement {done.reference} : Chaussée" in mail.subject
    [eml] = [
        p
        for p in (path_settings().data_dir / "mail").glob("*.eml")
        if "voirie@a.invalid" in p.read_text(errors="replace")
    ]
    text = eml.read_text(errors="replace")
    assert "objectif de service" in text
    assert "riverain@example.org" not in text  # the reporter's address stays with the service
