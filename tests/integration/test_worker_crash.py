"""A worker killed (SIGKILL) in the middle of a job loses nothing: another worker finishes the job once.

The workers are real ``guichet worker`` processes on the test database (a SQLite file or a
PostgreSQL database: both are visible to a subprocess) and the test Redis. The first one is told to
sleep 30 s before committing its effect, and is killed while it sleeps.
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
from sqlalchemy import func, select
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
from workflows.cases.models import Outbox
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


async def count_documents(reader: AsyncEngine) -> int:
    async with AsyncSession(reader) as s:
        return int(await s.scalar(select(func.count()).select_from(StoredDocument)) or 0)


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


async def test_a_worker_killed_mid_job_loses_nothing_and_the_next_one_finishes_once(
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
    async with sessionmaker() as s:
        row_id = await s.scalar(select(Outbox.id).where(Outbox.case_id == opened.case_id))
    assert row_id is not None

    # 1. A worker takes the job and is killed before it commits.
    first, first_log = spawn("first", GUICHET_FAULT_DELAY_BEFORE_COMMIT="30")

    async def attempted() -> bool:
        return (await read_row(reader, row_id))[1] == 1

    await wait_for(attempted, timeout=WAIT_STARTED_SECONDS, proc=first, log=first_log)
    await asyncio.sleep(0.5)  # let it get into the handler (render, store, sleep)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    status, attempts = await read_row(reader, row_id)
    assert status != "done"
    assert attempts == 1
    assert await count_documents(reader) == 0

    # 2. Another worker, without the fault, finishes the job.
    second, second_log = spawn("second")

    async def done() -> bool:
        return (await read_row(reader, row_id))[0] == "done"

    await wait_for(done, timeout=WAIT_DONE_SECONDS, proc=second, log=second_log)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=10)

    status, attempts = await read_row(reader, row_id)
    assert status == "done"
    assert attempts == 2
    async with AsyncSession(reader) as s:
        docs = list(await s.scalars(select(StoredDocument)))
    assert len(docs) == 1
    assert (docs[0].case_id, docs[0].kind, docs[0].seq) == (opened.case_id, "recepisse", 1)
    pdf = FileStorage(tmp_path / "worker-data" / "documents").get(docs[0].sha256)
    assert pdf.startswith(b"%PDF")
