"""Issue 8's acceptance test: an invoice pulled from the Chorus Pro stand-in is followed to payment
through the API, and the supplier sees each treatment status on Chorus Pro, in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from channels.einvoice.chorus.standin import ChorusStandin
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.integration.einvoice_chorus import samples
from tests.integration.einvoice_chorus.conftest import pull_now
from tests.support import supplier_invoices as si
from tests.support.outbox import run_pending
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration
PUSH = ["einvoice.chorus_status"]


async def pulled(
    sm: Any, engine: Engine, clock: FrozenClock, standin: ChorusStandin, number: str
) -> tuple[int, Any]:
    chorus_id = standin.deposit(
        si.SIRET_A,
        samples.cii_invoice(number=number),
        number=number,
        deposited_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
    )
    result = await pull_now(sm, engine, clock)
    assert result.created == 1, result
    async with sm() as s:
        row = await s.scalar(select(SupplierInvoice).where(SupplierInvoice.number == number))
    assert row is not None and row.state == "made_available"
    return chorus_id, row.case_id


async def transition(
    client: Any, token: str, case_id: Any, name: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/cases/{case_id}/transitions/{name}",
        json={"payload": payload or {}},
        headers=Seed.auth(token),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_pulled_invoice_followed_to_payment_with_each_status_pushed_in_order(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    app_client: Any,
) -> None:
    chorus_id, case_id = await pulled(sessionmaker, engine, clock, standin, "E2E-2026-1")

    await transition(app_client, seed.instructor_token, case_id, "certify_service", {"note": "OK"})
    await transition(
        app_client, seed.admin_token, case_id, "mandate", {"mandate_number": "M-2026-42"}
    )
    # nothing pushed yet: the outbox does it after commit, oldest first
    assert standin.pushes_for(chorus_id) == []
    assert await run_pending(sessionmaker, engine, clock, kinds=PUSH) == ["done", "done"]
    await transition(app_client, seed.admin_token, case_id, "pay", {})
    assert await run_pending(sessionmaker, engine, clock, kinds=PUSH) == ["done"]

    assert standin.pushes_for(chorus_id) == ["SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"]
    # what the supplier sees on Chorus Pro
    r = await app_client.get("/api/v1/cases/" + str(case_id), headers=Seed.auth(seed.admin_token))
    assert r.status_code == 200 and r.json()["state"] == "paid"
    import httpx

    async with httpx.AsyncClient(base_url=chorus_url) as supplier:
        view = (await supplier.get(f"/_standin/factures/{chorus_id}")).json()
    assert view["statut"] == "MISE_EN_PAIEMENT"
    assert view["numeroDPMandat"] == "M-2026-42"
    assert [h["statut"] for h in view["historique"]] == [
        "DEPOSEE",
        "MISE_A_DISPOSITION",
        "SERVICE_FAIT",
        "MANDATEE",
        "MISE_EN_PAIEMENT",
    ]


async def test_suspension_pushed_as_suspendue_with_its_reason_then_completed_by_the_supplier(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    app_client: Any,
) -> None:
    """R2192-27/-28: the one suspension names the missing pieces; the supplier completes the
    invoice on Chorus Pro, finance records it, service fait follows."""
    chorus_id, case_id = await pulled(sessionmaker, engine, clock, standin, "SUSP-2026-1")
    await transition(
        app_client,
        seed.admin_token,
        case_id,
        "suspend",
        {"reason": "Bon de livraison manquant", "missing_pieces": ["bon de livraison signé"]},
    )
    assert await run_pending(sessionmaker, engine, clock, kinds=PUSH) == ["done"]
    view = standin.invoices[chorus_id].supplier_view()
    assert view["statut"] == "SUSPENDUE"
    motif = view["historique"][-1]["motif"]
    assert "Bon de livraison manquant" in motif and "bon de livraison signé" in motif

    standin.complete(chorus_id)  # the supplier adds the piece on Chorus Pro
    await transition(app_client, seed.admin_token, case_id, "complete", {"note": "BL reçu"})
    await transition(app_client, seed.instructor_token, case_id, "certify_service", {})
    assert await run_pending(sessionmaker, engine, clock, kinds=PUSH) == ["done"]
    assert standin.pushes_for(chorus_id) == ["SUSPENDUE", "SERVICE_FAIT"]
    assert [h["statut"] for h in standin.invoices[chorus_id].supplier_view()["historique"]] == [
        "DEPOSEE",
        "MISE_A_DISPOSITION",
        "SUSPENDUE",
        "COMPLETEE",
        "SERVICE_FAIT",
    ]


async def test_a_deposited_invoice_pushes_nothing_to_chorus_pro(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    app_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a chorus_pro invoice has a Chorus Pro status to push back."""
    from channels.einvoice.intake import receive_invoice
    from channels.einvoice.validation import validate

    xml = samples.cii_invoice(number="DEP-2026-1")
    report, document = validate(xml)
    monkeypatch.setenv("GUICHET_SUPPLIER_INVOICES_DEPOSIT_TENANTS", '["69001"]')
    async with sessionmaker() as s, s.begin():
        got = await receive_invoice(
            s,
            engine,
            clock,
            tenant="69001",
            source="deposit",
            raw=xml,
            report=report,
            document=document,
        )
    assert got.state == "made_available"
    await transition(app_client, seed.instructor_token, got.case_id, "certify_service", {})
    assert await run_pending(sessionmaker, engine, clock, kinds=PUSH) == []
    assert standin.pushes == []
