"""Web channel: a tenant's online catalogue, and the drafts a signed-in person prepares, submits
through the one intake door, or lets expire (with a warning e-mail first)."""

from __future__ import annotations

import email
import os
import uuid
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.models import Attachment, Draft
from channels.web.jobs import purge_expired_drafts, warn_expiring_drafts
from documents.mail import DirectMailer, EmlDirectoryTransport
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from tests.conftest import Seed
from tests.support.citizens import as_person
from tests.support.http import assert_problem
from tests.support.people import SignedIn, create_person, sign_in

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
CATALOGUE = "/api/v1/tenants/{}/demarches"
DRAFTS = "/api/v1/drafts"
GOOD = {"title": "Abri de jardin", "area_m2": 12}


async def person(sm: SM, clock: FrozenClock, mail: str = "marie@example.org") -> SignedIn:
    pid = await create_person(sm, now=clock.now(), email=mail)
    return await sign_in(sm, pid, now=clock.now())


def kw(p: SignedIn) -> dict[str, Any]:
    """Session cookie (sent as a header: it is Secure and the client speaks HTTP) and CSRF."""
    return {"headers": as_person(p)}


async def new_draft(
    client: AsyncTestClient[Any], p: SignedIn, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    r = await client.post(
        DRAFTS,
        json={"tenant": "69001", "procedure": "test.permit", "payload": payload or {}},
        **kw(p),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# ----- catalogue -------------------------------------------------------------------------------


async def test_catalogue_of_a_commune_lists_its_demarches_with_their_schema(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    r = await app_client.get(CATALOGUE.format("69001"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"]["name"] == "Commune A"
    permit = next(d for d in body["demarches"] if d["key"] == "test.permit")
    assert permit["title"] == "Permis de test"
    assert permit["silence"] == "acceptance"
    assert "accord" in permit["silence_label"]
    assert permit["decision_delay"] == "2 mois"
    assert permit["pieces"] == []  # récépissé, ARE, décision: issued by the administration
    props = permit["payload_schema"]["properties"]
    assert {"title", "area_m2", "urgent"} <= set(props)
    assert set(permit["payload_schema"]["required"]) == {"title", "area_m2"}

    by_slug = await app_client.get(CATALOGUE.format("commune-a"))
    assert by_slug.json() == body
    one = await app_client.get(CATALOGUE.format("commune-a") + "/test.permit")
    assert one.status_code == 200 and one.json() == permit

    detail = assert_problem(await app_client.get(CATALOGUE.format("99999")), 404)["detail"]
    assert "99999" in detail
    assert_problem(await app_client.get(CATALOGUE.format("69001") + "/nope.nope"), 404)


async def test_catalogue_hides_what_the_commune_does_not_offer(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    from identity.models import TenantService

    async with sessionmaker() as s, s.begin():
        for row in await s.scalars(
            select(TenantService).where(
                TenantService.tenant_id == seed.other_commune_id,
                TenantService.code == "urbanisme",
            )
        ):
            await s.delete(row)
    r = await app_client.get(CATALOGUE.format("69002"))
    assert r.status_code == 200
    assert "test.permit" not in {d["key"] for d in r.json()["demarches"]}
    assert_problem(await app_client.get(CATALOGUE.format("69002") + "/test.permit"), 404)


# ----- drafts ----------------------------------------------------------------------------------


async def test_draft_lifecycle(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    created = await new_draft(app_client, marie, {"title": "Ab"})
    assert created["procedure"] == "test.permit"
    assert created["expires_at"].startswith((clock.now() + timedelta(days=100)).date().isoformat())

    listed = (await app_client.get(DRAFTS, **kw(marie))).json()
    assert [d["id"] for d in listed] == [created["id"]]

    clock.advance(timedelta(minutes=3))
    r = await app_client.patch(
        f"{DRAFTS}/{created['id']}",
        json={"payload": {"title": "Abri de jardin"}, "submitter": {"phone": "0600000000"}},
        **kw(marie),
    )
    assert r.status_code == 200, r.text
    got = (await app_client.get(f"{DRAFTS}/{created['id']}", **kw(marie))).json()
    assert got["payload"] == {"title": "Abri de jardin"}
    assert got["submitter"] == {"phone": "0600000000"}
    assert got["expires_at"] == created["expires_at"]  # editing extends nothing

    r = await app_client.delete(f"{DRAFTS}/{created['id']}", **kw(marie))
    assert r.status_code == 204, r.text
    assert (await app_client.get(DRAFTS, **kw(marie))).json() == []
    assert_problem(await app_client.get(f"{DRAFTS}/{created['id']}", **kw(marie)), 404)


async def test_another_persons_draft_is_not_found_and_journaled(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    paul = await person(sessionmaker, clock, "paul@example.org")
    draft = await new_draft(app_client, marie, GOOD)
    url = f"{DRAFTS}/{draft['id']}"
    assert_problem(await app_client.get(url, **kw(paul)), 404)
    assert_problem(await app_client.patch(url, json={"payload": {}}, **kw(paul)), 404)
    assert_problem(await app_client.delete(url, **kw(paul)), 404)
    assert_problem(await app_client.post(f"{url}/submit", **kw(paul)), 404)
    assert (await app_client.get(DRAFTS, **kw(paul))).json() == []
    # Marie's draft is untouched.
    assert (await app_client.get(url, **kw(marie))).json()["payload"] == GOOD
    async with sessionmaker() as s:
        denials = list(
            await s.scalars(
                select(JournalEntry).where(
                    JournalEntry.event == "auth.access.denied",
                    JournalEntry.actor_id == paul.person_id,
                )
            )
        )
    assert len(denials) == 4 and all(d.data["hidden"] for d in denials)


async def test_drafts_need_a_signed_in_person(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    body = {"tenant": "69001", "procedure": "test.permit"}
    assert_problem(await app_client.post(DRAFTS, json=body), 401)
    assert_problem(
        await app_client.post(DRAFTS, json=body, headers=seed.auth(seed.instructor_token)), 403
    )


async def test_at_most_twenty_open_drafts(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    first = await new_draft(app_client, marie)
    for _ in range(19):
        await new_draft(app_client, marie)
    r = await app_client.post(
        DRAFTS, json={"tenant": "69001", "procedure": "test.permit"}, **kw(marie)
    )
    assert "20" in assert_problem(r, 409)["detail"]
    # Deleting one frees a place.
    assert (await app_client.delete(f"{DRAFTS}/{first['id']}", **kw(marie))).status_code == 204
    await new_draft(app_client, marie)


async def test_expired_draft_is_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    draft = await new_draft(app_client, marie, GOOD)
    url = f"{DRAFTS}/{draft['id']}"
    clock.advance(timedelta(days=100, seconds=1))
    marie = await sign_in(sessionmaker, marie.person_id, now=clock.now())
    assert "expiré" in assert_problem(await app_client.get(url, **kw(marie)), 409)["detail"]
    assert_problem(await app_client.patch(url, json={"payload": GOOD}, **kw(marie)), 409)
    assert_problem(await app_client.post(f"{url}/submit", **kw(marie)), 409)
    assert (await app_client.get(DRAFTS, **kw(marie))).json() == []
    # An expired draft does not count against the limit, and can still be deleted.
    assert (await app_client.delete(url, **kw(marie))).status_code == 204


async def test_submit_files_the_case_and_moves_the_attachments(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    draft = await new_draft(app_client, marie, GOOD)
    async with sessionmaker() as s, s.begin():
        s.add(
            Attachment(
                person_id=marie.person_id,
                draft_id=uuid.UUID(draft["id"]),
                filename="plan.pdf",
                content_type="application/pdf",
                size=4,
                sha256="0" * 64,
                storage_key="00/" + "0" * 64,
                created_at=clock.now(),
            )
        )
    r = await app_client.post(f"{DRAFTS}/{draft['id']}/submit", **kw(marie))
    assert r.status_code == 201, r.text
    filed = r.json()
    assert filed["reference"] and filed["aee"]["reference"] == filed["reference"]
    assert filed["received_at"].startswith("2026-03-02T09:00")
    assert "code_de_suivi" not in filed["aee"]  # the person has an account

    cases = (await app_client.get("/api/v1/cases/", **kw(marie))).json()
    assert [c["reference"] for c in cases["items"]] == [filed["reference"]]
    case = (await app_client.get(f"/api/v1/cases/{filed['case_id']}", **kw(marie))).json()
    assert case["channel"] == "web"
    assert case["payload"]["title"] == "Abri de jardin"
    assert case["submitter"]["family_name"] == "Dupont"

    assert (await app_client.get(DRAFTS, **kw(marie))).json() == []
    again = await app_client.post(f"{DRAFTS}/{draft['id']}/submit", **kw(marie))
    assert "déjà été déposé" in assert_problem(again, 409)["detail"]
    async with sessionmaker() as s:
        attachment = await s.scalar(
            select(Attachment).where(Attachment.draft_id == uuid.UUID(draft["id"]))
        )
        assert attachment is not None and str(attachment.case_id) == filed["case_id"]


async def test_invalid_payload_is_422_and_the_draft_is_kept(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)
    draft = await new_draft(app_client, marie, {"title": "Ab", "area_m2": "beaucoup"})
    url = f"{DRAFTS}/{draft['id']}"
    body = assert_problem(await app_client.post(f"{url}/submit", **kw(marie)), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"payload.title", "payload.area_m2"} <= fields
    kept = (await app_client.get(url, **kw(marie))).json()
    assert kept["payload"] == {"title": "Ab", "area_m2": "beaucoup"}
    assert (await app_client.get("/api/v1/cases/", **kw(marie))).json()["total"] == 0

    await app_client.patch(url, json={"payload": GOOD}, **kw(marie))
    assert (await app_client.post(f"{url}/submit", **kw(marie))).status_code == 201


async def test_hostile_input_gets_a_french_problem(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock)

    async def post(body: Any) -> Any:
        return await app_client.post(DRAFTS, json=body, **kw(marie))

    assert_problem(await post({"tenant": "💥\u202e" * 5, "procedure": "test.permit"}), 404)
    assert_problem(await post({"tenant": "69001", "procedure": "test.permit\x00"}), 404)
    assert_problem(await post({"tenant": 69001, "procedure": "test.permit"}), 400)
    assert_problem(await post({"tenant": "69001", "procedure": "test.permit", "payload": []}), 400)
    assert_problem(await post(["tenant"]), 400)
    assert_problem(await post({"tenant": "x" * 61, "procedure": "test.permit"}), 400)
    assert_problem(await post({"tenant": "69001", "procedure": "test.permit", "evil": 1}), 400)
    huge = {"tenant": "69001", "procedure": "test.permit", "payload": {"title": "é" * 40_000}}
    assert_problem(await post(huge), 413)
    who = {"tenant": "69001", "procedure": "test.permit", "submitter": {"family_name": "X"}}
    assert assert_problem(await post(who), 422)["errors"][0]["field"] == "submitter.family_name"
    assert_problem(await app_client.get(f"{DRAFTS}/not-a-uuid", **kw(marie)), (400, 404))
    assert_problem(await app_client.get(CATALOGUE.format("%F0%9F%92%A5")), 404)
    assert_problem(await app_client.get(CATALOGUE.format("y" * 200)), 400)
    assert (await app_client.get(DRAFTS, **kw(marie))).json() == []


# ----- expiry warning and purge ----------------------------------------------------------------


def mail_files() -> list[Path]:
    directory = Path(os.environ["GUICHET_DATA_DIR"]) / "mail"
    return sorted(directory.glob("*.eml")) if directory.exists() else []


async def test_expiry_warning_is_sent_once_then_the_draft_is_purged(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    marie = await person(sessionmaker, clock, "marie.warn@example.org")
    draft = await new_draft(app_client, marie, GOOD)
    fresh = await new_draft(app_client, marie, GOOD)
    async with sessionmaker() as s, s.begin():
        row = await s.get(Draft, uuid.UUID(fresh["id"]))
        assert row is not None
        row.expires_at = clock.now() + timedelta(days=110)  # not due yet
    mailer = DirectMailer(
        EmlDirectoryTransport(Path(os.environ["GUICHET_DATA_DIR"]) / "mail"),
        "Guichet <guichet@test.invalid>",
        clock,
    )
    assert await warn_expiring_drafts(sessionmaker, mailer, clock) == 0
    clock.advance(timedelta(days=94))
    assert await warn_expiring_drafts(sessionmaker, mailer, clock) == 1
    assert await warn_expiring_drafts(sessionmaker, mailer, clock) == 0
    files = mail_files()
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "marie.warn@example.org"
    assert "Permis de test" in str(message["Subject"])
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "10/06/2026" in text and "expire" in text

    clock.advance(timedelta(days=5, hours=23))
    assert await purge_expired_drafts(sessionmaker, clock) == 0
    clock.advance(timedelta(hours=2))
    assert await purge_expired_drafts(sessionmaker, clock) == 1
    marie = await sign_in(sessionmaker, marie.person_id, now=clock.now())
    async with sessionmaker() as s:
        purged = await s.get(Draft, uuid.UUID(draft["id"]))
        assert purged is not None and purged.deleted_at is not None
    assert_problem(await app_client.get(f"{DRAFTS}/{draft['id']}", **kw(marie)), 404)
