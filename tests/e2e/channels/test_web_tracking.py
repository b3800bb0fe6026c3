"""Following a case without an account (tracking code + the e-mail or phone given at intake), and
claiming it into an account later: same 404 whatever is wrong, attempts bounded, code required."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import Seed, permit_request
from tests.support.citizens import as_person
from tests.support.http import assert_problem, client_token
from tests.support.people import SignedIn, create_person, sign_in

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
SUIVI = "/api/v1/suivi"
CLAIM = "/api/v1/suivi/claim"


async def file_anonymous_case(client: AsyncTestClient[Any], seed: Seed) -> dict[str, Any]:
    """An API client files for someone without an account: the answer carries the code once."""
    token = await client_token(client, seed.client_id, seed.client_secret)
    r = await client.post("/api/v1/intake/", json=permit_request(), headers=seed.auth(token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["tracking_code"] and body["aee"]["code_de_suivi"] == body["tracking_code"]
    return body


async def person(sm: SM, clock: FrozenClock, mail: str) -> SignedIn:
    pid = await create_person(sm, now=clock.now(), email=mail, given_name="Alex")
    return await sign_in(sm, pid, now=clock.now())


async def test_tracking_with_code_and_email(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    filed = await file_anonymous_case(app_client, seed)
    code = filed["tracking_code"]
    # Typed as a person would: lower case, spaces, the e-mail in capitals.
    typed = code.lower().replace("-", " ")
    r = await app_client.post(SUIVI, json={"code": typed, "contact": " ALEX@Example.org "})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["reference"] == filed["reference"]
    assert view["procedure_title"] == "Permis de test"
    assert view["tenant"] == "Commune A"
    assert view["state"] == "submitted" and view["state_title"] == "Déposé"
    assert view["timeline"] and all(e["public"] for e in view["timeline"])
    assert view["claimable"] is True
    assert isinstance(view["documents"], list)
    # Nothing an agent only sees.
    assert "payload" not in view and "submitter" not in view and "assignee_id" not in view


async def test_wrong_pairs_get_the_same_404_and_the_11th_attempt_is_429(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    filed = await file_anonymous_case(app_client, seed)
    code = filed["tracking_code"]
    unknown = assert_problem(
        await app_client.post(
            SUIVI, json={"code": "AAAA-BBBB-CCCC", "contact": "alex@example.org"}
        ),
        404,
    )
    for _ in range(10):
        wrong = assert_problem(
            await app_client.post(SUIVI, json={"code": code, "contact": "eve@example.org"}), 404
        )
        assert wrong["detail"] == unknown["detail"]
    r = await app_client.post(SUIVI, json={"code": code, "contact": "alex@example.org"})
    body = assert_problem(r, 429)
    assert "accueil" in body["detail"]
    assert int(r.headers["retry-after"]) > 0


async def test_too_many_failures_from_one_address_is_429(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    filed = await file_anonymous_case(app_client, seed)
    for i in range(30):
        guess = {"code": f"ZZZZ-ZZZZ-{i:04d}", "contact": "alex@example.org"}
        assert_problem(await app_client.post(SUIVI, json=guess), 404)
    right = {"code": filed["tracking_code"], "contact": "alex@example.org"}
    r = await app_client.post(SUIVI, json=right)
    assert "adresse réseau" in assert_problem(r, 429)["detail"]
    assert int(r.headers["retry-after"]) > 0


async def test_claim_into_an_account(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    filed = await file_anonymous_case(app_client, seed)
    alex = await person(sessionmaker, clock, "alex@example.org")
    eve = await person(sessionmaker, clock, "eve@example.org")
    pair = {"code": filed["tracking_code"], "contact": "alex@example.org"}

    # The e-mail alone never links (the code is required), and a wrong contact is refused.
    assert_problem(
        await app_client.post(CLAIM, json={**pair, "code": "x"}, headers=as_person(alex)), 404
    )
    assert_problem(
        await app_client.post(CLAIM, json={**pair, "contact": "a@b.fr"}, headers=as_person(alex)),
        404,
    )
    # Without a session, or without the CSRF token: refused.
    assert_problem(await app_client.post(CLAIM, json=pair), 401)
    assert_problem(
        await app_client.post(CLAIM, json=pair, headers=as_person(alex, csrf=False)), 403
    )
    assert (await app_client.get("/api/v1/cases/", headers=as_person(alex))).json()["total"] == 0

    r = await app_client.post(CLAIM, json=pair, headers=as_person(alex))
    assert r.status_code == 200, r.text
    assert r.json()["claimable"] is False
    cases = (await app_client.get("/api/v1/cases/", headers=as_person(alex))).json()
    assert [c["reference"] for c in cases["items"]] == [filed["reference"]]
    one = await app_client.get(f"/api/v1/cases/{filed['case_id']}", headers=as_person(alex))
    assert one.status_code == 200

    # Claiming again is harmless; someone else with the same pair cannot take it.
    assert (await app_client.post(CLAIM, json=pair, headers=as_person(alex))).status_code == 200
    assert_problem(await app_client.post(CLAIM, json=pair, headers=as_person(eve)), 409)
    assert (await app_client.get("/api/v1/cases/", headers=as_person(eve))).json()["total"] == 0
    tracked = (await app_client.post(SUIVI, json=pair)).json()
    assert tracked["claimable"] is False

    async with sessionmaker() as s:
        linked = list(
            await s.scalars(
                select(JournalEntry).where(
                    JournalEntry.event == "identity.linked",
                    JournalEntry.actor_id == alex.person_id,
                )
            )
        )
    assert len(linked) == 1
    assert linked[0].data["kind"] == "case_claimed"
    assert linked[0].data["case_id"] == filed["case_id"]


async def test_hostile_tracking_input(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    await file_anonymous_case(app_client, seed)
    for body in (
        {"code": "A" * 41, "contact": "alex@example.org"},
        {"code": 12, "contact": "alex@example.org"},
        {"code": "ABCD", "contact": ["alex@example.org"]},
        {"code": "ABCD"},
        {"code": "ABCD", "contact": "x@y.z", "case_id": "1"},
        "ABCD",
    ):
        assert_problem(await app_client.post(SUIVI, json=body), 400)
    for body in (
        {"code": "💥💥💥\u202e", "contact": "ａｌｅｘ@example.org"},
        {"code": "'; DROP TABLE case; --", "contact": "0600000000"},
        {"code": "ABCD-EFGH-JKLM", "contact": "\x00"},
    ):
        assert_problem(await app_client.post(SUIVI, json=body), 404)
    r = await app_client.post(
        SUIVI, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 400)


async def test_a_case_filed_for_an_association_is_not_claimed_into_a_personal_account(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    token = await client_token(app_client, seed.client_id, seed.client_secret)
    asso = {
        "kind": "association",
        "rna": "W691234567",
        "organisation_name": "Les Jardins partagés",
        "email": "jardins@example.org",
    }
    r = await app_client.post(
        "/api/v1/intake/", json=permit_request(submitter=asso), headers=seed.auth(token)
    )
    assert r.status_code == 201, r.text
    pair = {"code": r.json()["tracking_code"], "contact": "jardins@example.org"}
    assert (await app_client.post(SUIVI, json=pair)).status_code == 200
    alex = await person(sessionmaker, clock, "jardins@example.org")
    detail = assert_problem(await app_client.post(CLAIM, json=pair, headers=as_person(alex)), 409)
    assert "organisation" in detail["detail"]
    assert (await app_client.get("/api/v1/cases/", headers=as_person(alex))).json()["total"] == 0
