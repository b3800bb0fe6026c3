"""The outbox: side effects written with the case, relayed to arq, performed once, never lost.

Real database, real Redis (arq), real weasyprint. The relay and the job run with the FrozenClock, so
leases expire when the test says so.

Opening a test.permit case writes three rows: the ARE to render (CRPA R112-11-1, queued by intake
for every case), the procedure's own récépissé (its ``on_open`` action) and the ``case.event`` row
of the ``case.opened`` event (webhook fan-out). A submitter with an e-mail address adds the AEE mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import ArqRedis, Retry, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents.jobs import JobDeps
from documents.models import StoredDocument
from documents.storage import FileStorage
from identity.service import authenticate
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict, NotFound
from services.kernel.journal import JournalEntry
from services.kernel.settings import redis_settings
from services.worker import outbox
from services.worker.outbox import MAX_ATTEMPTS, job_id, perform, relay, retry_failed
from services.worker.settings import (
    WorkerConfig,
    all_failure_handlers,
    all_handlers,
    build_worker,
    stop_worker,
)
from tests.conftest import Seed
from workflows.cases import repository
from workflows.cases.models import Case, CaseEvent, Outbox, ReferenceCounter
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
LEASE = timedelta(minutes=2)
REQUESTED_BY = {"name": "Agent instr", "title": "Instructeur"}  # the seed's instructor


@pytest.fixture
def queue() -> str:
    return redis_settings().redis_queue


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    yield pool
    await pool.aclose()


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage(tmp_path / "documents")


@pytest.fixture
def deps(engine: Engine, storage: FileStorage, clock: FrozenClock) -> JobDeps:
    return JobDeps(engine=engine, storage=storage, clock=clock)


@pytest.fixture
def unwritable(tmp_path: Path) -> FileStorage:
    """A storage that cannot be written. Tests run as root, which ignores permissions: its root is
    put under a regular file instead, so creating any directory fails with an OSError."""
    (tmp_path / "a-file").write_bytes(b"not a directory")
    return FileStorage(tmp_path / "a-file" / "documents")


@pytest.fixture
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await authenticate(s, seed.instructor_token, now=clock.now())


def permit(actor: Actor, **submitter: str) -> IntakeRequest:
    return IntakeRequest(
        tenant="69001",
        procedure_key="test.permit",
        channel="counter",
        submitter={
            "given_name": "Alex",
            "family_name": "Dupont",
            "phone": "0600000000",
            **submitter,
        },
        payload={"title": "Abri de jardin", "area_m2": 12},
        actor=actor,
    )


async def open_case(
    sm: SM, engine: Engine, clock: FrozenClock, actor: Actor, **submitter: str
) -> uuid.UUID:
    async with sm() as s, s.begin():
        return (await submit(s, engine, clock, permit(actor, **submitter))).case_id


async def rows(sm: SM, **where: Any) -> list[Outbox]:
    async with sm() as s:
        stmt = select(Outbox).order_by(Outbox.created_at, Outbox.dedupe_key)
        for key, value in where.items():
            stmt = stmt.where(getattr(Outbox, key) == value)
        return list(await s.scalars(stmt))


async def only_row(sm: SM, **where: Any) -> Outbox:
    found = await rows(sm, **where)
    assert len(found) == 1, found
    return found[0]


async def render_row(sm: SM, case_id: uuid.UUID, kind: str = "are") -> Outbox:
    return await only_row(sm, dedupe_key=f"document:{case_id}:{kind}:1")


async def documents(sm: SM) -> list[StoredDocument]:
    async with sm() as s:
        return list(await s.scalars(select(StoredDocument).order_by(StoredDocument.kind)))


async def events(sm: SM, case_id: uuid.UUID) -> list[CaseEvent]:
    async with sm() as s:
        return await repository.timeline(s, case_id)


async def case_row(sm: SM, case_id: uuid.UUID) -> Case:
    async with sm() as s:
        case = await s.get(Case, case_id)
        assert case is not None
        return case


async def add_row(sm: SM, clock: FrozenClock, kind: str, payload: dict[str, Any]) -> uuid.UUID:
    async with sm() as s, s.begin():
        row = Outbox(
            case_id=None,
            kind=kind,
            payload=payload,
            dedupe_key=f"{kind}:{uuid.uuid4()}",
            status="pending",
            attempts=0,
            created_at=clock.now(),
        )
        s.add(row)
        await s.flush()
        return row.id


async def set_attempts(sm: SM, row_id: uuid.UUID, attempts: int) -> None:
    async with sm() as s, s.begin():
        reloaded = await s.get(Outbox, row_id)
        assert reloaded is not None
        reloaded.attempts = attempts


async def do_relay(sm: SM, redis: ArqRedis, clock: FrozenClock, queue: str) -> int:
    return await relay(sm, redis, clock, lease=LEASE, batch=50, queue_name=queue)


async def job_status(redis: ArqRedis, outbox_id: uuid.UUID, queue: str) -> JobStatus:
    return await Job(job_id(outbox_id), redis, _queue_name=queue).status()


async def do_perform(sm: SM, deps: JobDeps, row_id: uuid.UUID) -> str:
    return await perform(sm, all_handlers(), deps, row_id, on_failure=all_failure_handlers())


# ----- written with the case ---------------------------------------------------------------------


async def test_opening_a_case_writes_its_acknowledgement_document_and_event_rows(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    [opened] = await events(sessionmaker, case_id)

    found = await rows(sessionmaker)
    assert [(r.kind, r.dedupe_key, r.payload) for r in found] == [
        (
            "case.event",
            f"case.event:{opened.id}",
            {"case_id": str(case_id), "event_id": str(opened.id), "seq": 1},
        ),
        (
            "document.render",
            f"document:{case_id}:are:1",
            {"case_id": str(case_id), "kind": "are", "seq": 1, "params": {}},
        ),
        (
            "document.render",
            f"document:{case_id}:recepisse:1",
            {
                "case_id": str(case_id),
                "kind": "recepisse",
                "seq": 1,
                "params": {"requested_by": REQUESTED_BY},  # the letter's signatory (L111-2)
            },
        ),
    ]
    for row in found:
        assert row.case_id == case_id
        assert row.status == "pending"
        assert row.attempts == 0
        assert row.lease_until is None
        assert row.created_at == clock.now()


async def test_an_email_address_adds_the_aee_mail_unless_postal_was_chosen(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    by_mail = await open_case(sessionmaker, engine, clock, instructor, email="alex@example.org")
    by_post = await open_case(
        sessionmaker, engine, clock, instructor, email="alex@example.org", notification="postal"
    )

    [aee] = await rows(sessionmaker, kind="notification.send")
    assert aee.case_id == by_mail
    assert aee.payload == {"case_id": str(by_mail), "template": "aee"}
    assert aee.dedupe_key == f"notification:{by_mail}:aee"
    assert [r.dedupe_key for r in await rows(sessionmaker, case_id=by_post)] == sorted(
        [
            f"case.event:{(await events(sessionmaker, by_post))[0].id}",
            f"document:{by_post}:are:1",
            f"document:{by_post}:recepisse:1",
        ]
    )


async def test_the_rows_are_visible_in_the_case_transaction_before_commit(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    async with sessionmaker() as s, s.begin():
        result = await submit(s, engine, clock, permit(instructor))
        await s.flush()
        pending = list(await s.scalars(select(Outbox).where(Outbox.case_id == result.case_id)))
        assert sorted((r.kind, r.payload.get("kind")) for r in pending) == [
            ("case.event", None),
            ("document.render", "are"),
            ("document.render", "recepisse"),
        ]


async def test_a_rolled_back_intake_leaves_neither_case_nor_row(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    class Boom(Exception):
        pass

    async def submit_then_fail() -> None:
        async with sessionmaker() as s, s.begin():
            await submit(s, engine, clock, permit(instructor))
            raise Boom

    with pytest.raises(Boom):
        await submit_then_fail()

    async with sessionmaker() as s:
        for model in (Case, CaseEvent, Outbox, ReferenceCounter):
            assert await s.scalar(select(func.count()).select_from(model)) == 0, model


async def test_each_decision_writes_its_own_document_row_and_event_rows(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    async with sessionmaker() as s, s.begin():
        service = CaseService(s, engine, clock)
        await service.apply(case_id, "start", instructor)
        await service.apply(case_id, "request_pieces", instructor, {"pieces": ["plan"]})

    found = sorted(
        await rows(sessionmaker, kind="document.render"),
        key=lambda r: (r.payload["seq"], r.payload["kind"]),
    )
    assert [(r.payload["kind"], r.payload["seq"]) for r in found] == [
        ("are", 1),
        ("recepisse", 1),
        ("pieces_letter", 3),
    ]
    assert found[2].payload["params"] == {"requested_by": REQUESTED_BY, "pieces": ["plan"]}
    fan_out = await rows(sessionmaker, kind="case.event")
    assert sorted(r.payload["seq"] for r in fan_out) == [1, 2, 3]
    assert {r.payload["event_id"] for r in fan_out} == {
        str(e.id) for e in await events(sessionmaker, case_id)
    }


# ----- relay -------------------------------------------------------------------------------------


async def test_relay_enqueues_each_row_with_its_outbox_id(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    pending = await rows(sessionmaker)
    assert len(pending) == 3

    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3

    assert await arq_redis.zcard(queue) == 3
    for row in pending:
        assert await arq_redis.exists(f"arq:job:outbox:{row.id}") == 1
        assert await job_status(arq_redis, row.id, queue) is JobStatus.queued
        info = await Job(job_id(row.id), arq_redis, _queue_name=queue).info()
        assert info is not None
        assert info.function == outbox.JOB_NAME
        assert info.args == (str(row.id),)
    for enqueued in await rows(sessionmaker):
        assert enqueued.status == "enqueued"
        assert enqueued.lease_until == clock.now() + LEASE
        assert enqueued.attempts == 0


async def test_a_second_relay_within_the_lease_enqueues_nothing(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3
    leases = [r.lease_until for r in await rows(sessionmaker)]

    clock.advance(LEASE - timedelta(seconds=1))
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0

    assert await arq_redis.zcard(queue) == 3
    assert [r.lease_until for r in await rows(sessionmaker)] == leases


async def test_relaying_again_after_the_lease_never_duplicates_a_queued_job(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3

    clock.advance(LEASE)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3  # leases renewed

    assert await arq_redis.zcard(queue) == 3
    assert {r.lease_until for r in await rows(sessionmaker)} == {clock.now() + LEASE}


# ----- performing ---------------------------------------------------------------------------------


async def test_perform_renders_stores_and_links_the_are_in_the_case_history(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    storage: FileStorage,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    version = (await case_row(sessionmaker, case_id)).version
    row = await render_row(sessionmaker, case_id)
    clock.advance(timedelta(seconds=3))

    assert await do_perform(sessionmaker, deps, row.id) == "done"

    [doc] = await documents(sessionmaker)
    assert (doc.case_id, doc.kind, doc.seq) == (case_id, "are", 1)
    assert doc.content_type == "application/pdf"
    assert doc.created_at == clock.now()
    assert doc.storage_key == doc.sha256
    stored = storage.path_of(doc.storage_key).read_bytes()
    assert stored.startswith(b"%PDF")
    assert hashlib.sha256(stored).hexdigest() == doc.sha256
    assert doc.size == len(stored)
    assert await storage.get(doc.storage_key, sha256=doc.sha256) == stored
    # The case's history says so, in the same transaction, chained to the previous event.
    history = await events(sessionmaker, case_id)
    assert [(e.seq, e.kind) for e in history] == [(1, "case.opened"), (2, "document.generated")]
    generated = history[1]
    assert generated.data == {
        "document_id": str(doc.id),
        "kind": "are",
        "title": doc.title,
        "sha256": doc.sha256,
    }
    assert generated.public is True
    assert generated.actor_kind == "system"
    assert generated.at == clock.now()
    assert repository.verify_chain(history)
    case = await case_row(sessionmaker, case_id)
    assert (case.state, case.version) == ("submitted", version)  # the state is not touched
    # Its fan-out row, and the ARE mail to the person, are queued with it.
    assert (await only_row(sessionmaker, dedupe_key=f"case.event:{generated.id}")).payload == {
        "case_id": str(case_id),
        "event_id": str(generated.id),
        "seq": 2,
    }
    mail = await only_row(sessionmaker, kind="notification.send")
    assert mail.payload == {"case_id": str(case_id), "template": "are", "documents": [str(doc.id)]}
    done = await render_row(sessionmaker, case_id)
    assert done.status == "done"
    assert done.done_at == clock.now()
    assert done.attempts == 1
    assert done.last_error is None


async def test_performing_twice_changes_nothing(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)
    assert await do_perform(sessionmaker, deps, row.id) == "done"
    first = await documents(sessionmaker)
    history = await events(sessionmaker, case_id)
    all_rows = [(r.id, r.status) for r in await rows(sessionmaker)]

    clock.advance(timedelta(hours=1))
    assert await do_perform(sessionmaker, deps, row.id) == "done"

    assert [(d.id, d.sha256) for d in await documents(sessionmaker)] == [
        (d.id, d.sha256) for d in first
    ]
    assert [e.hash for e in await events(sessionmaker, case_id)] == [e.hash for e in history]
    assert [(r.id, r.status) for r in await rows(sessionmaker)] == all_rows
    again = await render_row(sessionmaker, case_id)
    assert again.attempts == 1
    assert again.done_at == clock.now() - timedelta(hours=1)
    async with sessionmaker() as s, s.begin():  # the other rows are someone else's business
        for other in await s.scalars(select(Outbox).where(Outbox.id != row.id)):
            other.status = "done"
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0  # done rows stay done


async def test_the_handler_itself_is_idempotent_on_case_kind_and_seq(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    """Even if a row is performed again while not marked done, no second document or event."""
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)
    assert await do_perform(sessionmaker, deps, row.id) == "done"
    async with sessionmaker() as s, s.begin():
        reloaded = await s.get(Outbox, row.id)
        assert reloaded is not None
        reloaded.status = "enqueued"  # as if the "done" mark had been lost

    assert await do_perform(sessionmaker, deps, row.id) == "done"

    assert len(await documents(sessionmaker)) == 1
    assert [e.kind for e in await events(sessionmaker, case_id)] == [
        "case.opened",
        "document.generated",
    ]
    assert len(await rows(sessionmaker, kind="notification.send")) == 1
    assert (await render_row(sessionmaker, case_id)).attempts == 2


async def test_stored_documents_are_unique_on_case_kind_and_seq(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    assert await do_perform(sessionmaker, deps, (await render_row(sessionmaker, case_id)).id) == (
        "done"
    )
    [doc] = await documents(sessionmaker)

    async with sessionmaker() as s:
        s.add(
            StoredDocument(
                case_id=doc.case_id,
                kind=doc.kind,
                seq=doc.seq,
                title="Doublon",
                sha256="0" * 64,
                size=1,
                content_type="application/pdf",
                storage_key="0" * 64,
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError, match=r"(?i)unique"):
            await s.commit()


async def test_two_documents_of_one_case_are_two_events_in_order(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    for kind in ("recepisse", "are"):
        assert (
            await do_perform(sessionmaker, deps, (await render_row(sessionmaker, case_id, kind)).id)
            == "done"
        )

    docs = {d.kind: d for d in await documents(sessionmaker)}
    history = await events(sessionmaker, case_id)
    assert [(e.seq, e.kind, e.data.get("kind")) for e in history] == [
        (1, "case.opened", None),
        (2, "document.generated", "recepisse"),
        (3, "document.generated", "are"),
    ]
    assert [e.data["document_id"] for e in history[1:]] == [
        str(docs["recepisse"].id),
        str(docs["are"].id),
    ]
    assert repository.verify_chain(history)


# ----- failures -------------------------------------------------------------------------------------


async def test_a_kind_without_handler_ends_failed_with_its_error(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps, arq_redis: ArqRedis, queue: str
) -> None:
    row_id = await add_row(sessionmaker, clock, "sms.send", {"to": "0600000000"})

    assert await do_perform(sessionmaker, deps, row_id) == "failed"

    row = await only_row(sessionmaker)
    assert row.status == "failed"
    assert row.last_error is not None
    assert "sms.send" in row.last_error
    assert row.attempts == 1
    clock.advance(LEASE * 10)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0  # not retried forever


async def test_a_failing_handler_keeps_the_row_for_a_retry_then_gives_up(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps
) -> None:
    missing_case = str(uuid.uuid4())
    row_id = await add_row(
        sessionmaker,
        clock,
        "document.render",
        {"case_id": missing_case, "kind": "are", "seq": 1, "params": {}},
    )

    with pytest.raises(Retry) as retry:
        await do_perform(sessionmaker, deps, row_id)
    assert retry.value.defer_score == 2_000  # milliseconds: 2 s, then 4, 8 ... up to 5 min

    row = await only_row(sessionmaker)
    assert row.status == "enqueued"  # still owed: the relay or arq will try again
    assert row.attempts == 1
    assert row.last_error is not None
    assert missing_case in row.last_error

    await set_attempts(sessionmaker, row_id, MAX_ATTEMPTS - 1)
    assert await do_perform(sessionmaker, deps, row_id) == "failed"
    row = await only_row(sessionmaker)
    assert row.status == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert await documents(sessionmaker) == []


def test_the_backoff_doubles_up_to_five_minutes() -> None:
    assert [outbox.backoff(n) for n in range(1, MAX_ATTEMPTS + 1)] == [
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
    ]
    assert outbox.backoff(9) == 300
    assert outbox.backoff(30) == 300


async def test_unwritable_storage_fails_visibly_leaves_the_case_intact_and_retries_once_fixed(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    storage: FileStorage,
    unwritable: FileStorage,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    before = await case_row(sessionmaker, case_id)
    history = await events(sessionmaker, case_id)
    row = await render_row(sessionmaker, case_id)
    broken = JobDeps(engine=engine, storage=unwritable, clock=clock)

    # 1. The storage refuses the write: the job fails, visibly, and is owed a retry.
    with pytest.raises(Retry):
        await do_perform(sessionmaker, broken, row.id)
    failed_once = await render_row(sessionmaker, case_id)
    assert failed_once.status == "enqueued"
    assert failed_once.attempts == 1
    assert failed_once.last_error is not None
    assert "NotADirectoryError" in failed_once.last_error
    # 2. Nothing of the attempt reached the case: no document, no event, no new row.
    assert await documents(sessionmaker) == []
    assert [e.hash for e in await events(sessionmaker, case_id)] == [e.hash for e in history]
    after = await case_row(sessionmaker, case_id)
    assert (after.state, after.version, after.updated_at) == (
        before.state,
        before.version,
        before.updated_at,
    )
    assert len(await rows(sessionmaker)) == 3

    # 3. Storage back: the next try succeeds, once.
    clock.advance(timedelta(seconds=2))
    fixed = JobDeps(engine=engine, storage=storage, clock=clock)
    assert await do_perform(sessionmaker, fixed, row.id) == "done"
    assert await do_perform(sessionmaker, fixed, row.id) == "done"
    [doc] = await documents(sessionmaker)
    assert (doc.case_id, doc.kind, doc.seq) == (case_id, "are", 1)
    assert storage.path_of(doc.storage_key).read_bytes().startswith(b"%PDF")
    done = await render_row(sessionmaker, case_id)
    assert (done.status, done.attempts, done.last_error) == ("done", 2, None)
    final = await events(sessionmaker, case_id)
    assert [e.kind for e in final] == ["case.opened", "document.generated"]
    assert repository.verify_chain(final)
    assert (await case_row(sessionmaker, case_id)).state == before.state


async def test_after_the_last_try_agents_see_document_failed_and_an_admin_retry_succeeds(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    storage: FileStorage,
    unwritable: FileStorage,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    state = (await case_row(sessionmaker, case_id)).state
    row = await render_row(sessionmaker, case_id)
    broken = JobDeps(engine=engine, storage=unwritable, clock=clock)
    await set_attempts(sessionmaker, row.id, MAX_ATTEMPTS - 1)

    assert await do_perform(sessionmaker, broken, row.id) == "failed"

    failed = await render_row(sessionmaker, case_id)
    assert (failed.status, failed.attempts) == ("failed", MAX_ATTEMPTS)
    assert failed.last_error is not None and "NotADirectoryError" in failed.last_error
    history = await events(sessionmaker, case_id)
    assert [e.kind for e in history] == ["case.opened", "document.failed"]
    event = history[1]
    assert event.public is False  # agents see it; the person does not
    assert event.actor_kind == "system"
    assert event.data == {
        "kind": "are",
        "seq": 1,
        "outbox_id": str(row.id),
        "attempts": MAX_ATTEMPTS,
        "error": failed.last_error[:500],
    }
    assert repository.verify_chain(history)
    assert (await case_row(sessionmaker, case_id)).state == state
    assert await documents(sessionmaker) == []
    # Performing a failed row again does nothing (only an administrator puts it back).
    assert await do_perform(sessionmaker, broken, row.id) == "failed"
    assert len(await events(sessionmaker, case_id)) == 2

    # The administrator fixes the storage and retries the row.
    async with sessionmaker() as s, s.begin():
        retried = await retry_failed(s, row.id, clock, operator="admin")
        assert (retried.status, retried.attempts) == ("pending", 0)
    async with sessionmaker() as s:
        [entry] = await s.scalars(
            select(JournalEntry).where(JournalEntry.event == "admin.outbox.retried")
        )
    assert entry.data == {
        "outbox_id": str(row.id),
        "kind": "document.render",
        "case_id": str(case_id),
        "attempts": MAX_ATTEMPTS,
        "last_error": failed.last_error,
        "operator": "admin",
    }
    assert entry.tenant_id == (await case_row(sessionmaker, case_id)).tenant_id

    fixed = JobDeps(engine=engine, storage=storage, clock=clock)
    assert await do_perform(sessionmaker, fixed, row.id) == "done"
    done = await render_row(sessionmaker, case_id)
    assert (done.status, done.attempts, done.last_error) == ("done", 1, None)
    history = await events(sessionmaker, case_id)
    assert [e.kind for e in history] == ["case.opened", "document.failed", "document.generated"]
    assert repository.verify_chain(history)
    assert len(await documents(sessionmaker)) == 1


async def test_only_failed_rows_can_be_retried(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)

    async with sessionmaker() as s:
        with pytest.raises(Conflict, match="pending"):
            await retry_failed(s, row.id, clock)
        with pytest.raises(NotFound):
            await retry_failed(s, uuid.uuid4(), clock)
    assert (await render_row(sessionmaker, case_id)).status == "pending"


async def test_a_failure_handler_that_fails_does_not_keep_the_row_from_failing(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps
) -> None:
    row_id = await add_row(sessionmaker, clock, "sms.send", {"to": "0600000000"})

    async def broken_hook(session: AsyncSession, row: Outbox, deps: JobDeps, error: str) -> None:
        session.add(
            Outbox(
                kind="hook.side-effect",
                payload={},
                dedupe_key="hook",
                status="pending",
                attempts=0,
                created_at=clock.now(),
            )
        )
        await session.flush()
        raise RuntimeError("hook broken")

    status = await perform(
        sessionmaker, all_handlers(), deps, row_id, on_failure={"sms.send": broken_hook}
    )

    assert status == "failed"
    row = await only_row(sessionmaker)  # the hook's half-done work was rolled back
    assert (row.id, row.status) == (row_id, "failed")


# ----- with a real arq worker ------------------------------------------------------------------------


async def run_worker_burst(
    database_url: str,
    redis_url: str,
    clock: FrozenClock,
    engine: Engine,
    storage: FileStorage | None = None,
) -> None:
    worker = build_worker(
        WorkerConfig(
            database_url=database_url,
            redis_url=redis_url,
            clock=clock,
            engine=engine,
            storage=storage,
        ),
        burst=True,
        poll_delay=0.05,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def run_until_settled(
    sm: SM, database_url: str, redis_url: str, clock: FrozenClock, engine: Engine
) -> None:
    """Each burst relays what is pending when it starts and performs it; rows the jobs queue
    (their events' fan-out, mails) are taken by a later pass, until nothing is pending."""
    for _ in range(5):
        await run_worker_burst(database_url, redis_url, clock, engine)
        if not await rows(sm, status="pending"):
            return
    pytest.fail(f"still pending: {[(r.kind, r.payload) for r in await rows(sm, status='pending')]}")


async def test_rows_lost_by_redis_are_enqueued_again_after_the_lease_and_performed_once(
    sessionmaker: SM,
    database_url: str,
    redis_url: str,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
    tmp_path: Path,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)
    first_rows = {r.id for r in await rows(sessionmaker)}
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3

    await arq_redis.flushdb()  # Redis loses everything

    assert await arq_redis.zcard(queue) == 0
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0  # leases still running
    clock.advance(LEASE)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 3
    assert await job_status(arq_redis, row.id, queue) is JobStatus.queued

    await run_until_settled(sessionmaker, database_url, redis_url, clock, engine)

    after = await rows(sessionmaker)
    assert {(r.status, r.attempts) for r in after if r.id in first_rows} == {("done", 1)}
    assert row.id in first_rows
    docs = {d.kind: d for d in await documents(sessionmaker)}
    assert sorted(docs) == ["are", "recepisse"]
    stored = await FileStorage(tmp_path / "data" / "documents").get(  # GUICHET_DATA_DIR
        docs["are"].storage_key, sha256=docs["are"].sha256
    )
    assert stored.startswith(b"%PDF")
    # What the jobs queued was done too: the ARE mail (a letter to print here: no e-mail address)
    # and the fan-out of every later event (two documents generated, the notification's own).
    history = await events(sessionmaker, case_id)
    later = [e.kind for e in history[1:]]
    assert later.count("document.generated") == 2
    assert [k for k in later if k != "document.generated"] == [
        k for k in later if k.startswith("notification.")
    ]
    assert repository.verify_chain(history)
    assert sorted((r.kind, r.status) for r in after if r.id not in first_rows) == sorted(
        [("case.event", "done")] * len(later) + [("notification.send", "done")]
    )
    assert await arq_redis.zcard(queue) == 0


async def test_the_worker_relays_and_performs_pending_rows_on_its_own(
    sessionmaker: SM,
    database_url: str,
    redis_url: str,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
) -> None:
    case_ids = {await open_case(sessionmaker, engine, clock, instructor) for _ in range(3)}

    await run_until_settled(sessionmaker, database_url, redis_url, clock, engine)

    assert {r.status for r in await rows(sessionmaker)} == {"done"}
    docs = await documents(sessionmaker)
    assert sorted((d.case_id, d.kind, d.seq) for d in docs) == sorted(
        (c, k, 1) for c in case_ids for k in ("are", "recepisse")
    )
    offered = 0
    for case_id in case_ids:
        history = await events(sessionmaker, case_id)
        generated = [e.data["kind"] for e in history if e.kind == "document.generated"]
        assert sorted(generated) == ["are", "recepisse"]
        assert history[0].kind == "case.opened"
        assert {e.kind for e in history[1:] if e.kind != "document.generated"} <= {
            "notification.sent",
            "notification.queued_for_print",
        }
        assert repository.verify_chain(history)
        offered += len(history)
    # Every event was offered to the webhooks once; one ARE mail per case (postal: no e-mail).
    assert len(await rows(sessionmaker, kind="case.event")) == offered
    assert len(await rows(sessionmaker, kind="notification.send")) == 3


async def test_the_worker_marks_a_kind_without_handler_failed(
    sessionmaker: SM,
    database_url: str,
    redis_url: str,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    await add_row(sessionmaker, clock, "sms.send", {"to": "0600000000"})

    await run_worker_burst(database_url, redis_url, clock, engine)

    row = await only_row(sessionmaker)
    assert row.status == "failed"
    assert row.last_error is not None
    assert "sms.send" in row.last_error


async def test_the_worker_retries_a_storage_failure_with_backoff_then_succeeds_once(
    sessionmaker: SM,
    database_url: str,
    redis_url: str,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
    storage: FileStorage,
    unwritable: FileStorage,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)

    # A worker whose storage is unwritable: the job fails and arq defers its retry.
    broken = build_worker(
        WorkerConfig(
            database_url=database_url,
            redis_url=redis_url,
            clock=clock,
            engine=engine,
            storage=unwritable,
        ),
        poll_delay=0.05,
    )
    task = asyncio.create_task(broken.async_run())
    try:
        for _ in range(400):
            if (await render_row(sessionmaker, case_id)).last_error is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await stop_worker(broken, task)
    failed = await render_row(sessionmaker, case_id)
    assert failed.attempts == 1
    assert failed.last_error is not None and "NotADirectoryError" in failed.last_error
    assert failed.status == "enqueued"
    assert await job_status(arq_redis, row.id, queue) is JobStatus.deferred
    assert await documents(sessionmaker) == []

    # A worker with a working storage takes the deferred retry: the document exists once.
    await run_worker_burst(database_url, redis_url, clock, engine, storage=storage)

    done = await render_row(sessionmaker, case_id)
    assert (done.status, done.attempts, done.last_error) == ("done", 2, None)
    are = [d for d in await documents(sessionmaker) if d.kind == "are"]
    assert len(are) == 1
    assert storage.path_of(are[0].storage_key).exists()
    history = await events(sessionmaker, case_id)
    assert [e.data.get("kind") for e in history if e.kind == "document.generated"].count("are") == 1
    assert "document.failed" not in {e.kind for e in history}
    assert repository.verify_chain(history)


async def test_rendering_happens_with_no_transaction_open(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker renders and stores before its transaction opens (documents.jobs.PREPARERS):
    while a PDF is being rendered another request can still write — on SQLite, whose single
    write lock a long job transaction would otherwise hold, as much as on PostgreSQL."""
    from documents import jobs

    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await render_row(sessionmaker, case_id)
    loop = asyncio.get_running_loop()
    real_render = jobs.render
    opened_meanwhile: list[uuid.UUID] = []

    def render_while_someone_files(kind: str, context: dict[str, Any]) -> bytes:
        # Runs in the worker thread; files a new case on the event loop and waits for it.
        future = asyncio.run_coroutine_threadsafe(
            open_case(sessionmaker, engine, clock, instructor), loop
        )
        opened_meanwhile.append(future.result(timeout=10))
        return real_render(kind, context)

    monkeypatch.setattr(jobs, "render", render_while_someone_files)
    status = await perform(
        sessionmaker,
        all_handlers(),
        deps,
        row.id,
        on_failure=all_failure_handlers(),
        preparers=jobs.PREPARERS,
    )
    assert status == "done"
    assert len(opened_meanwhile) == 1
    are = [d for d in await documents(sessionmaker) if d.kind == "are"]
    assert [d.case_id for d in are] == [case_id]
    # Performing the row again finds it done: nothing is rendered twice.
    assert (
        await perform(sessionmaker, all_handlers(), deps, row.id, preparers=jobs.PREPARERS)
        == "done"
    )
    assert len([d for d in await documents(sessionmaker) if d.kind == "are"]) == 1
