"""Every urbanism instruction route attacked with malformed, oversized and hostile bodies: a 4xx
problem+json a person can act on, never a 500, and the file unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.http import assert_problem
from tests.support.urbanism import file_at_counter, urbanism_file

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SM = async_sessionmaker[AsyncSession]
ROUTES = (
    "majorations",
    "pieces-demandees",
    "consultations",
    "consultations/ABF/avis",
    "exceptions",
    "arrete",
    "notification-decision",
    "retrait",
    "affichage",
    "interruptions",
    "prorogations",
    "recours",
    "doc",
    "daact",
    "pieces",
)
BODIES: dict[str, Any] = {
    "not an object": ["liste", 1],
    "wrong types": {
        "notified_on": 12,
        "ground": ["R423-24"],
        "pieces": "PCMI1",
        "sent_on": True,
        "service": {"x": 1},
        "kind": 3,
        "started_on": "hier",
        "from_on": "2026-02-30",
        "requested_on": None,
        "opened_on": "1er mars",
        "completed_on": [],
    },
    "unknown field": {"notified_on": "2026-03-02", "admin": True},
    "future date": {
        "notified_on": "2099-01-01",
        "ground": "R423-24",
        "pieces": ["PCMI5"],
        "sent_on": "2099-01-01",
        "service": "ABF",
        "answered_on": "2099-01-01",
        "opinion": "favorable",
        "started_on": "2099-01-01",
        "from_on": "2099-01-01",
        "requested_on": "2099-01-01",
        "opened_on": "2099-01-01",
        "completed_on": "2099-01-01",
        "reasons": ["x"],
    },
    "oversized": {
        "pieces": ["PCMI1"] * 5000,
        "reasons": ["x" * 10] * 5000,
        "notified_on": "2026-03-02",
    },
    "control characters": {
        "service": "AB\u202eF\x00",
        "reason": "\x00\x01",
        "exceptions": ["r424_2_x"],
        "kind": "accord\u0000",
        "signatory_name": "\ud800",
        "signatory_title": "Maire",
    },
}


@pytest.mark.parametrize("route", ROUTES)
async def test_hostile_bodies_get_a_4xx_problem_and_change_nothing(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    route: str,
) -> None:
    case_id: uuid.UUID = await file_at_counter(
        app_client, seed.auth(seed.counter_token), "urbanism.pcmi"
    )
    before = await urbanism_file(sessionmaker, case_id)
    for label, body in BODIES.items():
        r = await app_client.post(
            f"/api/v1/urbanisme/dossiers/{case_id}/{route}",
            # ASCII-escaped JSON: a lone surrogate travels as the six characters \\ud800
            content=json.dumps(body).encode(),
            headers={**seed.auth(seed.instructor_token), "Content-Type": "application/json"},
        )
        assert 400 <= r.status_code < 500, f"{route} / {label}: {r.status_code} {r.text}"
        problem = assert_problem(r, r.status_code)
        assert problem["detail"], f"{route} / {label}"
    r = await app_client.post(
        f"/api/v1/urbanisme/dossiers/{case_id}/{route}",
        content=b"{not json",
        headers={**seed.auth(seed.instructor_token), "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, f"{route} / broken JSON: {r.status_code} {r.text}"
    after = await urbanism_file(sessionmaker, case_id)
    assert (after.state, after.facts, after.timeline) == (
        before.state,
        before.facts,
        before.timeline,
    )
