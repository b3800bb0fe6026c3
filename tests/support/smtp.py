"""A real SMTP server for tests (aiosmtpd), collecting what it receives.

``SmtpSink`` listens on 127.0.0.1 on a free port, in its own thread; it can be stopped (the server
is down: connections are refused) and started again on the same port. ``smtp_server`` starts one
and points GUICHET_SMTP_HOST / GUICHET_SMTP_PORT at it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.kernel.settings import clear_settings_cache


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.sink.refused:
            return "550 5.1.1 Adresse inconnue"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        parsed: Any = message_from_bytes(raw, policy=policy.default)
        with self.sink.lock:
            self.sink.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=parsed,
                    raw=raw,
                )
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.received: list[Received] = []
        self.refused: set[str] = set()
        """Recipients answered with a permanent 550."""
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(_Handler(self), hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]


@contextmanager
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A running sink, with GUICHET_SMTP_HOST/PORT pointing at it (use it in a test's fixture)."""
    sink = SmtpSink()
    sink.start()
    monkeypatch.setenv("GUICHET_SMTP_HOST", sink.host)
    monkeypatch.setenv("GUICHET_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("GUICHET_SMTP_TIMEOUT_SECONDS", "5")
    clear_settings_cache()
    try:
        yield sink
    finally:
        sink.stop()
        clear_settings_cache()
