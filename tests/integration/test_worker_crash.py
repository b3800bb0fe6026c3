"""A worker killed (SIGKILL) in the middle of a job loses nothing: another worker finishes the job once.

The workers are real ``guichet worker`` processes on the test database (a SQLite file or a
PostgreSQL database: both are visible to a subprocess) and the test Redis. The first one is told to
sleep 30 s before committing its effect, and is killed while it sleeps: the ARE is rendered and its
bytes stored, but neither the StoredDocument nor the ``document.generated`` event is committed. The
second worker renders it again: exactly one document and one event exist afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from channels.intake import IntakeRequest, submit
from documents.models import StoredDocument
from documents.storage import FileStorage
from identity.service import authenticate
from services.kernel.clock import FrozenClock
from tests.conftest import TEST_EXTENSION, Seed
from workflows.cases import repository
from workflows.cases.models import CaseEvent, Outbox
from workflows.engine.runner import Engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SM = async_sessionmaker[AsyncSession]
LEASE_SECONDS = 2
JOB_TIMEOUT_SECONDS = 5
# arq keeps a started job "in progress" for job_timeout + 10 s: a killed worker's job becomes
# available to another worker after that, so the whole test stays around 20 s.
WAIT_DONE_SECONDS = JOB_TIMEOUT_SECONDS + 10 + 20
WAIT_STARTED_SECONDS = 30


@pytest.fixture
async def reader(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Reads while a worker holds the write lock: no BEGIN IMMEDIATE (SQLite in WAL mode)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


async def read_row(reader: AsyncEngine, row_id: uuid.UUID) -> tuple[str, int]:
    async with AsyncSession(reader) as s:
        row = (
            await s.execute(select(Outbox.status, Outbox.attempts).where(Outbox.id == row_id))
        ).one()
        return str(row[0]), int(row[1])


async def read_documents(reader: AsyncEngine) -> list[StoredDocument]:
    async with AsyncSession(reader) as s:
        return list(await s.scalars(select(StoredDocument).order_by(StoredDocument.kind)))


async def read_events(reader: AsyncEngine, case_id: uuid.UUID) -> list[CaseEvent]:
    async with AsyncSession(reader) as s:
        return await repository.timeline(s, case_id)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


@pytest.fixture
def spawn(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, **extra_env: str) -> tuple[subprocess.Popen[bytes], Path]:
        env = {
            **os.environ,
            "GUICHET_DATABASE_URL": database_url,
            "GUICHET_REDIS_URL": redis_url,
            "GUICHET_EXTRA_PROCEDURES": TEST_EXTENSION,
            "GUICHET_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "GUICHET_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_SECONDS),
            **extra_env,
        }
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "--data-dir",
                    str(tmp_path / "worker-data"),
                    "worker",
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        return proc, log

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def wait_for(
    check: Callable[[], Any], *, timeout: float, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll ``await check()`` until true; fail with the worker's log on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s; worker log:\n{log.read_text(errors='replace')}")


async def test_a_worker_killed_mid_render_loses_nothing_and_the_next_one_finishes_once(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    seed: Seed,
    reader: AsyncEngine,
    spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]],
    tmp_path: Path,
) -> None:
    async with sessionmaker() as s, s.begin():
        actor = await authenticate(s, seed.instructor_token, now=clock.now())
        opened = await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key="test.permit",
                channel="counter",
                submitter={"given_name": "Alex", "family_name": "Dupont", "phone": "0600000000"},
                payload={"title": "Abri de jardin", "area_m2": 12},
                actor=actor,
            ),
        )
    case_id = opened.case_id
    async with sessionmaker() as s, s.begin():
        found = list(await s.scalars(select(Outbox).where(Outbox.case_id == case_id)))
        assert sorted((r.kind, r.payload.get("kind")) for r in found) == [
            ("case.event", None),
            ("document.render", "are"),
            ("document.render", "recepisse"),
        ]
        # Only the ARE's job runs: the worker is killed in it (on SQLite, where one transaction
        # writes at a time, another job could otherwise hold the lock through the fault delay).
        for row in found:
            if row.payload.get("kind") != "are":
                row.status = "done"
        are_row = next(r.id for r in found if r.payload.get("kind") == "are")
    documents_dir = tmp_path / "worker-data" / "documents"

    # 1. A worker renders and stores the ARE, then is killed before it commits.
    first, first_log = spawn("first", GUICHET_FAULT_DELAY_BEFORE_COMMIT="30")

    async def rendered_and_stored() -> bool:
        return (await read_row(reader, are_row))[1] == 1 and len(stored_files(documents_dir)) == 1

    await wait_for(rendered_and_stored, timeout=WAIT_STARTED_SECONDS, proc=first, log=first_log)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    status, attempts = await read_row(reader, are_row)
    assert status != "done"
    assert attempts == 1
    assert await read_documents(reader) == []
    assert [e.kind for e in await read_events(reader, case_id)] == ["case.opened"]
    [orphan] = stored_files(documents_dir)  # stored, never linked: harmless, content-addressed

    # 2. Another worker, without the fault, finishes the job.
    second, second_log = spawn("second")

    async def done() -> bool:
        return (await read_row(reader, are_row))[0] == "done"

    await wait_for(done, timeout=WAIT_DONE_SECONDS, proc=second, log=second_log)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=10)

    assert await read_row(reader, are_row) == ("done", 2)
    [doc] = await read_documents(reader)
    assert (doc.case_id, doc.kind, doc.seq) == (case_id, "are", 1)
    history = await read_events(reader, case_id)
    assert [e.kind for e in history] == ["case.opened", "document.generated"]
    assert history[1].data["document_id"] == str(doc.id)
    assert history[1].data["sha256"] == doc.sha256
    assert repository.verify_chain(history)
    pdf = await FileStorage(documents_dir).get(doc.storage_key, sha256=doc.sha256)
    assert pdf.startswith(b"%PDF")
    assert orphan.exists()
