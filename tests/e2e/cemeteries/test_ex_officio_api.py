"""Opening a reprise or an abandon procedure over HTTP (L2223-15 and L2223-17 CGCT): only the
commune's instructors, supervisors and admins; another commune sees nothing; a bad payload says
what is wrong."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.cemeteries import add_cemetery_service, grant, small_registry
from tests.support.http import assert_problem
from workflows.cases.models import Case
from workflows.procedures.cemeteries.models import DurationKind

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
URL = "/api/v1/cimetieres/69001/procedures-d-office"


async def old_concession(sm: SM, seed: Seed, clock: FrozenClock) -> str:
    await add_cemetery_service(sm, "69001")
    reg = await small_registry(sm, seed.commune_id, now=clock.now())
    async with sm() as s, s.begin():
        c = await grant(
            s,
            seed.commune_id,
            reg.caveaux[0],
            now=clock.now(),
            granted_on=date(1950, 1, 1),
            duration_kind=DurationKind.PERPETUAL,
        )
    return str(c.id)


async def test_an_instructor_opens_an_abandon_procedure(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: SM, clock: FrozenClock
) -> None:
    concession = await old_concession(sessionmaker, seed, clock)
    r = await app_client.post(
        URL,
        json={"procedure": "cemeteries.abandon", "payload": {"concession_id": concession}},
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["reference"].startswith("69001-")
    async with sessionmaker() as s:
        case = await s.get(Case, uuid.UUID(body["case_id"]))
    assert case is not None
    assert case.procedure_key == "cemeteries.abandon"
    assert case.tenant_id == seed.commune_id
    assert case.payload["concession_id"] == concession


async def test_counter_agents_and_other_communes_cannot_open_one(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: SM, clock: FrozenClock
) -> None:
    concession = await old_concession(sessionmaker, seed, clock)
    body = {"procedure": "cemeteries.abandon", "payload": {"concession_id": concession}}
    r = await app_client.post(URL, json=body, headers=seed.auth(seed.counter_token))
    assert_problem(r, 403)
    r = await app_client.post(URL, json=body, headers=seed.auth(seed.other_instructor_token))
    assert_problem(r, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"procedure": "cemeteries.concession", "payload": {}}, "procedure"),
        ({"procedure": "cemeteries.abandon", "payload": {}}, "concession_id"),
        (
            {"procedure": "cemeteries.abandon", "payload": {"concession_id": "pas-un-uuid"}},
            "concession_id",
        ),
    ],
)
async def test_bad_requests_say_what_is_wrong(
    app_client: AsyncTestClient[Any], seed: Seed, body: dict[str, Any], field: str
) -> None:
    r = await app_client.post(URL, json=body, headers=seed.auth(seed.instructor_token))
    problem = assert_problem(r, (400, 422))
    assert field in r.text, problem
