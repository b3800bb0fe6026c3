"""The rejection notice (avis de rejet) of a refused invoice: built from the case and the
findings of its ``reject`` transition, rendered to PDF by the documents package."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from documents.contexts import build_context
from documents.render import render, render_html
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration


async def test_notice_lists_the_broken_rules_in_french(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
    got = await si.receive(
        sessionmaker,
        engine,
        clock,
        si.invoice_xml(order="PO-<script>", seller_name="Boulangerie « Ça & Là » 🥖"),
    )
    assert got.state == "rejected"
    async with sessionmaker() as s:
        case = await s.get(Case, got.case_id)
        assert case is not None
        row = await s.scalar(
            select(Outbox)
            .where(Outbox.case_id == got.case_id, Outbox.kind == "document.render")
            .where(Outbox.dedupe_key.like("%invoice_rejection%"))
        )
        assert row is not None
        definition = engine.procedures.get(case.procedure_key, case.definition_version)
        context = await build_context(
            "invoice_rejection", s, case, definition, dict(row.payload["params"]), clock.now()
        )
    assert context["invoice"]["number"] == si.NUMBER
    assert context["invoice"]["seller_name"] == "Boulangerie « Ça & Là » 🥖"
    assert [f["rule_id"] for f in context["findings"]] == ["GUICHET-ORDER-UNKNOWN"]
    html = render_html("invoice_rejection", context)
    assert "Avis de rejet de facture" in html
    assert "GUICHET-ORDER-UNKNOWN" in html
    assert "PO-&lt;script&gt;" in html and "<script>" not in html
    assert "Chorus Pro" in html
    pdf = render("invoice_rejection", context)
    assert pdf.startswith(b"%PDF-")


async def test_notice_without_reason_is_never_produced_blank(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
    got = await si.receive(sessionmaker, engine, clock, si.invoice_xml(order="INCONNU"))
    async with sessionmaker() as s:
        case = await s.get(Case, got.case_id)
        assert case is not None
        definition = engine.procedures.get(case.procedure_key, case.definition_version)
        with pytest.raises(ValueError, match="motif"):
            await build_context("invoice_rejection", s, case, definition, {}, clock.now())
