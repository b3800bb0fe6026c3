"""Intake benchmark: Guichet's ``POST /api/v1/intake/`` against a bare Litestar + asyncpg insert.

Run it from the repository root with ``make bench`` (``.venv/bin/python -m tests.benchmarks.intake``).

It needs a PostgreSQL server: ``GUICHET_BENCH_DATABASE_URL`` (an admin URL, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). It creates its own database
``guichet_bench_<random>``, migrates it, seeds a tenant and an API client with ``intake:write``, and
drops the database at the end, also on failure.

Two servers run on 127.0.0.1, each in its own subprocess under uvicorn (one worker process):

- Guichet, built by ``create_app`` as in production (JSON access logs go to a file, as
  ``guichet run`` would write them to stderr);
- a bare Litestar app with one POST endpoint that inserts one comparable row (id, tenant, reference,
  payload jsonb, created_at) with a raw asyncpg pool: the floor any intake endpoint sits on.

This process is the load generator, over HTTP/1.1 keep-alive connections (a minimal client on
asyncio streams, much cheaper than httpx's pool: see ``RawClient``; ``--client httpx`` to compare):

1. throughput: 16 concurrent workers post as fast as they get answers, in alternating rounds to
   each server after a warm-up;
2. latency: an open-loop schedule at 200 requests/s (request i is sent at t0 + i/200 whatever
   came back), latency counted from the scheduled send time.

Every Guichet request is a valid intake with a unique external reference and must answer 201;
anything else is counted and printed as an error. The numbers are ratios against the baseline
measured in the same run: these machines are noisy, and the load generator shares their two cores
with the servers. It exits 0 whether the targets are met or not (it is a measurement), and non-zero
only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"

CONCURRENCY = 16
WARMUP_SECONDS = 2.0
THROUGHPUT_ROUNDS = 2
ROUND_SECONDS = 4.0  # THROUGHPUT_ROUNDS x ROUND_SECONDS = 8 s measured per server
MAX_REQUESTS_PER_WORKER = 20_000  # a bound on every closed loop, whatever the speed
RATE = 200  # requests per second, open loop
LATENCY_SECONDS = 10.0
LATENCY_CONNECTIONS = 64
REQUEST_TIMEOUT = 10.0
DRAIN_SECONDS = 10.0  # how long the open loop waits for its last answers
SETTLE_SECONDS = 1.0  # pause before each latency phase
STARTUP_SECONDS = 30.0
WATCHDOG_SECONDS = 150.0  # the load phases end by themselves well before this

TARGET_RATIO = 0.5
TARGET_P95_MS = 25.0

BARE_TABLE = "bench_bare_intake"
SERVE_DB_ENV = "_GUICHET_BENCH_SERVE_DATABASE_URL"


# ----- the two servers (run in subprocesses) ----------------------------------------------------


def guichet_app(database_url: str) -> Any:
    from services.api.app import AppConfig, create_app
    from services.kernel.logging import configure_logging

    configure_logging()  # as `guichet run` does: JSON access lines on stderr (here: a file)
    return create_app(AppConfig(database_url=database_url))


def bare_app(database_url: str) -> Any:
    import asyncpg
    from litestar import Litestar, get, post
    from litestar.datastructures import State

    dsn = asyncpg_dsn(database_url)
    insert = (
        f"INSERT INTO {BARE_TABLE} (id, tenant, reference, payload, created_at) "
        "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id"
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The same bounds as Guichet's SQLAlchemy pool: 10 connections, 10 more on demand.
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @post("/intake")
    async def intake(data: dict[str, Any], state: State) -> dict[str, Any]:
        reference = str(data.get("external_ref") or uuid.uuid4().hex)
        row_id = await state.pool.fetchval(
            insert,
            uuid.uuid4(),
            str(data.get("tenant", "")),
            reference,
            json.dumps(data),
            datetime.now(UTC),
        )
        return {"id": str(row_id), "reference": reference}

    return Litestar(route_handlers=[health, intake], lifespan=[lifespan], debug=False)


def serve(kind: str, port: int) -> None:
    import uvicorn

    database_url = os.environ[SERVE_DB_ENV]
    app = guichet_app(database_url) if kind == "guichet" else bare_app(database_url)
    uvicorn.run(app, host=HOST, port=port, workers=1, log_level="warning", access_log=False)


# ----- database ---------------------------------------------------------------------------------


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def admin_sql(admin_url: str, sql: str) -> None:
    from services.kernel.db import make_engine

    engine = make_engine(admin_url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@dataclass
class Seeded:
    token: str
    tenant: str
    server_version: str


async def prepare_database(database_url: str) -> Seeded:
    """The bare table, a tenant, an API client with intake:write and its bearer token."""
    import asyncpg

    from identity import service as ids
    from services.kernel.actor import Scope
    from services.kernel.db import make_engine, make_sessionmaker

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            f"CREATE TABLE {BARE_TABLE} (id uuid PRIMARY KEY, tenant text NOT NULL, "
            "reference text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL)"
        )
        version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()

    engine = make_engine(database_url)
    try:
        now = datetime.now(UTC)
        async with make_sessionmaker(engine)() as session, session.begin():
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
            # general.request's acknowledgement names the service in charge (R112-11-1 CRPA).
            await ids.add_tenant_service(
                session,
                tenant,
                code="accueil",
                name="Accueil de la mairie",
                address="1 place de la Mairie, 69123 Banc",
                phone="04 00 00 00 01",
                email="accueil@bench.invalid",
            )
            client, secret = await ids.create_api_client(
                session, now=now, tenant=tenant, name="Portail (banc)", scopes=[Scope.INTAKE_WRITE]
            )
            issued = await ids.issue_client_token(
                session,
                now=now,
                client_id=client.client_id,
                client_secret=secret,
                requested_scopes=None,
                ttl=timedelta(hours=2),
            )
    finally:
        await engine.dispose()
    return Seeded(token=issued.access_token, tenant="69123", server_version=version)


async def count_rows(database_url: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        cases = int(await conn.fetchval('SELECT count(*) FROM "case"'))
        bare = int(await conn.fetchval(f"SELECT count(*) FROM {BARE_TABLE}"))
    finally:
        await conn.close()
    return cases, bare


# ----- server processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            content = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(content[-lines:])


def start_server(kind: str, database_url: str, workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / f"{kind}.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GUICHET_DATABASE_URL", "GUICHET_REDIS_URL", "GUICHET_EXTRA_PROCEDURES")
    }
    env[SERVE_DB_ENV] = database_url
    env["GUICHET_DATA_DIR"] = str(workdir / "data")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.intake", "serve", kind, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path.cwd(),
        )
    return Server(kind, port, process, log_path)


async def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the {server.name} server exited with {server.process.returncode}:\n"
                    + server.log_tail()
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {server.name} server did not answer in {STARTUP_SECONDS:.0f} s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


# ----- load generation --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base_url: str
    path: str
    headers: dict[str, str]
    body: Callable[[], bytes]


@dataclass
class Tally:
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        if len(self.samples) < 5 and not any(x.startswith(f"{key}:") for x in self.samples):
            self.samples.append(f"{key}: {detail[:300]}")

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def intake_body(tenant: str) -> Callable[[], bytes]:
    """A valid ``general.request`` intake, with a unique external reference each time."""

    def build() -> bytes:
        return json.dumps(
            {
                "tenant": tenant,
                "procedure": "general.request",
                "submitter": {
                    "given_name": "Camille",
                    "family_name": "Martin",
                    "email": "camille.martin@example.org",
                    "phone": "06 12 34 56 78",
                },
                "payload": {
                    "subject": "Horaires d'ouverture de la médiathèque",
                    "message": "Bonjour, la médiathèque est-elle ouverte le lundi matin ? Merci.",
                    "topic": "information",
                },
                "external_ref": f"bench-{uuid.uuid4().hex}",
            }
        ).encode()

    return build


@dataclass
class Reply:
    status: int
    body: bytes


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, with a pool of connections.

    The load generator shares the machine with the servers, so it must cost little: this costs
    about 0.1 ms of CPU per request, where httpx's pooled AsyncClient was measured here at 1 ms
    (1 connection), 2 ms (16) and 7 ms (64) per request, more than the bare server itself.
    ``--client httpx`` runs the benchmark with httpx instead, for comparison.
    """

    def __init__(self, base_url: str, headers: dict[str, str], connections: int) -> None:
        url = httpx.URL(base_url)
        if url.host != HOST:
            raise ValueError(f"the benchmark only targets {HOST}, not {url.host}")
        self.host = url.host
        self.port = url.port or 80
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1")
        self._host_header = f"Host: {self.host}:{self.port}\r\n".encode()

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()  # the server closed it while idle (uvicorn: after 5 s)
        return None

    async def post(self, path: str, body: bytes) -> Reply:
        async with self._slots, asyncio.timeout(REQUEST_TIMEOUT):
            conn = self._reusable()
            if conn is not None:
                try:
                    return await self._send(conn, path, body)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    # An idle connection closed under us before any answer: like httpx, try
                    # once more on a new one. Anything else is the server's doing.
                    if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                        raise
            return await self._send(await asyncio.open_connection(self.host, self.port), path, body)

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str, body: bytes
    ) -> Reply:
        try:
            reply, keep = await self._exchange(conn, path, body)
        except BaseException:
            conn[1].close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn[1].close()
        return reply

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str, body: bytes
    ) -> tuple[Reply, bool]:
        reader, writer = conn
        writer.write(
            b"POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self._host_header, self._head, len(body), body)
        )
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        if "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            for _ in range(100_000):
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            data = b"".join(chunks)
        else:
            data, keep = await reader.read(), False
        return Reply(status, data), keep

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


class HttpxClient:
    """The same interface on httpx.AsyncClient (``--client httpx``)."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            timeout=httpx.Timeout(REQUEST_TIMEOUT),
        )

    async def post(self, path: str, body: bytes) -> Reply:
        response = await self._client.post(path, content=body)
        return Reply(response.status_code, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


Client = RawClient | HttpxClient
CLIENT_KINDS: dict[str, type[RawClient] | type[HttpxClient]] = {
    "raw": RawClient,
    "httpx": HttpxClient,
}
client_kind = "raw"


@asynccontextmanager
async def make_client(target: Target, connections: int) -> AsyncIterator[Client]:
    client = CLIENT_KINDS[client_kind](target.base_url, target.headers, connections)
    try:
        yield client
    finally:
        await client.aclose()


TRANSPORT_ERRORS = (
    OSError,
    TimeoutError,
    EOFError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
    httpx.HTTPError,
)


async def post_one(client: Client, target: Target, tally: Tally) -> bool:
    try:
        reply = await client.post(target.path, target.body())
    except TRANSPORT_ERRORS as exc:
        tally.error(type(exc).__name__, str(exc) or repr(exc))
        return False
    if reply.status != 201:
        tally.error(f"HTTP {reply.status}", reply.body.decode(errors="replace"))
        return False
    tally.ok += 1
    return True


async def closed_loop(client: Client, target: Target, seconds: float, tally: Tally) -> float:
    """CONCURRENCY workers post back to back for ``seconds``; returns the elapsed time."""
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        for _ in range(MAX_REQUESTS_PER_WORKER):
            if time.perf_counter() >= deadline:
                return
            await post_one(client, target, tally)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a local process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def is_postgres_process(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except OSError:
        return False


@dataclass
class CpuUse:
    server: float = 0.0
    postgres: float = 0.0
    server_known: bool = True
    postgres_known: bool = True


class CpuMeter:
    """CPU used by a server process and by the PostgreSQL backends of the bench database.

    Less sensitive to other load on the machine than requests per second: it says what one
    request costs. PostgreSQL is measured only when it runs on this machine (its backends' pids
    are read from pg_stat_activity and looked up in /proc).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.conn: Any = None

    async def __aenter__(self) -> CpuMeter:
        import asyncpg

        host = make_url(self.database_url).host
        if host in (None, "", "127.0.0.1", "localhost", "::1"):
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                self.conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def _backends(self) -> dict[int, float] | None:
        if self.conn is None:
            return None
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        out: dict[int, float] = {}
        for row in pids:
            pid = int(row["pid"])
            cpu = process_cpu(pid) if is_postgres_process(pid) else None
            if cpu is not None:
                out[pid] = cpu
        return out

    @asynccontextmanager
    async def measure(self, server_pid: int, use: CpuUse) -> AsyncIterator[None]:
        server_before = process_cpu(server_pid)
        pg_before = await self._backends()
        yield
        server_after = process_cpu(server_pid)
        pg_after = await self._backends()
        if server_before is None or server_after is None:
            use.server_known = False
        else:
            use.server += server_after - server_before
        if pg_before is None or pg_after is None:
            use.postgres_known = False
        else:
            # A backend that started during the phase counts from zero; one that ended is lost.
            use.postgres += sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())


@dataclass
class LatencyResult:
    tally: Tally
    sent: int
    elapsed: float
    send_lags: list[float]


async def open_loop(client: Client, target: Target) -> LatencyResult:
    """Request i goes out at t0 + i/RATE whatever came back; latency counts from that time.

    Times come from perf_counter: uvloop's loop.time() only ticks in milliseconds.
    """
    clock = time.perf_counter
    tally = Tally()
    total = int(RATE * LATENCY_SECONDS)
    lags: list[float] = []

    async def timed(scheduled: float) -> None:
        if await post_one(client, target, tally):
            tally.latencies.append(clock() - scheduled)

    tasks: list[asyncio.Task[None]] = []
    t0 = clock() + 0.05
    for i in range(total):
        scheduled = t0 + i / RATE
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, clock() - scheduled))
        tasks.append(asyncio.create_task(timed(scheduled)))
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in pending:
        task.cancel()
        tally.error("unanswered", f"still waiting {DRAIN_SECONDS:.0f} s after the last send")
    await asyncio.gather(*pending, return_exceptions=True)
    return LatencyResult(tally, len(tasks), clock() - t0, lags)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)  # nearest rank
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Results:
    warmup: dict[str, Tally]
    throughput: dict[str, Tally]
    throughput_seconds: dict[str, float]
    cpu: dict[str, CpuUse]
    latency: dict[str, LatencyResult]


async def run_load(
    guichet: Target, bare: Target, pids: dict[str, int], database_url: str
) -> Results:
    targets = (guichet, bare)
    warmup = {t.name: Tally() for t in targets}
    throughput = {t.name: Tally() for t in targets}
    seconds = dict.fromkeys(warmup, 0.0)
    cpu = {t.name: CpuUse() for t in targets}
    latency: dict[str, LatencyResult] = {}

    async with contextlib.AsyncExitStack() as stack:
        clients = {
            t.name: await stack.enter_async_context(make_client(t, CONCURRENCY)) for t in targets
        }
        for t in targets:
            print(f"  warm-up {t.name}: {WARMUP_SECONDS:.0f} s", flush=True)
            await closed_loop(clients[t.name], t, WARMUP_SECONDS, warmup[t.name])
        meter = await stack.enter_async_context(CpuMeter(database_url))
        for r in range(THROUGHPUT_ROUNDS):
            # Alternate the order so neither server always runs right after the other.
            for t in targets if r % 2 == 0 else tuple(reversed(targets)):
                print(
                    f"  throughput round {r + 1}/{THROUGHPUT_ROUNDS} {t.name}: "
                    f"{CONCURRENCY} workers, {ROUND_SECONDS:.0f} s",
                    flush=True,
                )
                async with meter.measure(pids[t.name], cpu[t.name]):
                    seconds[t.name] += await closed_loop(
                        clients[t.name], t, ROUND_SECONDS, throughput[t.name]
                    )

    # The bare server first: if Guichet falls behind, its backlog cannot spill into the other.
    for t in (bare, guichet):
        await asyncio.sleep(SETTLE_SECONDS)
        print(f"  latency {t.name}: {RATE} req/s open loop, {LATENCY_SECONDS:.0f} s", flush=True)
        async with make_client(t, LATENCY_CONNECTIONS) as client:
            latency[t.name] = await open_loop(client, t)
    return Results(warmup, throughput, seconds, cpu, latency)


# ----- report -----------------------------------------------------------------------------------


def report(
    results: Results, seeded: Seeded, rows: tuple[int, int], load_before: tuple[float, ...]
) -> bool:
    """Print the table; return whether the measurement is usable (every phase had successes)."""
    g, b = "guichet", "bare"
    rps = {
        n: results.throughput[n].ok / results.throughput_seconds[n]
        if results.throughput_seconds[n]
        else 0.0
        for n in (g, b)
    }
    ratio = rps[g] / rps[b] if rps[b] else float("nan")
    lat = results.latency
    ms = {n: [x * 1000 for x in lat[n].tally.latencies] for n in (g, b)}
    p95_g = percentile(ms[g], 95)

    def met(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    def errors(n: str) -> int:
        return (
            results.warmup[n].error_count
            + results.throughput[n].error_count
            + lat[n].tally.error_count
        )

    w = 34
    line = "-" * (w + 48)
    print()
    print(f"Intake benchmark — PostgreSQL {seeded.server_version}, uvicorn 1 worker per server")
    print(
        f"Machine: {os.cpu_count()} cores shared by the load generator, the server under test and "
        f"PostgreSQL; load average before the run {', '.join(f'{x:.1f}' for x in load_before)}"
        + (" (other work was running: req/s and latency suffer)" if load_before[0] > 0.5 else "")
    )
    print(line)
    print(f"{'':{w}}{'Guichet intake':>16}{'bare insert':>14}   target")
    print(line)
    print(
        f"{'throughput req/s (' + str(CONCURRENCY) + ' workers)':{w}}{rps[g]:>16.1f}{rps[b]:>14.1f}"
    )
    print(
        f"{'  ratio Guichet / bare':{w}}{ratio:>16.2f}{'':>14}   "
        f"≥ {TARGET_RATIO:.2f}: {met(ratio >= TARGET_RATIO)}"
    )
    print(
        f"{'  requests (measured ' + f'{THROUGHPUT_ROUNDS * ROUND_SECONDS:.0f} s)':{w}}"
        f"{results.throughput[g].ok:>16}{results.throughput[b].ok:>14}"
    )

    def per_request(n: str, seconds: float, known: bool) -> str:
        ok = results.throughput[n].ok
        return f"{1000 * seconds / ok:.2f}" if known and ok else "n/a"

    c = results.cpu
    print(
        f"{'  server CPU ms/request':{w}}"
        f"{per_request(g, c[g].server, c[g].server_known):>16}"
        f"{per_request(b, c[b].server, c[b].server_known):>14}"
    )
    print(
        f"{'  PostgreSQL CPU ms/request':{w}}"
        f"{per_request(g, c[g].postgres, c[g].postgres_known):>16}"
        f"{per_request(b, c[b].postgres, c[b].postgres_known):>14}"
    )
    if c[g].server_known and c[b].server_known and c[g].server and c[b].server:
        cost_ratio = (c[b].server / results.throughput[b].ok) / (
            c[g].server / results.throughput[g].ok
        )
        print(f"{'  ratio by server CPU cost':{w}}{cost_ratio:>16.2f}{'':>14}   (bare / Guichet)")
    print(f"{'latency at ' + str(RATE) + ' req/s, open loop':{w}}")
    for q in (50, 95, 99):
        target = f"   ≤ {TARGET_P95_MS:.0f} ms: {met(p95_g <= TARGET_P95_MS)}" if q == 95 else ""
        print(
            f"{'  p' + str(q) + ' ms':{w}}{percentile(ms[g], q):>16.1f}"
            f"{percentile(ms[b], q):>14.1f}{target}"
        )
    print(f"{'  max ms':{w}}{max(ms[g], default=0):>16.1f}{max(ms[b], default=0):>14.1f}")
    achieved = {n: lat[n].tally.ok / lat[n].elapsed if lat[n].elapsed else 0.0 for n in (g, b)}
    print(f"{'  answered req/s':{w}}{achieved[g]:>16.1f}{achieved[b]:>14.1f}")
    print(
        f"{'  sender lag p99 ms (generator)':{w}}"
        f"{percentile([x * 1000 for x in lat[g].send_lags], 99):>16.1f}"
        f"{percentile([x * 1000 for x in lat[b].send_lags], 99):>14.1f}"
    )
    print(f"{'errors (all phases)':{w}}{errors(g):>16}{errors(b):>14}   0")
    print(f"{'rows in database':{w}}{rows[0]:>16}{rows[1]:>14}")
    print(line)
    answered = {
        n: results.warmup[n].ok + results.throughput[n].ok + lat[n].tally.ok for n in (g, b)
    }
    if answered[g] != rows[0] or answered[b] != rows[1]:
        print(
            f"note: 201 answers ({answered[g]} / {answered[b]}) and rows differ: requests that "
            "timed out on the client may still have committed."
        )
    for n in (g, b):
        tallies = (results.warmup[n], results.throughput[n], lat[n].tally)
        kinds: Counter[str] = sum((t.errors for t in tallies), Counter())
        if kinds:
            print(f"errors from {n}: " + ", ".join(f"{k} × {v}" for k, v in kinds.most_common()))
            for t in tallies:
                for sample in t.samples:
                    print(f"    {sample}")
    print(
        "Guichet: POST /api/v1/intake/ by an API client (bearer token issued before the run), "
        "procedure general.request, unique external_ref, PostgreSQL, no Redis (the intake does "
        "not use it), JSON access log written to a file as in production."
    )
    print(
        "Bare: a Litestar POST handler doing one INSERT ... RETURNING id on a raw asyncpg pool "
        "(same pool bounds: 10 + 10)."
    )
    print(
        f"Caveat: the load generator (this process, {client_kind} HTTP client) runs on the same "
        f"{os.cpu_count()} cores as the server under test and PostgreSQL. Absolute numbers are "
        "pessimistic; the bare server is the likelier to be held back by the generator, which "
        "flatters the ratio. Compare runs on the same machine only."
    )
    print(
        "CPU ms/request: CPU time of the server process and of the PostgreSQL backends during the "
        "throughput rounds, per answered request (/proc); less sensitive than req/s to other "
        "load on the machine. Latency counts from the scheduled send time (no coordinated "
        "omission); the sender lag row shows how late the generator itself was."
    )
    return all(results.throughput[n].ok > 0 and lat[n].tally.ok > 0 for n in (g, b))


# ----- main -------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    name = f"guichet_bench_{secrets.token_hex(4)}"
    asyncio.run(admin_sql(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        print(f"dropped database {name}")


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def bench() -> int:
    from services.kernel.migrate import upgrade

    admin_url = os.environ.get("GUICHET_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    if not admin_url.startswith("postgresql"):
        print("GUICHET_BENCH_DATABASE_URL must be a postgresql+asyncpg:// URL", file=sys.stderr)
        return 2
    print(f"intake benchmark: PostgreSQL at {safe_url(admin_url)}", flush=True)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    with bench_database(admin_url) as database_url:
        workdir = Path(tempfile.mkdtemp(prefix="guichet-bench-"))
        print(f"  database {make_url(database_url).database}: migrating", flush=True)
        upgrade(database_url)
        seeded = asyncio.run(prepare_database(database_url))
        servers: list[Server] = []
        try:
            for kind in ("guichet", "bare"):
                servers.append(start_server(kind, database_url, workdir))
            guichet_server, bare_server = servers

            async def load() -> tuple[Results, tuple[int, int]]:
                await asyncio.gather(*(wait_ready(s) for s in servers))
                guichet = Target(
                    "guichet",
                    guichet_server.base_url,
                    "/api/v1/intake/",
                    {
                        "Authorization": f"Bearer {seeded.token}",
                        "Content-Type": "application/json",
                    },
                    intake_body(seeded.tenant),
                )
                bare = Target(
                    "bare",
                    bare_server.base_url,
                    "/intake",
                    {"Content-Type": "application/json"},
                    intake_body(seeded.tenant),
                )
                pids = {s.name: s.process.pid for s in servers}
                results = await asyncio.wait_for(
                    run_load(guichet, bare, pids, database_url), WATCHDOG_SECONDS
                )
                return results, await count_rows(database_url)

            results, rows = run_async(load())
        except BaseException:
            print(f"server logs kept in {workdir}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                stop_server(server)
        usable = report(results, seeded, rows, load_before)
    if not usable:
        print("the benchmark failed: a server answered no request", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        print(f"server logs kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.intake", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="internal: run one of the two servers")
    serve_cmd.add_argument("kind", choices=("guichet", "bare"))
    serve_cmd.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENT_KINDS),
        default="raw",
        help="HTTP client of the load generator (default: raw, the cheapest)",
    )
    args = parser.parse_args(argv)
    global client_kind
    client_kind = args.client
    if args.command == "serve":
        serve(args.kind, args.port)
        return 0
    return bench()


if __name__ == "__main__":
    sys.exit(main())
