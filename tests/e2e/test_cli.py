"""The `guichet` command as a newcomer uses it: help, demo, administration, and `guichet run`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from services.cli import main
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.journal import JournalEntry
from workflows.cases.models import Outbox

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def invoke(args: list[str], database_url: str | None = None) -> tuple[int, str]:
    env = {"GUICHET_DATABASE_URL": database_url} if database_url else {}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["worker"],
        ["migrate"],
        ["demo"],
        ["tenant", "create"],
        ["tenant", "add-service"],
        ["agent", "create"],
        ["agent", "token"],
        ["agent", "break-glass"],
        ["client", "create"],
        ["outbox"],
        ["outbox", "list"],
        ["outbox", "retry"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    code, out = invoke([*args, "--help"])
    assert code == 0
    assert "Usage:" in out


def test_demo_prints_working_credentials_and_can_be_run_twice(database_url: str) -> None:
    code, out = invoke(["demo", "--port", "8123"], database_url)
    assert code == 0, out
    assert "Commune de Démoville" in out
    assert "http://127.0.0.1:8123/api/v1/intake/" in out
    first_secret = re.search(r"Secret\s+: (\S+)", out)
    assert first_secret is not None
    code, again = invoke(["demo"], database_url)
    assert code == 0, again
    second_secret = re.search(r"Secret\s+: (\S+)", again)
    assert second_secret is not None
    assert second_secret.group(1) != first_secret.group(1)


def test_demo_enables_street_reports_and_prints_a_working_open311_key(database_url: str) -> None:
    """Issue 6 item 10: the demo tenants get the default categories and test boundaries, and the
    printed Open311 api_key files a report through the printed discovery's server."""
    from litestar.testing import AsyncTestClient

    from services.api.app import AppConfig, create_app

    code, out = invoke(["demo", "--port", "8123"], database_url)
    assert code == 0, out
    assert "http://127.0.0.1:8123/api/v1/open311/v2/discovery.xml" in out
    found = re.search(r"api_key\s+: (o311_\S+)", out)
    assert found is not None, out
    key = found.group(1)

    async def use() -> tuple[int, str, list[str]]:
        app = create_app(AppConfig(database_url=database_url))
        async with AsyncTestClient(app) as client:
            services = await client.get(
                "/api/v1/open311/v2/services.json", params={"jurisdiction_id": "99001"}
            )
            posted = await client.post(
                "/api/v1/open311/v2/requests.json",
                data={
                    "api_key": key,
                    "jurisdiction_id": "99001",
                    "service_code": "chaussee",
                    "lat": "48.85",
                    "long": "2.35",
                    "description": "Nid-de-poule devant la mairie",
                },
            )
            return posted.status_code, posted.text, [s["service_code"] for s in services.json()]

    status, text, codes = asyncio.run(use())
    assert "chaussee" in codes and "eclairage" in codes
    assert status == 200, text
    assert json.loads(text)[0]["service_request_id"].startswith("99001-")


def test_administration_commands(database_url: str) -> None:
    code, out = invoke(
        [
            "tenant",
            "create",
            "--insee",
            "69123",
            "--slug",
            "lyon",
            "--name",
            "Ville de Lyon",
            "--address",
            "1 place",
            "--postal-code",
            "69001",
            "--city",
            "Lyon",
            "--phone",
            "04 00 00 00 00",
            "--email",
            "contact@lyon.invalid",
        ],
        database_url,
    )
    assert code == 0, out
    code, out = invoke(
        [
            "tenant",
            "add-service",
            "lyon",
            "--code",
            "etat-civil",
            "--name",
            "État civil",
            "--address",
            "1 place",
            "--phone",
            "04 00 00 00 01",
            "--email",
            "ec@lyon.invalid",
        ],
        database_url,
    )
    assert code == 0, out
    code, out = invoke(
        [
            "agent",
            "create",
            "--email",
            "Alice.Martin@Lyon.invalid",
            "--given-name",
            "Alice",
            "--family-name",
            "Martin",
            "--role",
            "instructor@69123",
        ],
        database_url,
    )
    assert code == 0, out
    assert re.search(r"Jeton : gch_\S+", out)
    code, out = invoke(["agent", "token", "alice.martin@lyon.invalid"], database_url)
    assert code == 0 and "Jeton : gch_" in out
    code, out = invoke(
        ["client", "create", "--tenant", "lyon", "--name", "Portail", "--scope", "intake:write"],
        database_url,
    )
    assert code == 0 and "client_secret" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "tenant",
                "create",
                "--insee",
                "6912",
                "--slug",
                "x",
                "--name",
                "X",
                "--address",
                "a",
                "--postal-code",
                "1",
                "--city",
                "c",
                "--phone",
                "p",
                "--email",
                "e@x.fr",
            ],
            "Code INSEE « 6912 » invalide",
        ),
        (
            [
                "agent",
                "create",
                "--email",
                "a@b.fr",
                "--given-name",
                "A",
                "--family-name",
                "B",
                "--role",
                "wizard@99999",
            ],
            "Collectivité « 99999 » inconnue",
        ),
        (
            ["client", "create", "--tenant", "nowhere", "--name", "P", "--scope", "intake:write"],
            "Collectivité « nowhere » inconnue",
        ),
        (["agent", "token", "ghost@nowhere.fr"], "aucun agent"),
    ],
)
def test_administration_errors_are_clear(database_url: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, env={"GUICHET_DATABASE_URL": database_url})
    assert result.exit_code == 2
    assert message in result.output


async def _outbox_rows(database_url: str, *rows: tuple[str, str, int, str | None]) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s, s.begin():
            made = [
                Outbox(
                    kind=kind,
                    payload={},
                    dedupe_key=f"{kind}:{uuid.uuid4()}",
                    status=status,
                    attempts=attempts,
                    last_error=error,
                    created_at=datetime(2026, 3, 2, 9, n, tzinfo=UTC),
                )
                for n, (kind, status, attempts, error) in enumerate(rows)
            ]
            s.add_all(made)
            await s.flush()
            return [str(r.id) for r in made]
    finally:
        await engine.dispose()


async def _read(database_url: str, row_id: str) -> tuple[Outbox, list[JournalEntry]]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            row = await s.get(Outbox, uuid.UUID(row_id))
            assert row is not None
            journal = list(
                await s.scalars(
                    select(JournalEntry).where(JournalEntry.event == "admin.outbox.retried")
                )
            )
            return row, journal
    finally:
        await engine.dispose()


def test_outbox_list_and_retry_of_a_failed_row(database_url: str) -> None:
    failed_id, done_id = asyncio.run(
        _outbox_rows(
            database_url,
            ("document.render", "failed", 8, "NotADirectoryError(20, 'Not a directory')"),
            ("notification.send", "done", 1, None),
        )
    )

    code, out = invoke(["outbox", "list", "--status", "failed"], database_url)
    assert code == 0, out
    header, *lines = out.splitlines()
    assert header.split("\t") == ["id", "statut", "type", "essais", "dossier", "créée le", "erreur"]
    assert [line.split("\t") for line in lines] == [
        [
            failed_id,
            "failed",
            "document.render",
            "8",
            "-",
            "2026-03-02T09:00:00+00:00",
            "NotADirectoryError(20, 'Not a directory')",
        ]
    ]
    code, out = invoke(["outbox", "list"], database_url)
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == [done_id, failed_id]

    code, out = invoke(["outbox", "retry", failed_id], database_url)
    assert code == 0, out
    assert f"Tâche {failed_id} (document.render" in out
    assert "remise en attente" in out
    row, journal = asyncio.run(_read(database_url, failed_id))
    assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)
    assert [e.data["outbox_id"] for e in journal] == [failed_id]
    assert journal[0].data["attempts"] == 8
    assert journal[0].data["last_error"] == "NotADirectoryError(20, 'Not a directory')"

    code, out = invoke(["outbox", "list", "--status", "failed"], database_url)
    assert (code, out.strip()) == (0, "Aucune tâche.")


@pytest.mark.parametrize(
    ("target", "message"),
    [("pending", "seules les tâches en échec"), ("done", "seules les tâches en échec")],
)
def test_outbox_retry_refuses_rows_that_did_not_fail(
    database_url: str, target: str, message: str
) -> None:
    [row_id] = asyncio.run(_outbox_rows(database_url, ("document.render", target, 1, None)))

    result = CliRunner().invoke(
        main, ["outbox", "retry", row_id], env={"GUICHET_DATABASE_URL": database_url}
    )

    assert result.exit_code == 2
    assert message in result.output
    row, journal = asyncio.run(_read(database_url, row_id))
    assert row.status == target
    assert journal == []


def test_outbox_retry_of_an_unknown_row_is_a_clear_error(database_url: str) -> None:
    unknown = str(uuid.uuid4())
    result = CliRunner().invoke(
        main, ["outbox", "retry", unknown], env={"GUICHET_DATABASE_URL": database_url}
    )
    assert result.exit_code == 2
    assert f"Aucune tâche {unknown}" in result.output
    result = CliRunner().invoke(main, ["outbox", "retry", "not-a-uuid"])
    assert result.exit_code == 2
    assert "not-a-uuid" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _post(
    url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_guichet_run_serves_the_api_and_the_worker_with_embedded_defaults(tmp_path: Path) -> None:
    """The README's first command: SQLite + embedded Redis, demo loaded, a case opened, its
    récépissé rendered by the worker running in the same process."""
    port = _free_port()
    data = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUICHET_") or k == "GUICHET_EXTRA_PROCEDURES"
    }
    env["GUICHET_EXTRA_PROCEDURES"] = "tests.support.procedures:register"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "--data-dir", str(data), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _get(f"{base}/health")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert status == 200, "guichet run did not answer /health within 60 s"
        status, ready = _get(f"{base}/ready")
        assert status == 200, ready
        assert ready["database"] == "ok" and ready["redis"] == "ok"
        assert (data / "guichet.sqlite3").exists()
        assert (data / "redis").is_dir()

        # Read the credentials printed at start-up (stdout is line-buffered text).
        printed = ""
        while "Secret" not in printed or "OpenAPI" not in printed:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, "guichet run printed no credentials"
            printed += line
        assert f"{base}/schema/" in printed
        client_id = re.search(r"Client API\s+: (\S+)", printed)
        secret = re.search(r"Secret\s+: (\S+)", printed)
        assert client_id and secret
        status, token = _post(
            f"{base}/api/v1/auth/token",
            f"grant_type=client_credentials&client_id={client_id.group(1)}"
            f"&client_secret={secret.group(1)}".encode(),
            "application/x-www-form-urlencoded",
        )
        assert status == 200, token
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        status, created = _post(
            f"{base}/api/v1/intake/",
            json.dumps(
                {
                    "tenant": "99001",
                    "procedure": "test.permit",
                    "submitter": {
                        "given_name": "Alex",
                        "family_name": "Dupont",
                        "email": "alex@example.org",
                    },
                    "payload": {"title": "Véranda", "area_m2": 18},
                }
            ).encode(),
            "application/json",
            auth,
        )
        assert status == 201, created
        # The worker (same process) renders the ARE and the procedure's récépissé, mails the AEE
        # and the ARE (SMTP unset: .eml files in the data directory), offers every case event to
        # the webhooks: the outbox settles with every row done.
        db = sqlite3.connect(data / "guichet.sqlite3")
        try:
            deadline = time.monotonic() + 60
            unsettled: list[tuple[str, str]] = [("?", "?")]
            while time.monotonic() < deadline and unsettled:
                time.sleep(0.3)
                unsettled = db.execute(
                    "SELECT kind, status FROM outbox WHERE status != 'done'"
                ).fetchall()
            outbox = db.execute("SELECT kind, status FROM outbox ORDER BY kind").fetchall()
            documents = db.execute("SELECT kind, seq FROM stored_document ORDER BY kind").fetchall()
            events = db.execute("SELECT kind FROM case_event ORDER BY seq").fetchall()
        finally:
            db.close()
        assert unsettled == [], f"outbox not settled: {outbox}"
        assert documents == [("are", 1), ("recepisse", 1)]
        assert [k for (k,) in events][:1] == ["case.opened"]
        assert sorted(k for (k,) in events if k.startswith("document.")) == [
            "document.generated",
            "document.generated",
        ]
        by_kind: dict[str, int] = {}
        for kind, _ in outbox:
            by_kind[kind] = by_kind.get(kind, 0) + 1
        assert by_kind == {
            "case.event": len(events),  # every event offered to the webhooks, once
            "document.render": 2,
            "notification.send": 2,  # AEE and ARE
        }
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
