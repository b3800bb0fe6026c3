"""The documents of a case over HTTP: who may list and download them, ETag, Content-Disposition, and
the integrity check on read (a corrupted file is never served).

Documents are produced as in production: intake queues them, the outbox job renders them with
weasyprint into the same storage the app reads (GUICHET_DATA_DIR/documents).
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from litestar.testing import AsyncTestClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.controllers import content_disposition, etag_matches
from documents.jobs import JobDeps
from documents.models import StoredDocument
from documents.storage import FileStorage, StorageSettings, storage_from_settings
from identity import service as ids
from identity.models import Tenant
from services.api.app import AppConfig, create_app
from services.kernel.actor import Scope
from services.kernel.clock import FrozenClock
from services.kernel.journal import JournalEntry
from services.worker.outbox import MAX_ATTEMPTS, perform
from services.worker.settings import all_failure_handlers, all_handlers
from tests.conftest import Seed, permit_request
from tests.support.http import assert_problem, client_token
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
def storage() -> FileStorage:
    """The storage the app reads: files under GUICHET_DATA_DIR (set per test by conftest)."""
    found = storage_from_settings()
    assert isinstance(found, FileStorage)
    return found


async def open_case(client: AsyncTestClient[Any], seed: Seed) -> tuple[str, str]:
    r = await client.post(
        "/api/v1/intake/", json=permit_request(), headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"]), str(r.json()["reference"])


async def render_documents(
    sm: SM, engine: Engine, clock: FrozenClock, storage: Any, case_id: str
) -> dict[str, StoredDocument]:
    """Perform the case's document.render rows as the worker would."""
    deps = JobDeps(engine=engine, storage=storage, clock=clock)
    async with sm() as s:
        row_ids = list(
            await s.scalars(
                select(Outbox.id).where(
                    Outbox.case_id == uuid.UUID(case_id), Outbox.kind == "document.render"
                )
            )
        )
    for row_id in row_ids:
        await perform(sm, all_handlers(), deps, row_id, on_failure=all_failure_handlers())
    async with sm() as s:
        docs = await s.scalars(
            select(StoredDocument).where(StoredDocument.case_id == uuid.UUID(case_id))
        )
        return {d.kind: d for d in docs}


@pytest.fixture
async def case_with_documents(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    storage: FileStorage,
) -> tuple[str, str, dict[str, StoredDocument]]:
    case_id, reference = await open_case(app_client, seed)
    docs = await render_documents(sessionmaker, engine, clock, storage, case_id)
    assert sorted(docs) == ["are", "recepisse"]
    return case_id, reference, docs


# ----- listing --------------------------------------------------------------------------------------


async def test_an_agent_lists_the_documents_of_a_case(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    case_id, _, docs = case_with_documents

    r = await app_client.get(
        f"/api/v1/cases/{case_id}/documents", headers=seed.auth(seed.instructor_token)
    )

    assert r.status_code == 200, r.text
    listed = sorted(r.json(), key=lambda d: d["kind"])
    assert listed == [
        {
            "id": str(d.id),
            "kind": d.kind,
            "title": d.title,
            "seq": 1,
            "size": d.size,
            "sha256": d.sha256,
            "created_at": "2026-03-02T09:00:00Z",
            "download_url": f"/api/v1/documents/{d.id}",
        }
        for d in (docs["are"], docs["recepisse"])
    ]


async def test_a_case_without_documents_lists_none(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    case_id, _ = await open_case(app_client, seed)
    r = await app_client.get(
        f"/api/v1/cases/{case_id}/documents", headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 200, r.text
    assert r.json() == []


async def test_generated_documents_appear_in_the_case_timeline(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    case_id, _, docs = case_with_documents

    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(seed.instructor_token))

    assert r.status_code == 200, r.text
    body = r.json()
    generated = [e for e in body["timeline"] if e["kind"] == "document.generated"]
    assert sorted((e["data"]["kind"], e["data"]["document_id"]) for e in generated) == [
        ("are", str(docs["are"].id)),
        ("recepisse", str(docs["recepisse"].id)),
    ]
    assert all(e["public"] and e["actor_kind"] == "system" for e in generated)
    assert body["chain_valid"] is True
    assert body["state"] == "submitted"


async def test_agents_see_a_document_that_could_not_be_generated(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    tmp_path: Any,
) -> None:
    case_id, _ = await open_case(app_client, seed)
    (tmp_path / "a-file").write_bytes(b"x")  # root ignores chmod: a path under a regular file
    unwritable = FileStorage(tmp_path / "a-file" / "documents")
    async with sessionmaker() as s, s.begin():
        row = await s.scalar(select(Outbox).where(Outbox.dedupe_key == f"document:{case_id}:are:1"))
        assert row is not None
        row.attempts = MAX_ATTEMPTS - 1
        row_id = row.id
    deps = JobDeps(engine=engine, storage=unwritable, clock=clock)
    assert (
        await perform(sessionmaker, all_handlers(), deps, row_id, on_failure=all_failure_handlers())
        == "failed"
    )

    r = await app_client.get(f"/api/v1/cases/{case_id}", headers=seed.auth(seed.instructor_token))

    [failed] = [e for e in r.json()["timeline"] if e["kind"] == "document.failed"]
    assert failed["public"] is False
    assert failed["data"]["kind"] == "are"
    assert failed["data"]["outbox_id"] == str(row_id)
    assert "NotADirectoryError" in failed["data"]["error"]
    r = await app_client.get(
        f"/api/v1/cases/{case_id}/documents", headers=seed.auth(seed.instructor_token)
    )
    assert r.json() == []


# ----- downloading --------------------------------------------------------------------------------


async def test_an_agent_downloads_the_pdf_with_etag_and_a_file_name(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    _, reference, docs = case_with_documents
    are = docs["are"]

    r = await app_client.get(
        f"/api/v1/documents/{are.id}", headers=seed.auth(seed.instructor_token)
    )

    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF")
    assert hashlib.sha256(r.content).hexdigest() == are.sha256
    assert len(r.content) == are.size
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["etag"] == f'"{are.sha256}"'
    assert r.headers["cache-control"] == "private"
    assert r.headers["content-disposition"] == f'attachment; filename="{reference}-are.pdf"'
    assert reference == "69001-2026-000001"


async def test_if_none_match_answers_304_without_the_body(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    are = case_with_documents[2]["are"]
    url = f"/api/v1/documents/{are.id}"
    auth = seed.auth(seed.instructor_token)
    etag = f'"{are.sha256}"'

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = await app_client.get(url, headers={**auth, "If-None-Match": header})
        assert r.status_code == 304, (header, r.text)
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == "private"

    r = await app_client.get(url, headers={**auth, "If-None-Match": '"not-this-one"'})
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == are.sha256


async def test_who_may_read_the_documents_of_a_case(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    clock: FrozenClock,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    case_id, _, docs = case_with_documents
    are = docs["are"]
    listing = f"/api/v1/cases/{case_id}/documents"
    download = f"/api/v1/documents/{are.id}"
    async with sessionmaker() as s, s.begin():  # commune B's portal, with cases:read
        other_tenant = await s.get(Tenant, seed.other_commune_id)
        assert other_tenant is not None
        b_portal, b_secret = await ids.create_api_client(
            s, now=clock.now(), tenant=other_tenant, name="Portail B+", scopes=[Scope.CASES_READ]
        )

    # Agents of the case's tenant, agents of its métropole, the tenant's portal with cases:read.
    for token in (
        seed.instructor_token,
        seed.counter_token,
        seed.metropole_instructor_token,
        await client_token(app_client, seed.client_id, seed.client_secret),
    ):
        r = await app_client.get(listing, headers=seed.auth(token))
        assert r.status_code == 200, r.text
        assert len(r.json()) == 2
        r = await app_client.get(download, headers=seed.auth(token))
        assert r.status_code == 200, r.text
        assert hashlib.sha256(r.content).hexdigest() == are.sha256

    # Another commune's agent or portal: as if the case and the document did not exist.
    for token in (
        seed.other_instructor_token,
        await client_token(app_client, b_portal.client_id, b_secret),
    ):
        for url in (listing, download):
            r = await app_client.get(url, headers=seed.auth(token))
            body = assert_problem(r, 404)
            assert body["detail"] == "Document introuvable (ou hors de vos collectivités)."
            assert b"%PDF" not in r.content

    # A portal without cases:read, an agent without any role: refused by the policy.
    for token in (
        await client_token(app_client, seed.other_client_id, seed.other_client_secret),
        seed.roleless_token,
    ):
        for url in (listing, download):
            assert_problem(await app_client.get(url, headers=seed.auth(token)), 403)
    # Nobody: 401.
    for url in (listing, download):
        assert_problem(await app_client.get(url), 401)


async def test_unknown_ids_are_404_like_foreign_ones(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    auth = seed.auth(seed.instructor_token)
    for url in (f"/api/v1/documents/{uuid.uuid4()}", f"/api/v1/cases/{uuid.uuid4()}/documents"):
        body = assert_problem(await app_client.get(url, headers=auth), 404)
        assert body["detail"] == "Document introuvable (ou hors de vos collectivités)."


# ----- integrity on read ------------------------------------------------------------------------------


async def test_a_corrupted_file_is_never_served_and_the_incident_is_journaled(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    storage: FileStorage,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    case_id, _, docs = case_with_documents
    are = docs["are"]
    path = storage.path_of(are.storage_key)
    original = path.read_bytes()
    tampered = original.replace(b"%PDF", b"%PDX", 1)
    path.write_bytes(tampered)

    r = await app_client.get(
        f"/api/v1/documents/{are.id}", headers=seed.auth(seed.instructor_token)
    )

    body = assert_problem(r, 503)
    assert "temporairement indisponible (contrôle d'intégrité)" in body["detail"]
    assert body["document_id"] == str(are.id)
    assert b"%PDX" not in r.content and b"%PDF" not in r.content
    async with sessionmaker() as s:
        [entry] = await s.scalars(
            select(JournalEntry).where(JournalEntry.event == "documents.integrity.failed")
        )
    assert entry.data == {
        "document_id": str(are.id),
        "case_id": case_id,
        "storage_key": are.storage_key,
        "sha256": are.sha256,
        "reason": "corrupt",
    }
    assert entry.tenant_id == seed.commune_id
    assert entry.actor_kind == "agent"

    # The other document of the case is unaffected; once the file is restored, served again.
    r = await app_client.get(
        f"/api/v1/documents/{docs['recepisse'].id}", headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 200
    path.write_bytes(original)
    r = await app_client.get(
        f"/api/v1/documents/{are.id}", headers=seed.auth(seed.instructor_token)
    )
    assert r.status_code == 200
    assert r.content == original


async def test_a_missing_file_is_503_too(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    storage: FileStorage,
    case_with_documents: tuple[str, str, dict[str, StoredDocument]],
) -> None:
    are = case_with_documents[2]["are"]
    storage.path_of(are.storage_key).unlink()

    r = await app_client.get(
        f"/api/v1/documents/{are.id}", headers=seed.auth(seed.instructor_token)
    )

    body = assert_problem(r, 503)
    assert "contrôle d'intégrité" in body["detail"]
    async with sessionmaker() as s:
        [entry] = await s.scalars(
            select(JournalEntry).where(JournalEntry.event == "documents.integrity.failed")
        )
    assert entry.data["reason"] == "missing"


async def test_an_unreachable_object_store_is_503(
    database_url: str,
    clock: FrozenClock,
    engine: Engine,
    seed: Seed,
    sessionmaker: SM,
    storage: FileStorage,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = storage_from_settings(
        StorageSettings(
            storage_url="s3://documents",
            s3_endpoint=f"http://127.0.0.1:{port}",
            s3_access_key_id="k",
            s3_secret_access_key="s",
            s3_allow_http=True,
        )
    )
    app = create_app(
        AppConfig(database_url=database_url, clock=clock, engine=engine, storage=unreachable)
    )
    async with AsyncTestClient(app) as client:
        case_id, _ = await open_case(client, seed)
        docs = await render_documents(sessionmaker, engine, clock, storage, case_id)

        r = await client.get(
            f"/api/v1/documents/{docs['are'].id}", headers=seed.auth(seed.instructor_token)
        )

    body = assert_problem(r, 503)
    assert "stockage des documents ne répond pas" in body["detail"]
    async with sessionmaker() as s:  # not an integrity incident
        assert (
            list(
                await s.scalars(select(JournalEntry).where(JournalEntry.event.like("documents.%")))
            )
            == []
        )


async def test_documents_stored_in_s3_are_served_and_checked_the_same_way(
    database_url: str, clock: FrozenClock, engine: Engine, seed: Seed, sessionmaker: SM
) -> None:
    """Production's set-up: the worker writes to S3-compatible storage and the API reads from it
    (moto's S3 server on 127.0.0.1 stands in for the object store)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-3",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(
            Bucket="guichet", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
        storage = storage_from_settings(
            StorageSettings(
                storage_url="s3://guichet/prod",
                s3_endpoint=endpoint,
                s3_region="eu-west-3",
                s3_access_key_id="testing",
                s3_secret_access_key="testing",
                s3_allow_http=True,
            )
        )
        app = create_app(
            AppConfig(database_url=database_url, clock=clock, engine=engine, storage=storage)
        )
        async with AsyncTestClient(app) as client:
            case_id, reference = await open_case(client, seed)
            are = (await render_documents(sessionmaker, engine, clock, storage, case_id))["are"]
            assert are.storage_key == f"documents/{are.sha256[:2]}/{are.sha256}"
            auth = seed.auth(seed.instructor_token)

            r = await client.get(f"/api/v1/documents/{are.id}", headers=auth)
            assert r.status_code == 200, r.text
            assert hashlib.sha256(r.content).hexdigest() == are.sha256
            assert r.headers["content-disposition"] == f'attachment; filename="{reference}-are.pdf"'

            s3.put_object(Bucket="guichet", Key=f"prod/{are.storage_key}", Body=b"%PDF-1.7 faux")
            r = await client.get(f"/api/v1/documents/{are.id}", headers=auth)
            body = assert_problem(r, 503)
            assert "contrôle d'intégrité" in body["detail"]
            assert b"faux" not in r.content
    finally:
        server.stop()


# ----- file names and ETags ----------------------------------------------------------------------------


async def test_a_non_ascii_kind_gets_an_rfc_6266_file_name(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    storage: FileStorage,
    clock: FrozenClock,
) -> None:
    case_id, reference = await open_case(app_client, seed)
    blob = await storage.put(b"%PDF-1.7 arr\xc3\xaat\xc3\xa9")
    async with sessionmaker() as s, s.begin():
        doc = StoredDocument(
            case_id=uuid.UUID(case_id),
            kind="arrêté",
            seq=5,
            title="Arrêté",
            sha256=blob.sha256,
            size=blob.size,
            content_type="application/pdf",
            storage_key=blob.key,
            created_at=clock.now(),
        )
        s.add(doc)

    r = await app_client.get(
        f"/api/v1/documents/{doc.id}", headers=seed.auth(seed.instructor_token)
    )

    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == (
        f'attachment; filename="{reference}-arrete.pdf"; '
        f"filename*=UTF-8''{reference}-arr%C3%AAt%C3%A9.pdf"
    )


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("69001-2026-000001-are.pdf", 'attachment; filename="69001-2026-000001-are.pdf"'),
        (
            "décision n°3.pdf",
            "attachment; filename=\"decision_n3.pdf\"; filename*=UTF-8''"
            + quote("décision n°3.pdf", safe=""),
        ),
        (
            'a"b\\c/../d\r\nX-Evil: 1.pdf',
            "attachment; filename=\"a_b_c_.._dX-Evil_1.pdf\"; filename*=UTF-8''"
            + quote("a_b_c_.._dX-Evil: 1.pdf", safe=""),
        ),
        ("…", "attachment; filename=\"document.pdf\"; filename*=UTF-8''%E2%80%A6"),
    ],
)
def test_content_disposition_is_sanitised(name: str, header: str) -> None:
    assert content_disposition(name) == header
    assert "\r" not in header and "\n" not in header


def test_if_none_match_uses_weak_comparison() -> None:
    etag = '"abc"'
    assert etag_matches('"abc"', etag)
    assert etag_matches('W/"abc"', etag)
    assert etag_matches('"x", "abc"', etag)
    assert etag_matches("*", etag)
    assert not etag_matches('"abcd"', etag)
    assert not etag_matches("abc", etag)
    assert not etag_matches(None, etag)
    assert not etag_matches("", etag)


async def test_the_document_endpoints_are_in_the_openapi_schema(
    app_client: AsyncTestClient[Any],
) -> None:
    r = await app_client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "get" in paths["/api/v1/cases/{case_id}/documents"]
    download = paths["/api/v1/documents/{document_id}"]["get"]
    assert "application/pdf" in download["responses"]["200"]["content"]
    assert "If-None-Match" in {p["name"] for p in download["parameters"]}
