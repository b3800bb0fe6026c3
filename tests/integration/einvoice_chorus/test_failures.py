"""When Chorus Pro fails: a clear error, nothing created twice, nothing lost."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from arq import Retry
from sqlalchemy import func, select

from channels.einvoice.chorus.http import ChorusProHttp
from channels.einvoice.chorus.models import ChorusPullCursor
from channels.einvoice.chorus.port import ChorusAuthError, ChorusNotConfigured
from channels.einvoice.chorus.settings import ChorusSettings
from channels.einvoice.chorus.standin import ChorusStandin
from documents.jobs import JobDeps
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from services.worker import outbox
from services.worker.settings import all_handlers
from tests.conftest import Seed
from tests.integration.einvoice_chorus import samples
from tests.integration.einvoice_chorus.conftest import pull_now
from tests.support import supplier_invoices as si
from tests.support.cases import apply
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration
DEPOSITED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


async def count_invoices(sm: Any) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(SupplierInvoice)) or 0)


async def cursor_of(sm: Any, siret: str) -> ChorusPullCursor | None:
    async with sm() as s:
        row: ChorusPullCursor | None = await s.scalar(
            select(ChorusPullCursor).where(ChorusPullCursor.siret == siret)
        )
        return row


async def test_token_refused_is_a_clear_error_and_creates_nothing(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    standin.deposit(si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED)
    monkeypatch.setenv("GUICHET_CHORUS_CLIENT_SECRET", "wrong")
    result = await pull_now(sessionmaker, engine, clock)
    assert result.created == 0
    assert len(result.errors) == 2
    assert "PISTE a refusé l'application (HTTP 401)" in result.errors[0]
    assert "GUICHET_CHORUS_CLIENT_SECRET" in result.errors[0]
    assert await count_invoices(sessionmaker) == 0
    cursor = await cursor_of(sessionmaker, si.SIRET_A)
    assert cursor is not None and cursor.since is None and "PISTE" in (cursor.last_error or "")
    with pytest.raises(ChorusAuthError):
        async with ChorusProHttp(ChorusSettings()) as port:
            await port.structure_id(si.SIRET_A)

    # the secret fixed, the next pull gets the invoice
    monkeypatch.setenv("GUICHET_CHORUS_CLIENT_SECRET", standin.client_secret)
    assert (await pull_now(sessionmaker, engine, clock)).created == 1


async def test_wrong_technical_account_is_refused_with_the_setting_to_check(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_CHORUS_PASSWORD", "not-the-password")
    result = await pull_now(sessionmaker, engine, clock)
    assert result.errors and "compte technique" in result.errors[0]


async def test_not_configured_says_which_settings_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUICHET_CHORUS_CLIENT_ID", raising=False)
    with pytest.raises(ChorusNotConfigured, match="GUICHET_CHORUS_CLIENT_ID"):
        async with ChorusProHttp(ChorusSettings(client_id="")) as port:
            await port.structure_id(si.SIRET_A)


async def test_503_on_download_is_retried_at_the_next_pull_nothing_lost(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    first = standin.deposit(
        si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED
    )
    later = standin.deposit(
        si.SIRET_A,
        samples.ubl_invoice(),
        number="UBL-2026-1",
        deposited_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    )
    # every try of this pull (3 attempts) fails for the first download
    standin.fail("/telecharger/groupe", 503, times=3)
    result = await pull_now(sessionmaker, engine, clock, tenant="69001")
    [siret] = result.sirets
    assert siret.failed == [str(first)]
    assert len(siret.created) == 1  # the other one went through
    assert "ne répond pas" in (siret.error or "")
    cursor = await cursor_of(sessionmaker, si.SIRET_A)
    assert cursor is not None and cursor.since == date(2026, 3, 1)  # not past the failed one

    again = await pull_now(sessionmaker, engine, clock, tenant="69001")
    assert again.created == 1 and again.errors == []
    async with sessionmaker() as s:
        numbers = sorted(await s.scalars(select(SupplierInvoice.number)))
    assert numbers == ["CII-2026-1", "UBL-2026-1"]
    assert standin.invoices[later].downloaded
    cursor = await cursor_of(sessionmaker, si.SIRET_A)
    assert cursor is not None and cursor.since == date(2026, 3, 2) and cursor.last_error is None


async def test_a_transient_503_is_retried_within_the_same_call(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    standin.deposit(si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED)
    standin.fail("/rechercher/recipiendaire", 503, times=1)
    standin.fail("/telecharger/groupe", 429, times=1)
    result = await pull_now(sessionmaker, engine, clock, tenant="69001")
    assert result.created == 1 and result.errors == []
    statuses = [code for path, code in standin.calls if path.endswith("/rechercher/recipiendaire")]
    assert statuses == [503, 200]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/rechercher/recipiendaire", b'{"codeRetour": 0, "listeFactures": [{'),
        ("/telecharger/groupe", b"<html>Bad gateway</html>"),
        ("/telecharger/groupe", b'{"codeRetour": 0, "fichierResultat": "***"}'),
        ("/rechercher/recipiendaire", b'{"codeRetour": 0, "listeFactures": [{"idFacture": []}]}'),
    ],
)
async def test_malformed_answer_is_logged_no_crash_nothing_lost(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
    path: str,
    body: bytes,
) -> None:
    standin.deposit(si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED)
    standin.fail(path, 200, times=1, body=body)
    result = await pull_now(sessionmaker, engine, clock, tenant="69001")
    assert result.created == 0
    assert result.errors and "Chorus Pro" in result.errors[0]
    cursor = await cursor_of(sessionmaker, si.SIRET_A)
    assert cursor is not None and cursor.last_error
    again = await pull_now(sessionmaker, engine, clock, tenant="69001")
    assert again.created == 1 and again.errors == []


async def test_failing_push_is_retried_by_the_outbox_then_succeeds(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    chorus_id = standin.deposit(
        si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED
    )
    await pull_now(sessionmaker, engine, clock)
    async with sessionmaker() as s:
        case_id = await s.scalar(select(SupplierInvoice.case_id))
    department = await si.actor_of(sessionmaker, "instr@a.invalid")
    await apply(sessionmaker, engine, clock, case_id, "certify_service", department, {})
    async with sessionmaker() as s:
        row = await s.scalar(select(Outbox).where(Outbox.kind == "einvoice.chorus_status"))
    assert row is not None and row.payload["status"] == "SERVICE_FAIT"

    deps = JobDeps(engine=engine, storage=storage_from_settings(), clock=clock)
    standin.fail("/traiter/factureRecue", 503, times=3)  # one whole try of the job
    with pytest.raises(Retry):
        await outbox.perform(sessionmaker, all_handlers(), deps, row.id)
    async with sessionmaker() as s:
        failed = await s.get(Outbox, row.id)
    assert failed is not None and failed.status == "enqueued" and failed.attempts == 1
    assert "ne répond pas" in (failed.last_error or "")
    assert standin.pushes == []

    assert await outbox.perform(sessionmaker, all_handlers(), deps, row.id) == "done"
    assert standin.pushes_for(chorus_id) == ["SERVICE_FAIT"]


async def test_a_push_whose_answer_was_lost_is_done_when_retried(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    """Chorus Pro applied the status but the job died before recording it: the retry is refused
    (already SERVICE_FAIT), the handler checks the current status and is done."""
    chorus_id = standin.deposit(
        si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED
    )
    await pull_now(sessionmaker, engine, clock)
    async with sessionmaker() as s:
        case_id = await s.scalar(select(SupplierInvoice.case_id))
    department = await si.actor_of(sessionmaker, "instr@a.invalid")
    await apply(sessionmaker, engine, clock, case_id, "certify_service", department, {})
    async with ChorusProHttp(ChorusSettings()) as port:
        await port.push_status(str(chorus_id), "SERVICE_FAIT")
    async with sessionmaker() as s:
        row_id = await s.scalar(select(Outbox.id).where(Outbox.kind == "einvoice.chorus_status"))
    deps = JobDeps(engine=engine, storage=storage_from_settings(), clock=clock)
    assert await outbox.perform(sessionmaker, all_handlers(), deps, row_id) == "done"
    assert standin.pushes_for(chorus_id) == ["SERVICE_FAIT"]


async def test_a_later_status_waits_for_the_earlier_one(
    seed: Seed,
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    standin: ChorusStandin,
    chorus_url: str,
    finance: dict[str, Any],
) -> None:
    chorus_id = standin.deposit(
        si.SIRET_A, samples.cii_invoice(), number="CII-2026-1", deposited_at=DEPOSITED
    )
    await pull_now(sessionmaker, engine, clock)
    async with sessionmaker() as s:
        case_id = await s.scalar(select(SupplierInvoice.case_id))
    department = await si.actor_of(sessionmaker, "instr@a.invalid")
    finance_agent = await si.actor_of(sessionmaker, "admin@a.invalid")
    await apply(sessionmaker, engine, clock, case_id, "certify_service", department, {})
    await apply(
        sessionmaker, engine, clock, case_id, "mandate", finance_agent, {"mandate_number": "M1"}
    )
    async with sessionmaker() as s:
        first, second = list(
            await s.scalars(
                select(Outbox.id)
                .where(Outbox.kind == "einvoice.chorus_status")
                .order_by(Outbox.created_at, Outbox.id)
            )
        )
    deps = JobDeps(engine=engine, storage=storage_from_settings(), clock=clock)
    with pytest.raises(Retry):  # MANDATEE before SERVICE_FAIT: not yet
        await outbox.perform(sessionmaker, all_handlers(), deps, second)
    assert standin.pushes == []
    assert await outbox.perform(sessionmaker, all_handlers(), deps, first) == "done"
    assert await outbox.perform(sessionmaker, all_handlers(), deps, second) == "done"
    assert standin.pushes_for(chorus_id) == ["SERVICE_FAIT", "MANDATEE"]
