"""Outbound webhooks through the outbox, delivered to a real HTTP receiver on 127.0.0.1.

Case event → ``case.event`` row → fan-out into one ``webhook.deliver`` row per subscription →
signed POST. Rows are performed with ``services.worker.outbox.perform`` as the arq job does; a
raised ``Retry`` is arq's backoff, and performing the row again is arq's next try.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from arq import Retry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents import webhooks
from documents.jobs import JobDeps
from documents.models import WebhookDelivery, WebhookSubscription
from documents.storage import FileStorage
from identity import service as ids
from identity.models import Tenant
from services.kernel.actor import Actor, Role
from services.kernel.clock import FrozenClock
from services.kernel.errors import ValidationFailed
from services.kernel.journal import JournalEntry
from services.kernel.settings import clear_settings_cache
from services.worker.outbox import perform, retry_failed
from services.worker.settings import WorkerConfig, all_handlers, build_worker
from tests.conftest import Seed
from tests.support.webhooks import Receiver, unused_port
from workflows.cases.models import Case, CaseEvent, Outbox
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
SUBMITTER = {
    "given_name": "Alex",
    "family_name": "Dupontel",
    "email": "alex.dupontel@example.org",
    "phone": "0611223344",
    "postal_address": "12 rue des Lilas, 69001 A",
}
PERSONAL = ("Alex", "Dupontel", "alex.dupontel@example.org", "0611223344", "rue des Lilas")


# ----- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _receivers_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test receivers listen on 127.0.0.1, refused by default."""
    monkeypatch.setenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    clear_settings_cache()


@pytest.fixture
def deps(engine: Engine, clock: FrozenClock, tmp_path: Path) -> JobDeps:
    return JobDeps(engine=engine, storage=FileStorage(tmp_path / "docs"), clock=clock)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await ids.authenticate(s, seed.instructor_token, now=clock.now())


async def admin_of(sm: SM, clock: FrozenClock, tenant_id: uuid.UUID) -> Actor:
    """A real agent with the admin role in the tenant (the seed has none)."""
    async with sm() as s, s.begin():
        tenant = await s.get(Tenant, tenant_id)
        assert tenant is not None
        agent = await ids.create_agent(
            s,
            now=clock.now(),
            email=f"admin-{uuid.uuid4().hex[:8]}@test.invalid",
            given_name="Ada",
            family_name="Admin",
            title="Administratrice",
        )
        await ids.grant_role(s, agent, Role.ADMIN, tenant, now=clock.now())
        return await ids.agent_actor(s, agent)


async def subscribe(
    sm: SM,
    clock: FrozenClock,
    admin: Actor,
    tenant_id: uuid.UUID,
    url: str,
    kinds: list[str] | None = None,
) -> webhooks.CreatedSubscription:
    async with sm() as s, s.begin():
        return await webhooks.create_subscription(
            s, admin, tenant_id=tenant_id, url=url, kinds=kinds or [], now=clock.now()
        )


async def open_case(
    sm: SM, engine: Engine, clock: FrozenClock, actor: Actor, tenant: str = "69001"
) -> uuid.UUID:
    async with sm() as s, s.begin():
        request = IntakeRequest(
            tenant=tenant,
            procedure_key="test.permit",
            channel="counter",
            submitter=dict(SUBMITTER),
            payload={"title": "Abri de jardin", "area_m2": 12},
            actor=actor,
        )
        return (await submit(s, engine, clock, request)).case_id


async def outbox_rows(sm: SM, kind: str) -> list[Outbox]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(Outbox).where(Outbox.kind == kind).order_by(Outbox.created_at, Outbox.id)
            )
        )


async def attempts_of(sm: SM, subscription_id: uuid.UUID | None = None) -> list[WebhookDelivery]:
    async with sm() as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.attempt, WebhookDelivery.id)
        if subscription_id is not None:
            stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
        return list(await s.scalars(stmt))


async def fan_out(sm: SM, deps: JobDeps) -> None:
    """Perform every owed ``case.event`` row (each must succeed)."""
    for row in await outbox_rows(sm, "case.event"):
        if row.status not in ("done", "failed"):
            assert await perform(sm, all_handlers(), deps, row.id) == "done"


async def deliver_all(sm: SM, deps: JobDeps) -> dict[uuid.UUID, str]:
    """Perform every owed ``webhook.deliver`` row once: id → "done" | "failed" | "retry"."""
    results: dict[uuid.UUID, str] = {}
    for row in await outbox_rows(sm, "webhook.deliver"):
        if row.status in ("done", "failed"):
            continue
        try:
            results[row.id] = await perform(sm, all_handlers(), deps, row.id)
        except Retry:
            results[row.id] = "retry"
    return results


async def pipeline(sm: SM, deps: JobDeps) -> dict[uuid.UUID, str]:
    await fan_out(sm, deps)
    return await deliver_all(sm, deps)


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Recomputed here from the documented recipe, independently of documents.webhooks."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def parse_signature(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(","))


# ----- fan-out -------------------------------------------------------------------------------------


async def test_every_case_event_is_offered_but_without_subscription_nothing_is_queued(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor, deps: JobDeps
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    async with sessionmaker() as s, s.begin():
        await CaseService(s, engine, clock).apply(case_id, "start", instructor)

    events = await outbox_rows(sessionmaker, "case.event")
    assert [r.payload["seq"] for r in events] == [1, 2]
    await fan_out(sessionmaker, deps)

    assert {r.status for r in await outbox_rows(sessionmaker, "case.event")} == {"done"}
    assert await outbox_rows(sessionmaker, "webhook.deliver") == []


async def test_one_signed_delivery_per_subscription_of_the_cases_tenant_only(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    admin_a = await admin_of(sessionmaker, clock, seed.commune_id)
    admin_b = await admin_of(sessionmaker, clock, seed.other_commune_id)
    first = await subscribe(sessionmaker, clock, admin_a, seed.commune_id, receiver.url)
    second = await subscribe(sessionmaker, clock, admin_a, seed.commune_id, receiver.url)
    await subscribe(sessionmaker, clock, admin_b, seed.other_commune_id, other_receiver.url)
    case_id = await open_case(sessionmaker, engine, clock, instructor)

    results = await pipeline(sessionmaker, deps)

    assert sorted(results.values()) == ["done", "done"]
    assert other_receiver.requests == []  # commune B's subscription hears nothing of commune A
    assert len(receiver.requests) == 2
    by_delivery = {r.headers["x-guichet-delivery"]: r for r in receiver.requests}
    rows = await outbox_rows(sessionmaker, "webhook.deliver")
    assert set(by_delivery) == {str(r.id) for r in rows}
    for created in (first, second):
        [row] = [r for r in rows if r.payload["subscription_id"] == str(created.subscription.id)]
        request = by_delivery[str(row.id)]
        assert row.case_id == case_id
        assert row.dedupe_key == f"webhook:{created.subscription.id}:{row.payload['event_id']}"
        # Each subscription's request is signed with its own secret.
        sig = parse_signature(request.headers["x-guichet-signature"])
        assert set(sig) == {"t", "v1"}
        assert sig["t"] == str(int(clock.now().timestamp()))
        assert sig["v1"] == expected_signature(created.secret, sig["t"], request.body)
        assert webhooks.verify_signature(
            created.secret, request.headers["x-guichet-signature"], request.body, now=clock.now()
        )
        other_secret = (second if created is first else first).secret
        assert sig["v1"] != expected_signature(other_secret, sig["t"], request.body)


async def test_the_request_carries_the_event_and_the_case_but_no_personal_data(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    clock.advance(timedelta(minutes=5))  # delivered later than the event occurred

    await pipeline(sessionmaker, deps)

    [request] = receiver.requests
    [row] = await outbox_rows(sessionmaker, "webhook.deliver")
    async with sessionmaker() as s:
        case = await s.get(Case, case_id)
        event = await s.scalar(select(CaseEvent).where(CaseEvent.case_id == case_id))
    assert case is not None and event is not None
    assert request.method == "POST"
    assert request.path == "/hooks/guichet?source=test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Guichet-Webhooks/1"
    assert request.headers["x-guichet-event"] == "case.opened"
    assert request.headers["x-guichet-delivery"] == str(row.id)
    body = request.json()
    assert body["id"] == str(row.id)
    assert body["type"] == "case.opened"
    assert body["occurred_at"] == (clock.now() - timedelta(minutes=5)).isoformat()
    assert body["tenant"] == "69001"
    assert body["case"] == {
        "id": str(case_id),
        "reference": case.reference,
        "procedure": "test.permit",
        "state": "submitted",
    }
    assert body["event"]["seq"] == 1
    assert body["event"]["to_state"] == "submitted"
    assert body["data"] == event.data  # the opening event holds nothing personal
    # The signature covers the raw body and the send time (not the event's time).
    sig = parse_signature(request.headers["x-guichet-signature"])
    assert sig["t"] == str(int(clock.now().timestamp()))
    assert sig["v1"] == expected_signature(created.secret, sig["t"], request.body)
    text = request.body.decode()
    for personal in PERSONAL:
        assert personal not in text, personal


async def test_personal_data_in_an_events_data_is_not_sent() -> None:
    data = {
        "transition": "accept",
        "input": {
            "reason": "Conforme au PLU",
            "submitter": {"given_name": "Alex", "email": "alex@example.org"},
            "contact": {"phone": "0611223344"},
            "notify": ["alex@example.org", "service"],
            "nested": [{"family_name": "Dupontel", "area_m2": 12}],
        },
        "text": "Bonjour Alex Dupontel, ...",
    }

    assert webhooks.public_data(data) == {
        "transition": "accept",
        "input": {"reason": "Conforme au PLU", "notify": ["service"], "nested": [{"area_m2": 12}]},
    }


async def test_kinds_filter_public_events_by_default_internal_ones_only_when_listed(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    everything = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    transitions = await subscribe(
        sessionmaker, clock, admin, seed.commune_id, receiver.url, ["case.transitioned"]
    )
    internal = await subscribe(
        sessionmaker, clock, admin, seed.commune_id, receiver.url, ["case.assigned", "case.message"]
    )
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    async with sessionmaker() as s, s.begin():
        service = CaseService(s, engine, clock)
        await service.apply(case_id, "start", instructor)  # public
        await service.assign(
            case_id, seed.instructor_id, instructor, directory=ids.IdentityDirectory()
        )  # internal
        await service.add_message(case_id, instructor, "Note interne", public=False)
        await service.add_message(case_id, instructor, "Votre dossier avance", public=True)

    await pipeline(sessionmaker, deps)

    received: dict[uuid.UUID, list[str]] = {}
    rows = {str(r.id): r for r in await outbox_rows(sessionmaker, "webhook.deliver")}
    for request in receiver.requests:
        row = rows[request.headers["x-guichet-delivery"]]
        received.setdefault(uuid.UUID(row.payload["subscription_id"]), []).append(
            request.headers["x-guichet-event"]
        )
    assert sorted(received[everything.subscription.id]) == [
        "case.message",  # the public one only
        "case.opened",
        "case.transitioned",
    ]
    assert received[transitions.subscription.id] == ["case.transitioned"]
    assert sorted(received[internal.subscription.id]) == [
        "case.assigned",
        "case.message",
        "case.message",
    ]
    for request in receiver.requests:  # message texts are the person's correspondence
        assert "Note interne" not in request.body.decode()
        assert "Votre dossier avance" not in request.body.decode()


async def test_fan_out_twice_queues_each_delivery_once(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    await fan_out(sessionmaker, deps)
    [event_row] = await outbox_rows(sessionmaker, "case.event")
    async with sessionmaker() as s, s.begin():
        reloaded = await s.get(Outbox, event_row.id)
        assert reloaded is not None
        reloaded.status = "enqueued"  # as if the "done" mark had been lost

    assert await perform(sessionmaker, all_handlers(), deps, event_row.id) == "done"

    assert len(await outbox_rows(sessionmaker, "webhook.deliver")) == 1


async def test_a_deactivated_subscription_gets_no_new_event(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    async with sessionmaker() as s, s.begin():
        await webhooks.deactivate_subscription(s, admin, created.subscription.id, now=clock.now())
    await open_case(sessionmaker, engine, clock, instructor)

    assert await pipeline(sessionmaker, deps) == {}
    assert receiver.requests == []


# ----- retries and failures ------------------------------------------------------------------------


async def test_a_500_is_retried_then_delivered_and_every_attempt_is_kept(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    await fan_out(sessionmaker, deps)
    [row] = await outbox_rows(sessionmaker, "webhook.deliver")

    assert await deliver_all(sessionmaker, deps) == {row.id: "retry"}
    clock.advance(timedelta(seconds=2))
    assert await deliver_all(sessionmaker, deps) == {row.id: "retry"}
    clock.advance(timedelta(seconds=4))
    assert await deliver_all(sessionmaker, deps) == {row.id: "done"}
    assert await deliver_all(sessionmaker, deps) == {}  # nothing owed any more

    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 204)]
    assert all(a.outbox_id == row.id for a in attempts)
    assert attempts[0].error is not None and "500" in attempts[0].error
    assert "test receiver" in attempts[0].error  # what the receiver answered, for the admin
    assert attempts[2].error is None
    assert all(a.duration_ms >= 0 for a in attempts)
    assert attempts[2].at == clock.now()
    [done] = await outbox_rows(sessionmaker, "webhook.deliver")
    assert (done.status, done.attempts, done.last_error) == ("done", 3, None)
    # The same delivery each time: same id, same body; signed again at each send.
    assert len(receiver.requests) == 3
    assert {r.headers["x-guichet-delivery"] for r in receiver.requests} == {str(row.id)}
    assert len({r.body for r in receiver.requests}) == 1
    stamps = [parse_signature(r.headers["x-guichet-signature"])["t"] for r in receiver.requests]
    assert stamps == sorted(set(stamps))


async def test_an_unreachable_receiver_records_each_failed_attempt(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    url = f"http://127.0.0.1:{unused_port()}/hook"
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, url)
    await open_case(sessionmaker, engine, clock, instructor)
    await fan_out(sessionmaker, deps)

    assert set((await deliver_all(sessionmaker, deps)).values()) == {"retry"}
    assert set((await deliver_all(sessionmaker, deps)).values()) == {"retry"}

    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, None), (2, None)]
    assert all(a.error and "connexion" in a.error.lower() for a in attempts)
    [row] = await outbox_rows(sessionmaker, "webhook.deliver")
    assert row.status == "enqueued"  # still owed
    assert row.last_error is not None


async def test_a_receiver_that_never_answers_times_out(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_WEBHOOK_TIMEOUT_SECONDS", "0.3")
    clear_settings_cache()
    receiver.hang = True
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    await fan_out(sessionmaker, deps)

    assert set((await deliver_all(sessionmaker, deps)).values()) == {"retry"}

    [attempt] = await attempts_of(sessionmaker, created.subscription.id)
    assert attempt.status_code is None
    assert attempt.error is not None and "délai" in attempt.error
    assert len(receiver.requests) == 1  # it did reach the receiver


async def test_after_the_last_attempt_the_delivery_is_failed_and_stays_visible(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_WEBHOOK_MAX_ATTEMPTS", "3")
    clear_settings_cache()
    receiver.fail_first = 100
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    await fan_out(sessionmaker, deps)
    [row] = await outbox_rows(sessionmaker, "webhook.deliver")

    assert await deliver_all(sessionmaker, deps) == {row.id: "retry"}
    assert await deliver_all(sessionmaker, deps) == {row.id: "retry"}
    assert await deliver_all(sessionmaker, deps) == {row.id: "failed"}  # no Retry: given up

    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "failed"
    assert len(receiver.requests) == 3  # never sent again
    [failed] = await outbox_rows(sessionmaker, "webhook.deliver")
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error is not None and "500" in failed.last_error
    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 500)]
    async with sessionmaker() as s:
        items, total = await webhooks.list_attempts(
            s, admin, created.subscription.id, limit=10, offset=0
        )
    assert total == 3
    assert [(i.attempt.attempt, i.delivery_status) for i in items] == [
        (3, "failed"),
        (2, "failed"),
        (1, "failed"),
    ]


async def test_a_failed_delivery_put_back_by_an_admin_is_numbered_on(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_WEBHOOK_MAX_ATTEMPTS", "1")
    clear_settings_cache()
    receiver.fail_first = 1
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    [result] = (await pipeline(sessionmaker, deps)).items()
    assert result[1] == "failed"

    async with sessionmaker() as s, s.begin():
        await retry_failed(s, result[0], clock, operator="test")  # guichet outbox retry
    assert await deliver_all(sessionmaker, deps) == {result[0]: "done"}

    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 204)]


async def test_a_redirect_is_a_failed_attempt(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    receiver.fail_first, receiver.fail_status = 1, 302
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)

    assert set((await pipeline(sessionmaker, deps)).values()) == {"retry"}
    assert set((await deliver_all(sessionmaker, deps)).values()) == {"done"}

    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 302), (2, 204)]
    assert len(receiver.requests) == 2


async def test_unsubscribing_stops_the_retries_still_owed(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    deps: JobDeps,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 1
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    await open_case(sessionmaker, engine, clock, instructor)
    assert set((await pipeline(sessionmaker, deps)).values()) == {"retry"}
    async with sessionmaker() as s, s.begin():
        await webhooks.deactivate_subscription(s, admin, created.subscription.id, now=clock.now())

    assert set((await deliver_all(sessionmaker, deps)).values()) == {"done"}

    assert len(receiver.requests) == 1
    assert len(await attempts_of(sessionmaker, created.subscription.id)) == 1


# ----- signatures, URLs, journal -----------------------------------------------------------------


def test_receivers_reject_a_tampered_body_a_wrong_secret_and_an_old_timestamp(
    clock: FrozenClock,
) -> None:
    body = json.dumps({"id": "x", "type": "case.opened"}).encode()
    now = int(clock.now().timestamp())
    header = webhooks.signature_header("whsec_test", now, body)

    assert webhooks.verify_signature("whsec_test", header, body, now=clock.now())
    assert not webhooks.verify_signature("whsec_test", header, body + b" ", now=clock.now())
    assert not webhooks.verify_signature("whsec_other", header, body, now=clock.now())
    assert webhooks.verify_signature(
        "whsec_test", header, body, now=clock.now() + timedelta(minutes=4)
    )
    assert not webhooks.verify_signature(
        "whsec_test", header, body, now=clock.now() + timedelta(minutes=6)
    )  # a replay
    assert not webhooks.verify_signature("whsec_test", "v1=abc", body, now=clock.now())
    # A later signature scheme may be added beside v1 without breaking today's receivers.
    assert webhooks.verify_signature("whsec_test", header + ",v2=future", body, now=clock.now())


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.org/hook", "http"),
        ("file:///etc/passwd", "http"),
        ("https://user:pass@example.org/hook", "identifiants"),
        ("https://token@example.org/hook", "identifiants"),
        ("https:///hook", "hôte"),
        ("example.org/hook", "http"),
        ("https://example.org:99999/hook", "URL valide"),
        ("https://exa mple.org/hook", "espace"),
        ("https://example.org/hook#frag", "fragment"),
    ],
)
async def test_bad_urls_are_refused_at_subscription_time(
    sessionmaker: SM, clock: FrozenClock, seed: Seed, url: str, problem: str
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    with pytest.raises(ValidationFailed) as refused:
        await subscribe(sessionmaker, clock, admin, seed.commune_id, url)
    assert problem in refused.value.detail
    assert refused.value.errors[0]["field"] == "url"
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_local_and_private_addresses_are_refused_unless_the_platform_allows_them(
    sessionmaker: SM,
    clock: FrozenClock,
    seed: Seed,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES")
    clear_settings_cache()
    admin = await admin_of(sessionmaker, clock, seed.commune_id)

    with pytest.raises(ValidationFailed) as refused:
        await subscribe(sessionmaker, clock, admin, seed.commune_id, url)
    assert "privées" in refused.value.detail
    assert refused.value.errors[0]["type"] == "private_address"

    monkeypatch.setenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    clear_settings_cache()
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, url)
    assert created.subscription.url == url


async def test_public_hosts_are_accepted_as_given(
    sessionmaker: SM, clock: FrozenClock, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES")
    clear_settings_cache()
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    for url in (
        "https://crm.example.org/hooks/guichet?tenant=69001",
        "http://8.8.8.8:8443/in",
        "https://[2001:4860:4860::8888]/in",
    ):
        created = await subscribe(sessionmaker, clock, admin, seed.commune_id, f"  {url} ")
        assert created.subscription.url == url


async def test_subscribing_and_unsubscribing_are_journaled_without_the_query_string(
    sessionmaker: SM, clock: FrozenClock, seed: Seed
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(
        sessionmaker,
        clock,
        admin,
        seed.commune_id,
        "https://crm.example.org/in?token=s3cr3t",
        ["case.opened"],
    )
    async with sessionmaker() as s, s.begin():
        await webhooks.deactivate_subscription(s, admin, created.subscription.id, now=clock.now())
        await webhooks.deactivate_subscription(  # twice: journaled once
            s, admin, created.subscription.id, now=clock.now()
        )

    async with sessionmaker() as s:
        entries = list(
            await s.scalars(
                select(JournalEntry)
                .where(JournalEntry.event.like("admin.webhook.%"))
                .order_by(JournalEntry.event)
            )
        )
    assert [e.event for e in entries] == ["admin.webhook.created", "admin.webhook.deleted"]
    for entry in entries:
        assert entry.actor_id == admin.id
        assert entry.tenant_id == seed.commune_id
        assert entry.data["subscription_id"] == str(created.subscription.id)
        assert entry.data["url"] == "https://crm.example.org/in"
        assert "s3cr3t" not in json.dumps(entry.data)
    assert entries[0].data["event_kinds"] == ["case.opened"]


# ----- with a real arq worker ------------------------------------------------------------------------


async def test_the_worker_fans_out_and_delivers_on_its_own(
    sessionmaker: SM,
    database_url: str,
    redis_url: str,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    instructor: Actor,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    admin = await admin_of(sessionmaker, clock, seed.commune_id)
    created = await subscribe(sessionmaker, clock, admin, seed.commune_id, receiver.url)
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    config = WorkerConfig(
        database_url=database_url,
        redis_url=redis_url,
        clock=clock,
        engine=engine,
        storage=FileStorage(tmp_path / "docs"),
    )

    for _ in range(6):  # a row written by one pass (event, delivery) is relayed by the next
        worker = build_worker(config, burst=True, poll_delay=0.05)
        try:
            await worker.async_run()
        finally:
            await worker.close()
        async with sessionmaker() as s:
            owed = await s.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.status.in_(("pending", "enqueued")))
            )
        if not owed:
            break

    # case.opened, and whatever public events the case got meanwhile (e.g. its ARE rendered).
    bodies = [r.json() for r in receiver.requests]
    assert "case.opened" in [b["type"] for b in bodies]
    assert {b["case"]["id"] for b in bodies} == {str(case_id)}
    attempts = await attempts_of(sessionmaker, created.subscription.id)
    assert {(a.attempt, a.status_code) for a in attempts} == {(1, 204)}
    assert len(attempts) == len(receiver.requests)
    assert {r.status for r in await outbox_rows(sessionmaker, "webhook.deliver")} == {"done"}


# ----- the outbox's failure hook (services.worker.outbox.perform) -----------------------------------


class _Failed(Exception):
    def __init__(self, *, give_up: bool, broken: bool = False) -> None:
        super().__init__("receiver said no")
        self.give_up = give_up
        self.broken = broken

    async def record_failure(self, session: AsyncSession, row: Outbox) -> None:
        session.add(
            JournalEntry(at=row.created_at, event="test.failure.recorded", data={"id": str(row.id)})
        )
        await session.flush()
        if self.broken:
            raise RuntimeError("the hook itself fails")
        if self.give_up:
            row.status = "failed"


async def _add_row(sm: SM, clock: FrozenClock) -> uuid.UUID:
    async with sm() as s, s.begin():
        row = Outbox(
            case_id=None,
            kind="test.hook",
            payload={},
            dedupe_key=f"test.hook:{uuid.uuid4()}",
            status="pending",
            attempts=0,
            created_at=clock.now(),
        )
        s.add(row)
        await s.flush()
        return row.id


async def _recorded(sm: SM) -> int:
    async with sm() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.event == "test.failure.recorded")
            )
            or 0
        )


@pytest.mark.parametrize("give_up", [False, True])
async def test_a_handlers_failure_record_is_committed_and_may_give_up(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps, give_up: bool
) -> None:
    async def handler(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
        session.add(JournalEntry(at=clock.now(), event="test.rolled.back", data={}))
        raise _Failed(give_up=give_up)

    row_id = await _add_row(sessionmaker, clock)

    if give_up:
        assert await perform(sessionmaker, {"test.hook": handler}, deps, row_id) == "failed"
    else:
        with pytest.raises(Retry):
            await perform(sessionmaker, {"test.hook": handler}, deps, row_id)

    assert await _recorded(sessionmaker) == 1
    async with sessionmaker() as s:
        row = await s.get(Outbox, row_id)
        rolled_back = await s.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.event == "test.rolled.back")
        )
    assert rolled_back == 0  # the handler's own writes are rolled back
    assert row is not None
    assert row.status == ("failed" if give_up else "enqueued")
    assert row.last_error is not None and "receiver said no" in row.last_error


async def test_a_failing_failure_record_never_hides_the_handlers_error(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps
) -> None:
    async def handler(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
        raise _Failed(give_up=True, broken=True)

    row_id = await _add_row(sessionmaker, clock)

    with pytest.raises(Retry):  # the hook could not give up: an ordinary retry
        await perform(sessionmaker, {"test.hook": handler}, deps, row_id)

    assert await _recorded(sessionmaker) == 0  # its savepoint was rolled back
    async with sessionmaker() as s:
        row = await s.get(Outbox, row_id)
    assert row is not None
    assert row.status == "enqueued"
    assert row.last_error is not None and "receiver said no" in row.last_error
