"""Near-tacit alerts (issue 7 §5): a file whose tacit decision (R424-1) is born within N days is
announced once per tacit date to its instructor and to the commune, by e-mail through the outbox,
delivered by the real SMTP stand-in.

The frozen clock is Monday 2 March 2026; the cron function runs as the worker would run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import JobDeps
from documents.raw_mail import message_of
from documents.storage import FileStorage
from identity import service as ids
from identity.models import Tenant, TenantService
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.outbox import run_pending
from tests.support.smtp import SmtpSink, smtp_server
from tests.support.urbanism_files import insert_file, running_timeline
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine
from workflows.procedures.urbanism.jobs import CRON_JOBS, tacit_alerts
from workflows.procedures.urbanism.models import UrbanismFile

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
TODAY = date(2026, 3, 2)
INSTRUCTORS_A = ["instr2@a.invalid", "instr@a.invalid", "metro@m.invalid"]
"""Commune A's instructors and the métropole's, which instructs for it."""


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_server(monkeypatch) as sink:
        yield sink


async def run_cron(sm: SM, engine: Engine, clock: FrozenClock, tmp_path: Path) -> int:
    deps = JobDeps(engine=engine, storage=FileStorage(tmp_path / "docs"), clock=clock)
    return await tacit_alerts({"sessionmaker": sm, "deps": deps})


async def alert_rows(sm: SM) -> list[Outbox]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(Outbox)
                .where(Outbox.dedupe_key.like("urbanism-tacit-alert:%"))
                .order_by(Outbox.created_at, Outbox.dedupe_key)
            )
        )


def recipients(row: Outbox) -> list[str]:
    return sorted(a.strip() for a in str(message_of(row)["To"]).split(","))


def test_the_cron_runs_daily() -> None:
    assert [job.name for job in CRON_JOBS] == ["cron:tacit_alerts"]
    assert CRON_JOBS[0].hour == 7 and CRON_JOBS[0].unique


async def test_files_near_their_tacit_date_are_announced_once(
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    smtp: SmtpSink,
    tmp_path: Path,
) -> None:
    """R424-1: silence at the end of the instruction deadline gives a tacit permit the day after.
    15 days ahead (default), the assigned instructor and the commune's urbanism service get one
    mail; an unassigned file goes to every instructor of the commune and of the métropole."""
    assigned = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600012",
        filed_on=date(2025, 12, 12),
        tacit_on=TODAY + timedelta(days=10),
        assignee_id=seed.instructor_id,
        applicant_name="Élodie Fabre",
        address="12 chemin des Écoliers, 69001 A",
        parcels="AB 12, AB 13",
    )
    unassigned = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="DP0690012600003",
        permit_type="DP",
        filed_on=date(2026, 2, 16),
        tacit_on=TODAY + timedelta(days=15),
        timeline=running_timeline(
            date(2026, 2, 16), TODAY + timedelta(days=14), outcome="non_opposition_tacite"
        ),
    )
    await insert_file(  # 16 days: not yet
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600013",
        filed_on=date(2025, 12, 18),
        tacit_on=TODAY + timedelta(days=16),
    )
    await insert_file(  # born today: too late to prevent, not announced
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600014",
        filed_on=date(2025, 12, 2),
        tacit_on=TODAY,
    )
    await insert_file(  # no tacit decision running (decided)
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600015",
        filed_on=date(2025, 12, 2),
        state="granted",
        decided_on=date(2026, 2, 20),
        decision="accord",
    )

    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 2
    rows = await alert_rows(sessionmaker)
    by_case = {row.case_id: row for row in rows}
    assert set(by_case) == {assigned.case_id, unassigned.case_id}
    assert recipients(by_case[assigned.case_id]) == ["instr@a.invalid", "urba@a.invalid"]
    assert recipients(by_case[unassigned.case_id]) == sorted([*INSTRUCTORS_A, "urba@a.invalid"])

    async with sessionmaker() as s:
        marked = {
            f.case_id: f.alerted_for
            for f in await s.scalars(
                select(UrbanismFile).where(UrbanismFile.alerted_for.is_not(None))
            )
        }
    assert marked == {
        assigned.case_id: TODAY + timedelta(days=10),
        unassigned.case_id: TODAY + timedelta(days=15),
    }

    # The second run (the same day, or the next) sends nothing more.
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 0
    clock.advance(timedelta(days=1))
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 1  # the 16-day one, now 15
    assert len(await alert_rows(sessionmaker)) == 3
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 0

    # Delivered through SMTP.
    statuses = await run_pending(sessionmaker, engine, clock, kinds=["mail.send"])
    assert statuses == ["done", "done", "done"]
    received = {str(m["Subject"]): m for m in smtp.messages()}
    subject = "Urbanisme PC 069 001 26 00012 : décision tacite le 12/03/2026 (Commune A)"
    assert subject in received
    message = received[subject]
    text = message.get_content()
    assert "PC 069 001 26 00012" in text
    assert "Élodie Fabre" in text
    assert "12 chemin des Écoliers, 69001 A (parcelles AB 12, AB 13)" in text
    assert "Sans décision notifiée au demandeur au plus tard le 11/03/2026" in text
    assert "un permis tacite naîtra (R424-1 du code de l'urbanisme) le 12/03/2026" in text
    assert "L424-5" in text  # a decision notified later would be a withdrawal
    assert "http" not in text
    assert message["Auto-Submitted"] == "auto-generated"
    smtp_rcpts = next(r.rcpt_tos for r in smtp.received if str(r.message["Subject"]) == subject)
    assert sorted(smtp_rcpts) == ["instr@a.invalid", "urba@a.invalid"]
    dp = next(m for s, m in received.items() if "DP 069 001 26 00003" in s)
    assert "non-opposition tacite à la déclaration préalable" in dp.get_content()


async def test_threshold_from_the_rule_set_and_a_moved_tacit_date_is_announced_again(
    seed: Seed, sessionmaker: SM, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    """``tacit_alert_days`` of the file's rule set replaces 15. When the pieces arrive the full
    deadline restarts (R423-39 c): the new tacit date is a new alert."""
    wide = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PA0690012600001",
        permit_type="PA",
        filed_on=date(2025, 12, 22),
        tacit_on=TODAY + timedelta(days=25),
        facts={"rule_set": {"key": "ads-commune-a", "tacit_alert_days": 30}},
    )
    moved = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600031",
        filed_on=date(2026, 1, 5),
        tacit_on=TODAY + timedelta(days=5),
        alerted_for=TODAY - timedelta(days=20),  # announced for an earlier tacit date
    )
    await insert_file(  # already announced for this very date
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600032",
        filed_on=date(2026, 1, 5),
        tacit_on=TODAY + timedelta(days=5),
        alerted_for=TODAY + timedelta(days=5),
    )
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 2
    assert {r.case_id for r in await alert_rows(sessionmaker)} == {wide.case_id, moved.case_id}


async def test_rejection_by_silence_is_announced_as_such(
    seed: Seed, sessionmaker: SM, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    """R424-2: in a site classé silence is a rejection; the alert says so, without the retrait
    warning that only matters for a favourable tacit decision."""
    await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600040",
        filed_on=date(2025, 12, 5),
        tacit_on=TODAY + timedelta(days=3),
        timeline=running_timeline(
            date(2025, 12, 5), TODAY + timedelta(days=2), outcome="rejet_tacite"
        ),
    )
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 1
    (row,) = await alert_rows(sessionmaker)
    text = message_of(row).get_content()
    assert "la demande sera tacitement rejetée (R424-2" in text
    assert "L424-5" not in text


async def test_without_an_urbanism_service_the_mayors_office_is_told(
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    async with sessionmaker() as s, s.begin():
        await s.execute(
            delete(TenantService).where(
                TenantService.tenant_id == seed.other_commune_id,
                TenantService.code == "urbanisme",
            )
        )
        commune_b = await s.get(Tenant, seed.other_commune_id)
        assert commune_b is not None
        mayor = await ids.create_agent(
            s,
            now=clock.now(),
            email="cabinet@b.invalid",
            given_name="Cabinet",
            family_name="Maire",
            title="Directeur de cabinet",
        )
        await ids.grant_role(s, mayor, Role.MAYOR_OFFICE, commune_b, now=clock.now())
        idle = await ids.create_agent(
            s,
            now=clock.now(),
            email="ancien@b.invalid",
            given_name="Ancien",
            family_name="Cabinet",
            title="Parti",
        )
        await ids.grant_role(s, idle, Role.MAYOR_OFFICE, commune_b, now=clock.now())
        idle.active = False
    inserted = await insert_file(
        sessionmaker,
        tenant_id=seed.other_commune_id,
        number="PC0690022600001",
        filed_on=date(2025, 12, 10),
        tacit_on=TODAY + timedelta(days=8),
    )
    assert await run_cron(sessionmaker, engine, clock, tmp_path) == 1
    (row,) = await alert_rows(sessionmaker)
    assert row.case_id == inserted.case_id
    # B's instructor, the métropole's, and B's mayor's office (not the inactive agent).
    assert recipients(row) == ["cabinet@b.invalid", "instr@b.invalid", "metro@m.invalid"]
    assert "(Commune B)" in str(message_of(row)["Subject"])


async def test_a_failed_transaction_sends_nothing_and_marks_nothing(
    seed: Seed, sessionmaker: SM, clock: FrozenClock
) -> None:
    """The outbox row and ``alerted_for`` are written together: a rollback loses both, so the
    next run sends the alert (never marked-but-unsent, never sent-twice)."""
    from workflows.procedures.urbanism.alerts import send_tacit_alerts

    await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600050",
        filed_on=date(2025, 12, 10),
        tacit_on=TODAY + timedelta(days=8),
    )
    async with sessionmaker() as s:
        await s.begin()
        sent = await send_tacit_alerts(s, today=TODAY, now=clock.now())
        assert len(sent) == 1
        await s.rollback()
    async with sessionmaker() as s:
        marked = await s.scalar(select(func.count()).where(UrbanismFile.alerted_for.is_not(None)))
    assert (len(await alert_rows(sessionmaker)), marked) == (0, 0)
    async with sessionmaker() as s, s.begin():
        assert len(await send_tacit_alerts(s, today=TODAY, now=clock.now())) == 1
    assert len(await alert_rows(sessionmaker)) == 1
