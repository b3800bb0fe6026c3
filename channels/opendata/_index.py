"""Where the latest exports are: a small JSON index kept beside the content-addressed documents.

The exports themselves are ordinary blobs of ``documents.storage`` (key = SHA-256 of the bytes).
The index, the one thing that changes in place, maps a scope (``all`` or a commune's INSEE code)
to the blob of its latest export::

    {"generated_at": "2026-03-02T02:40:00+00:00",
     "exports": {"all": {"key": …, "sha256": …, "size": …, "count": …}, "69001": {…}}}

It lives in the same store as the blobs, so the API and the worker see the same one: the file
``<root>/opendata/index.json`` (written atomically) with the filesystem storage, the object
``opendata/index.json`` (under the store's prefix) with S3. Any other ``DocumentStorage`` (test
fakes) keeps it in memory, per storage object. Losing it costs nothing: the next request
regenerates the export.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import weakref
from typing import Any

import obstore
from obstore.exceptions import BaseError

from documents.storage import DocumentStorage, FileStorage, S3Storage, StorageUnavailable

INDEX_NAME = "opendata/index.json"
_MEMORY: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def _write_file(storage: FileStorage, data: bytes) -> None:
    target = storage.root / INDEX_NAME
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


def _read_file(storage: FileStorage) -> bytes | None:
    try:
        return (storage.root / INDEX_NAME).read_bytes()
    except FileNotFoundError:
        return None


async def read_index(storage: DocumentStorage) -> dict[str, Any] | None:
    """The index, or None when there is none yet (or it is unreadable: regenerate)."""
    raw: bytes | None
    try:
        if isinstance(storage, FileStorage):
            raw = await asyncio.to_thread(_read_file, storage)
        elif isinstance(storage, S3Storage):
            try:
                result = await obstore.get_async(storage.store, INDEX_NAME)
                raw = bytes(await result.bytes_async())
            except FileNotFoundError:
                raw = None
        else:
            raw = _MEMORY.get(storage)
    except (OSError, BaseError) as exc:
        raise StorageUnavailable(f"open data index: {exc!r}") from exc
    if raw is None:
        return None
    try:
        index = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(index, dict) or not isinstance(index.get("exports"), dict):
        return None
    return index


async def write_index(storage: DocumentStorage, index: dict[str, Any]) -> None:
    data = json.dumps(index, sort_keys=True).encode()
    try:
        if isinstance(storage, FileStorage):
            await asyncio.to_thread(_write_file, storage, data)
        elif isinstance(storage, S3Storage):
            await obstore.put_async(storage.store, INDEX_NAME, data, mode="overwrite")
        else:
            _MEMORY[storage] = data
    except (OSError, BaseError) as exc:
        raise StorageUnavailable(f"open data index: {exc!r}") from exc
