"""A local stand-in for clamd (ClamAV's daemon) speaking its TCP protocol, for tests.

ClamAV's signature database cannot be downloaded here, so this flags the one signature every
antivirus knows: the EICAR test string. The protocol follows clamd(8):

- commands are prefixed ``z`` (NUL-terminated, replies end with NUL), ``n`` (newline-terminated,
  replies end with newline), or unprefixed (newline, legacy);
- ``PING`` → ``PONG``; ``VERSION`` → a version line;
- ``INSTREAM``: chunks of ``<4-byte big-endian length><data>`` until a zero length; replies
  ``stream: OK``, ``stream: Win.Test.EICAR_HDB-1 FOUND``, or, past StreamMaxLength,
  ``INSTREAM size limit exceeded. ERROR`` and the connection is closed;
- anything else → ``UNKNOWN COMMAND``.

Use ``with ClamdStandIn() as clamd:`` then ``clamd.host`` / ``clamd.port``; ``clamd.scans``
counts the streams scanned.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from types import TracebackType

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Win.Test.EICAR_HDB-1"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _command(self) -> tuple[bytes, bytes] | None:
        """(command, reply terminator), or None when the client closed the connection."""
        first = self.rfile.read(1)
        if not first:
            return None
        if first == b"z":
            raw = bytearray()
            while (c := self.rfile.read(1)) not in (b"\0", b""):
                raw += c
            return bytes(raw), b"\0"
        line = self.rfile.readline()
        if first == b"n":
            return line.rstrip(b"\n"), b"\n"
        return (first + line).rstrip(b"\r\n"), b"\n"

    def _reply(self, text: str, end: bytes) -> None:
        self.wfile.write(text.encode() + end)
        self.wfile.flush()

    def handle(self) -> None:
        parsed = self._command()
        if parsed is None:
            return
        command, end = parsed
        if command == b"PING":
            self._reply("PONG", end)
        elif command == b"VERSION":
            self._reply("ClamAV 1.4.1/27000/stand-in", end)
        elif command == b"INSTREAM":
            self._instream(end)
        else:
            self._reply("UNKNOWN COMMAND", end)

    def _instream(self, end: bytes) -> None:
        data = bytearray()
        while True:
            raw = self.rfile.read(4)
            if len(raw) < 4:
                return  # the client went away mid-stream: nothing to answer
            (length,) = struct.unpack("!L", raw)
            if length == 0:
                break
            if len(data) + length > self.server.stream_max_length:
                self._reply("INSTREAM size limit exceeded. ERROR", end)
                return
            chunk = self.rfile.read(length)
            if len(chunk) < length:
                return
            data += chunk
        self.server.scans += 1
        if EICAR in data:
            self._reply(f"stream: {SIGNATURE} FOUND", end)
        else:
            self._reply("stream: OK", end)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, stream_max_length: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stream_max_length = stream_max_length
        self.scans = 0


class ClamdStandIn:
    def __init__(self, *, stream_max_length: int = 25 * 1024 * 1024) -> None:
        self._server = _Server(stream_max_length)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scans(self) -> int:
        return self._server.scans

    def start(self) -> ClamdStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ClamdStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port nobody listens on (for "clamd is down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
