"""Content-addressed document storage (SHA-256): the filesystem by default.

Keys are the SHA-256 of the bytes; writing the same bytes twice stores them once. Reads check
the bytes against the expected digest (a corrupted or tampered file is refused, not served).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


class CorruptDocument(Exception):
    """The stored bytes do not match their recorded SHA-256."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    sha256: str
    size: int


@runtime_checkable
class DocumentStorage(Protocol):
    async def put(self, data: bytes) -> StoredBlob: ...

    async def get(self, key: str, *, sha256: str) -> bytes:
        """The bytes under ``key``; CorruptDocument if they do not hash to ``sha256``."""
        ...


def check_integrity(data: bytes, sha256: str, key: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise CorruptDocument(f"document {key}: SHA-256 {actual} != expected {sha256}")
    return data


class FileStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / key[:2] / key[2:4] / key

    def put_sync(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
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

    async def put(self, data: bytes) -> StoredBlob:
        return await asyncio.to_thread(self.put_sync, data)

    async def get(self, key: str, *, sha256: str) -> bytes:
        data = await asyncio.to_thread(self.path_of(key).read_bytes)
        return check_integrity(data, sha256, key)
