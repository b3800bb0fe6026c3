"""Documents benchmark: one arq worker process rendering ARE PDFs through the whole pipeline,
against the raw ``documents.render.render("are", context)`` of the same ARE in the same run.

Run it from the repository root with ``make bench-documents``
(``.venv/bin/python -m tests.benchmarks.documents``; ``--help`` for the options).

It needs a PostgreSQL server: ``GUICHET_BENCH_DATABASE_URL`` (an admin URL, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). It creates its own database
``guichet_bench_<random>``, migrates it, seeds a commune with its services and a counter agent,
and drops the database at the end, also on failure. Redis is the embedded redis-server
(``EmbeddedRedis``, append-only file on, as ``guichet run`` starts it). Documents are stored on
the filesystem (the default ``FileStorage``) in a temporary directory.

1. Intake: N cases (default 500) are opened through ``channels.intake.submit`` (procedure
   ``general.request`` by default). Per case, intake queues the ARE's ``document.render`` outbox
   row, the AEE e-mail row and one ``case.event`` row per case event.
2. The ARE context of the first case is built with ``documents.contexts.build_context`` exactly as
   the job builds it, and ``render("are", context)`` is timed in this process after one warm-up
   render: the raw rate. It is measured before and after the pipeline; the mean is the
   reference (the machine is shared, hence noisy).
3. ONE worker process: an arq ``Worker`` from
   ``services.worker.settings.build_worker(WorkerConfig(...))`` with its production settings
   (max_jobs, timeouts, poll delay, JSON logging). Each ARE job goes outbox row -> arq job ->
   context -> render (in a thread) -> content-addressed file storage -> StoredDocument, the
   ``document.generated`` case event and the ARE e-mail's outbox row, in one transaction.

   ``--mode documents`` (the default) measures documents alone: the rows that are not ARE
   renders (AEE e-mails, case events) are marked done before the worker starts, the N ARE rows
   are enqueued by ``services.worker.outbox.relay`` (what the worker's relay cron runs every 2 s,
   timed separately), and the worker runs in burst mode with its crons off: it performs exactly
   the N jobs and exits. The rows the jobs queue (ARE e-mails, case events) stay pending.

   ``--mode all-rows`` is production's mix: nothing is set aside, the worker relays with its own
   crons and also sends every e-mail (written as .eml files: no SMTP server configured) and
   fans out every case event; it is stopped once the N ARE documents exist.
4. Pipeline rate = N / (start of the first ARE job -> end of the last), both read from the
   database (``stored_document.created_at`` is taken when a job starts its document, the outbox
   ``done_at`` when it ends). Process start-up is excluded, as the raw warm-up is; the wall time
   including it is printed too. The worker's CPU time per document, counted from the start of
   its first job to the end of its last, is compared with the raw render's: less noisy than rates.
5. The worker's peak RSS (``VmHWM`` of /proc/<pid>/status) after the N documents: read by the
   worker itself when its burst ends (documents mode), or by this process when it sees the N-th
   document (all-rows mode); also sampled every 0.5 s while the worker runs.
6. Font subsetting: weasyprint subsets fonts with HarfBuzz when ``libharfbuzz-subset0`` is
   installed and otherwise falls back to fontTools (slower, and one warning per font and per
   document). The time spent in ``Font.subset`` is measured; when the library is present, the
   raw render is also timed with weasyprint forced onto the fontTools fallback.

Everything is bounded in count and time (``--timeout`` for the pipeline). It exits 0 whether the
targets are met or not (it is a measurement), and non-zero only when the benchmark itself could
not run or the pipeline did not produce the N documents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.benchmarks.intake import (
    DEFAULT_ADMIN_URL,
    asyncpg_dsn,
    bench_database,
    is_postgres_process,
    process_cpu,
    safe_url,
)

Mode = Literal["documents", "all-rows"]

DOCUMENT_KIND = "are"
DEFAULT_COUNT = 500
MAX_COUNT = 5000
DEFAULT_PROCEDURE = "general.request"
TEST_EXTENSION = "tests.support.procedures:register"  # for --procedure test.permit
INTAKE_BATCH = 50  # cases per intake transaction
RAW_RENDERS = 60  # per raw phase (before and after the pipeline)
RAW_SECONDS = 20.0  # bound of each raw phase
SUBSET_RENDERS = 10
POLL_SECONDS = 0.5
PROGRESS_SECONDS = 10.0
STOP_SECONDS = 20.0  # how long a stopped worker has to write its figures and exit
DEFAULT_TIMEOUT = 600.0  # seconds the worker has to produce the N documents

TARGET_RATIO = 0.85
TARGET_RSS_MB = 250.0

WORKER_DB_ENV = "_GUICHET_BENCH_WORKER_DATABASE_URL"
WORKER_REDIS_ENV = "_GUICHET_BENCH_WORKER_REDIS_URL"
WORKER_RESULT_ENV = "_GUICHET_BENCH_WORKER_RESULT"
WORKER_MODE_ENV = "_GUICHET_BENCH_WORKER_MODE"
WORKER_MAX_JOBS_ENV = "_GUICHET_BENCH_WORKER_MAX_JOBS"


# ----- /proc ----------------------------------------------------------------------------------


def proc_status_kb(pid: int | str, key: str) -> int | None:
    """A ``kB`` field (VmRSS, VmHWM...) of /proc/<pid>/status, or None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


# ----- the worker process (a subprocess of the benchmark) --------------------------------------


def run_worker() -> int:
    """Internal: one arq worker as production builds it; burst without crons in documents mode,
    crons on until SIGTERM in all-rows mode. Writes its figures to a JSON file at the end."""
    from services.kernel.logging import configure_logging
    from services.worker.settings import WorkerConfig, build_worker

    configure_logging()  # as `guichet worker` does (JSON lines on stderr: here, a file)
    mode = os.environ.get(WORKER_MODE_ENV, "documents")
    cpu: dict[str, float] = {}
    ended = 0

    async def on_job_start(ctx: dict[str, Any]) -> None:
        cpu.setdefault("first_job_start", time.process_time())

    async def after_job_end(ctx: dict[str, Any]) -> None:
        nonlocal ended
        ended += 1
        cpu["last_job_end"] = time.process_time()  # every thread (renders run in threads)

    overrides: dict[str, Any] = {"on_job_start": on_job_start, "after_job_end": after_job_end}
    if mode == "documents":
        overrides.update(burst=True, cron_jobs=[])
    if os.environ.get(WORKER_MAX_JOBS_ENV):
        overrides["max_jobs"] = int(os.environ[WORKER_MAX_JOBS_ENV])
    wall_before = time.monotonic()

    async def go() -> dict[str, Any]:
        # Built inside the loop: arq's Worker binds the running event loop.
        worker = build_worker(
            WorkerConfig(
                database_url=os.environ[WORKER_DB_ENV], redis_url=os.environ[WORKER_REDIS_ENV]
            ),
            **overrides,
        )
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await worker.async_run()
        except asyncio.CancelledError:
            if mode == "documents":
                raise
        figures = {  # read before close(): it cancels what is still running
            "cpu_seconds_jobs": cpu.get("last_job_end", 0.0) - cpu.get("first_job_start", 0.0),
            "cpu_seconds_total": time.process_time(),
            "wall_seconds": time.monotonic() - wall_before,
            "vm_hwm_kb": proc_status_kb("self", "VmHWM"),
            "vm_rss_kb": proc_status_kb("self", "VmRSS"),
            "jobs_ended": ended,
            "jobs_complete": worker.jobs_complete,
            "jobs_failed": worker.jobs_failed,
            "jobs_retried": worker.jobs_retried,
            "max_jobs": worker.max_jobs,
        }
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()
        return figures

    result = asyncio.run(go())
    Path(os.environ[WORKER_RESULT_ENV]).write_text(json.dumps(result))
    return 0


# ----- setup: database, seed, intake ------------------------------------------------------------


@dataclass
class Prepared:
    procedure: str
    cases: int
    intake_seconds: float
    set_aside: Counter[str]
    left_pending: Counter[str]
    context: dict[str, Any]
    server_version: str


def engine_extensions(procedure: str) -> list[str]:
    return [TEST_EXTENSION] if procedure == "test.permit" else []


def row_label(kind: str, payload: dict[str, Any]) -> str:
    if kind == "document.render":
        return f"{kind} ({payload.get('kind')})"
    if kind == "notification.send":
        return f"{kind} ({payload.get('template')})"
    return kind


def is_are_row(kind: str, payload: dict[str, Any]) -> bool:
    return kind == "document.render" and payload.get("kind") == DOCUMENT_KIND


def payload_for(procedure: str, i: int) -> dict[str, Any]:
    if procedure == "general.request":
        return {
            "subject": "Horaires d'ouverture de la médiathèque",
            "message": f"Bonjour, la médiathèque est-elle ouverte le lundi matin ? (n° {i})",
            "topic": "information",
        }
    if procedure == "test.permit":
        return {"title": f"Abri de jardin n° {i}", "area_m2": 5 + i % 50}
    raise ValueError(f"no payload for {procedure}")


async def prepare(database_url: str, count: int, procedure: str, mode: Mode) -> Prepared:
    """Seed a commune, open ``count`` cases through intake, set the other rows aside (documents
    mode) and build the ARE context of the first case as the job does."""
    import asyncpg

    from channels.intake import IntakeRequest, submit
    from documents.contexts import build_context
    from identity import service as ids
    from services.kernel.actor import Role
    from services.kernel.clock import SystemClock
    from services.kernel.db import make_engine, make_sessionmaker
    from workflows.cases.models import Case, Outbox
    from workflows.procedures import build_engine

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()

    clock = SystemClock()
    engine = build_engine(engine_extensions(procedure))
    db = make_engine(database_url)
    sm = make_sessionmaker(db)
    try:
        now = clock.now()
        async with sm() as session, session.begin():
            tenant = await ids.create_tenant(
                session,
                now=now,
                insee_code="69123",
                slug="banc-d-essai",
                name="Commune du banc d'essai",
                kind="commune",
                address="1 place de la Mairie",
                postal_code="69123",
                city="Banc",
                phone="04 00 00 00 00",
                email="mairie@bench.invalid",
            )
            for code, name in (("accueil", "Accueil de la mairie"), ("urbanisme", "Urbanisme")):
                await ids.add_tenant_service(
                    session,
                    tenant,
                    code=code,
                    name=name,
                    address="1 place de la Mairie, 69123 Banc",
                    phone="04 00 00 00 10",
                    email=f"{code}@bench.invalid",
                    opening_hours="du lundi au vendredi, de 8 h 30 à 17 h",
                )
            agent = await ids.create_agent(
                session,
                now=now,
                email="guichet@bench.invalid",
                given_name="Claude",
                family_name="Guichet",
                title="Agent d'accueil",
            )
            await ids.grant_role(session, agent, Role.COUNTER_AGENT, tenant, now=now)
            await ids.grant_role(session, agent, Role.INSTRUCTOR, tenant, now=now)
            actor = await ids.agent_actor(session, agent)

        def request(i: int) -> IntakeRequest:
            return IntakeRequest(
                tenant="69123",
                procedure_key=procedure,
                channel="counter",
                submitter={
                    "given_name": "Camille",
                    "family_name": f"Martin-{i}",
                    "email": f"camille.martin.{i}@example.org",
                    "phone": "06 12 34 56 78",
                    "postal_address": "3 rue des Lilas, 69123 Banc",
                },
                payload=payload_for(procedure, i),
                actor=actor,
                external_ref=f"bench-doc-{i}",
            )

        started = time.perf_counter()
        for first in range(0, count, INTAKE_BATCH):
            async with sm() as session, session.begin():
                for i in range(first, min(count, first + INTAKE_BATCH)):
                    await submit(session, engine, clock, request(i))
        intake_seconds = time.perf_counter() - started

        set_aside: Counter[str] = Counter()
        left: Counter[str] = Counter()
        are_rows: list[Outbox] = []
        async with sm() as session, session.begin():
            for row in await session.scalars(select(Outbox).where(Outbox.status == "pending")):
                label = row_label(row.kind, row.payload)
                if is_are_row(row.kind, row.payload):
                    are_rows.append(row)
                if mode == "all-rows" or is_are_row(row.kind, row.payload):
                    left[label] += 1
                else:
                    set_aside[label] += 1
                    row.status = "done"
                    row.done_at = clock.now()
        if len(are_rows) != count:
            raise RuntimeError(f"intake queued {len(are_rows)} ARE rows for {count} cases")

        # The context of the first ARE, built as documents.jobs.render_document builds it.
        first_row = min(are_rows, key=lambda r: r.created_at)
        async with sm() as session:
            case = await session.get(Case, uuid.UUID(first_row.payload["case_id"]))
            assert case is not None
            definition = engine.procedures.get(case.procedure_key, case.definition_version)
            context = await build_context(
                DOCUMENT_KIND,
                session,
                case,
                definition,
                dict(first_row.payload.get("params") or {}),
                clock.now(),
            )
    finally:
        await db.dispose()
    return Prepared(
        procedure=procedure,
        cases=count,
        intake_seconds=intake_seconds,
        set_aside=set_aside,
        left_pending=left,
        context=context,
        server_version=version,
    )


# ----- raw render -------------------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


@dataclass
class RawResult:
    label: str
    renders: int
    seconds: float
    cpu_seconds: float
    pdf_bytes: int
    warmup_seconds: float

    @property
    def rate(self) -> float:
        return self.renders / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.renders if self.renders else float("nan")


class WeasyprintLog(logging.Handler):
    """Counts weasyprint's log records (one fontTools-fallback warning per font and document)
    instead of printing them; the worker logs them as production does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages[message.split(" for font")[0] if "fontTools" in message else message] += 1


def raw_render(label: str, context: dict[str, Any], renders: int, seconds: float) -> RawResult:
    from documents.render import render

    t0 = time.perf_counter()
    pdf = render(DOCUMENT_KIND, context)  # warm-up (stylesheet and fonts load once per process)
    warmup = time.perf_counter() - t0
    done = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while done < renders and time.perf_counter() - t0 < seconds:
        pdf = render(DOCUMENT_KIND, context)
        done += 1
    elapsed = time.perf_counter() - t0
    return RawResult(label, done, elapsed, time.process_time() - cpu0, len(pdf), warmup)


@dataclass
class SubsetResult:
    backend: str
    renders: int
    render_ms: float
    subset_ms: float
    fonts_per_render: float


@contextlib.contextmanager
def fonttools_fallback(forced: bool) -> Iterator[None]:
    """Make weasyprint believe libharfbuzz-subset is missing (what it does without the library)."""
    import weasyprint.pdf.fonts as wfonts

    saved = wfonts.harfbuzz_subset
    if forced:
        wfonts.harfbuzz_subset = None
    try:
        yield
    finally:
        wfonts.harfbuzz_subset = saved


def harfbuzz_subset_available() -> bool:
    import weasyprint.pdf.fonts as wfonts
    from weasyprint.text.ffi import harfbuzz

    return bool(wfonts.harfbuzz_subset) and bool(harfbuzz.hb_version_atleast(4, 1, 0))


def time_subsetting(
    context: dict[str, Any], renders: int, *, forced_fallback: bool
) -> SubsetResult:
    """Renders with weasyprint's ``Font.subset`` timed (the only place fonts are subset)."""
    import weasyprint.pdf.fonts as wfonts

    from documents.render import render

    original: Callable[..., Any] = wfonts.Font.subset
    spent: list[float] = []

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t0)

    with fonttools_fallback(forced_fallback):
        backend = "HarfBuzz" if harfbuzz_subset_available() else "fontTools (fallback)"
        render(DOCUMENT_KIND, context)  # warm-up, untimed
        wfonts.Font.subset = timed  # type: ignore[method-assign]
        try:
            t0 = time.perf_counter()
            for _ in range(renders):
                render(DOCUMENT_KIND, context)
            elapsed = time.perf_counter() - t0
        finally:
            wfonts.Font.subset = original  # type: ignore[method-assign]
    return SubsetResult(
        backend=backend,
        renders=renders,
        render_ms=1000 * elapsed / renders,
        subset_ms=1000 * sum(spent) / renders,
        fonts_per_render=len(spent) / renders,
    )


# ----- the pipeline -----------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    documents: int
    rss_kb: int | None
    hwm_kb: int | None


@dataclass
class PipelineResult:
    mode: Mode
    relay_seconds: float | None  # documents mode: the relay of the N rows, by this process
    relayed: int
    documents: int
    first_start: datetime | None
    last_done: datetime | None
    wall_seconds: float  # worker process start -> N documents seen
    timed_out: bool
    exit_code: int | None
    worker: dict[str, Any]
    hwm_at_n_kb: int | None  # sampled by this process when the N documents were seen
    samples: list[Sample] = field(default_factory=list)
    rows_after: Counter[tuple[str, str]] = field(default_factory=Counter)
    are_status: Counter[str] = field(default_factory=Counter)
    distinct_sha256: int = 0
    stored_files: int = 0
    mail_files: int = 0
    checked_pdfs: int = 0
    bad_pdfs: int = 0
    postgres_cpu: float | None = None
    redis_cpu: float | None = None
    log_path: Path | None = None

    @property
    def busy_seconds(self) -> float | None:
        if self.first_start is None or self.last_done is None:
            return None
        return (self.last_done - self.first_start).total_seconds()

    @property
    def rate(self) -> float:
        busy = self.busy_seconds
        return self.documents / busy if busy else float("nan")

    @property
    def cpu_ms_per_document(self) -> float | None:
        cpu = self.worker.get("cpu_seconds_jobs")
        return 1000 * cpu / self.documents if cpu and self.documents else None

    def hwm_at(self, documents: int) -> int | None:
        """The worker's VmHWM in the first sample at which ``documents`` were stored."""
        for s in self.samples:
            if s.documents >= documents and s.hwm_kb is not None:
                return s.hwm_kb
        return None


class PostgresCpu:
    """CPU of the bench database's backends, sampled from /proc while the worker runs (a backend
    that ends loses its last sample: an approximation from below)."""

    def __init__(self) -> None:
        self.baseline: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.known = True

    async def sample(self, conn: Any, *, baseline: bool = False) -> None:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for row in rows:
            pid = int(row["pid"])
            cpu = process_cpu(pid) if is_postgres_process(pid) else None
            if cpu is None:
                self.known = False
                continue
            if baseline:
                self.baseline[pid] = cpu
            self.last[pid] = cpu

    def total(self) -> float | None:
        if not self.known:
            return None
        return sum(cpu - self.baseline.get(pid, 0.0) for pid, cpu in self.last.items())


def worker_env(
    database_url: str,
    redis_url: str,
    workdir: Path,
    procedure: str,
    mode: Mode,
    max_jobs: int | None,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GUICHET_DATABASE_URL", "GUICHET_REDIS_URL", "GUICHET_EXTRA_PROCEDURES")
        and not k.startswith(("GUICHET_SMTP_", "GUICHET_STORAGE_", "GUICHET_S3_"))
    }
    env.update(
        {
            WORKER_DB_ENV: database_url,
            WORKER_REDIS_ENV: redis_url,
            WORKER_RESULT_ENV: str(workdir / "worker.json"),
            WORKER_MODE_ENV: mode,
            "GUICHET_DATA_DIR": str(workdir / "data"),
            # The crash-test hook must be off, whatever the caller's environment says.
            "GUICHET_FAULT_DELAY_BEFORE_COMMIT": "0",
        }
    )
    extensions = engine_extensions(procedure)
    if extensions:
        env["GUICHET_EXTRA_PROCEDURES"] = ",".join(extensions)
    if max_jobs:
        env[WORKER_MAX_JOBS_ENV] = str(max_jobs)
    return env


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # all-rows mode: the worker writes its figures and exits
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


async def run_pipeline(
    database_url: str,
    redis_url: str,
    redis_pid: int | None,
    workdir: Path,
    *,
    count: int,
    procedure: str,
    mode: Mode,
    timeout: float,
    max_jobs: int | None,
) -> PipelineResult:
    import asyncpg
    from arq import create_pool
    from arq.connections import RedisSettings as ArqRedisSettings

    from documents.models import StoredDocument
    from documents.storage import FileStorage
    from services.kernel.clock import SystemClock
    from services.kernel.db import make_engine, make_sessionmaker
    from services.kernel.settings import redis_settings, worker_settings
    from services.worker import outbox
    from workflows.cases.models import Case, Outbox

    db = make_engine(database_url)
    sm = make_sessionmaker(db)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        relay_seconds: float | None = None
        relayed = 0
        if mode == "documents":
            # What the worker's relay cron does, for every pending row at once.
            pool = await create_pool(ArqRedisSettings.from_dsn(redis_url))
            try:
                t0 = time.perf_counter()
                relayed = await outbox.relay(
                    sm,
                    pool,
                    SystemClock(),
                    lease=timedelta(
                        seconds=max(worker_settings().outbox_lease_seconds, timeout + 60)
                    ),
                    batch=count + 10,
                    queue_name=redis_settings().redis_queue,
                )
                relay_seconds = time.perf_counter() - t0
            finally:
                await pool.aclose()

        pg_cpu = PostgresCpu()
        await pg_cpu.sample(conn, baseline=True)  # this process's own connection
        redis_cpu_before = process_cpu(redis_pid) if redis_pid else None
        env = worker_env(database_url, redis_url, workdir, procedure, mode, max_jobs)
        log_path = workdir / "worker.log"
        samples: list[Sample] = []
        timed_out = False
        hwm_at_n: int | None = None
        with log_path.open("wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.benchmarks.documents", "worker"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=Path.cwd(),
            )
            try:
                last_print = started
                seen_all_at: float | None = None
                while True:
                    await asyncio.sleep(POLL_SECONDS)
                    documents = int(
                        await conn.fetchval(
                            "SELECT count(*) FROM stored_document WHERE kind = $1", DOCUMENT_KIND
                        )
                    )
                    samples.append(
                        Sample(
                            at=time.monotonic() - started,
                            documents=documents,
                            rss_kb=proc_status_kb(process.pid, "VmRSS"),
                            hwm_kb=proc_status_kb(process.pid, "VmHWM"),
                        )
                    )
                    await pg_cpu.sample(conn)
                    if documents >= count and seen_all_at is None:
                        seen_all_at = time.monotonic() - started
                        hwm_at_n = samples[-1].hwm_kb
                        if mode == "all-rows":
                            break  # the worker would go on with the e-mails: stop it here
                    if process.poll() is not None:
                        break
                    if time.monotonic() - started > timeout:
                        timed_out = True
                        break
                    if time.monotonic() - last_print >= PROGRESS_SECONDS:
                        last_print = time.monotonic()
                        print(
                            f"    {samples[-1].at:5.1f} s: {documents}/{count} documents, worker "
                            f"pid {process.pid} RSS {mb(samples[-1].rss_kb)}",
                            flush=True,
                        )
            finally:
                stop_process(process)
            wall = seen_all_at if seen_all_at is not None else time.monotonic() - started
        redis_cpu_after = process_cpu(redis_pid) if redis_pid else None

        worker: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            worker = json.loads((workdir / "worker.json").read_text())

        async with sm() as session:
            docs = list(
                await session.scalars(
                    select(StoredDocument).where(StoredDocument.kind == DOCUMENT_KIND)
                )
            )
            rows = list(await session.scalars(select(Outbox)))
            result = await session.execute(select(Case.id, Case.reference))
            references: dict[uuid.UUID, str] = {r[0]: r[1] for r in result.all()}
        rows_after = Counter((row_label(r.kind, r.payload), r.status) for r in rows)
        are_rows = [r for r in rows if is_are_row(r.kind, r.payload)]
        done_times = [r.done_at for r in are_rows if r.status == "done" and r.done_at]
        storage = FileStorage(workdir / "data" / "documents")
        sample = docs[:: max(1, len(docs) // 20)]
        bad = 0
        for doc in sample:  # read back through the storage (integrity checked) and extracted
            try:
                pdf = await storage.get(doc.storage_key, sha256=doc.sha256)
                if not pdf.startswith(b"%PDF") or references[doc.case_id] not in pdf_text(pdf):
                    bad += 1
            except Exception:
                bad += 1

        def files_under(path: Path) -> int:
            return sum(1 for p in path.rglob("*") if p.is_file()) if path.exists() else 0

        return PipelineResult(
            mode=mode,
            relay_seconds=relay_seconds,
            relayed=relayed,
            documents=len(docs),
            first_start=min((d.created_at for d in docs), default=None),
            last_done=max(done_times, default=None),
            wall_seconds=wall,
            timed_out=timed_out,
            exit_code=process.returncode,
            worker=worker,
            hwm_at_n_kb=hwm_at_n,
            samples=samples,
            rows_after=rows_after,
            are_status=Counter(r.status for r in are_rows),
            distinct_sha256=len({d.sha256 for d in docs}),
            stored_files=files_under(workdir / "data" / "documents"),
            mail_files=files_under(workdir / "data" / "mail"),
            checked_pdfs=len(sample),
            bad_pdfs=bad,
            postgres_cpu=pg_cpu.total(),
            redis_cpu=(
                redis_cpu_after - redis_cpu_before
                if redis_cpu_before is not None and redis_cpu_after is not None
                else None
            ),
            log_path=log_path,
        )
    finally:
        await conn.close()
        await db.dispose()


# ----- report -----------------------------------------------------------------------------------


def report(
    prepared: Prepared,
    raws: list[RawResult],
    fallback: RawResult | None,
    pipeline: PipelineResult,
    subsets: list[SubsetResult],
    wlog: WeasyprintLog,
    load: tuple[float, float, float],
) -> None:
    raw_rate = statistics.fmean(r.rate for r in raws)
    raw_cpu_ms = statistics.fmean(r.cpu_ms for r in raws)
    n = pipeline.documents
    ratio = pipeline.rate / raw_rate if raw_rate else float("nan")
    busy = pipeline.busy_seconds or float("nan")
    worker = pipeline.worker
    worker_cpu_ms = pipeline.cpu_ms_per_document
    hwm = worker.get("vm_hwm_kb") if pipeline.mode == "documents" else pipeline.hwm_at_n_kb
    hwm = hwm or pipeline.hwm_at_n_kb
    w = 34
    line = "-" * 100
    print()
    print(line)
    print(
        f"documents benchmark — {prepared.cases} ARE ({prepared.procedure}), mode {pipeline.mode}"
        f", PostgreSQL {prepared.server_version.split()[0]}, embedded Redis, {os.cpu_count()} "
        f"CPUs, load average before {load[0]:.2f}"
    )
    print(line)
    for r in raws:
        print(
            f"{'raw render() ' + r.label:{w}}: {r.renders:>4} renders in {r.seconds:6.2f} s = "
            f"{r.rate:6.2f} docs/s; {r.cpu_ms:6.1f} ms CPU/doc; {r.pdf_bytes} bytes/PDF; "
            f"first render {1000 * r.warmup_seconds:.0f} ms"
        )
    print(f"{'raw render() mean':{w}}: {raw_rate:6.2f} docs/s; {raw_cpu_ms:6.1f} ms CPU/doc")
    print(
        f"{'pipeline, 1 worker process':{w}}: {n} documents in {busy:6.2f} s (first job start -> "
        f"last job end) = {pipeline.rate:6.2f} docs/s"
    )
    print(
        f"{'  RATIO pipeline / raw':{w}}: {ratio:6.3f}   (target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    if pipeline.relay_seconds is not None and n:
        with_relay = n / (busy + pipeline.relay_seconds)
        print(
            f"{'  with the relay':{w}}: {pipeline.relayed} rows enqueued in "
            f"{pipeline.relay_seconds:.2f} s -> {with_relay:6.2f} docs/s, ratio "
            f"{with_relay / raw_rate:6.3f}"
        )
    if n:
        print(
            f"{'  from worker process start':{w}}: {pipeline.wall_seconds:.2f} s to the last "
            f"document (imports, start-up, first render) = {n / pipeline.wall_seconds:.2f} docs/s"
        )
    if worker_cpu_ms is not None:
        print(
            f"{'  worker CPU':{w}}: {worker_cpu_ms:6.1f} ms/doc (first job start -> last job end"
            + ("" if pipeline.mode == "documents" else ", with the other rows' jobs")
            + f"; raw {raw_cpu_ms:.1f}): CPU ratio raw/worker {raw_cpu_ms / worker_cpu_ms:.3f}; "
            f"arq max_jobs {worker.get('max_jobs')}"
        )
    if pipeline.postgres_cpu is not None and n:
        print(f"{'  PostgreSQL backends CPU':{w}}: {1000 * pipeline.postgres_cpu / n:6.1f} ms/doc")
    if pipeline.redis_cpu is not None and n:
        print(f"{'  Redis CPU':{w}}: {1000 * pipeline.redis_cpu / n:6.1f} ms/doc")
    print(
        f"{'worker peak RSS (VmHWM)':{w}}: {mb(hwm)} after {n} documents (target < "
        f"{TARGET_RSS_MB:.0f} MB: "
        f"{'met' if hwm is not None and hwm / 1024 < TARGET_RSS_MB else 'NOT met'}); VmHWM after "
        f"the 1st document {mb(pipeline.hwm_at(1))}, after {min(100, n)}: "
        f"{mb(pipeline.hwm_at(min(100, n)))}; RSS at exit {mb(worker.get('vm_rss_kb'))}"
    )
    print(line)
    for s in subsets:
        share = 100 * s.subset_ms / s.render_ms if s.render_ms else float("nan")
        print(
            f"{'font subsetting, ' + s.backend:{w}}: {s.subset_ms:6.1f} ms of {s.render_ms:6.1f} "
            f"ms per render ({share:4.1f} %; {s.fonts_per_render:.1f} fonts per document)"
        )
    if fallback is not None:
        print(
            f"{'raw render(), fontTools forced':{w}}: {fallback.rate:6.2f} docs/s, "
            f"{fallback.cpu_ms:.1f} ms CPU/doc ({fallback.renders} renders), against "
            f"{raw_rate:.2f} docs/s with HarfBuzz"
        )
    if not harfbuzz_subset_available():
        print(
            "libharfbuzz-subset0 is NOT installed: weasyprint falls back to fontTools for every "
            "font of every document (and logs a warning each time)."
        )
    for message, times in wlog.messages.most_common(3):
        print(f"weasyprint log in this process: {times} × {message[:100]}")
    print(line)
    set_aside = ", ".join(f"{k} × {v}" for k, v in sorted(prepared.set_aside.items()))
    left = ", ".join(f"{k} × {v}" for k, v in sorted(prepared.left_pending.items()))
    print(
        f"intake: {prepared.cases} cases through channels.intake.submit in "
        f"{prepared.intake_seconds:.1f} s; left for the worker: {left}; set aside (marked done "
        f"before the worker started): {set_aside or 'nothing'}"
    )
    after = ", ".join(f"{k} {s} × {v}" for (k, s), v in sorted(pipeline.rows_after.items()))
    print(f"outbox after the run: {after}")
    print(
        f"checks: ARE rows {dict(pipeline.are_status)}; {n} documents, {pipeline.distinct_sha256} "
        f"distinct sha256, {pipeline.stored_files} files stored, {pipeline.mail_files} mails "
        f"written; {pipeline.checked_pdfs} PDFs read back (integrity, reference in the text): "
        f"{pipeline.bad_pdfs} bad; arq: {worker.get('jobs_complete')} complete, "
        f"{worker.get('jobs_failed')} failed, {worker.get('jobs_retried')} retried"
    )
    print(
        "Raw: render('are', context) in this process, one thread, the context of the first case "
        "built once by documents.contexts.build_context. Pipeline: one arq worker process "
        "(build_worker, production settings"
        + (
            ", burst, crons off) performing the N ARE rows relayed by outbox.relay"
            if pipeline.mode == "documents"
            else ", crons on) performing every row, stopped once the N ARE documents exist"
        )
        + "; each job: Redis dequeue, outbox bookkeeping, context queries, render in a thread, "
        "file storage, StoredDocument + case event + e-mail outbox row, commit. The worker "
        "shares the CPUs with PostgreSQL, Redis and whatever else runs on the machine: compare "
        "runs on the same machine only, and prefer the CPU figures when the load is high."
    )


# ----- main -------------------------------------------------------------------------------------


def bench(
    *,
    count: int,
    procedure: str,
    mode: Mode,
    timeout: float,
    raw_renders: int,
    max_jobs: int | None,
    keep: bool = False,
) -> int:
    from services.kernel.migrate import upgrade
    from services.worker.embedded_redis import EmbeddedRedis

    admin_url = os.environ.get("GUICHET_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    if not admin_url.startswith("postgresql"):
        print("GUICHET_BENCH_DATABASE_URL must be a postgresql+asyncpg:// URL", file=sys.stderr)
        return 2
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    wlog = WeasyprintLog()
    weasy_logger = logging.getLogger("weasyprint")
    weasy_logger.addHandler(wlog)
    weasy_logger.propagate = False
    print(f"documents benchmark: PostgreSQL at {safe_url(admin_url)}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="guichet-bench-docs-"))
    keep_workdir = keep
    try:
        with bench_database(admin_url) as database_url:
            print(f"  database {make_url(database_url).database}: migrating", flush=True)
            upgrade(database_url)
            print(f"  opening {count} cases through intake ({procedure})", flush=True)
            prepared = asyncio.run(prepare(database_url, count, procedure, mode))

            print(f"  raw render, before: up to {raw_renders} renders", flush=True)
            raws = [raw_render("before", prepared.context, raw_renders, RAW_SECONDS)]

            redis = EmbeddedRedis(workdir / "redis", persist=True)
            redis_url = redis.start()
            redis_pid = redis.process.pid if redis.process is not None else None
            try:
                print(
                    f"  worker ({mode} mode): {count} ARE documents, timeout {timeout:.0f} s",
                    flush=True,
                )
                pipeline = asyncio.run(
                    run_pipeline(
                        database_url,
                        redis_url,
                        redis_pid,
                        workdir,
                        count=count,
                        procedure=procedure,
                        mode=mode,
                        timeout=timeout,
                        max_jobs=max_jobs,
                    )
                )
            finally:
                redis.stop()

            print(f"  raw render, after: up to {raw_renders} renders", flush=True)
            raws.append(raw_render("after", prepared.context, raw_renders, RAW_SECONDS))
            print("  font subsetting", flush=True)
            subsets = [time_subsetting(prepared.context, SUBSET_RENDERS, forced_fallback=False)]
            fallback = None
            if harfbuzz_subset_available():
                subsets.append(
                    time_subsetting(prepared.context, SUBSET_RENDERS, forced_fallback=True)
                )
                with fonttools_fallback(True):
                    fallback = raw_render(
                        "fontTools", prepared.context, max(2, raw_renders // 4), RAW_SECONDS
                    )
            report(prepared, raws, fallback, pipeline, subsets, wlog, load)
        ok = (
            pipeline.documents == count
            and not pipeline.timed_out
            and pipeline.are_status.get("done") == count
            and pipeline.bad_pdfs == 0
        )
        if not ok:
            keep_workdir = True
            print(
                f"the pipeline did not produce the {count} documents (exit code "
                f"{pipeline.exit_code}, timed out: {pipeline.timed_out})",
                file=sys.stderr,
            )
            return 1
        return 0
    except BaseException:
        keep_workdir = True
        raise
    finally:
        if keep_workdir:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("worker", help="internal: the worker process")
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help=f"ARE documents ({DEFAULT_COUNT})"
    )
    parser.add_argument(
        "--mode",
        choices=("documents", "all-rows"),
        default="documents",
        help="documents: the worker performs the ARE rows only (default); all-rows: every "
        "outbox row, as in production (e-mails, case events)",
    )
    parser.add_argument(
        "--procedure",
        choices=("general.request", "test.permit"),
        default=DEFAULT_PROCEDURE,
        help="procedure of the cases (test.permit: the tests' SVA demande, a longer ARE)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the pipeline (600)"
    )
    parser.add_argument(
        "--raw-renders",
        type=int,
        default=RAW_RENDERS,
        help=f"renders per raw phase ({RAW_RENDERS})",
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        help="override arq's max_jobs of the worker (default: production's)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (worker log, files)"
    )
    args = parser.parse_args(argv)
    if args.command == "worker":
        return run_worker()
    if not 2 <= args.count <= MAX_COUNT:
        parser.error(f"--count must be between 2 and {MAX_COUNT}")
    if args.raw_renders < 1:
        parser.error("--raw-renders must be at least 1")
    return bench(
        count=args.count,
        procedure=args.procedure,
        mode=args.mode,
        timeout=args.timeout,
        raw_renders=args.raw_renders,
        max_jobs=args.max_jobs,
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())
