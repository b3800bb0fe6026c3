"""`guichet invoices pull-chorus`: the operator's manual pull, through the real HTTP adapter and
the Chorus Pro stand-in (the cron does the same every 15 minutes)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from channels.einvoice.chorus.standin import ChorusStandin
from services.cli import main
from tests.integration.einvoice_chorus import samples
from tests.support import supplier_invoices as si
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration


async def test_the_manual_pull_reports_per_siret_and_creates_each_invoice_once(
    database_url: str,
    sessionmaker: Any,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    standin.deposit(
        si.SIRET_A,
        samples.ubl_invoice(),
        number="CLI-2026-1",
        # the command runs on the real clock: a first pull looks 90 days back
        deposited_at=datetime.now(UTC) - timedelta(days=1),
    )

    def run() -> Any:
        return CliRunner().invoke(
            main,
            ["invoices", "pull-chorus", "--tenant", "69001"],
            env={"GUICHET_DATABASE_URL": database_url},
        )

    first = await asyncio.to_thread(run)
    assert first.exit_code == 0, first.output
    assert f"SIRET {si.SIRET_A} : 1 facture(s) reçue(s)" in first.output
    second = await asyncio.to_thread(run)
    assert second.exit_code == 0, second.output
    assert "0 facture(s) reçue(s)" in second.output
    async with sessionmaker() as s:
        count = await s.scalar(select(func.count()).select_from(SupplierInvoice))
    assert count == 1


def test_without_chorus_settings_the_command_says_what_to_configure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CLIENT_ID", "CLIENT_SECRET", "LOGIN", "PASSWORD"):
        monkeypatch.delenv(f"GUICHET_CHORUS_{name}", raising=False)
    result = CliRunner().invoke(main, ["invoices", "pull-chorus"])
    assert result.exit_code == 1
    assert "GUICHET_CHORUS_CLIENT_ID" in result.output
