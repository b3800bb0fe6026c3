"""Content-addressed document storage (SHA-256): the filesystem by default, S3 in production.

Keys derive from the SHA-256 of the bytes; writing the same bytes twice stores them once. Reads check
the bytes against the expected digest (a corrupted or tampered file is refused, not served).
``storage_from_settings()`` picks the backend from ``GUICHET_STORAGE_URL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from services.kernel.settings import StorageSettings, path_settings, storage_settings

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config


class CorruptDocument(Exception):
    """The stored bytes do not match their recorded SHA-256."""


class StorageUnavailable(Exception):
    """The storage could not be read (disk error, object store unreachable)."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    sha256: str
    size: int


@runtime_checkable
class DocumentStorage(Protocol):
    async def put(self, data: bytes) -> StoredBlob: ...

    async def get(self, key: str, *, sha256: str) -> bytes:
        """The bytes under ``key``; CorruptDocument if they do not hash to ``sha256``,
        FileNotFoundError if there is nothing under ``key``, StorageUnavailable if the storage
        cannot be read."""
        ...


def check_integrity(data: bytes, sha256: str, key: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise CorruptDocument(f"document {key}: SHA-256 {actual} != expected {sha256}")
    return data


class FileStorage:
    """Files under ``root/<sha[:2]>/<sha[2:4]>/<sha>``, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / key[:2] / key[2:4] / key

    def put_sync(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        # Already there, intact: nothing to write (a damaged copy is replaced).
        if not self._intact(target, digest):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return StoredBlob(key=digest, sha256=digest, size=len(data))

    @staticmethod
    def _intact(path: Path, digest: str) -> bool:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() == digest
        except FileNotFoundError:
            return False

    async def put(self, data: bytes) -> StoredBlob:
        return await asyncio.to_thread(self.put_sync, data)

    def get_sync(self, key: str, *, sha256: str) -> bytes:
        try:
            data = self.path_of(key).read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageUnavailable(f"document {key}: {exc!r}") from exc
        return check_integrity(data, sha256, key)

    async def get(self, key: str, *, sha256: str) -> bytes:
        return await asyncio.to_thread(self.get_sync, key, sha256=sha256)


class S3Storage:
    """S3-compatible object storage through obstore: objects ``documents/<sha[:2]>/<sha>`` under
    the store's prefix. A put first asks whether the object is there (content-addressed: same key,
    same bytes) and writes it only if not."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    @staticmethod
    def key_of(sha256: str) -> str:
        return f"documents/{sha256[:2]}/{sha256}"

    async def put(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        key = self.key_of(digest)
        try:
            meta = await obstore.head_async(self.store, key)
        except FileNotFoundError:
            meta = None
        if meta is None or meta["size"] != len(data):
            await obstore.put_async(self.store, key, data, mode="overwrite")
        return StoredBlob(key=key, sha256=digest, size=len(data))

    async def get(self, key: str, *, sha256: str) -> bytes:
        try:
            result = await obstore.get_async(self.store, key)
            data = bytes(await result.bytes_async())
        except FileNotFoundError:
            raise
        except (BaseError, OSError) as exc:
            raise StorageUnavailable(f"document {key}: {exc!r}") from exc
        return check_integrity(data, sha256, key)


def s3_store(url: str, settings: StorageSettings) -> S3Store:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"GUICHET_STORAGE_URL {url!r}: expected s3://bucket[/prefix]")
    prefix = parts.path.strip("/") or None
    client: ClientConfig = {
        "allow_http": settings.s3_allow_http,
        "connect_timeout": timedelta(seconds=5),
        "timeout": timedelta(seconds=60),
    }
    # Fail within seconds and let the outbox job retry with its own backoff.
    retry: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
    config: S3Config = {"region": settings.s3_region}
    if settings.s3_endpoint:
        config["endpoint"] = settings.s3_endpoint
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        config["secret_access_key"] = settings.s3_secret_access_key
    store = S3Store(
        parts.netloc, prefix=prefix, config=config, client_options=client, retry_config=retry
    )
    return store


def storage_from_settings(settings: StorageSettings | None = None) -> DocumentStorage:
    """Unset GUICHET_STORAGE_URL: files under <data dir>/documents; ``s3://bucket/prefix``: S3."""
    settings = settings or storage_settings()
    url = (settings.storage_url or "").strip()
    if not url:
        return FileStorage(path_settings().data_dir.resolve() / "documents")
    if url.startswith("s3://"):
        return S3Storage(s3_store(url, settings))
    raise ValueError(
        f"GUICHET_STORAGE_URL {url!r} is not supported: leave it unset (files under the data "
        "directory) or use s3://bucket/prefix"
    )
