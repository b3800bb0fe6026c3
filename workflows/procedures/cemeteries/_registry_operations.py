"""Funeral operations on places, the ossuary, the execution of a reprise, a place's history.

``record_operation`` is where the registry refuses what would make it false: a burial beyond the
place's capacity, a coffin in a columbarium case, a burial in a concession place no concession
holds, a terrain commun grave reused before its rotation (R2223-5 CGCT: 5 years at least, C2's rule), the
cremation of remains of a person known to have refused it (R2223-4 and R2223-6: kept apart).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict
from workflows.procedures.cemeteries._registry_concessions import (
    concession_read,
    get_concession,
    holding_concession,
)
from workflows.procedures.cemeteries._registry_ossuary import (
    _invalid,
    _to_ossuary,
    get_deceased,
    local_date,
    move_to_ossuary,
)
from workflows.procedures.cemeteries._registry_places import (
    container_weight,
    get_place,
    occupancy,
    place_reads,
)
from workflows.procedures.cemeteries._registry_schemas import (
    DeceasedIn,
    DeceasedRead,
    OperationIn,
    OperationRead,
    PlaceHistory,
)
from workflows.procedures.cemeteries.models import (
    CemeteryPlace,
    Concession,
    ConcessionStatus,
    Container,
    Deceased,
    DeceasedStatus,
    FuneralOperation,
    OperationKind,
    PlaceStatus,
    PlaceType,
)
from workflows.procedures.cemeteries.rules import terrain_commun_reusable

URN_ONLY = frozenset({PlaceType.COLUMBARIUM, PlaceType.CAVURNE})
ENTRIES = frozenset({OperationKind.INHUMATION, OperationKind.URN_DEPOSIT})


def new_deceased(
    tenant_id: uuid.UUID, data: DeceasedIn, *, now: datetime, status: DeceasedStatus
) -> Deceased:
    return Deceased(
        tenant_id=tenant_id,
        civility=data.civility,
        family_name=data.family_name,
        usage_name=data.usage_name,
        given_names=data.given_names,
        birth_date=data.birth_date,
        birth_place=data.birth_place,
        death_date=data.death_date or (local_date(data.death_at) if data.death_at else None),
        death_at=data.death_at,
        death_place=data.death_place,
        last_domicile=data.last_domicile,
        container=data.container.value,
        refused_cremation=data.refused_cremation,
        status=status.value,
        created_at=now,
    )


async def _check_room(
    session: AsyncSession, place: CemeteryPlace, container: str, *, exclude: uuid.UUID | None = None
) -> None:
    """Refuses what the place cannot take: its type (urns only in a columbarium case or a cavurne)
    and its capacity (coffin 1, urn 0.1, reduction box 0.5 by default)."""
    if place.status == PlaceStatus.INDISPONIBLE:
        raise Conflict("Cet emplacement est indisponible : aucune opération n'y est possible.")
    if place.place_type in URN_ONLY and container != Container.URN:
        raise Conflict("Une case de columbarium ou une cavurne ne reçoit que des urnes.")
    if place.capacity is None:
        return
    taken = await occupancy(session, place.id)
    if exclude is not None:
        moving = await session.get(Deceased, exclude)
        if moving is not None and moving.place_id == place.id:
            taken -= container_weight(moving.container)
    if taken + container_weight(container) > place.capacity:
        raise Conflict(
            f"L'emplacement n° {place.number} est complet ({taken} place(s) occupée(s) sur "
            f"{place.capacity}) : l'inhumation est impossible sans réduction ou autre emplacement."
        )


async def _check_terrain_commun_rotation(
    session: AsyncSession, place: CemeteryPlace, on: date
) -> None:
    """R2223-5 CGCT: a terrain commun grave is reopened for a new burial only once the rotation
    (5 years at least, ``GUICHET_CEMETERY_TERRAIN_COMMUN_MIN_YEARS``) has run since the last
    burial in it (``rules.terrain_commun_reusable``)."""
    last = await session.scalar(
        select(FuneralOperation.at)
        .where(
            FuneralOperation.place_id == place.id,
            FuneralOperation.kind.in_([k.value for k in ENTRIES]),
        )
        .order_by(FuneralOperation.at.desc())
        .limit(1)
    )
    if last is None:
        return
    verdict = terrain_commun_reusable(local_date(last), on)
    if not verdict.allowed:
        raise Conflict(f"{verdict.reason} ({verdict.reference})", extra=dict(verdict.details))


async def _concession_for_entry(session: AsyncSession, place: CemeteryPlace) -> Concession | None:
    if place.place_type == PlaceType.TERRAIN_COMMUN:
        return None
    concession = await holding_concession(session, place.id)
    if concession is None:
        raise Conflict(
            "Aucune concession en cours sur cet emplacement : une inhumation y est impossible "
            "(attribuez d'abord une concession, ou choisissez le terrain commun)."
        )
    if concession.status not in {ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE}:
        raise Conflict(
            f"La concession n° {concession.number} est en cours de reprise ({concession.status}) : "
            "aucune inhumation n'y est possible."
        )
    return concession


async def record_operation(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    data: OperationIn,
    *,
    now: datetime,
    case_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> FuneralOperation:
    """Records one funeral operation and moves the remains accordingly, under a row lock on the
    place(s). inhumation / urn_deposit: a new ``deceased`` (or one with no place) enters the place;
    exhumation / urn_removal: leaves it (to ``target_place_id`` or out of the cemeteries);
    transfer: moves to ``target_place_id`` (an ossuary target goes through ``move_to_ossuary``);
    reduction: the coffin becomes a reduction box; dispersion: the ashes are dispersed; works:
    only recorded (``details``: company, nature, dates). Conflicts as the module says."""
    place = await get_place(session, tenant_id, data.place_id, lock=True)
    kind = data.kind
    on = local_date(data.at)
    if place.place_type == PlaceType.OSSUAIRE and kind is not OperationKind.WORKS:
        raise Conflict("Les dépôts à l'ossuaire passent par le transfert à l'ossuaire.")
    deceased: Deceased | None = None
    concession_id: uuid.UUID | None = None
    target: CemeteryPlace | None = None
    if kind in ENTRIES:
        if (data.deceased is None) == (data.deceased_id is None):
            raise _invalid("deceased", "Indiquez le défunt (nouveau) ou son identifiant.")
        container = (
            data.deceased.container.value
            if data.deceased is not None
            else (await get_deceased(session, tenant_id, data.deceased_id)).container  # type: ignore[arg-type]
        )
        if kind is OperationKind.URN_DEPOSIT and container != Container.URN:
            raise _invalid("deceased.container", "Un dépôt d'urne concerne une urne.")
        concession = await _concession_for_entry(session, place)
        concession_id = concession.id if concession else None
        if place.place_type == PlaceType.TERRAIN_COMMUN:
            await _check_terrain_commun_rotation(session, place, on)
        await _check_room(session, place, container)
        if data.deceased is not None:
            deceased = new_deceased(
                tenant_id, data.deceased, now=now, status=DeceasedStatus.IN_PLACE
            )
            session.add(deceased)
        else:
            deceased = await get_deceased(session, tenant_id, data.deceased_id)  # type: ignore[arg-type]
            if deceased.status == DeceasedStatus.IN_PLACE:
                raise Conflict("Ce défunt repose déjà dans un emplacement : faites un transfert.")
            deceased.status = DeceasedStatus.IN_PLACE.value
        deceased.place_id = place.id
        deceased.concession_id = concession_id
        deceased.inhumed_on = on
        if place.place_type == PlaceType.TERRAIN_COMMUN:
            place.status = PlaceStatus.OCCUPEE.value
    elif kind is OperationKind.WORKS:
        if data.deceased_id is not None:
            deceased = await get_deceased(session, tenant_id, data.deceased_id)
    elif kind is OperationKind.DISPERSION and data.deceased is not None:
        if data.deceased.container is not Container.URN:
            raise _invalid("deceased.container", "Seules des cendres peuvent être dispersées.")
        deceased = new_deceased(tenant_id, data.deceased, now=now, status=DeceasedStatus.DISPERSED)
        session.add(deceased)
    else:
        if data.deceased_id is None:
            raise _invalid("deceased_id", "Indiquez le défunt concerné par l'opération.")
        deceased = await get_deceased(session, tenant_id, data.deceased_id)
        if deceased.place_id != place.id or deceased.status != DeceasedStatus.IN_PLACE:
            raise Conflict("Ce défunt ne repose pas dans cet emplacement.")
        concession_id = deceased.concession_id
        if kind is OperationKind.REDUCTION:
            if deceased.container != Container.COFFIN:
                raise Conflict("Seul un corps en cercueil peut faire l'objet d'une réduction.")
            deceased.container = Container.BOX.value
        elif kind is OperationKind.DISPERSION:
            if deceased.container != Container.URN:
                raise Conflict("Seules des cendres peuvent être dispersées.")
            deceased.status = DeceasedStatus.DISPERSED.value
            deceased.place_id = None
        elif kind is OperationKind.URN_REMOVAL and deceased.container != Container.URN:
            raise Conflict("Ce défunt ne repose pas dans une urne.")
        elif data.target_place_id is not None:
            target = await get_place(session, tenant_id, data.target_place_id, lock=True)
            if target.id == place.id:
                raise _invalid("target_place_id", "La destination est l'emplacement d'origine.")
            if target.place_type == PlaceType.OSSUAIRE:
                _, op = await _to_ossuary(
                    session,
                    tenant_id,
                    deceased,
                    on=on,
                    ossuary=target,
                    now=now,
                    case_id=case_id,
                    actor_id=actor_id,
                    at=data.at,
                    kind=kind,
                    details=dict(data.details),
                )
                return op
            target_concession = await _concession_for_entry(session, target)
            await _check_room(session, target, deceased.container)
            deceased.place_id = target.id
            deceased.concession_id = target_concession.id if target_concession else None
        elif kind is OperationKind.TRANSFER:
            raise _invalid("target_place_id", "Indiquez l'emplacement de destination du transfert.")
        else:  # exhumation or urn removal out of the commune's cemeteries
            deceased.status = DeceasedStatus.REMOVED.value
            deceased.place_id = None
        await session.flush()
        if place.place_type == PlaceType.TERRAIN_COMMUN and await occupancy(session, place.id) == 0:
            place.status = PlaceStatus.LIBRE.value
    await session.flush()
    op = FuneralOperation(
        tenant_id=tenant_id,
        kind=kind.value,
        place_id=place.id,
        target_place_id=target.id if target else None,
        deceased_id=deceased.id if deceased else None,
        concession_id=concession_id,
        case_id=case_id,
        at=data.at,
        details=dict(data.details),
        recorded_at=now,
        recorded_by=actor_id,
    )
    session.add(op)
    await session.flush()
    return op


async def execute_reprise(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    concession_id: uuid.UUID,
    *,
    on: date,
    now: datetime,
    cremate: bool = False,
    case_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> Concession:
    """Executes a deliberated reprise (status ``reprise_deliberee``): the remains still in the place
    go to the ossuary (kept apart, never cremated, for those who refused cremation), the concession
    becomes ``reprise`` and the place is free again."""
    concession = await get_concession(session, tenant_id, concession_id, lock=True)
    if concession.status != ConcessionStatus.REPRISE_DELIBEREE:
        raise Conflict(
            f"La reprise de la concession n° {concession.number} n'a pas été décidée "
            f"(état : {concession.status})."
        )
    place = await get_place(session, tenant_id, concession.place_id, lock=True)
    remains = (
        await session.scalars(
            select(Deceased).where(
                Deceased.place_id == place.id, Deceased.status == DeceasedStatus.IN_PLACE
            )
        )
    ).all()
    for d in remains:
        await move_to_ossuary(
            session,
            tenant_id,
            d.id,
            on=on,
            now=now,
            cremate=cremate and not d.refused_cremation,
            case_id=case_id,
            actor_id=actor_id,
            kind=OperationKind.EXHUMATION,
        )
    concession.status = ConcessionStatus.REPRISE.value
    concession.active_place_id = None
    concession.updated_at = now
    place.status = PlaceStatus.LIBRE.value
    await session.flush()
    return concession


async def place_history(
    session: AsyncSession, tenant_id: uuid.UUID, place_id: uuid.UUID
) -> PlaceHistory:
    """A place's full history: its concessions (oldest first), the deceased who rest or rested
    there, and every operation on it (as origin or destination)."""
    place = await get_place(session, tenant_id, place_id)
    concessions = (
        await session.scalars(
            select(Concession)
            .where(Concession.place_id == place.id)
            .order_by(Concession.starts_on, Concession.created_at)
        )
    ).all()
    ops = (
        await session.scalars(
            select(FuneralOperation)
            .where(
                or_(
                    FuneralOperation.place_id == place.id,
                    FuneralOperation.target_place_id == place.id,
                )
            )
            .order_by(FuneralOperation.at, FuneralOperation.recorded_at)
        )
    ).all()
    ids = {o.deceased_id for o in ops if o.deceased_id is not None}
    stmt = select(Deceased).where(or_(Deceased.place_id == place.id, Deceased.id.in_(ids)))
    deceased = (
        await session.scalars(stmt.order_by(Deceased.inhumed_on, Deceased.created_at))
    ).all()
    return PlaceHistory(
        place=(await place_reads(session, [place]))[0],
        concessions=[await concession_read(session, c) for c in concessions],
        deceased=[DeceasedRead.model_validate(d) for d in deceased],
        operations=[OperationRead.model_validate(o) for o in ops],
    )
