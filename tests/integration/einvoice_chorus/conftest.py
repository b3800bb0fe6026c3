"""Fixtures of the Chorus Pro connector tests: the stand-in served on a real local port (uvicorn
in a thread), the ``GUICHET_CHORUS_*`` settings pointing at it, the communes' finance data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.einvoice.chorus.http import ChorusProHttp
from channels.einvoice.chorus.settings import ChorusSettings
from channels.einvoice.chorus.standin import ChorusStandin, serve
from channels.einvoice.chorus.sync import PullResult, pull
from services.kernel.clock import Clock
from tests.conftest import Seed
from tests.integration.einvoice_chorus import samples
from tests.support import supplier_invoices as si
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import InvoiceDepartment, PurchaseOrder

B_ORDER = "PO-B-2026-1"


@pytest.fixture
def standin() -> ChorusStandin:
    state = ChorusStandin(client_id="guichet-test", client_secret="s3cret", login="TECH_69001")
    state.structure(si.SIRET_A)
    state.structure(si.SIRET_B)
    return state


@pytest.fixture
def chorus_url(standin: ChorusStandin, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with serve(standin) as url:
        for key, value in {
            "TOKEN_URL": f"{url}/api/oauth/token",
            "API_BASE_URL": url,
            "CLIENT_ID": standin.client_id,
            "CLIENT_SECRET": standin.client_secret,
            "LOGIN": standin.login,
            "PASSWORD": standin.password,
            "BACKOFF_SECONDS": "0",
            "MAX_ATTEMPTS": "3",
            "TIMEOUT_SECONDS": "10",
        }.items():
            monkeypatch.setenv(f"GUICHET_CHORUS_{key}", value)
        yield url


@pytest.fixture
async def finance(seed: Seed, sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Commune A as in tests.support.supplier_invoices plus the UBL sample's engagement; commune
    B with the same code service and an engagement of its own."""
    at = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    async with sessionmaker() as s, s.begin():
        seeded = await si.seed_finance(
            s,
            commune_id=seed.commune_id,
            other_commune_id=seed.other_commune_id,
        )
        s.add_all(
            [
                PurchaseOrder(
                    tenant_id=seed.commune_id,
                    number=samples.UBL_ORDER,
                    department_code=si.SERVICE_CODE,
                    amount=Decimal("1000.00"),
                    remaining=Decimal("1000.00"),
                    status="open",
                    created_at=at,
                ),
                InvoiceDepartment(
                    tenant_id=seed.other_commune_id,
                    code=si.SERVICE_CODE,
                    name="Services techniques de B",
                    active=True,
                ),
                PurchaseOrder(
                    tenant_id=seed.other_commune_id,
                    number=si.ORDER,
                    department_code=si.SERVICE_CODE,
                    amount=Decimal("1000.00"),
                    remaining=Decimal("1000.00"),
                    status="open",
                    created_at=at,
                ),
            ]
        )
    return seeded


async def pull_now(
    sm: async_sessionmaker[AsyncSession], engine: Engine, clock: Clock, **kw: Any
) -> PullResult:
    """One pull through the real HTTP adapter, configured from the environment."""
    async with ChorusProHttp(ChorusSettings()) as port:
        return await pull(sm, engine, clock, port, **kw)
