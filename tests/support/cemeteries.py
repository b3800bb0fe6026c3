"""Helpers for the cemetery tests: a small registry in a tenant (cemetery, places, concessions).

Others may add functions at the end of this file (additively).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workflows.procedures.cemeteries import registry
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryPlace,
    Concession,
    ConcessionCategory,
    ConcessionStatus,
    DurationKind,
    PartyRole,
    PlaceType,
)

SM = async_sessionmaker[AsyncSession]


def holder(family_name: str = "Martin", given_names: str = "Jeanne", **kw: Any) -> registry.PartyIn:
    return registry.PartyIn(
        role=PartyRole.HOLDER, family_name=family_name, given_names=given_names, **kw
    )


def deceased(
    family_name: str = "Durand", given_names: str = "Paul", **kw: Any
) -> registry.DeceasedIn:
    return registry.DeceasedIn(family_name=family_name, given_names=given_names, **kw)


async def make_cemetery(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    now: datetime,
    code: str = "NORD",
    name: str = "Cimetière du Nord",
) -> Cemetery:
    return await registry.create_cemetery(
        session, tenant_id, registry.CemeteryIn(code=code, name=name), now=now
    )


async def make_place(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cemetery_id: uuid.UUID,
    *,
    now: datetime,
    number: str = "1",
    zone: str = "A",
    alley: str = "1",
    place_type: PlaceType = PlaceType.CAVEAU,
    capacity: Decimal | None = Decimal(2),
    area_m2: Decimal | None = Decimal("2.50"),
    **kw: Any,
) -> CemeteryPlace:
    return await registry.create_place(
        session,
        tenant_id,
        cemetery_id,
        registry.PlaceIn(
            zone=zone,
            alley=alley,
            number=number,
            place_type=place_type,
            capacity=capacity,
            area_m2=area_m2,
            **kw,
        ),
        now=now,
    )


async def grant(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    place_id: uuid.UUID,
    *,
    now: datetime,
    granted_on: date,
    duration_kind: DurationKind = DurationKind.THIRTY,
    duration_years: int | None = None,
    category: ConcessionCategory = ConcessionCategory.FAMILY,
    status: ConcessionStatus = ConcessionStatus.ATTRIBUEE,
    parties: list[registry.PartyIn] | None = None,
    **kw: Any,
) -> Concession:
    return await registry.attribute_concession(
        session,
        tenant_id,
        registry.ConcessionIn(
            place_id=place_id,
            category=category,
            duration_kind=duration_kind,
            duration_years=duration_years,
            granted_on=granted_on,
            parties=parties if parties is not None else [holder()],
            **kw,
        ),
        now=now,
        status=status,
    )


@dataclass
class SmallRegistry:
    """One cemetery in a tenant: caveaux 1–3 (capacity 2), a columbarium case, a terrain commun
    grave, an ossuary."""

    cemetery_id: uuid.UUID
    caveaux: list[uuid.UUID]
    columbarium_id: uuid.UUID
    terrain_commun_id: uuid.UUID
    ossuary_id: uuid.UUID


async def small_registry(
    sm: SM, tenant_id: uuid.UUID, *, now: datetime, code: str = "NORD"
) -> SmallRegistry:
    async with sm() as s, s.begin():
        cem = await make_cemetery(s, tenant_id, now=now, code=code)
        caveaux = [
            (await make_place(s, tenant_id, cem.id, now=now, number=str(n))).id for n in (1, 2, 3)
        ]
        col = await make_place(
            s,
            tenant_id,
            cem.id,
            now=now,
            zone="COL",
            alley="1",
            number="C1",
            place_type=PlaceType.COLUMBARIUM,
            capacity=Decimal("0.4"),
            area_m2=None,
        )
        tc = await make_place(
            s,
            tenant_id,
            cem.id,
            now=now,
            zone="TC",
            alley="1",
            number="T1",
            place_type=PlaceType.TERRAIN_COMMUN,
            capacity=Decimal(1),
        )
        oss = await make_place(
            s,
            tenant_id,
            cem.id,
            now=now,
            zone="OSS",
            alley="0",
            number="OSSUAIRE",
            place_type=PlaceType.OSSUAIRE,
            capacity=None,
            area_m2=None,
        )
        return SmallRegistry(cem.id, caveaux, col.id, tc.id, oss.id)


# ----- C2: procedures (added at the end, additively) ---------------------------------------------


async def add_cemetery_service(sm: SM, *insee_codes: str) -> None:
    """Declare the ``cimetieres`` service (its address goes on the acknowledgement) in tenants."""
    from sqlalchemy import select

    from identity import service as ids
    from identity.models import Tenant

    async with sm() as s, s.begin():
        for code in insee_codes:
            tenant = await s.scalar(select(Tenant).where(Tenant.insee_code == code))
            assert tenant is not None
            await ids.add_tenant_service(
                s,
                tenant,
                code="cimetieres",
                name="Service des cimetières",
                address="2 rue du Repos",
                phone="04 00 00 00 07",
                email=f"cimetieres@{code}.invalid",
            )


async def add_tariff(
    sm: SM,
    tenant_id: uuid.UUID,
    *,
    now: datetime,
    price: str,
    valid_from: date,
    valid_to: date | None = None,
    duration_kind: DurationKind = DurationKind.THIRTY,
    category: ConcessionCategory = ConcessionCategory.FAMILY,
) -> None:
    from workflows.procedures.cemeteries import tariffs

    async with sm() as s, s.begin():
        await tariffs.create_tariff(
            s,
            tenant_id,
            tariffs.TariffIn(
                category=category,
                duration_kind=duration_kind,
                price=Decimal(price),
                valid_from=valid_from,
                valid_to=valid_to,
            ),
            now=now,
        )
