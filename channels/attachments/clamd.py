"""A minimal clamd client: ``PING`` and ``INSTREAM`` over TCP (clamd(8), "INSTREAM").

INSTREAM: send ``zINSTREAM\\0``, then the file in chunks, each prefixed by its length as a 4-byte
unsigned big-endian integer, and a zero-length chunk to end; clamd answers ``stream: OK``,
``stream: <signature> FOUND`` or ``<reason> ERROR`` (e.g. ``INSTREAM size limit exceeded.
ERROR`` past its StreamMaxLength), terminated by NUL with the ``z`` prefix.

Configured by ``GUICHET_CLAMD_HOST`` / ``GUICHET_CLAMD_PORT``; unset host: no scanning.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CHUNK = 64 * 1024


class ClamdSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_CLAMD_", extra="ignore", env_file=None)

    host: str | None = Field(
        default=None,
        description="Host of clamd (TCP). Unset: uploads are not scanned (scan_status "
        "not_scanned).",
    )
    port: int = Field(default=3310, ge=1, le=65535, description="TCP port of clamd.")
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait for clamd (connection and verdict)."
    )


def clamd_settings() -> ClamdSettings:
    """Read at each call (cheap): the scanner can be switched on without a restart of tests."""
    return ClamdSettings()


class ClamdUnavailable(Exception):
    """clamd could not be reached, did not answer in time, or answered with an error."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    infected: bool
    signature: str | None = None


def parse_reply(reply: bytes) -> ScanResult:
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace").strip()
    if text.endswith("ERROR"):
        raise ClamdUnavailable(f"clamd error: {text}")
    if not text.startswith("stream:"):
        raise ClamdUnavailable(f"unexpected clamd reply: {text!r}")
    verdict = text[len("stream:") :].strip()
    if verdict == "OK":
        return ScanResult(infected=False)
    if verdict.endswith(" FOUND"):
        return ScanResult(infected=True, signature=verdict[: -len(" FOUND")].strip())
    raise ClamdUnavailable(f"unexpected clamd reply: {text!r}")


class ClamdClient:
    def __init__(self, host: str, port: int = 3310, *, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: ClamdSettings | None = None) -> ClamdClient | None:
        settings = settings or clamd_settings()
        if not settings.host:
            return None
        return cls(settings.host, settings.port, timeout=settings.timeout_seconds)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout=self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ClamdUnavailable(f"clamd {self.host}:{self.port} unreachable: {exc!r}") from exc

    async def _reply(self, reader: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(reader.readuntil(b"\0"), timeout=self.timeout)
        except asyncio.IncompleteReadError as exc:
            raise ClamdUnavailable(f"clamd closed the connection: {exc.partial!r}") from exc
        except (OSError, TimeoutError, asyncio.LimitOverrunError) as exc:
            raise ClamdUnavailable(f"clamd did not answer: {exc!r}") from exc

    async def _said(self, reader: asyncio.StreamReader) -> str:
        """Whatever clamd wrote before closing (best effort, never raises)."""
        try:
            data = await asyncio.wait_for(reader.read(1024), timeout=1)
        except (OSError, TimeoutError):
            return ""
        return data.rstrip(b"\0\n").decode("utf-8", "replace")

    async def ping(self) -> bool:
        reader, writer = await self._open()
        try:
            writer.write(b"zPING\0")
            await writer.drain()
            return (await self._reply(reader)).rstrip(b"\0") == b"PONG"
        finally:
            writer.close()

    async def scan_file(self, path: Path) -> ScanResult:
        """Stream the file to clamd (INSTREAM) and return its verdict."""
        reader, writer = await self._open()
        try:
            try:
                writer.write(b"zINSTREAM\0")
                with path.open("rb") as fh:
                    while chunk := fh.read(CHUNK):
                        writer.write(struct.pack("!L", len(chunk)) + chunk)
                        await asyncio.wait_for(writer.drain(), timeout=self.timeout)
                writer.write(struct.pack("!L", 0))
                await asyncio.wait_for(writer.drain(), timeout=self.timeout)
            except (OSError, TimeoutError) as exc:
                # clamd closes the stream past its StreamMaxLength: read why if it said so.
                said = await self._said(reader)
                raise ClamdUnavailable(f"clamd stream interrupted: {said or repr(exc)}") from exc
            return parse_reply(await self._reply(reader))
        finally:
            writer.close()
