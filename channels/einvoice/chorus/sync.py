"""Pull received invoices from Chorus Pro, push the treatment statuses back.

Pull (``pull``, the cron every 15 minutes): for each SIRET under which a tenant receives invoices
(``invoice_buyer_siret``), search the invoices deposited since the SIRET's cursor, and for each
one not pulled yet: read its "mise à disposition" date, download it, ``validate`` it and
``receive_invoice(..., source="chorus_pro", chorus_id=…, made_available_at=<Chorus date>)`` in
one transaction with its ``chorus_invoice`` row. A replayed page creates nothing twice (the
Chorus id is unique). An invoice that cannot be downloaded now (503, timeout, malformed answer)
keeps the cursor at its deposit date: the next pull tries it again, nothing is lost. A SIRET whose
search fails records the error on its cursor and the other SIRETs go on.

Push (``push_status``, the outbox handler of ``einvoice.chorus_status`` rows that the
supplier-invoices projector writes when a Chorus Pro invoice changes state): one
``traiter/factureRecue`` call; a failure raises, so the outbox retries it with its backoff and
keeps it (``failed``, retried by ``guichet outbox retry``) rather than losing it. Pushes of one
invoice go in order: a row waits while an earlier one of the same case is still pending. A push
Chorus Pro refuses because the invoice already has that status (a retry after a lost answer) is
done.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.einvoice.chorus.http import ChorusProHttp
from channels.einvoice.chorus.models import ChorusInvoice, ChorusPullCursor
from channels.einvoice.chorus.port import (
    PUSHED_STATUSES,
    ChorusError,
    ChorusProPort,
    ChorusRefused,
    ReceivedSummary,
)
from channels.einvoice.chorus.settings import ChorusSettings
from channels.einvoice.intake import receive_invoice
from channels.einvoice.validation import validate
from documents.jobs import JobDeps
from identity.models import Tenant
from services.kernel.clock import Clock
from services.kernel.logging import get_logger
from workflows.cases.models import Outbox
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import InvoiceBuyerSiret

KIND = "einvoice.chorus_status"
PARIS = ZoneInfo("Europe/Paris")
MAX_PAGES = 200
_log = get_logger("guichet.chorus")

PortFactory = Callable[[], AbstractAsyncContextManager[ChorusProPort]]


@asynccontextmanager
async def http_port() -> AsyncIterator[ChorusProPort]:
    """The real adapter, configured from ``GUICHET_CHORUS_*``."""
    async with ChorusProHttp(ChorusSettings()) as port:
        yield port


_port_factory: PortFactory = http_port


def set_port_factory(factory: PortFactory | None) -> None:
    """Replace the adapter used by the cron and the outbox handler (None: the real one)."""
    global _port_factory
    _port_factory = factory or http_port


@dataclass
class SiretPull:
    siret: str
    created: list[uuid.UUID] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    """Chorus ids left for the next pull."""
    error: str | None = None


@dataclass
class PullResult:
    sirets: list[SiretPull] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(len(s.created) for s in self.sirets)

    @property
    def errors(self) -> list[str]:
        return [s.error for s in self.sirets if s.error]


async def _targets(session: AsyncSession, tenant: str | None) -> list[tuple[uuid.UUID, str, str]]:
    stmt = (
        select(InvoiceBuyerSiret.tenant_id, Tenant.insee_code, InvoiceBuyerSiret.siret)
        .join(Tenant, Tenant.id == InvoiceBuyerSiret.tenant_id)
        .order_by(Tenant.insee_code, InvoiceBuyerSiret.siret)
    )
    if tenant is not None:
        stmt = stmt.where(Tenant.insee_code == tenant)
    return [(t, insee, siret) for t, insee, siret in (await session.execute(stmt)).all()]


async def _cursor(
    sm: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, siret: str, now: datetime
) -> ChorusPullCursor:
    async with sm() as session, session.begin():
        row = await session.scalar(select(ChorusPullCursor).where(ChorusPullCursor.siret == siret))
        if row is None:
            row = ChorusPullCursor(tenant_id=tenant_id, siret=siret, updated_at=now)
            session.add(row)
            await session.flush()
        session.expunge(row)
        return row


async def _save_cursor(
    sm: async_sessionmaker[AsyncSession], cursor_id: uuid.UUID, **values: Any
) -> None:
    async with sm() as session, session.begin():
        row = await session.get(ChorusPullCursor, cursor_id, with_for_update=True)
        if row is not None:
            for key, value in values.items():
                setattr(row, key, value)


async def _search_all(
    port: ChorusProPort, structure_id: str, since: date | None
) -> list[ReceivedSummary]:
    found: dict[str, ReceivedSummary] = {}
    page = 1
    while page <= MAX_PAGES:
        result = await port.search_received(structure_id, since=since, page=page)
        for invoice in result.invoices:
            found.setdefault(invoice.chorus_id, invoice)
        if page >= result.pages or not result.invoices:
            break
        page += 1
    return sorted(found.values(), key=lambda i: (i.deposited_on, i.chorus_id))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), PARIS)


async def _pull_one(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    port: ChorusProPort,
    settings: ChorusSettings,
    tenant_id: uuid.UUID,
    insee: str,
    siret: str,
) -> SiretPull:
    outcome = SiretPull(siret)
    now = clock.now()
    cursor = await _cursor(sm, tenant_id, siret, now)
    since = cursor.since or (
        now.astimezone(PARIS).date() - timedelta(days=settings.first_pull_days)
    )
    try:
        structure_id = cursor.structure_id or await port.structure_id(siret)
        invoices = await _search_all(port, structure_id, since)
    except ChorusError as exc:
        outcome.error = exc.message
        _log.error("chorus pull failed", siret=siret, tenant=insee, error=exc.message)
        await _save_cursor(sm, cursor.id, last_pull_at=now, last_error=exc.message, updated_at=now)
        return outcome
    async with sm() as session:
        known = set(
            await session.scalars(
                select(ChorusInvoice.chorus_id).where(
                    ChorusInvoice.chorus_id.in_([i.chorus_id for i in invoices] or [""])
                )
            )
        )
    failed_days: list[date] = []
    errors: list[str] = []
    for summary in invoices:
        if summary.chorus_id in known:
            outcome.skipped += 1
            continue
        if summary.recipient_siret and summary.recipient_siret != siret:
            _log.warning(
                "chorus invoice for another siret", siret=siret, chorus_id=summary.chorus_id
            )
            continue
        try:
            made_at = await port.made_available_at(summary.chorus_id)
            content = await port.download(summary.chorus_id)
        except ChorusError as exc:
            outcome.failed.append(summary.chorus_id)
            failed_days.append(summary.deposited_on)
            errors.append(f"facture Chorus {summary.chorus_id} : {exc.message}")
            _log.error(
                "chorus download failed",
                siret=siret,
                chorus_id=summary.chorus_id,
                error=exc.message,
            )
            continue
        made_available_at = made_at or _start_of(summary.deposited_on)
        report, document = await asyncio.to_thread(validate, content)
        try:
            async with sm() as session, session.begin():
                received = await receive_invoice(
                    session,
                    engine,
                    clock,
                    tenant=insee,
                    source="chorus_pro",
                    raw=content,
                    report=report,
                    document=document,
                    made_available_at=made_available_at,
                    external_ref=f"chorus:{summary.chorus_id}",
                    chorus_id=summary.chorus_id,
                )
                session.add(
                    ChorusInvoice(
                        tenant_id=tenant_id,
                        chorus_id=summary.chorus_id,
                        siret=siret,
                        number=summary.number,
                        case_id=received.case_id,
                        deposited_on=summary.deposited_on,
                        made_available_at=made_available_at,
                        pulled_at=clock.now(),
                    )
                )
        except Exception as exc:  # noqa: BLE001 — one bad invoice must not stop the others
            outcome.failed.append(summary.chorus_id)
            failed_days.append(summary.deposited_on)
            errors.append(f"facture Chorus {summary.chorus_id} : {type(exc).__name__}")
            _log.error(
                "chorus invoice not received",
                siret=siret,
                chorus_id=summary.chorus_id,
                error=repr(exc)[:500],
            )
            continue
        if received.created:
            outcome.created.append(received.case_id)
        else:
            outcome.skipped += 1
    newest = max((i.deposited_on for i in invoices), default=since)
    next_since = min(failed_days) if failed_days else max(newest, since)
    outcome.error = "; ".join(errors)[:2000] or None
    await _save_cursor(
        sm,
        cursor.id,
        structure_id=structure_id,
        since=next_since,
        last_pull_at=now,
        last_error=outcome.error,
        updated_at=now,
    )
    return outcome


async def pull(
    sm: async_sessionmaker[AsyncSession],
    engine: Engine,
    clock: Clock,
    port: ChorusProPort,
    *,
    tenant: str | None = None,
    settings: ChorusSettings | None = None,
) -> PullResult:
    """Pull every tenant's (or ``tenant``'s, INSEE code) new invoices from Chorus Pro."""
    settings = settings or ChorusSettings()
    async with sm() as session:
        targets = await _targets(session, tenant)
    result = PullResult()
    for tenant_id, insee, siret in targets:
        result.sirets.append(
            await _pull_one(sm, engine, clock, port, settings, tenant_id, insee, siret)
        )
    if result.created:
        _log.info("chorus pull", created=result.created)
    return result


# ----- push ---------------------------------------------------------------------------------------


class ChorusPushDeferred(Exception):
    """An earlier status of the same invoice has not been pushed yet: retried later."""


async def push_status(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """Outbox handler of ``einvoice.chorus_status``: one ``traiter/factureRecue``."""
    payload = row.payload
    chorus_id = str(payload.get("chorus_id") or "")
    status = str(payload.get("status") or "")
    if not chorus_id or status not in PUSHED_STATUSES:
        _log.warning("chorus push ignored", outbox_id=str(row.id), status=status)
        return
    seq = int(payload.get("seq") or 0)
    earlier = await session.scalars(
        select(Outbox).where(
            Outbox.kind == KIND,
            Outbox.case_id == row.case_id,
            Outbox.id != row.id,
            Outbox.status.in_(("pending", "enqueued")),
        )
    )
    if any(int(o.payload.get("seq") or 0) < seq for o in earlier):
        raise ChorusPushDeferred(
            f"statut {status} de la facture Chorus {chorus_id} : un statut antérieur attend "
            "encore d'être transmis"
        )
    reason = payload.get("reason")
    mandate = payload.get("mandate_number")
    async with _port_factory() as port:
        try:
            await port.push_status(
                chorus_id,
                status,
                reason=str(reason) if reason else None,
                mandate_number=str(mandate) if mandate else None,
            )
        except ChorusRefused:
            # A retry after a lost answer: Chorus Pro already has this status.
            if await port.current_status(chorus_id) == status:
                return
            raise


async def pull_job(ctx: dict[str, Any]) -> int:
    """Cron: pull every tenant's invoices (nothing when Chorus Pro is not configured)."""
    if not ChorusSettings().configured and _port_factory is http_port:
        return 0
    deps: JobDeps = ctx["deps"]
    async with _port_factory() as port:
        result = await pull(ctx["sessionmaker"], deps.engine, deps.clock, port)
    return result.created
