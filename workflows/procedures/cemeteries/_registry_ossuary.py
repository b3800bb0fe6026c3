"""The ossuary: transfer of remains and its public register (L2223-4, R2223-6), and the
lookups shared by the operations (a deceased, a legal date)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from services.kernel.settings import legal_settings
from workflows.procedures.cemeteries._registry_places import get_place, occupancy, ossuary_of
from workflows.procedures.cemeteries._registry_schemas import OssuaryEntryPublic
from workflows.procedures.cemeteries.models import (
    CemeteryPlace,
    Deceased,
    DeceasedStatus,
    FuneralOperation,
    OperationKind,
    OssuaryEntry,
    PlaceStatus,
    PlaceType,
)

DECEASED_NOT_FOUND = "Défunt introuvable dans cette commune."


def local_date(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("naive datetimes are refused: use an aware datetime")
    return at.astimezone(ZoneInfo(legal_settings().timezone)).date()


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "type": "value"}])


async def get_deceased(
    session: AsyncSession, tenant_id: uuid.UUID, deceased_id: uuid.UUID
) -> Deceased:
    row = await session.get(Deceased, deceased_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(DECEASED_NOT_FOUND)
    return row


async def move_to_ossuary(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    deceased_id: uuid.UUID,
    *,
    on: date,
    now: datetime,
    ossuary_place_id: uuid.UUID | None = None,
    cremate: bool = False,
    case_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    at: datetime | None = None,
    kind: OperationKind = OperationKind.TRANSFER,
) -> OssuaryEntry:
    """Moves remains to the ossuary (by default the one of their cemetery) and writes the public
    register line (L2223-4, R2223-6). Remains of a person known to have refused cremation are never
    cremated and are kept apart: ``cremate=True`` for them is a Conflict."""
    deceased = await get_deceased(session, tenant_id, deceased_id)
    ossuary = None
    if ossuary_place_id is not None:
        ossuary = await get_place(session, tenant_id, ossuary_place_id, lock=True)
    entry, _ = await _to_ossuary(
        session,
        tenant_id,
        deceased,
        on=on,
        now=now,
        ossuary=ossuary,
        cremate=cremate,
        case_id=case_id,
        actor_id=actor_id,
        at=at,
        kind=kind,
    )
    return entry


async def _to_ossuary(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    deceased: Deceased,
    *,
    on: date,
    now: datetime,
    ossuary: CemeteryPlace | None,
    cremate: bool = False,
    case_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    at: datetime | None,
    kind: OperationKind,
    details: dict[str, object] | None = None,
) -> tuple[OssuaryEntry, FuneralOperation]:
    if deceased.status != DeceasedStatus.IN_PLACE or deceased.place_id is None:
        raise Conflict("Ce défunt ne repose dans aucun emplacement : rien à transférer.")
    if cremate and deceased.refused_cremation:
        raise Conflict(
            "Ce défunt s'était opposé à la crémation : ses restes ne peuvent pas être incinérés ; "
            "ils sont déposés à l'ossuaire et conservés à part (R2223-4 du CGCT)."
        )
    origin = await get_place(session, tenant_id, deceased.place_id, lock=True)
    if ossuary is None:
        ossuary = await ossuary_of(session, tenant_id, origin.cemetery_id)
    elif ossuary.place_type != PlaceType.OSSUAIRE:
        raise _invalid("ossuary_place_id", "La destination n'est pas un ossuaire.")
    origin_concession = deceased.concession_id
    deceased.place_id = ossuary.id
    deceased.status = DeceasedStatus.IN_OSSUARY.value
    deceased.concession_id = None
    op = FuneralOperation(
        tenant_id=tenant_id,
        kind=kind.value,
        place_id=origin.id,
        target_place_id=ossuary.id,
        deceased_id=deceased.id,
        concession_id=origin_concession,
        case_id=case_id,
        at=at or now,
        details={
            **(details or {}),
            "destination": "ossuaire",
            "cremated": cremate,
            "kept_apart": deceased.refused_cremation,
        },
        recorded_at=now,
        recorded_by=actor_id,
    )
    session.add(op)
    entry = OssuaryEntry(
        tenant_id=tenant_id,
        ossuary_place_id=ossuary.id,
        deceased_id=deceased.id,
        family_name=deceased.family_name,
        usage_name=deceased.usage_name,
        given_names=deceased.given_names,
        death_date=deceased.death_date,
        deposited_on=on,
        kept_apart=deceased.refused_cremation,
        cremated=cremate,
        origin_place_id=origin.id,
        origin_concession_id=origin_concession,
        case_id=case_id,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    if origin.place_type == PlaceType.TERRAIN_COMMUN and await occupancy(session, origin.id) == 0:
        origin.status = PlaceStatus.LIBRE.value
        await session.flush()
    return entry, op


async def ossuary_register(
    session: AsyncSession, tenant_id: uuid.UUID, *, cemetery_id: uuid.UUID | None = None
) -> list[OssuaryEntryPublic]:
    """The public ossuary register: names, dates of death and deposit, kept-apart flag."""
    stmt = select(OssuaryEntry).where(OssuaryEntry.tenant_id == tenant_id)
    if cemetery_id is not None:
        stmt = stmt.join(CemeteryPlace, CemeteryPlace.id == OssuaryEntry.ossuary_place_id).where(
            CemeteryPlace.cemetery_id == cemetery_id
        )
    stmt = stmt.order_by(OssuaryEntry.deposited_on, OssuaryEntry.family_name)
    return [OssuaryEntryPublic.model_validate(e) for e in (await session.scalars(stmt)).all()]
