"""Content-addressed document storage: the filesystem, and S3 against a real local stand-in.

The S3 tests talk HTTP to moto's server (a real S3 API on 127.0.0.1, random port) through obstore,
as production would to Scaleway or AWS; boto3 looks at the bucket from the side, like an operator.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from obstore.exceptions import BaseError

from documents.storage import (
    CorruptDocument,
    FileStorage,
    S3Storage,
    StorageUnavailable,
    storage_from_settings,
)
from services.kernel.settings import StorageSettings, clear_settings_cache

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7\n" + b"contenu du document " * 50
OTHER = b"%PDF-1.7\n" + b"un autre document " * 50
ACCESS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----- filesystem --------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> FileStorage:
    return FileStorage(tmp_path / "documents")


async def test_file_put_then_get_returns_the_same_bytes(files: FileStorage, tmp_path: Path) -> None:
    blob = await files.put(PDF)

    assert blob.sha256 == sha(PDF)
    assert blob.key == sha(PDF)
    assert blob.size == len(PDF)
    digest = sha(PDF)
    assert files.path_of(blob.key) == tmp_path / "documents" / digest[:2] / digest[2:4] / digest
    assert await files.get(blob.key, sha256=blob.sha256) == PDF


async def test_file_same_bytes_are_stored_once(files: FileStorage, tmp_path: Path) -> None:
    first = await files.put(PDF)
    second = await files.put(PDF)
    other = await files.put(OTHER)

    assert first == second
    assert other.key != first.key
    stored = sorted(p for p in (tmp_path / "documents").rglob("*") if p.is_file())
    assert stored == sorted([files.path_of(first.key), files.path_of(other.key)])  # no temp file


async def test_file_altered_bytes_are_refused_on_read(files: FileStorage) -> None:
    blob = await files.put(PDF)
    path = files.path_of(blob.key)
    path.write_bytes(PDF.replace(b"contenu", b"CONTENU", 1))  # same size, one word changed

    with pytest.raises(CorruptDocument, match=blob.sha256):
        await files.get(blob.key, sha256=blob.sha256)


@pytest.mark.parametrize(
    "damaged", [PDF[:10], PDF.replace(b"contenu", b"CONTENU", 1)], ids=["truncated", "altered"]
)
async def test_file_a_damaged_copy_is_rewritten_by_the_next_put(
    files: FileStorage, damaged: bytes
) -> None:
    blob = await files.put(PDF)
    files.path_of(blob.key).write_bytes(damaged)
    with pytest.raises(CorruptDocument):
        await files.get(blob.key, sha256=blob.sha256)

    await files.put(PDF)

    assert await files.get(blob.key, sha256=blob.sha256) == PDF


async def test_file_an_intact_copy_is_not_written_again(files: FileStorage) -> None:
    blob = await files.put(PDF)
    path = files.path_of(blob.key)
    before = path.stat()

    await files.put(PDF)

    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_file_missing_is_file_not_found(files: FileStorage) -> None:
    with pytest.raises(FileNotFoundError):
        await files.get(sha(PDF), sha256=sha(PDF))


async def test_file_unwritable_root_raises_an_os_error(tmp_path: Path) -> None:
    """Tests run as root, which ignores permissions: the root is put under a regular file."""
    (tmp_path / "not-a-directory").write_bytes(b"x")
    storage = FileStorage(tmp_path / "not-a-directory" / "documents")

    with pytest.raises(OSError):
        await storage.put(PDF)


async def test_file_unreadable_storage_is_unavailable_not_missing(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "documents")
    blob = await storage.put(PDF)
    path = storage.path_of(blob.key)
    path.unlink()
    path.mkdir()  # reading a directory: IsADirectoryError, an OSError that is not "not found"

    with pytest.raises(StorageUnavailable):
        await storage.get(blob.key, sha256=blob.sha256)


# ----- S3 (moto server) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"guichet-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    return name


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-3", **ACCESS)


def s3_settings(endpoint: str, url: str) -> StorageSettings:
    return StorageSettings(
        storage_url=url,
        s3_endpoint=endpoint,
        s3_region="eu-west-3",
        s3_access_key_id=ACCESS["aws_access_key_id"],
        s3_secret_access_key=ACCESS["aws_secret_access_key"],
        s3_allow_http=True,
    )


@pytest.fixture
def s3(s3_endpoint: str, bucket: str) -> S3Storage:
    storage = storage_from_settings(s3_settings(s3_endpoint, f"s3://{bucket}/guichet/prod"))
    assert isinstance(storage, S3Storage)
    return storage


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = s3_client(endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


async def test_s3_put_then_get_returns_the_same_bytes(
    s3: S3Storage, s3_endpoint: str, bucket: str
) -> None:
    blob = await s3.put(PDF)

    digest = sha(PDF)
    assert blob.sha256 == digest
    assert blob.key == f"documents/{digest[:2]}/{digest}"
    assert blob.size == len(PDF)
    assert objects(s3_endpoint, bucket) == {f"guichet/prod/documents/{digest[:2]}/{digest}": PDF}
    assert await s3.get(blob.key, sha256=blob.sha256) == PDF


async def test_s3_same_bytes_are_stored_once(s3: S3Storage, s3_endpoint: str, bucket: str) -> None:
    first = await s3.put(PDF)
    etag = s3_client(s3_endpoint).head_object(Bucket=bucket, Key=f"guichet/prod/{first.key}")

    second = await s3.put(PDF)
    other = await s3.put(OTHER)

    assert second == first
    assert sorted(objects(s3_endpoint, bucket)) == sorted(
        [f"guichet/prod/{first.key}", f"guichet/prod/{other.key}"]
    )
    again = s3_client(s3_endpoint).head_object(Bucket=bucket, Key=f"guichet/prod/{first.key}")
    assert again["LastModified"] == etag["LastModified"]
    assert again["ETag"] == etag["ETag"]


async def test_s3_altered_object_is_refused_on_read(
    s3: S3Storage, s3_endpoint: str, bucket: str
) -> None:
    blob = await s3.put(PDF)
    s3_client(s3_endpoint).put_object(
        Bucket=bucket, Key=f"guichet/prod/{blob.key}", Body=PDF.replace(b"contenu", b"CONTENU", 1)
    )

    with pytest.raises(CorruptDocument, match=blob.sha256):
        await s3.get(blob.key, sha256=blob.sha256)


async def test_s3_a_truncated_object_is_rewritten_by_the_next_put(
    s3: S3Storage, s3_endpoint: str, bucket: str
) -> None:
    blob = await s3.put(PDF)
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=f"guichet/prod/{blob.key}", Body=b"%P")

    await s3.put(PDF)

    assert await s3.get(blob.key, sha256=blob.sha256) == PDF


async def test_s3_missing_object_is_file_not_found(s3: S3Storage) -> None:
    with pytest.raises(FileNotFoundError):
        await s3.get(S3Storage.key_of(sha(PDF)), sha256=sha(PDF))


async def test_s3_unreachable_endpoint_is_unavailable_on_read_and_fails_the_write() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = storage_from_settings(s3_settings(f"http://127.0.0.1:{port}", "s3://nowhere"))

    with pytest.raises(StorageUnavailable):
        await storage.get(S3Storage.key_of(sha(PDF)), sha256=sha(PDF))
    with pytest.raises(BaseError):  # obstore's error: the job fails and is retried later
        await storage.put(PDF)


# ----- choosing from the settings ----------------------------------------------------------------


def test_unset_url_means_files_under_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_DATA_DIR", str(tmp_path / "somewhere"))
    monkeypatch.delenv("GUICHET_STORAGE_URL", raising=False)
    clear_settings_cache()

    storage = storage_from_settings()

    assert isinstance(storage, FileStorage)
    assert storage.root == (tmp_path / "somewhere" / "documents").resolve()


async def test_s3_url_from_the_environment(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "GUICHET_STORAGE_URL": f"s3://{bucket}/archives",
        "GUICHET_S3_ENDPOINT": s3_endpoint,
        "GUICHET_S3_REGION": "eu-west-3",
        "GUICHET_S3_ACCESS_KEY_ID": "testing",
        "GUICHET_S3_SECRET_ACCESS_KEY": "testing",
        "GUICHET_S3_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    clear_settings_cache()

    storage = storage_from_settings()
    assert isinstance(storage, S3Storage)
    blob = await storage.put(PDF)

    assert list(objects(s3_endpoint, bucket)) == [f"archives/{blob.key}"]


@pytest.mark.parametrize("url", ["ftp://host/documents", "s3://", "/var/lib/guichet"])
def test_an_unsupported_url_is_refused_clearly(url: str) -> None:
    with pytest.raises(ValueError, match="GUICHET_STORAGE_URL"):
        storage_from_settings(StorageSettings(storage_url=url))
