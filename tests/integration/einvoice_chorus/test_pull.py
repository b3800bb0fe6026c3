"""Pull from the Chorus Pro stand-in through the real HTTP adapter: each invoice becomes one case,
made available at the Chorus Pro date (R2192-12 CCP: for a non-State buyer the DGP starts at the
notification of the mise à disposition on the portal), once only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.einvoice.chorus.models import ChorusInvoice, ChorusPullCursor
from channels.einvoice.chorus.standin import ChorusStandin
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.integration.einvoice_chorus import samples
from tests.integration.einvoice_chorus.conftest import pull_now
from tests.support import supplier_invoices as si
from tests.support.outbox import run_pending
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration

DEPOSITED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
AVAILABLE = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)


def deposit_four(standin: ChorusStandin) -> dict[str, int]:
    ids = {
        "ubl": standin.deposit(
            si.SIRET_A,
            samples.ubl_invoice(),
            number="UBL-2026-1",
            file_name="UBL-2026-1.xml",
            deposited_at=DEPOSITED,
            made_available_at=AVAILABLE,
        ),
        "cii": standin.deposit(
            si.SIRET_A,
            samples.cii_invoice(),
            number="CII-2026-1",
            file_name="CII-2026-1.xml",
            deposited_at=DEPOSITED,
            made_available_at=AVAILABLE,
        ),
        "pdf": standin.deposit(
            si.SIRET_A,
            samples.facturx_pdf(),
            number="FX-2026-1",
            file_name="FX-2026-1.pdf",
            deposited_at=DEPOSITED,
            made_available_at=AVAILABLE,
        ),
        "b": standin.deposit(
            si.SIRET_B,
            samples.cii_invoice(number="B-2026-1", buyer_siret=si.SIRET_B),
            number="B-2026-1",
            deposited_at=DEPOSITED,
            made_available_at=AVAILABLE,
        ),
    }
    return ids


async def invoices_of(sm: Any, tenant_id: Any) -> list[SupplierInvoice]:
    async with sm() as s:
        rows = await s.scalars(
            select(SupplierInvoice)
            .where(SupplierInvoice.tenant_id == tenant_id)
            .order_by(SupplierInvoice.number)
        )
        return list(rows)


async def test_pull_creates_one_case_per_invoice_made_available_at_the_chorus_date_r2192_12(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    ids = deposit_four(standin)
    result = await pull_now(sessionmaker, engine, clock)
    assert result.errors == []
    assert result.created == 4

    a = await invoices_of(sessionmaker, seed.commune_id)
    assert [(r.number, r.state, r.source) for r in a] == [
        ("CII-2026-1", "made_available", "chorus_pro"),
        ("FX-2026-1", "made_available", "chorus_pro"),
        ("UBL-2026-1", "made_available", "chorus_pro"),
    ]
    for row in a:
        # the DGP runs from the Chorus Pro mise à disposition (1 March), not from the pull (2 March)
        assert row.made_available_at == AVAILABLE
        assert row.dgp_due == date(2026, 3, 31)
    b = await invoices_of(sessionmaker, seed.other_commune_id)
    assert [(r.number, r.state) for r in b] == [("B-2026-1", "made_available")]

    async with sessionmaker() as s:
        cases = {
            c.payload["chorus_id"]: c
            for c in await s.scalars(select(Case).where(Case.channel == "einvoice"))
        }
    assert set(cases) == {str(i) for i in ids.values()}
    assert cases[str(ids["pdf"])].payload["syntax"] == "CII-D16B"
    assert cases[str(ids["ubl"])].payload["syntax"] == "UBL-Invoice-2.1"
    assert cases[str(ids["b"])].tenant_id == seed.other_commune_id
    # nothing to push back: mise à disposition is the platform's status
    async with sessionmaker() as s:
        assert (
            await s.scalar(select(func.count()).where(Outbox.kind == "einvoice.chorus_status")) == 0
        )
    assert all(i.downloaded for i in standin.invoices.values())

    again = await pull_now(sessionmaker, engine, clock)
    assert again.created == 0
    assert sum(s.skipped for s in again.sirets) == 4
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(SupplierInvoice)) == 4
        assert await s.scalar(select(func.count()).select_from(ChorusInvoice)) == 4


async def test_a_replayed_page_creates_nothing_twice(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    deposit_four(standin)
    await pull_now(sessionmaker, engine, clock)
    downloads = sum(1 for path, _ in standin.calls if path.endswith("/telecharger/groupe"))
    # the cursor is put back (a lost commit, a restore): the same page comes again
    async with sessionmaker() as s, s.begin():
        for cursor in await s.scalars(select(ChorusPullCursor)):
            cursor.since = date(2026, 1, 1)
    replay = await pull_now(sessionmaker, engine, clock)
    assert replay.created == 0
    assert sum(1 for path, _ in standin.calls if path.endswith("/telecharger/groupe")) == downloads
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(SupplierInvoice)) == 4
        cursors = list(await s.scalars(select(ChorusPullCursor).order_by(ChorusPullCursor.siret)))
    assert [c.since for c in cursors] == [date(2026, 3, 1), date(2026, 3, 1)]
    assert all(c.last_error is None and c.structure_id for c in cursors)


async def test_only_the_given_tenant_is_pulled(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    deposit_four(standin)
    result = await pull_now(sessionmaker, engine, clock, tenant="69002")
    assert [s.siret for s in result.sirets] == [si.SIRET_B]
    assert result.created == 1
    assert await invoices_of(sessionmaker, seed.commune_id) == []


async def test_invalid_invoice_is_rejected_and_rejetee_pushed_with_the_rule_ids(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    bad = standin.deposit(
        si.SIRET_A,
        samples.broken_totals(),
        number="BAD-2026-1",
        deposited_at=DEPOSITED,
        made_available_at=AVAILABLE,
    )
    result = await pull_now(sessionmaker, engine, clock)
    assert result.created == 1
    [row] = await invoices_of(sessionmaker, seed.commune_id)
    assert (row.state, row.chorus_status) == ("rejected", "REJETEE")

    statuses = await run_pending(sessionmaker, engine, clock, kinds=["einvoice.chorus_status"])
    assert statuses == ["done"]
    [push] = standin.pushes
    assert push["idFacture"] == bad and push["nouveauStatut"] == "REJETEE"
    assert "BR-CO-15" in push["motif"] and "BR-CO-16" in push["motif"]
    seen = standin.invoices[bad].supplier_view()
    assert seen["statut"] == "REJETEE"
    assert "BR-CO-15" in seen["historique"][-1]["motif"]
    # a pushed status is not pushed again
    assert await run_pending(sessionmaker, engine, clock, kinds=["einvoice.chorus_status"]) == []
    assert standin.pushes_for(bad) == ["REJETEE"]


async def test_an_invoice_to_another_communes_siret_is_rejected_with_the_business_rule(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    """Deposited on A's structure, but the invoice names B as buyer (BT-46)."""
    wrong = standin.deposit(
        si.SIRET_A,
        samples.cii_invoice(number="X-2026-1", buyer_siret=si.SIRET_B),
        number="X-2026-1",
        deposited_at=DEPOSITED,
    )
    await pull_now(sessionmaker, engine, clock)
    [row] = await invoices_of(sessionmaker, seed.commune_id)
    assert row.state == "rejected"
    await run_pending(sessionmaker, engine, clock, kinds=["einvoice.chorus_status"])
    [push] = standin.pushes
    assert push["idFacture"] == wrong
    assert "GUICHET-BUYER-OTHER-TENANT" in push["motif"]


async def test_the_worker_cron_pulls_every_15_minutes_and_idles_without_credentials(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.einvoice.chorus.sync import pull_job
    from channels.einvoice.jobs import CRON_JOBS, HANDLERS
    from documents.jobs import JobDeps
    from documents.storage import storage_from_settings

    [job] = [j for j in CRON_JOBS if j.name == "chorus_pull"]
    assert job.minute == {0, 15, 30, 45}
    assert "einvoice.chorus_status" in HANDLERS
    deposit_four(standin)
    ctx = {
        "sessionmaker": sessionmaker,
        "deps": JobDeps(engine=engine, storage=storage_from_settings(), clock=clock),
    }
    monkeypatch.setenv("GUICHET_CHORUS_CLIENT_ID", "")
    assert await pull_job(ctx) == 0
    assert standin.calls == []
    monkeypatch.setenv("GUICHET_CHORUS_CLIENT_ID", standin.client_id)
    assert await pull_job(ctx) == 4
