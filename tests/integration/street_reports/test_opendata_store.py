"""Where the daily exports live: blobs in the document storage and a small index beside them,
on the filesystem and on S3-compatible storage (moto's server), shared by the worker that makes
them and the API that serves them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from litestar.testing import AsyncTestClient
from moto.server import ThreadedMotoServer

from channels.opendata._export import latest, publish
from channels.opendata._index import INDEX_NAME, read_index
from documents.storage import DocumentStorage, FileStorage, StorageSettings, storage_from_settings
from services.api.app import AppConfig, create_app
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.street_reports import POINT_IN_B, enable_territory, report
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration


async def _check_round_trip(
    storage: DocumentStorage, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await enable_territory(sessionmaker, clock)
    assert await read_index(storage) is None
    done = await report(sessionmaker, engine, clock)
    await report(sessionmaker, engine, clock, point=POINT_IN_B)
    published = await publish(sessionmaker, storage, clock)
    assert (published.reports, published.scopes) == (2, 4)  # all + 69000, 69001, 69002
    entry = await latest(sessionmaker, storage, clock, "69001")
    assert entry.count == 1 and entry.generated_at == clock.now()
    body = json.loads(await storage.get(entry.key, sha256=entry.sha256))
    assert [f["properties"]["reference"] for f in body["features"]] == [done.reference]
    everything = await latest(sessionmaker, storage, clock, "all")
    assert everything.count == 2


async def test_exports_and_index_on_the_filesystem(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "documents")
    await _check_round_trip(storage, sessionmaker, engine, clock)
    index = json.loads((tmp_path / "documents" / INDEX_NAME).read_text())
    assert set(index["exports"]) == {"all", "69000", "69001", "69002"}


async def test_a_damaged_index_is_made_again(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "documents")
    await enable_territory(sessionmaker, clock)
    await report(sessionmaker, engine, clock)
    (tmp_path / "documents" / "opendata").mkdir(parents=True)
    for garbage in (b"{not json", b"[]", b'{"exports": "x"}', "\x00📍".encode()):
        (tmp_path / "documents" / INDEX_NAME).write_bytes(garbage)
        entry = await latest(sessionmaker, storage, clock, "all")
        assert entry.count == 1


async def test_lost_export_blob_is_regenerated_when_served(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    database_url: str,
) -> None:
    storage = storage_from_settings()
    await enable_territory(sessionmaker, clock)
    await report(sessionmaker, engine, clock)
    entry = await latest(sessionmaker, storage, clock, "all")
    assert isinstance(storage, FileStorage)
    storage.path_of(entry.key).unlink()
    app = create_app(AppConfig(database_url=database_url, clock=clock, engine=engine))
    async with AsyncTestClient(app) as client:
        r = await client.get("/api/v1/opendata/signalements.geojson")
    assert r.status_code == 200, r.text
    assert len(r.json()["features"]) == 1


async def test_exports_and_index_on_s3(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
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
        # moto keeps its buckets per process, whichever server: a name of this test's own.
        bucket = f"guichet-opendata-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
        storage = storage_from_settings(
            StorageSettings(
                storage_url=f"s3://{bucket}/prod",
                s3_endpoint=endpoint,
                s3_region="eu-west-3",
                s3_access_key_id="testing",
                s3_secret_access_key="testing",
                s3_allow_http=True,
            )
        )
        await _check_round_trip(storage, sessionmaker, engine, clock)
        index = json.loads(s3.get_object(Bucket=bucket, Key=f"prod/{INDEX_NAME}")["Body"].read())
        assert set(index["exports"]) == {"all", "69000", "69001", "69002"}
    finally:
        server.stop()
