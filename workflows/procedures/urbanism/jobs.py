"""Worker plug-ins of this package, gathered by ``services.worker.settings``."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob

HANDLERS: dict[str, Any] = {}
CRON_JOBS: list[CronJob] = []
