"""Reception of an e-invoice on the real database: validation report → business checks → case.

Each test sends the Factur-X EN 16931 sample re-addressed to commune A (tests.support
.supplier_invoices) with exactly one business rule broken, and checks what a finance agent sees:
the case state, the finding (rule id, flag, message) and the ``supplier_invoice`` row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from channels.einvoice.intake import receive_invoice
from channels.einvoice.validation import validate
from services.kernel.clock import FrozenClock
from services.kernel.errors import Forbidden
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration
MADE_AVAILABLE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def prepare(sessionmaker: Any, seed: Seed, **kw: Any) -> dict[str, Any]:
    async with sessionmaker() as s, s.begin():
        return await si.seed_finance(
            s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id, **kw
        )


async def receive(
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    xml: bytes,
    *,
    tenant: str = "69001",
    chorus_id: str | None = None,
) -> tuple[Any, SupplierInvoice]:
    report, document = validate(xml)
    async with sessionmaker() as s, s.begin():
        got = await receive_invoice(
            s,
            engine,
            clock,
            tenant=tenant,
            source="chorus_pro",
            raw=xml,
            report=report,
            document=document,
            made_available_at=MADE_AVAILABLE,
            chorus_id=chorus_id or uuid.uuid4().hex[:12],
        )
    async with sessionmaker() as s:
        row = await s.scalar(select(SupplierInvoice).where(SupplierInvoice.case_id == got.case_id))
    assert row is not None
    return got, row


def rules(got: Any) -> dict[str, str]:
    return {f.rule_id: f.flag for f in got.report.findings if f.stage == "business"}


async def test_valid_invoice_is_made_available_with_its_payment_deadline(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    info = await prepare(sessionmaker, seed)
    got, row = await receive(sessionmaker, engine, clock, si.invoice_xml())
    assert got.verdict == "valid", got.report.findings
    assert rules(got) == {}
    assert got.state == "made_available"
    assert row.state == "made_available"
    assert (row.chorus_status, row.lifecycle_code) == ("MISE_A_DISPOSITION", "203")
    assert row.number == si.NUMBER and row.issue_date == date(2026, 1, 31)
    assert row.seller_siret == si.SELLER_SIRET and row.buyer_siret == si.SIRET_A
    assert row.supplier_id == info["supplier_id"]
    assert row.department_code == si.SERVICE_CODE and row.order_ref == si.ORDER
    assert row.total_with_vat == Decimal("104.90")
    # R2192-12: 30 days from the mise à disposition (2 March 2026 in Paris) → 1 April 2026
    assert row.dgp_due == date(2026, 4, 1)
    assert row.data["BT-1"] == si.NUMBER


async def test_duplicate_invoice_is_rejected_with_a_notice(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    first, _ = await receive(sessionmaker, engine, clock, si.invoice_xml())
    again, row = await receive(sessionmaker, engine, clock, si.invoice_xml())
    assert first.state == "made_available"
    assert rules(again) == {"GUICHET-DUPLICATE": "fatal"}
    assert again.state == "rejected" and row.state == "rejected"
    assert row.live is None and row.lifecycle_code == "210"
    message = next(f.message for f in again.report.findings if f.rule_id == "GUICHET-DUPLICATE")
    assert "F20260023" in message and "31/01/2026" in message
    async with sessionmaker() as s:
        kinds = [
            o.payload.get("kind")
            for o in await s.scalars(select(Outbox).where(Outbox.case_id == again.case_id))
        ]
    assert "invoice_rejection" in kinds


async def test_same_chorus_invoice_pulled_twice_is_one_case(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    first, _ = await receive(sessionmaker, engine, clock, si.invoice_xml(), chorus_id="CPP-1")
    again, _ = await receive(sessionmaker, engine, clock, si.invoice_xml(), chorus_id="CPP-1")
    assert again.case_id == first.case_id and again.created is False
    async with sessionmaker() as s:
        count = len(list(await s.scalars(select(SupplierInvoice))))
    assert count == 1


async def test_invoice_to_another_tenants_siret_is_refused_naming_it(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    got, row = await receive(sessionmaker, engine, clock, si.invoice_xml(buyer_siret=si.SIRET_B))
    assert rules(got)["GUICHET-BUYER-OTHER-TENANT"] == "fatal"
    message = next(f.message for f in got.report.findings if f.rule_id.startswith("GUICHET-BUYER"))
    assert si.SIRET_B in message and "Commune B" in message
    assert row.state == "rejected"


async def test_wrong_or_missing_buyer_siret(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    bad, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="X1", buyer_siret=si.BAD_SIRET)
    )
    none, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="X2", buyer_siret=None)
    )
    unknown, _ = await receive(
        sessionmaker,
        engine,
        clock,
        si.invoice_xml(number="X3", buyer_siret=si.siret("551234560002")),
    )
    assert "GUICHET-BUYER-SIRET-INVALID" in rules(bad)
    assert "GUICHET-BUYER-SIRET-MISSING" in rules(none)
    assert "GUICHET-BUYER-UNKNOWN" in rules(unknown)
    assert {bad.state, none.state, unknown.state} == {"rejected"}


async def test_engagement_rules(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed, remaining=Decimal("50.00"))
    short, _ = await receive(sessionmaker, engine, clock, si.invoice_xml(number="E1"))
    unknown, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="E2", order="PO-INCONNU")
    )
    missing, _ = await receive(sessionmaker, engine, clock, si.invoice_xml(number="E3", order=None))
    assert rules(short) == {"GUICHET-ORDER-INSUFFICIENT": "fatal"}
    assert "50.00" in short.report.findings[-1].message
    assert rules(unknown) == {"GUICHET-ORDER-UNKNOWN": "fatal"}
    assert rules(missing) == {"GUICHET-ORDER-MISSING": "fatal"}


async def test_closed_engagement_and_unknown_service_code(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed, order_status="closed")
    got, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(service_code="SERVICE-ÉTÉ-🚧")
    )
    assert rules(got) == {
        "GUICHET-ORDER-CLOSED": "fatal",
        "GUICHET-SERVICE-CODE-UNKNOWN": "fatal",
    }
    message = next(f.message for f in got.report.findings if "SERVICE-CODE" in f.rule_id)
    assert "SERVICE-ÉTÉ-🚧" in message


async def test_iban_differs_from_master_data_is_a_warning(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed, supplier_iban="FR7630006000011234567890189")
    got, row = await receive(sessionmaker, engine, clock, si.invoice_xml())
    assert rules(got) == {"GUICHET-IBAN-MISMATCH": "warning"}
    assert got.state == "made_available"
    assert row.findings["findings"][0]["rule_id"] == "GUICHET-IBAN-MISMATCH"


async def test_credit_note_must_reference_a_received_invoice(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    orphan, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="AV1", type_code="381", reference=None)
    )
    assert rules(orphan) == {"GUICHET-CREDIT-NOTE-NO-REFERENCE": "fatal"}
    stranger, _ = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="AV2", type_code="381")
    )
    assert rules(stranger) == {"GUICHET-CREDIT-NOTE-UNKNOWN-INVOICE": "fatal"}
    # the invoice it corrects, F20260003 of 1 January 2026 (BT-25 / BT-26 of the sample)
    await receive(
        sessionmaker, engine, clock, si.invoice_xml(number=si.PREVIOUS, issue_date="20260101")
    )
    ok, row = await receive(
        sessionmaker, engine, clock, si.invoice_xml(number="AV3", type_code="381")
    )
    assert rules(ok) == {} and ok.state == "made_available"
    assert row.type_code == "381" and row.preceding_ref == si.PREVIOUS


async def test_invalid_standards_report_is_rejected_with_its_findings(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    xml = si.invoice_xml().replace(
        b"<ram:GrandTotalAmount>104.90</ram:GrandTotalAmount>",
        b"<ram:GrandTotalAmount>999.90</ram:GrandTotalAmount>",
    )
    got, row = await receive(sessionmaker, engine, clock, xml)
    assert got.verdict == "invalid"
    assert "BR-CO-15" in {f.rule_id for f in got.report.findings}
    assert row.state == "rejected"
    assert "BR-CO-15" in {f["rule_id"] for f in row.findings["findings"]}
    async with sessionmaker() as s:
        case = await s.get(Case, got.case_id)
    assert case is not None and case.state == "rejected"


async def test_direct_deposit_is_refused_unless_the_tenant_enables_it(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    await prepare(sessionmaker, seed)
    xml = si.invoice_xml()
    report, document = validate(xml)
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="Chorus Pro"):
            await receive_invoice(
                s,
                engine,
                clock,
                tenant="69001",
                source="deposit",
                raw=xml,
                report=report,
                document=document,
            )


async def test_pdf_is_the_invoice_stays_deposited_for_manual_keying(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    """A MINIMUM profile is not an EN 16931 invoice (einvoicing.md §2): from Chorus Pro it is
    kept "Déposée" for manual keying, never rejected nor made available automatically; when
    finance makes it available, the DGP runs from the Chorus Pro date (R2192-12)."""
    from tests.support.cases import apply

    await prepare(sessionmaker, seed)
    xml = (si.SAMPLES / "facturx" / "factur-x-minimum.xml").read_bytes()
    got, row = await receive(sessionmaker, engine, clock, xml)
    assert got.verdict == "unprocessable"
    assert got.state == "deposited" and row.state == "deposited"
    assert (row.chorus_status, row.lifecycle_code) == ("DEPOSEE", "200")
    assert row.number == si.NUMBER
    finance = await si.actor_of(sessionmaker, "admin@a.invalid")
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    await apply(sessionmaker, engine, clock, got.case_id, "make_available", finance, {})
    async with sessionmaker() as s:
        keyed = await s.scalar(
            select(SupplierInvoice).where(SupplierInvoice.case_id == got.case_id)
        )
    assert keyed is not None and keyed.dgp_due == date(2026, 4, 1)
