"""An invoice followed to payment: service fait, the single suspension (R2192-27), the new
period after completion (R2192-29), mandatement, a late payment with its interest (R2192-31,
D2192-35), the alerts before the end of the DGP and the rejection notice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from services.kernel.clock import FrozenClock
from services.kernel.errors import Conflict, Forbidden, InvalidTransition
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from tests.support.cases import apply
from workflows.cases.models import CaseEvent, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.alerts import ALERT_EVENT, record_dgp_alerts
from workflows.procedures.supplier_invoices.models import SupplierInvoice
from workflows.procedures.supplier_invoices.views import invoice_dict, list_invoices

pytestmark = pytest.mark.integration


async def setup(sm: Any, seed: Seed, engine: Engine, clock: FrozenClock) -> Any:
    async with sm() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
    got = await si.receive(sm, engine, clock, si.invoice_xml())
    assert got.state == "made_available", got.report.findings
    return got


async def row_of(sm: Any, case_id: Any) -> SupplierInvoice:
    async with sm() as s:
        row = await s.scalar(select(SupplierInvoice).where(SupplierInvoice.case_id == case_id))
    assert row is not None
    return row


async def test_followed_to_payment_with_one_suspension_and_late_interest(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    got = await setup(sessionmaker, seed, engine, clock)
    finance = await si.actor_of(sessionmaker, "admin@a.invalid")
    department = await si.actor_of(sessionmaker, "instr@a.invalid")
    assert (await row_of(sessionmaker, got.case_id)).dgp_due == date(2026, 4, 1)

    clock.set(datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    await apply(
        sessionmaker,
        engine,
        clock,
        got.case_id,
        "suspend",
        finance,
        {"reason": "Bon de livraison manquant", "missing_pieces": ["bon de livraison signé"]},
    )
    row = await row_of(sessionmaker, got.case_id)
    assert (row.state, row.chorus_status, row.lifecycle_code) == ("suspended", "SUSPENDUE", "208")
    assert row.suspension_count == 1

    clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    await apply(sessionmaker, engine, clock, got.case_id, "complete", finance, {})
    row = await row_of(sessionmaker, got.case_id)
    # R2192-29: a new 30-day period from the receipt of the pieces (10 April) → 10 May
    assert row.dgp_due == date(2026, 5, 10)

    await apply(sessionmaker, engine, clock, got.case_id, "certify_service", department, {})
    # R2192-27: one suspension only
    with pytest.raises(Conflict, match="une seule suspension"):
        await apply(
            sessionmaker,
            engine,
            clock,
            got.case_id,
            "suspend",
            finance,
            {"reason": "Encore une pièce", "missing_pieces": ["attestation"]},
        )
    assert (await row_of(sessionmaker, got.case_id)).state == "service_done"
    # the ordering department certifies, it does not mandate
    with pytest.raises(Forbidden):
        await apply(
            sessionmaker,
            engine,
            clock,
            got.case_id,
            "mandate",
            department,
            {"mandate_number": "M1"},
        )
    await apply(
        sessionmaker, engine, clock, got.case_id, "mandate", finance, {"mandate_number": "M-2026-7"}
    )
    clock.set(datetime(2026, 5, 25, 9, 0, tzinfo=UTC))
    await apply(sessionmaker, engine, clock, got.case_id, "pay", finance, {})
    row = await row_of(sessionmaker, got.case_id)
    assert (row.state, row.chorus_status, row.lifecycle_code) == ("paid", "MISE_EN_PAIEMENT", "211")
    shown = invoice_dict(row, "ref", date(2026, 5, 25))
    late = shown["late_payment"]
    # 15 days late (11 → 25 May) on 104.90 € at 2.15 % + 8 points: 0.44 €, plus 40 €
    assert late["jours_de_retard"] == 15
    assert late["interets_moratoires"] == str(
        (Decimal("104.90") * Decimal("10.15") / 100 * 15 / 365).quantize(Decimal("0.01"))
    )
    assert late["indemnite_forfaitaire"] == "40.00"


async def test_no_transition_after_rejection_and_notice_requested(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    got = await setup(sessionmaker, seed, engine, clock)
    finance = await si.actor_of(sessionmaker, "admin@a.invalid")
    await apply(
        sessionmaker,
        engine,
        clock,
        got.case_id,
        "reject",
        finance,
        {"reason": "Prestation non commandée par la commune"},
    )
    with pytest.raises(InvalidTransition):
        await apply(sessionmaker, engine, clock, got.case_id, "certify_service", finance, {})
    async with sessionmaker() as s:
        outbox = list(await s.scalars(select(Outbox).where(Outbox.case_id == got.case_id)))
    notice = [o for o in outbox if o.payload.get("kind") == "invoice_rejection"]
    assert len(notice) == 1
    assert notice[0].payload["params"]["reason"] == "Prestation non commandée par la commune"
    # a rejected invoice no longer blocks the corrected one under the same number
    again = await si.receive(sessionmaker, engine, clock, si.invoice_xml())
    assert again.state == "made_available"


async def test_agent_of_another_commune_cannot_act(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    got = await setup(sessionmaker, seed, engine, clock)
    other = await si.actor_of(sessionmaker, "instr@b.invalid")
    from services.kernel.errors import NotFound

    with pytest.raises(NotFound):
        await apply(sessionmaker, engine, clock, got.case_id, "certify_service", other, {})


async def test_alerts_before_the_end_of_the_dgp_once_each(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    got = await setup(sessionmaker, seed, engine, clock)  # due 1 April 2026

    async def run(day: date) -> list[Any]:
        async with sessionmaker() as s, s.begin():
            return await record_dgp_alerts(s, engine, clock, today=day)

    assert await run(date(2026, 3, 20)) == []  # 12 days left: before the first threshold
    assert await run(date(2026, 3, 22)) == [got.case_id]  # 10 days left
    assert await run(date(2026, 3, 23)) == []  # same threshold: once
    assert await run(date(2026, 3, 30)) == [got.case_id]  # 2 days left
    assert await run(date(2026, 4, 2)) == [got.case_id]  # expired unpaid
    assert await run(date(2026, 4, 3)) == []
    async with sessionmaker() as s:
        events = list(
            await s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == got.case_id, CaseEvent.kind == ALERT_EVENT)
                .order_by(CaseEvent.seq)
            )
        )
        items, total = await list_invoices(
            s, seed.commune_id, today=date(2026, 3, 25), due_within=10
        )
    assert [e.data["level"] for e in events] == [10, 2, -1]
    assert "intérêts moratoires" in events[-1].data["message"]
    assert total == 1 and items[0]["days_left"] == 7
    assert items[0]["ordonnateur_due"] == "2026-03-22"


async def test_engagement_amount_is_reserved_then_released_on_rejection(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    from workflows.procedures.supplier_invoices.models import PurchaseOrder

    async def remaining() -> Decimal:
        async with sessionmaker() as s:
            order = await s.scalar(select(PurchaseOrder).where(PurchaseOrder.number == si.ORDER))
            assert order is not None
            return Decimal(order.remaining)

    got = await setup(sessionmaker, seed, engine, clock)
    assert await remaining() == Decimal("895.10")  # 1000.00 - 104.90
    finance = await si.actor_of(sessionmaker, "admin@a.invalid")
    await apply(
        sessionmaker, engine, clock, got.case_id, "reject", finance, {"reason": "Erreur de prix"}
    )
    assert await remaining() == Decimal("1000.00")
