"""Channels benchmark (issue 5): web submissions with a 1 MB attachment, and inbound mail by LMTP.

Run it from the repository root with ``make bench-channels``
(``.venv/bin/python -m tests.benchmarks.channels``).

It needs a PostgreSQL server: ``GUICHET_BENCH_DATABASE_URL`` (an admin URL, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). It creates its own database
``guichet_bench_<random>``, migrates it, seeds a tenant (with the service ``general.request``
names), signed-in people and a mail route, and drops the database at the end, also on failure.

1. Web, over HTTP: Guichet built by ``create_app`` as in production, served by uvicorn (one
   worker) in a subprocess. ``WEB_CLIENTS`` clients (one keep-alive connection each, httpx), each
   signed in as a person (session cookie + ``X-CSRF-Token``), repeat for ``WEB_SECONDS``:
   ``POST /api/v1/drafts`` → ``POST /api/v1/drafts/{id}/attachments`` (a 1 MB PDF, raw body,
   ``X-Filename: plan.pdf``) → ``POST /api/v1/drafts/{id}/submit``. A person's storage quota
   (100 MiB) bounds how many files one person may upload: a client moves to the next person
   after ``SUBMISSIONS_PER_PERSON`` submissions.
   Baselines, in this process, with the same number of concurrent tasks, no HTTP (the three
   run after a short warm-up each, in ``WEB_ROUNDS`` alternating rounds, the server idle while
   the in-process rounds run):

   - raw (the reference of the ratio): in ONE transaction, the same 1 MB stored in the
     content-addressed storage (``DocumentStorage.put``, as ``channels.attachments.service``
     stores an upload), ``channels.intake.submit`` (channel web, as ``submit_draft`` calls it)
     and the ``Attachment`` row on the new case;
   - service path (for information): the very functions the HTTP handlers call
     (``channels.web.service.create_draft``, ``channels.attachments.service.Uploads.receive``,
     ``channels.web.service.submit_draft``), each in its own transaction(s) like over HTTP.

2. Mail: the LMTP listener (``channels.mail.lmtp.serve`` + ``MailHandler``, as
   ``guichet mail lmtp`` builds it; acknowledgements written as ``.eml`` files, the default
   without an SMTP server) runs on this process's event loop; ``MAIL_CONNECTIONS`` threads each
   keep one ``smtplib.LMTP`` connection and send distinct mails (~2 KB of text, unique
   Message-ID, a new sender each time: the per-sender hourly limit is not reached) to a route of
   ``general.request`` for ``MAIL_SECONDS``; every mail opens a case. Baseline (the ratio of the
   issue): the same raw bytes through ``channels.mail.parser.parse`` only (as
   ``MailService.parse`` calls it), in a loop, one thread. For information, also
   ``channels.mail.service.process`` (what ``handle_DATA`` calls: parse, persist, open the case,
   acknowledge) from ``MAIL_CONNECTIONS`` tasks without LMTP: the cost of the protocol layer.

Numbers are printed with their ratio against the baseline measured in the same run (the
machines are noisy and shared with PostgreSQL). It exits 0 whatever the numbers (it is a
measurement), and non-zero only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import smtplib
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.benchmarks.intake import (
    DEFAULT_ADMIN_URL,
    HOST,
    Server,
    bench_database,
    run_async,
    safe_url,
    start_server,
    stop_server,
    wait_ready,
)

TENANT = "69123"
PROCEDURE = "general.request"
ATTACHMENT_BYTES = 1_000_000
WEB_CLIENTS = 4
WEB_WARMUP_SECONDS = 1.0  # per side
WEB_ROUNDS = 2
WEB_SECONDS = 15.0
INPROCESS_SECONDS = 10.0  # each in-process baseline, over the rounds
SUBMISSIONS_PER_PERSON = 80  # 80 MB of files: under the 100 MiB quota of one person
PERSONS_PER_POOL = 60
MAIL_ROUTE = "demandes@bench.invalid"
MAIL_CONNECTIONS = 4
MAIL_WARMUP_SECONDS = 1.0
MAIL_SECONDS = 15.0
PARSE_SECONDS = 5.0
PROCESS_SECONDS = 8.0
MAIL_TEXT_BYTES = 2000
REQUEST_TIMEOUT = 30.0
WATCHDOG_SECONDS = 150.0

PAYLOAD = {
    "subject": "Permis de construire : plan de masse",
    "message": "Bonjour, vous trouverez ci-joint le plan de masse demandé. Cordialement.",
}
RANDOM_BLOCK = os.urandom(ATTACHMENT_BYTES - 64)


def pdf_bytes() -> bytes:
    """A distinct 1 MB "PDF" each time (content-addressed storage would keep one copy of equal
    files): a unique id, then a random block shared by all (cheap to build)."""
    body = b"%PDF-1.4\n" + uuid.uuid4().hex.encode() + b"\n" + RANDOM_BLOCK
    body = body[: ATTACHMENT_BYTES - 7]
    return body + b"\n%%EOF\n"


# ----- seed -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedInPerson:
    person_id: uuid.UUID
    cookie: str
    csrf: str


@dataclass
class Seeded:
    tenant_id: uuid.UUID
    server_version: str
    pools: dict[str, list[SignedInPerson]]


async def seed(database_url: str, pool_names: tuple[str, ...]) -> Seeded:
    from channels.models import MailRoute
    from identity import service as ids
    from identity.models import Person
    from identity.sessions import start_session
    from services.kernel.db import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        now = datetime.now(UTC)
        pools: dict[str, list[SignedInPerson]] = {}
        async with make_sessionmaker(engine)() as session, session.begin():
            version = str(await session.scalar(select(func.version())))
            tenant = await ids.create_tenant(
                session,
                now=now,
                insee_code=TENANT,
                slug="banc-d-essai",
                name="Commune du banc d'essai",
                kind="commune",
                address="1 place de la Mairie",
                postal_code=TENANT,
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
            session.add(MailRoute(address=MAIL_ROUTE, tenant_id=tenant.id, procedure_key=PROCEDURE))
            for pool in pool_names:
                people: list[SignedInPerson] = []
                for i in range(PERSONS_PER_POOL):
                    person = Person(
                        given_name="Camille",
                        family_name=f"Martin-{pool}-{i}",
                        contact_email=f"camille.{pool}.{i}@example.org",
                        created_at=now,
                    )
                    session.add(person)
                    await session.flush()
                    started = await start_session(session, now=now, person_id=person.id)
                    people.append(
                        SignedInPerson(person.id, started.token, started.record.csrf_token)
                    )
                pools[pool] = people
            tenant_id = tenant.id
    finally:
        await engine.dispose()
    return Seeded(tenant_id, version.split(" on ")[0], pools)


# ----- tallies ----------------------------------------------------------------------------------


@dataclass
class Tally:
    ok: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    exhausted: bool = False
    """The pool of people ran out before the time was up (the rate stays valid)."""

    def error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        if len(self.samples) < 5 and not any(x.startswith(f"{key}:") for x in self.samples):
            self.samples.append(f"{key}: {detail[:300]}")

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class People:
    """Hands out people from a pool; each serves ``SUBMISSIONS_PER_PERSON`` submissions."""

    def __init__(self, people: list[SignedInPerson]) -> None:
        self._people = iter(people)

    def next(self) -> SignedInPerson | None:
        return next(self._people, None)


Factory = Callable[[SignedInPerson], Awaitable[Callable[[], Awaitable[None]]]]
"""Given a signed-in person, prepares what makes one submission as that person."""


async def timed_loop(
    workers: int,
    seconds: float,
    people: People,
    tally: Tally,
    make_worker: Factory,
) -> None:
    """``workers`` tasks repeat one submission until ``seconds`` are over; successes that end
    inside the window count."""
    start = time.perf_counter()
    deadline = start + seconds
    ended = start

    async def worker() -> None:
        nonlocal ended
        while time.perf_counter() < deadline:
            person = people.next()
            if person is None:
                tally.exhausted = True
                return
            one = await make_worker(person)
            for _ in range(SUBMISSIONS_PER_PERSON):
                if time.perf_counter() >= deadline:
                    return
                try:
                    await one()
                except Exception as exc:  # counted and printed
                    tally.error(type(exc).__name__, str(exc))
                    continue
                now = time.perf_counter()
                if now <= deadline:
                    tally.ok += 1
                    ended = max(ended, now)

    await asyncio.gather(*(worker() for _ in range(workers)))
    tally.seconds += ended - start if tally.exhausted else seconds


# ----- web over HTTP ----------------------------------------------------------------------------

clients: list[httpx.AsyncClient] = []
"""Every HTTP client opened by the web phase, closed at its end."""


class HttpFailure(Exception):
    pass


def http_submission(server: Server, cookie_name: str) -> Factory:
    async def for_person(person: SignedInPerson) -> Callable[[], Awaitable[None]]:
        client = httpx.AsyncClient(
            base_url=server.base_url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"Cookie": f"{cookie_name}={person.cookie}", "X-CSRF-Token": person.csrf},
        )
        clients.append(client)

        async def one() -> None:
            r = await client.post(
                "/api/v1/drafts/",
                json={"tenant": TENANT, "procedure": PROCEDURE, "payload": PAYLOAD},
            )
            check(r, "draft")
            draft_id = r.json()["id"]
            r = await client.post(
                f"/api/v1/drafts/{draft_id}/attachments",
                content=pdf_bytes(),
                headers={"X-Filename": "plan.pdf", "Content-Type": "application/pdf"},
            )
            check(r, "attachment")
            r = await client.post(f"/api/v1/drafts/{draft_id}/submit")
            check(r, "submit")

        return one

    return for_person


def check(reply: httpx.Response, step: str) -> None:
    if reply.status_code != 201:
        raise HttpFailure(f"{step} {reply.status_code}: {reply.text[:200]}")


# ----- web in process ---------------------------------------------------------------------------


@dataclass
class InProcess:
    sessionmaker: Any
    engine: Any
    clock: Any
    storage: Any
    tenants: Any
    tenant_id: uuid.UUID


async def in_process_parts(database_url: str, tenant_id: uuid.UUID) -> tuple[InProcess, Any]:
    from documents.storage import storage_from_settings
    from identity.service import TenantCache
    from services.kernel.clock import SystemClock
    from services.kernel.db import make_engine, make_sessionmaker
    from workflows.procedures import build_engine

    db = make_engine(database_url)
    parts = InProcess(
        sessionmaker=make_sessionmaker(db),
        engine=build_engine(),
        clock=SystemClock(),
        storage=storage_from_settings(),
        tenants=TenantCache(),
        tenant_id=tenant_id,
    )
    return parts, db


async def actor_of(parts: InProcess, person_id: uuid.UUID) -> Any:
    from identity.models import Person
    from identity.sessions import person_actor

    async with parts.sessionmaker() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        return await person_actor(session, person, now=parts.clock.now())


def raw_submission(
    parts: InProcess,
) -> Factory:
    """One transaction: store the file, intake.submit (as submit_draft calls it), the row."""
    from channels.intake import IntakeRequest, submit
    from channels.models import Attachment

    async def for_person(person: SignedInPerson) -> Callable[[], Awaitable[None]]:
        actor = await actor_of(parts, person.person_id)

        async def one() -> None:
            data = pdf_bytes()
            async with parts.sessionmaker() as session, session.begin():
                now = parts.clock.now()
                blob = await parts.storage.put(data)
                draft_id = uuid.uuid4()
                result = await submit(
                    session,
                    parts.engine,
                    parts.clock,
                    IntakeRequest(
                        tenant=str(parts.tenant_id),
                        procedure_key=PROCEDURE,
                        channel="web",
                        submitter={},
                        payload=dict(PAYLOAD),
                        actor=actor,
                        external_ref=f"draft:{draft_id}",
                        channel_data={"draft_id": str(draft_id)},
                    ),
                    tenants=parts.tenants,
                )
                session.add(
                    Attachment(
                        tenant_id=parts.tenant_id,
                        person_id=person.person_id,
                        case_id=result.case_id,
                        filename="plan.pdf",
                        content_type="application/pdf",
                        size=blob.size,
                        sha256=blob.sha256,
                        storage_key=blob.key,
                        scan_status="not_scanned",
                        created_at=now,
                    )
                )

        return one

    return for_person


def service_submission(
    parts: InProcess,
) -> Factory:
    """The functions the three HTTP handlers call, each in its own transaction(s)."""
    from channels.attachments.service import Uploads
    from channels.web import service

    uploads = Uploads(parts.sessionmaker, parts.storage, parts.clock, scanner=None)

    async def for_person(person: SignedInPerson) -> Callable[[], Awaitable[None]]:
        actor = await actor_of(parts, person.person_id)

        async def chunks(data: bytes) -> AsyncIterator[bytes]:
            for i in range(0, len(data), 65536):
                yield data[i : i + 65536]

        async def one() -> None:
            async with parts.sessionmaker() as session, session.begin():
                draft = await service.create_draft(
                    session,
                    parts.engine,
                    parts.tenants,
                    actor,
                    tenant_ref=TENANT,
                    procedure_key=PROCEDURE,
                    payload=dict(PAYLOAD),
                    submitter={},
                    now=parts.clock.now(),
                )
                draft_id = draft.id
            data = pdf_bytes()
            await uploads.receive(
                actor,
                chunks(data),
                filename="plan.pdf",
                declared_length=len(data),
                draft_id=draft_id,
            )
            async with parts.sessionmaker() as session, session.begin():
                await service.submit_draft(
                    session, parts.engine, parts.clock, parts.tenants, actor, draft_id
                )

        return one

    return for_person


# ----- mail -------------------------------------------------------------------------------------

WORDS = (
    "Bonjour, je vous écris au sujet du lampadaire éteint depuis une semaine devant le numéro "
    "douze de la rue des Lilas. Le soir, le trottoir est très sombre et les enfants rentrent de "
    "l'école à pied. Pourriez-vous envoyer quelqu'un pour le réparer ? "
)


def mail_bytes(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Habitant {n} <habitant.{n}@example.org>"
    msg["To"] = MAIL_ROUTE
    msg["Subject"] = f"Lampadaire éteint rue des Lilas ({n})"
    msg["Message-ID"] = f"<bench-{n}-{uuid.uuid4().hex}@example.org>"
    text = (WORDS * (MAIL_TEXT_BYTES // len(WORDS) + 1))[:MAIL_TEXT_BYTES]
    msg.set_content(f"{text}\n\nHabitant {n}\n")
    return msg.as_bytes(policy=policy.default.clone(linesep="\r\n"))


@dataclass
class MailRun:
    tally: Tally
    raws: list[bytes]


def send_mails(port: int, seconds: float, numbers: Any, run: MailRun, lock: threading.Lock) -> None:
    """One LMTP connection, many transactions, until ``seconds`` are over (a thread)."""
    deadline = time.perf_counter() + seconds
    with smtplib.LMTP(HOST, port, timeout=REQUEST_TIMEOUT) as client:
        while time.perf_counter() < deadline:
            n = next(numbers)
            raw = mail_bytes(n)
            try:
                refused = client.sendmail(f"habitant.{n}@example.org", [MAIL_ROUTE], raw)
            except smtplib.SMTPException as exc:
                with lock:
                    run.tally.error(type(exc).__name__, str(exc))
                with contextlib.suppress(smtplib.SMTPException):
                    client.rset()
                continue
            with lock:
                if refused:
                    run.tally.error("refused", str(refused))
                elif time.perf_counter() <= deadline:
                    run.tally.ok += 1
                    run.raws.append(raw)


async def mail_phase(database_url: str, workdir: Path) -> tuple[MailRun, MailRun, Tally]:
    from channels.mail.lmtp import MailHandler, serve
    from channels.mail.service import CASE_OPENED, MailSettings, process
    from documents.storage import storage_from_settings
    from services.kernel.clock import SystemClock
    from services.kernel.db import make_engine, make_sessionmaker
    from workflows.procedures import build_engine

    db = make_engine(database_url)
    handler = MailHandler(
        sessionmaker=make_sessionmaker(db),
        engine=build_engine(),
        clock=SystemClock(),
        storage=storage_from_settings(),
        settings=MailSettings(),
    )
    server = await serve(handler, host=HOST, port=0)
    port = int(server.sockets[0].getsockname()[1])
    numbers = itertools.count()
    lock = threading.Lock()
    warmup, measured = MailRun(Tally(), []), MailRun(Tally(), [])
    try:
        for run, seconds, label in (
            (warmup, MAIL_WARMUP_SECONDS, "warm-up"),
            (measured, MAIL_SECONDS, "measured"),
        ):
            print(
                f"  mail {label}: {MAIL_CONNECTIONS} LMTP connections, {seconds:.0f} s", flush=True
            )
            await asyncio.gather(
                *(
                    asyncio.to_thread(send_mails, port, seconds, numbers, run, lock)
                    for _ in range(MAIL_CONNECTIONS)
                )
            )
            run.tally.seconds = seconds
        server.close()
        await server.wait_closed()

        # The same work without LMTP: what handle_DATA calls, from MAIL_CONNECTIONS tasks.
        print(
            f"  mail in process (channels.mail.service.process): {MAIL_CONNECTIONS} tasks, "
            f"{PROCESS_SECONDS:.0f} s",
            flush=True,
        )
        direct = Tally()
        deadline = time.perf_counter() + PROCESS_SECONDS

        async def receive_mails() -> None:
            while time.perf_counter() < deadline:
                n = next(numbers)
                try:
                    outcome = await process(
                        handler.sessionmaker,
                        handler.engine,
                        handler.clock,
                        handler.storage,
                        mail_bytes(n),
                        source="lmtp",
                        recipients=[MAIL_ROUTE],
                        envelope_from=f"habitant.{n}@example.org",
                        settings=handler.settings,
                    )
                except Exception as exc:  # counted and printed
                    direct.error(type(exc).__name__, str(exc))
                    continue
                if outcome.status != CASE_OPENED:
                    direct.error(outcome.status, outcome.reason or "")
                elif time.perf_counter() <= deadline:
                    direct.ok += 1

        await asyncio.gather(*(receive_mails() for _ in range(MAIL_CONNECTIONS)))
        direct.seconds = PROCESS_SECONDS
    finally:
        server.close()
        await server.wait_closed()
        await db.dispose()
    return warmup, measured, direct


def parse_phase(raws: list[bytes]) -> Tally:
    from channels.mail.parser import parse
    from channels.mail.service import MailSettings
    from documents import mail as outgoing
    from services.kernel.settings import smtp_settings

    settings = MailSettings()
    own = frozenset({outgoing.address_domain(smtp_settings().smtp_from)})
    tally = Tally()
    if not raws:
        return tally
    for raw in raws[:50]:  # warm-up
        parse(raw, max_bytes=settings.max_bytes, max_attachments=settings.max_attachments)
    start = time.perf_counter()
    deadline = start + PARSE_SECONDS
    for raw in itertools.cycle(raws):
        parse(
            raw,
            max_bytes=settings.max_bytes,
            max_attachments=settings.max_attachments,
            own_domains=own,
        )
        tally.ok += 1
        if time.perf_counter() >= deadline:
            break
    tally.seconds = time.perf_counter() - start
    return tally


# ----- checks in the database -------------------------------------------------------------------


async def database_counts(database_url: str) -> dict[str, Any]:
    from channels.models import Attachment, InboundMail
    from services.kernel.db import make_engine, make_sessionmaker
    from workflows.cases.models import Case

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(select(Case.channel, func.count()).group_by(Case.channel))
            cases = dict(rows.all())
            attachments = await session.scalar(
                select(func.count()).select_from(Attachment).where(Attachment.case_id.is_not(None))
            )
            rows = await session.execute(
                select(InboundMail.status, func.count()).group_by(InboundMail.status)
            )
            mails = dict(rows.all())
    finally:
        await engine.dispose()
    return {"cases": cases, "attachments_on_cases": attachments, "mails": mails}


# ----- run --------------------------------------------------------------------------------------


@dataclass
class Results:
    web: dict[str, Tally] = field(default_factory=dict)
    mail_warmup: Tally = field(default_factory=Tally)
    mail: Tally = field(default_factory=Tally)
    mail_direct: Tally = field(default_factory=Tally)
    parse: Tally = field(default_factory=Tally)
    counts: dict[str, Any] = field(default_factory=dict)


async def run_all(database_url: str, seeded: Seeded, server: Server, workdir: Path) -> Results:
    from identity.sessions import session_settings

    results = Results()
    await wait_ready(server)
    cookie_name = session_settings().cookie_name

    # 1. web: over HTTP and in process, in alternating rounds (the machine is shared: noise
    # then hits both sides alike). The server stays up, idle, during the in-process rounds.
    parts, db = await in_process_parts(database_url, seeded.tenant_id)
    phases: dict[str, tuple[People, Factory, float]] = {
        "http": (
            People(seeded.pools["http"]),
            http_submission(server, cookie_name),
            WEB_SECONDS / WEB_ROUNDS,
        ),
        "raw": (People(seeded.pools["raw"]), raw_submission(parts), INPROCESS_SECONDS / WEB_ROUNDS),
        "service": (
            People(seeded.pools["service"]),
            service_submission(parts),
            INPROCESS_SECONDS / WEB_ROUNDS,
        ),
    }
    try:
        for name, (people, factory, _) in phases.items():
            print(f"  web warm-up {name}: {WEB_WARMUP_SECONDS:.0f} s", flush=True)
            results.web[f"{name}-warmup"] = Tally()
            await timed_loop(
                WEB_CLIENTS, WEB_WARMUP_SECONDS, people, results.web[f"{name}-warmup"], factory
            )
        for name in phases:
            results.web[name] = Tally()
        for r in range(WEB_ROUNDS):
            order = list(phases) if r % 2 == 0 else list(reversed(phases))
            for name in order:
                people, factory, seconds = phases[name]
                print(
                    f"  web round {r + 1}/{WEB_ROUNDS} {name}: {WEB_CLIENTS} "
                    f"{'clients' if name == 'http' else 'tasks'}, {seconds:.1f} s",
                    flush=True,
                )
                await timed_loop(WEB_CLIENTS, seconds, people, results.web[name], factory)
    finally:
        for client in clients:
            await client.aclose()
        await db.dispose()
    stop_server(server)

    # 2. mail through LMTP, then parsing only
    warmup, measured, direct = await mail_phase(database_url, workdir)
    results.mail_warmup, results.mail, results.mail_direct = warmup.tally, measured.tally, direct
    print(f"  mail parsing only: {PARSE_SECONDS:.0f} s", flush=True)
    results.parse = await asyncio.to_thread(parse_phase, measured.raws or warmup.raws)
    results.counts = await database_counts(database_url)
    return results


def report(results: Results, seeded: Seeded, load_before: tuple[float, ...]) -> bool:
    w = 44
    line = "-" * (w + 36)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    web = results.web
    http, raw, svc = web["http"], web["raw"], web["service"]
    print()
    print(f"Channels benchmark — {seeded.server_version}, Guichet under uvicorn (1 worker)")
    print(
        f"Machine: {os.cpu_count()} cores shared by the load generator, the server and "
        f"PostgreSQL; load average before the run {', '.join(f'{x:.1f}' for x in load_before)}"
    )
    print(line)
    print(f"{'web: draft + 1 MB PDF + submit':{w}}{'per second':>14}{'count':>10}{'errors':>10}")
    print(line)
    for label, tally in (
        (f"HTTP, {WEB_CLIENTS} clients", http),
        ("in process, raw (1 transaction)", raw),
        ("in process, service functions", svc),
    ):
        print(f"{label:{w}}{tally.rate:>14.1f}{tally.ok:>10}{tally.error_count:>10}")
    print(f"{'  ratio HTTP / raw':{w}}{ratio(http.rate, raw.rate):>14}")
    print(f"{'  ratio HTTP / service functions':{w}}{ratio(http.rate, svc.rate):>14}")
    print(f"{'  MB/s uploaded over HTTP':{w}}{http.rate * ATTACHMENT_BYTES / 1_000_000:>14.1f}")
    print(line)
    print(f"{'mail: ~2 KB text, opens a case':{w}}{'per second':>14}{'count':>10}{'errors':>10}")
    print(line)
    mail, parsed = results.mail, results.parse
    print(
        f"{'LMTP, ' + str(MAIL_CONNECTIONS) + ' connections':{w}}"
        f"{mail.rate:>14.1f}{mail.ok:>10}{mail.error_count:>10}"
    )
    direct = results.mail_direct
    print(
        f"{'in process, process() without LMTP':{w}}"
        f"{direct.rate:>14.1f}{direct.ok:>10}{direct.error_count:>10}"
    )
    print(f"{'parse only (same bytes, 1 thread)':{w}}{parsed.rate:>14.1f}{parsed.ok:>10}{0:>10}")
    print(f"{'  ratio LMTP / parse':{w}}{ratio(mail.rate, parsed.rate):>14}")
    print(f"{'  ratio LMTP / process() without LMTP':{w}}{ratio(mail.rate, direct.rate):>14}")
    print(
        f"{'  mean ms per mail on one connection':{w}}"
        f"{(1000 * MAIL_CONNECTIONS / mail.rate if mail.rate else float('nan')):>14.1f}"
    )
    print(line)
    counts = results.counts
    print(
        f"checks: cases by channel {counts.get('cases')}; attachments on cases "
        f"{counts.get('attachments_on_cases')}; inbound mails by status {counts.get('mails')}"
    )
    for name, tally in (
        *results.web.items(),
        ("mail-warmup", results.mail_warmup),
        ("mail", results.mail),
        ("mail-direct", results.mail_direct),
    ):
        if tally.errors:
            kinds = ", ".join(f"{k} × {v}" for k, v in tally.errors.most_common())
            print(f"errors in {name}: {kinds}")
            for sample in tally.samples:
                print(f"    {sample}")
        if tally.exhausted:
            print(f"note: {name} ran out of signed-in people before the time was up")
    print(
        "Web over HTTP: POST /api/v1/drafts/, POST /api/v1/drafts/{id}/attachments (raw body, "
        "X-Filename), POST /api/v1/drafts/{id}/submit; session cookie + X-CSRF-Token; no "
        "antivirus (GUICHET_CLAMD_HOST unset); file storage under a temporary data directory."
    )
    print(
        "Raw: DocumentStorage.put + channels.intake.submit + the Attachment row, one "
        "transaction, same concurrency. Service functions: create_draft, Uploads.receive "
        "(spool, hash, type check), submit_draft — what the handlers call, without HTTP."
    )
    print(
        "Mail: LMTP listener on this process's event loop (the sending threads share it), "
        "acknowledgements written as .eml files; process() without LMTP: what handle_DATA "
        "calls, new mails of the same shape; parse only: channels.mail.parser.parse on the "
        "same bytes that went through LMTP."
    )
    print(
        "Caveat: the load generator shares the cores with the server and PostgreSQL; compare "
        "runs on the same machine only."
    )
    return http.ok > 0 and raw.ok > 0 and mail.ok > 0 and parsed.ok > 0


def bench() -> int:
    from services.kernel.migrate import upgrade

    admin_url = os.environ.get("GUICHET_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    if not admin_url.startswith("postgresql"):
        print("GUICHET_BENCH_DATABASE_URL must be a postgresql+asyncpg:// URL", file=sys.stderr)
        return 2
    print(f"channels benchmark: PostgreSQL at {safe_url(admin_url)}", flush=True)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    workdir = Path(tempfile.mkdtemp(prefix="guichet-bench-channels-"))
    # This process's storage (in-process baselines, mail): its own data directory.
    os.environ["GUICHET_DATA_DIR"] = str(workdir / "data-inprocess")
    os.environ.pop("GUICHET_STORAGE_URL", None)
    from services.kernel.logging import configure_logging
    from services.kernel.settings import clear_settings_cache

    clear_settings_cache()
    # As `guichet run` and `guichet mail lmtp` do: JSON lines at INFO, here into a file.
    logging.getLogger().addHandler(logging.FileHandler(workdir / "in-process.log"))
    configure_logging()
    usable = False
    with bench_database(admin_url) as database_url:
        print(f"  database {make_url(database_url).database}: migrating", flush=True)
        upgrade(database_url)
        seeded = asyncio.run(seed(database_url, ("http", "raw", "service")))
        server = start_server("guichet", database_url, workdir)
        try:
            results = run_async(
                asyncio.wait_for(run_all(database_url, seeded, server, workdir), WATCHDOG_SECONDS)
            )
        except BaseException:
            print(f"server log kept in {workdir}", file=sys.stderr)
            raise
        finally:
            stop_server(server)
        usable = report(results, seeded, load_before)
    if not usable:
        print("the benchmark failed: a phase had no success", file=sys.stderr)
        print(f"--- server log tail ---\n{server.log_tail()}", file=sys.stderr)
        print(f"files kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.channels", description=__doc__
    )
    parser.parse_args(argv)
    return bench()


if __name__ == "__main__":
    sys.exit(main())
