"""Secure messages are announced by e-mail (issue 5): the person's message to the agents in charge,
an agent's public message to the person; the text itself stays in the secure space."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.jobs import JobDeps
from documents.models import Notification
from documents.storage import FileStorage
from identity.service import authenticate
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.integration.documents.test_mail import EMAIL, drain, open_case
from tests.support.people import create_person
from tests.support.smtp import SmtpSink, smtp_server
from workflows.cases.models import Case
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_server(monkeypatch) as sink:
        yield sink


@pytest.fixture
def deps(engine: Engine, clock: FrozenClock, tmp_path: Path) -> JobDeps:
    return JobDeps(engine=engine, storage=FileStorage(tmp_path / "documents"), clock=clock)


SM = async_sessionmaker[AsyncSession]
SECRET = "Mon numéro fiscal est 1234567890123"


async def _notified(sm: SM, template: str) -> list[Notification]:
    async with sm() as s:
        return list(await s.scalars(select(Notification).where(Notification.template == template)))


async def test_a_person_s_message_goes_to_the_service_and_an_agent_s_to_the_person(
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    deps: JobDeps,
    smtp: SmtpSink,
) -> None:
    async with sessionmaker() as s:
        agent = await authenticate(s, seed.instructor_token, now=clock.now())
    case_id, reference = await open_case(sessionmaker, engine, clock, agent)
    person_id = await create_person(sessionmaker, now=clock.now(), email=EMAIL)
    async with sessionmaker() as s, s.begin():
        case = await s.get(Case, case_id)
        assert case is not None
        case.submitter_id = person_id
    person = Actor(id=person_id, kind=ActorKind.PERSON, display_name="Alex Dupont")
    await drain(sessionmaker, deps)
    before = len(smtp.messages())

    async with sessionmaker() as s, s.begin():
        await CaseService(s, engine, clock).add_message(case_id, person, SECRET, public=True)
    await drain(sessionmaker, deps)
    [to_agents] = await _notified(sessionmaker, "case.message_to_agent")
    assert to_agents.to_address == "urba@a.invalid"  # the service on the acknowledgement
    assert reference in to_agents.subject

    async with sessionmaker() as s, s.begin():
        await CaseService(s, engine, clock).add_message(case_id, agent, "Réponse", public=True)
        await CaseService(s, engine, clock).add_message(case_id, agent, "note", public=False)
    await drain(sessionmaker, deps)
    [to_person] = await _notified(sessionmaker, "case.message")
    assert to_person.to_address == EMAIL
    sent = smtp.messages()[before:]
    assert len(sent) == 2  # the internal note is announced to nobody
    assert all(SECRET not in m.as_string() for m in sent)
    assert {m["To"].addresses[0].addr_spec for m in sent} == {"urba@a.invalid", EMAIL}
    assert uuid.UUID(str(to_person.case_id)) == case_id
