"""The alerts before the end of the délai global de paiement are mailed (R2192-10: 30 days from
the mise à disposition; R2192-31 and D2192-35: interest and 40 € once it has ended unpaid).

The invoice (tests.support.supplier_invoices) is made available on 2 March 2026, so its DGP ends
on 1 April 2026; the cron's thresholds are 10, 5 and 2 days. Each new alert queues one French
mail, without link, to the ordering department (code service SERVEXEC) and one to finance, in
the outbox format ``documents.raw_mail`` sends.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from documents.raw_mail import RAW_MAIL_KIND, message_of, send_queued
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from workflows.cases.models import Case, Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.alerts import dgp_alert_mail, record_dgp_alerts
from workflows.procedures.supplier_invoices.models import InvoiceDepartment

pytestmark = pytest.mark.integration
DEPARTMENT_EMAIL = "services-techniques@a.invalid"


async def setup(
    sm: Any, seed: Seed, engine: Engine, clock: FrozenClock, *, department_email: str | None
) -> Any:
    async with sm() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
        await s.execute(update(InvoiceDepartment).values(email=department_email))
    got = await si.receive(sm, engine, clock, si.invoice_xml())
    assert got.state == "made_available", got.report.findings
    return got


async def run(sm: Any, engine: Engine, clock: FrozenClock, day: date) -> list[Any]:
    async with sm() as s, s.begin():
        return await record_dgp_alerts(s, engine, clock, today=day)


async def mails(sm: Any) -> dict[str, EmailMessage]:
    """The alert mails queued so far, by recipient address (+ a counter when repeated)."""
    async with sm() as s:
        rows = list(
            await s.scalars(
                select(Outbox).where(Outbox.kind == RAW_MAIL_KIND).order_by(Outbox.created_at)
            )
        )
    out: dict[str, EmailMessage] = {}
    for row in rows:
        message = message_of(row)
        to = str(message["To"])
        out[to if to not in out else f"{to}#{len(out)}"] = message
    return out


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_ten_days_before_the_end_department_and_finance_are_mailed_once(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    got = await setup(sessionmaker, seed, engine, clock, department_email=DEPARTMENT_EMAIL)
    assert await run(sessionmaker, engine, clock, date(2026, 3, 20)) == []  # 12 days left
    assert await mails(sessionmaker) == {}

    assert await run(sessionmaker, engine, clock, date(2026, 3, 22)) == [got.case_id]
    sent = await mails(sessionmaker)
    assert set(sent) == {DEPARTMENT_EMAIL, "finances@test.invalid"}
    async with sessionmaker() as s:
        reference = (await s.get(Case, got.case_id)).reference  # type: ignore[union-attr]
    for message in sent.values():
        text = text_of(message)
        assert "Facture n° : F20260023" in text
        assert "Fournisseur : LE FOURNISSEUR (SIRET 12345678200077)" in text
        assert "Montant TTC : 104,90\u00a0€" in text
        assert "Jours restants : 10" in text
        assert "Fin du délai global de paiement : 01/04/2026" in text
        assert "SERVEXEC — Services techniques" in text and reference in text
        assert "http" not in message.as_string() and "www." not in text
        assert message["Subject"] == (
            "Délai de paiement : facture n° F20260023 de LE FOURNISSEUR (SIRET 12345678200077), "
            "10 jour(s) restant(s)"
        )
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Content-Language"] == "fr"
        assert message.get_body(preferencelist=("html",)) is not None

    # the same threshold the next day: no new mail; the 2-day threshold: one more each
    assert await run(sessionmaker, engine, clock, date(2026, 3, 23)) == []
    assert len(await mails(sessionmaker)) == 2
    assert await run(sessionmaker, engine, clock, date(2026, 3, 30)) == [got.case_id]
    assert len(await mails(sessionmaker)) == 4


async def test_expired_unpaid_says_interest_and_indemnity_are_due(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock
) -> None:
    """R2192-31, D2192-35: the day after the end, interest and the 40 € indemnity run."""
    await setup(sessionmaker, seed, engine, clock, department_email=DEPARTMENT_EMAIL)
    await run(sessionmaker, engine, clock, date(2026, 4, 3))  # ended on 1 April: 2 days late
    sent = await mails(sessionmaker)
    message = sent[DEPARTMENT_EMAIL]
    assert str(message["Subject"]).startswith("Délai de paiement dépassé : facture n° F20260023")
    text = text_of(message)
    assert "a pris fin le 01/04/2026" in text and "2 jour(s) de retard" in text
    assert "intérêts moratoires" in text and "40 €" in text


async def test_finance_address_setting_and_department_without_email(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "GUICHET_SUPPLIER_INVOICES_ALERT_FINANCE_EMAILS", '{"69001": "compta@mairie-a.invalid"}'
    )
    await setup(sessionmaker, seed, engine, clock, department_email=None)
    await run(sessionmaker, engine, clock, date(2026, 3, 27))  # 5 days left
    sent = await mails(sessionmaker)
    assert list(sent) == ["compta@mairie-a.invalid"]
    assert "Jours restants : 5" in text_of(sent["compta@mairie-a.invalid"])


async def test_the_queued_alert_is_delivered_by_the_raw_mail_handler(
    seed: Seed, sessionmaker: Any, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    """No SMTP host in tests: the mail transport writes the .eml under <data dir>/mail."""
    await setup(sessionmaker, seed, engine, clock, department_email=DEPARTMENT_EMAIL)
    await run(sessionmaker, engine, clock, date(2026, 3, 22))
    async with sessionmaker() as s:
        row = await s.scalar(
            select(Outbox).where(Outbox.kind == RAW_MAIL_KIND).order_by(Outbox.id).limit(1)
        )
        assert row is not None
        await send_queued(s, row, None)  # type: ignore[arg-type]
    written = list((tmp_path / "data" / "mail").rglob("*.eml"))
    assert len(written) == 1
    assert "F20260023" in written[0].read_bytes().decode("utf-8", "replace")


def test_alert_mail_template_counts_days_in_french() -> None:
    mail = dgp_alert_mail(
        number="F-1",
        supplier="Société ✨",
        amount="1\u00a0801,78\u00a0NOK",
        days_left=0,
        due=date(2026, 4, 1),
        reference="2026-SI-000001",
        department="VOIRIE",
        tenant="Commune A",
    )
    assert "finit le 01/04/2026, dans 0 jour(s)" in mail.text
    assert mail.subject.endswith("0 jour(s) restant(s)")
    assert "Société ✨" in mail.subject and "1\u00a0801,78\u00a0NOK" in mail.text
