"""The business stage of the e-invoice pipeline (after the standards stages of
``channels.einvoice.validation``): duplicate, buyer SIRET of the tenant, code service (BT-10),
engagement (BT-13), IBAN against the supplier master data, credit note reference.

``check_document(session, document, tenant)`` runs the checks in the caller's transaction (what
``intake.receive_invoice`` does). ``DatabaseBusinessStage`` is the ``BusinessStage`` registered
into the pipeline for ``guichet invoices validate --tenant``: it opens its own session on the
configured database. Fail closed: a database error is a fatal finding, never "valid".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.einvoice._business_rules import check_invoice
from channels.einvoice.validation import Finding, ParsedInvoice, Stage
from identity.service import TenantCache
from services.kernel.clock import SystemClock
from services.kernel.errors import NotFound

__all__ = ["DatabaseBusinessStage", "check_document"]


async def check_document(
    session: AsyncSession, document: ParsedInvoice, tenant: str
) -> list[Finding]:
    """Business findings of ``document`` for ``tenant`` (INSEE code, slug or id)."""
    try:
        found = await TenantCache(ttl=timedelta(0)).get(session, tenant, now=SystemClock().now())
    except NotFound:
        return [
            Finding(
                Stage.BUSINESS,
                "GUICHET-TENANT-UNKNOWN",
                "fatal",
                "document",
                f"Collectivité « {tenant} » inconnue : les contrôles métier n'ont pas pu être "
                "faits.",
            )
        ]
    from identity.models import Tenant

    row = await session.get(Tenant, found.id)
    if row is None:  # pragma: no cover - the cache just read it
        raise NotFound(f"Collectivité « {tenant} » inconnue.")
    return await check_invoice(session, row, document.data, document.syntax)


class DatabaseBusinessStage:
    """``BusinessStage`` on the configured database (one engine per call: the CLI runs one
    ``asyncio.run`` per file)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession] | None = None) -> None:
        self._sessionmaker = sessionmaker

    async def __call__(self, document: ParsedInvoice, tenant: str) -> Sequence[Finding]:
        from services.kernel.db import make_engine, make_sessionmaker
        from services.kernel.settings import effective_database_url

        engine = None
        try:
            sessionmaker = self._sessionmaker
            if sessionmaker is None:
                engine = make_engine(effective_database_url())
                sessionmaker = make_sessionmaker(engine)
            async with sessionmaker() as session:
                return await check_document(session, document, tenant)
        except Exception as exc:  # noqa: BLE001 — fail closed: never "valid" because the checks did not run
            return [
                Finding(
                    Stage.BUSINESS,
                    "GUICHET-BUSINESS-UNAVAILABLE",
                    "fatal",
                    "document",
                    f"Les contrôles métier n'ont pas pu être faits ({type(exc).__name__}) : la "
                    "facture n'est pas déclarée valide. Vérifiez la base de données (guichet "
                    "migrate) et réessayez.",
                )
            ]
        finally:
            if engine is not None:
                await engine.dispose()
