"""Cemeteries, zones, alleys and places: creation, lookup (tenant first), occupancy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.db import is_postgres
from services.kernel.errors import Conflict, NotFound
from workflows.procedures.cemeteries._registry_schemas import (
    AlleyIn,
    CemeteryIn,
    PlaceIn,
    PlaceRead,
    ZoneIn,
)
from workflows.procedures.cemeteries._registry_settings import registry_settings
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryAlley,
    CemeteryPlace,
    CemeteryZone,
    Container,
    Deceased,
    DeceasedStatus,
    PlaceStatus,
)

PLACE_NOT_FOUND = "Emplacement introuvable dans cette commune."
TENANT_NOT_FOUND = "Commune introuvable."
_tenant = table("tenant", column("id"), column("insee_code"))
CEMETERY_NOT_FOUND = "Cimetière introuvable dans cette commune."


async def tenant_by_insee(session: AsyncSession, insee: str) -> uuid.UUID:
    """The tenant's id from its INSEE code (without importing the identity package)."""
    found = await session.scalar(select(_tenant.c.id).where(_tenant.c.insee_code == insee))
    if found is None:
        raise NotFound(TENANT_NOT_FOUND)
    return found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))


def container_weight(container: str) -> Decimal:
    """Places a container takes in a grave (settings: coffin 1, urn 0.1, reduction box 0.5)."""
    s = registry_settings()
    return {
        Container.COFFIN: s.occupancy_coffin,
        Container.URN: s.occupancy_urn,
        Container.BOX: s.occupancy_box,
    }[Container(container)]


# ----- cemeteries, zones, alleys -----------------------------------------------------------------


async def create_cemetery(
    session: AsyncSession, tenant_id: uuid.UUID, data: CemeteryIn, *, now: datetime
) -> Cemetery:
    """A new cemetery of the tenant; Conflict if its code is taken."""
    existing = await session.scalar(
        select(Cemetery).where(Cemetery.tenant_id == tenant_id, Cemetery.code == data.code)
    )
    if existing is not None:
        raise Conflict(f"Un cimetière porte déjà le code « {data.code} » dans cette commune.")
    cemetery = Cemetery(
        tenant_id=tenant_id, code=data.code, name=data.name, address=data.address, created_at=now
    )
    session.add(cemetery)
    await session.flush()
    return cemetery


async def get_cemetery(
    session: AsyncSession, tenant_id: uuid.UUID, cemetery_id: uuid.UUID
) -> Cemetery:
    """The tenant's cemetery; NotFound for another tenant's (never revealed)."""
    row = await session.get(Cemetery, cemetery_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(CEMETERY_NOT_FOUND)
    return row


async def find_cemetery(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> Cemetery | None:
    return await session.scalar(
        select(Cemetery).where(Cemetery.tenant_id == tenant_id, Cemetery.code == code)
    )


async def list_cemeteries(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Cemetery]:
    rows = await session.scalars(
        select(Cemetery).where(Cemetery.tenant_id == tenant_id).order_by(Cemetery.code)
    )
    return rows.all()


async def ensure_zone(session: AsyncSession, cemetery: Cemetery, data: ZoneIn) -> CemeteryZone:
    """The cemetery's zone with this code, created if missing."""
    zone = await session.scalar(
        select(CemeteryZone).where(
            CemeteryZone.cemetery_id == cemetery.id, CemeteryZone.code == data.code
        )
    )
    if zone is None:
        zone = CemeteryZone(
            tenant_id=cemetery.tenant_id, cemetery_id=cemetery.id, code=data.code, name=data.name
        )
        session.add(zone)
        await session.flush()
    return zone


async def ensure_alley(session: AsyncSession, zone: CemeteryZone, data: AlleyIn) -> CemeteryAlley:
    """The zone's alley with this code, created if missing."""
    alley = await session.scalar(
        select(CemeteryAlley).where(
            CemeteryAlley.zone_id == zone.id, CemeteryAlley.code == data.code
        )
    )
    if alley is None:
        alley = CemeteryAlley(
            tenant_id=zone.tenant_id, zone_id=zone.id, code=data.code, name=data.name
        )
        session.add(alley)
        await session.flush()
    return alley


# ----- places ------------------------------------------------------------------------------------


async def create_place(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cemetery_id: uuid.UUID,
    data: PlaceIn,
    *,
    now: datetime,
) -> CemeteryPlace:
    """A new place at cemetery > zone > alley > number (zone and alley created when missing);
    Conflict if that number is taken in the alley."""
    cemetery = await get_cemetery(session, tenant_id, cemetery_id)
    zone = await ensure_zone(session, cemetery, ZoneIn(code=data.zone))
    alley = await ensure_alley(session, zone, AlleyIn(code=data.alley))
    taken = await session.scalar(
        select(CemeteryPlace.id).where(
            CemeteryPlace.alley_id == alley.id, CemeteryPlace.number == data.number
        )
    )
    if taken is not None:
        raise Conflict(
            f"L'emplacement {data.zone}/{data.alley}/{data.number} existe déjà dans le cimetière "
            f"« {cemetery.name} »."
        )
    place = CemeteryPlace(
        tenant_id=tenant_id,
        cemetery_id=cemetery.id,
        zone_id=zone.id,
        alley_id=alley.id,
        number=data.number,
        place_type=data.place_type.value,
        grave_type=data.grave_type,
        capacity=data.capacity,
        area_m2=data.area_m2,
        plan_ref=data.plan_ref,
        status=data.status.value,
        notes=data.notes,
        created_at=now,
    )
    session.add(place)
    await session.flush()
    return place


async def get_place(
    session: AsyncSession, tenant_id: uuid.UUID, place_id: uuid.UUID, *, lock: bool = False
) -> CemeteryPlace:
    """The tenant's place; NotFound for another tenant's. ``lock`` takes a row lock until COMMIT
    (PostgreSQL ``FOR UPDATE``; SQLite transactions are serialised by BEGIN IMMEDIATE)."""
    stmt = select(CemeteryPlace).where(
        CemeteryPlace.id == place_id, CemeteryPlace.tenant_id == tenant_id
    )
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if is_postgres(session):
            stmt = stmt.with_for_update()
    place = await session.scalar(stmt)
    if place is None:
        raise NotFound(PLACE_NOT_FOUND)
    return place


async def occupancy(session: AsyncSession, place_id: uuid.UUID) -> Decimal:
    """Places taken in the grave by the remains resting there now (coffins, urns, boxes)."""
    containers = await session.scalars(
        select(Deceased.container).where(
            Deceased.place_id == place_id, Deceased.status == DeceasedStatus.IN_PLACE
        )
    )
    return sum((container_weight(c) for c in containers), Decimal(0))


async def location_labels(
    session: AsyncSession, places: Sequence[CemeteryPlace]
) -> dict[uuid.UUID, tuple[str, str, str]]:
    """place id → (cemetery name, zone code, alley code)."""
    if not places:
        return {}
    ids = {p.alley_id for p in places}
    rows = await session.execute(
        select(CemeteryAlley.id, CemeteryAlley.code, CemeteryZone.code, Cemetery.name)
        .join(CemeteryZone, CemeteryZone.id == CemeteryAlley.zone_id)
        .join(Cemetery, Cemetery.id == CemeteryZone.cemetery_id)
        .where(CemeteryAlley.id.in_(ids))
    )
    by_alley = {alley_id: (cem, zone, alley) for alley_id, alley, zone, cem in rows.all()}
    return {p.id: by_alley[p.alley_id] for p in places}


async def place_reads(session: AsyncSession, places: Sequence[CemeteryPlace]) -> list[PlaceRead]:
    """Read models with location labels and current occupancy (one query for occupancies)."""
    labels = await location_labels(session, places)
    taken: dict[uuid.UUID, Decimal] = {p.id: Decimal(0) for p in places}
    if places:
        rows = await session.execute(
            select(Deceased.place_id, Deceased.container).where(
                Deceased.place_id.in_(list(taken)), Deceased.status == DeceasedStatus.IN_PLACE
            )
        )
        for place_id, container in rows.all():
            if place_id is not None:
                taken[place_id] += container_weight(container)
    out = []
    for p in places:
        cemetery, zone, alley = labels[p.id]
        out.append(
            PlaceRead(
                id=p.id,
                tenant_id=p.tenant_id,
                cemetery_id=p.cemetery_id,
                cemetery=cemetery,
                zone=zone,
                alley=alley,
                number=p.number,
                location=f"{cemetery}, {zone}, allée {alley}, n° {p.number}",
                place_type=p.place_type,
                grave_type=p.grave_type,
                capacity=p.capacity,
                occupancy=taken[p.id],
                area_m2=p.area_m2,
                plan_ref=p.plan_ref,
                status=p.status,
                notes=p.notes,
            )
        )
    return out


async def free_places(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    cemetery_id: uuid.UUID | None = None,
    place_type: str | None = None,
) -> Sequence[CemeteryPlace]:
    """Places with status ``libre`` (ossuaries excluded), ordered by cemetery, zone, alley, number."""
    stmt = (
        select(CemeteryPlace)
        .join(CemeteryZone, CemeteryZone.id == CemeteryPlace.zone_id)
        .join(CemeteryAlley, CemeteryAlley.id == CemeteryPlace.alley_id)
        .where(
            CemeteryPlace.tenant_id == tenant_id,
            CemeteryPlace.status == PlaceStatus.LIBRE,
            CemeteryPlace.place_type != "ossuaire",
        )
        .order_by(
            CemeteryPlace.cemetery_id, CemeteryZone.code, CemeteryAlley.code, CemeteryPlace.number
        )
    )
    if cemetery_id is not None:
        stmt = stmt.where(CemeteryPlace.cemetery_id == cemetery_id)
    if place_type is not None:
        stmt = stmt.where(CemeteryPlace.place_type == place_type)
    return (await session.scalars(stmt)).all()


async def ossuary_of(
    session: AsyncSession, tenant_id: uuid.UUID, cemetery_id: uuid.UUID
) -> CemeteryPlace:
    """The ossuary place of a cemetery (its first, by zone/alley/number); Conflict if none."""
    place = await session.scalar(
        select(CemeteryPlace)
        .where(
            CemeteryPlace.tenant_id == tenant_id,
            CemeteryPlace.cemetery_id == cemetery_id,
            CemeteryPlace.place_type == "ossuaire",
        )
        .order_by(CemeteryPlace.created_at)
        .limit(1)
    )
    if place is None:
        raise Conflict(
            "Ce cimetière n'a pas d'ossuaire enregistré : créez d'abord un emplacement de type "
            "« ossuaire » (affecté à perpétuité par arrêté, L2223-4)."
        )
    return place
