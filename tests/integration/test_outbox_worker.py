"""The outbox: side effects written with the case, relayed to arq, performed once, never lost.

Real database, real Redis (arq), real weasyprint. The relay and the job run with the FrozenClock, so
leases expire when the test says so.
"""

from __future__ import annotations

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
from services.kernel.settings import redis_settings
from services.worker import outbox
from services.worker.outbox import MAX_ATTEMPTS, job_id, perform, relay
from services.worker.settings import WorkerConfig, all_handlers, build_worker
from tests.conftest import Seed
from workflows.cases.models import Case, CaseEvent, Outbox, ReferenceCounter
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
LEASE = timedelta(minutes=2)


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
async def instructor(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await authenticate(s, seed.instructor_token, now=clock.now())


def permit(actor: Actor) -> IntakeRequest:
    return IntakeRequest(
        tenant="69001",
        procedure_key="test.permit",
        channel="counter",
        submitter={"given_name": "Alex", "family_name": "Dupont", "phone": "0600000000"},
        payload={"title": "Abri de jardin", "area_m2": 12},
        actor=actor,
    )


async def open_case(sm: SM, engine: Engine, clock: FrozenClock, actor: Actor) -> uuid.UUID:
    async with sm() as s, s.begin():
        return (await submit(s, engine, clock, permit(actor))).case_id


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


async def documents(sm: SM) -> list[StoredDocument]:
    async with sm() as s:
        return list(await s.scalars(select(StoredDocument)))


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


async def do_relay(sm: SM, redis: ArqRedis, clock: FrozenClock, queue: str) -> int:
    return await relay(sm, redis, clock, lease=LEASE, batch=50, queue_name=queue)


async def job_status(redis: ArqRedis, outbox_id: uuid.UUID, queue: str) -> JobStatus:
    return await Job(job_id(outbox_id), redis, _queue_name=queue).status()


# ----- written with the case ---------------------------------------------------------------------


async def test_opening_a_case_writes_one_receipt_row(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)

    row = await only_row(sessionmaker)
    assert row.case_id == case_id
    assert row.kind == "document.render"
    assert row.payload == {"case_id": str(case_id), "kind": "recepisse", "seq": 1, "params": {}}
    assert row.dedupe_key == f"document:{case_id}:recepisse:1"
    assert row.status == "pending"
    assert row.attempts == 0
    assert row.lease_until is None
    assert row.created_at == clock.now()


async def test_the_row_is_visible_in_the_case_transaction_before_commit(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    async with sessionmaker() as s, s.begin():
        result = await submit(s, engine, clock, permit(instructor))
        await s.flush()
        pending = list(await s.scalars(select(Outbox).where(Outbox.case_id == result.case_id)))
        assert [r.payload["kind"] for r in pending] == ["recepisse"]


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


async def test_each_decision_writes_its_own_document_row(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, instructor: Actor
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    async with sessionmaker() as s, s.begin():
        service = CaseService(s, engine, clock)
        await service.apply(case_id, "start", instructor)
        await service.apply(case_id, "request_pieces", instructor, {"pieces": ["plan"]})

    found = sorted(await rows(sessionmaker), key=lambda r: r.payload["seq"])
    assert [(r.payload["kind"], r.payload["seq"]) for r in found] == [
        ("recepisse", 1),
        ("pieces_letter", 3),
    ]
    assert found[1].payload["params"] == {"pieces": ["plan"]}


# ----- relay -------------------------------------------------------------------------------------


async def test_relay_enqueues_the_row_with_its_outbox_id(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)

    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1

    assert await arq_redis.exists(f"arq:job:outbox:{row.id}") == 1
    assert await job_status(arq_redis, row.id, queue) is JobStatus.queued
    info = await Job(job_id(row.id), arq_redis, _queue_name=queue).info()
    assert info is not None
    assert info.function == outbox.JOB_NAME
    assert info.args == (str(row.id),)
    enqueued = await only_row(sessionmaker)
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
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1
    lease_until = (await only_row(sessionmaker)).lease_until

    clock.advance(LEASE - timedelta(seconds=1))
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0

    assert await arq_redis.zcard(queue) == 1
    assert (await only_row(sessionmaker)).lease_until == lease_until


async def test_relaying_again_after_the_lease_never_duplicates_a_queued_job(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    arq_redis: ArqRedis,
    queue: str,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1

    clock.advance(LEASE)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1  # lease renewed

    assert await arq_redis.zcard(queue) == 1
    assert (await only_row(sessionmaker)).lease_until == clock.now() + LEASE


# ----- performing ---------------------------------------------------------------------------------


async def test_perform_renders_a_real_pdf_and_marks_the_row_done(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
    storage: FileStorage,
) -> None:
    case_id = await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)
    clock.advance(timedelta(seconds=3))

    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"

    [doc] = await documents(sessionmaker)
    assert (doc.case_id, doc.kind, doc.seq) == (case_id, "recepisse", 1)
    assert doc.content_type == "application/pdf"
    stored = storage.path_of(doc.sha256).read_bytes()
    assert stored.startswith(b"%PDF")
    assert hashlib.sha256(stored).hexdigest() == doc.sha256
    assert doc.size == len(stored)
    done = await only_row(sessionmaker)
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
    await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)
    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"
    first = await documents(sessionmaker)

    clock.advance(timedelta(hours=1))
    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"

    assert [(d.id, d.sha256) for d in await documents(sessionmaker)] == [
        (d.id, d.sha256) for d in first
    ]
    again = await only_row(sessionmaker)
    assert again.attempts == 1
    assert again.done_at == clock.now() - timedelta(hours=1)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0  # done rows stay done


async def test_the_handler_itself_is_idempotent_on_case_kind_and_seq(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    """Even if a row is performed again while not marked done, no second document appears."""
    await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)
    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"
    async with sessionmaker() as s, s.begin():
        reloaded = await s.get(Outbox, row.id)
        assert reloaded is not None
        reloaded.status = "enqueued"  # as if the "done" mark had been lost

    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"

    assert len(await documents(sessionmaker)) == 1


async def test_stored_documents_are_unique_on_case_kind_and_seq(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    instructor: Actor,
    deps: JobDeps,
) -> None:
    await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)
    assert await perform(sessionmaker, all_handlers(), deps, row.id) == "done"
    [doc] = await documents(sessionmaker)

    async with sessionmaker() as s:
        s.add(
            StoredDocument(
                case_id=doc.case_id,
                kind=doc.kind,
                seq=doc.seq,
                sha256="0" * 64,
                size=1,
                content_type="application/pdf",
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            await s.commit()


# ----- failures -------------------------------------------------------------------------------------


async def test_a_kind_without_handler_ends_failed_with_its_error(
    sessionmaker: SM, clock: FrozenClock, deps: JobDeps, arq_redis: ArqRedis, queue: str
) -> None:
    row_id = await add_row(sessionmaker, clock, "webhook.call", {"url": "https://example.org/"})

    assert await perform(sessionmaker, all_handlers(), deps, row_id) == "failed"

    row = await only_row(sessionmaker)
    assert row.status == "failed"
    assert row.last_error is not None
    assert "webhook.call" in row.last_error
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
        {"case_id": missing_case, "kind": "recepisse", "seq": 1, "params": {}},
    )

    with pytest.raises(Retry):
        await perform(sessionmaker, all_handlers(), deps, row_id)

    row = await only_row(sessionmaker)
    assert row.status == "enqueued"  # still owed: the relay or arq will try again
    assert row.attempts == 1
    assert row.last_error is not None
    assert missing_case in row.last_error

    async with sessionmaker() as s, s.begin():
        reloaded = await s.get(Outbox, row_id)
        assert reloaded is not None
        reloaded.attempts = MAX_ATTEMPTS - 1
    assert await perform(sessionmaker, all_handlers(), deps, row_id) == "failed"
    row = await only_row(sessionmaker)
    assert row.status == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert await documents(sessionmaker) == []


# ----- with a real arq worker ------------------------------------------------------------------------


async def run_worker_burst(
    database_url: str, redis_url: str, clock: FrozenClock, engine: Engine
) -> None:
    worker = build_worker(
        WorkerConfig(database_url=database_url, redis_url=redis_url, clock=clock, engine=engine),
        burst=True,
        poll_delay=0.05,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()


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
    await open_case(sessionmaker, engine, clock, instructor)
    row = await only_row(sessionmaker)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1

    await arq_redis.flushdb()  # Redis loses everything

    assert await arq_redis.zcard(queue) == 0
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 0  # lease still running
    clock.advance(LEASE)
    assert await do_relay(sessionmaker, arq_redis, clock, queue) == 1
    assert await job_status(arq_redis, row.id, queue) is JobStatus.queued

    await run_worker_burst(database_url, redis_url, clock, engine)

    done = await only_row(sessionmaker)
    assert done.status == "done"
    assert done.attempts == 1  # performed once
    [doc] = await documents(sessionmaker)
    stored = FileStorage(tmp_path / "data" / "documents").get(doc.sha256)  # GUICHET_DATA_DIR
    assert stored.startswith(b"%PDF")
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

    await run_worker_burst(database_url, redis_url, clock, engine)

    assert {r.status for r in await rows(sessionmaker)} == {"done"}
    docs = await documents(sessionmaker)
    assert {d.case_id for d in docs} == case_ids
    assert {(d.kind, d.seq) for d in docs} == {("recepisse", 1)}


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
