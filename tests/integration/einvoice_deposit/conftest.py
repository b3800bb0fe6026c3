"""Fixtures of the deposit API tests: commune A's finance data and a supplier's software.

``supplier`` is the API client of the organisation "LE FOURNISSEUR" (the sample's seller),
created in commune A with both supplier scopes, its supplier row linked to the organisation (so
that its invoices show in ``/espace-fournisseur/factures``). ``enable_deposits`` lists commune A
in ``GUICHET_SUPPLIER_INVOICES_DEPOSIT_TENANTS``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.models import Tenant
from identity.organisations import create_organisation
from services.kernel.actor import Scope
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from tests.support.http import client_token
from workflows.procedures.supplier_invoices.models import Supplier

SM = async_sessionmaker[AsyncSession]


@dataclass
class Software:
    headers: dict[str, str]
    organisation_id: uuid.UUID

    def key(self, key: str, **more: str) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key, **more}


async def new_client(
    app_client: AsyncTestClient[Any],
    sm: SM,
    clock: FrozenClock,
    *,
    tenant_id: uuid.UUID,
    organisation_id: uuid.UUID | None,
    scopes: tuple[str, ...] = (Scope.INTAKE_WRITE, Scope.CASES_READ),
    name: str = "Logiciel du fournisseur",
) -> dict[str, str]:
    async with sm() as s, s.begin():
        tenant = await s.get(Tenant, tenant_id)
        assert tenant is not None
        client, secret = await ids.create_api_client(
            s,
            now=clock.now(),
            tenant=tenant,
            name=name,
            scopes=list(scopes),
            organisation_id=organisation_id,
        )
    token = await client_token(app_client, client.client_id, secret)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def supplier(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: SM, clock: FrozenClock
) -> Software:
    async with sessionmaker() as s, s.begin():
        await si.seed_finance(
            s,
            commune_id=seed.commune_id,
            other_commune_id=seed.other_commune_id,
            remaining=Decimal("5000.00"),
            supplier_iban=None,
        )
        organisation = await create_organisation(
            s, now=clock.now(), name="LE FOURNISSEUR", siret=si.SELLER_SIRET
        )
        row = await s.scalar(select(Supplier).where(Supplier.siret == si.SELLER_SIRET))
        assert row is not None
        row.organisation_id = organisation.id
    headers = await new_client(
        app_client, sessionmaker, clock, tenant_id=seed.commune_id, organisation_id=organisation.id
    )
    return Software(headers, organisation.id)


@pytest.fixture
def enable_deposits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUICHET_SUPPLIER_INVOICES_DEPOSIT_TENANTS", '["69001"]')
