"""Concessions: attribution, renewal, conversion, status changes, parties.

The legal rules deciding *whether* a renewal, conversion or reprise is allowed (2-year window,
prices, abandon preconditions) belong to ``rules.py`` and the procedures; these functions keep the
registry consistent: one live concession per place, the new period of a renewal starting at the old
term (CE 21 May 2007 n°281615), a conversion only towards a longer duration (L2223-16), and only
declared status changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.db import is_postgres
from services.kernel.errors import Conflict, NotFound, ValidationFailed
from workflows.cases.models import ReferenceCounter
from workflows.engine.calendar import add_months
from workflows.procedures.cemeteries._registry_places import get_place
from workflows.procedures.cemeteries._registry_schemas import (
    ConcessionIn,
    ConcessionRead,
    PartyIn,
    PartyRead,
)
from workflows.procedures.cemeteries.models import (
    HOLDING_STATUSES,
    Concession,
    ConcessionCategory,
    ConcessionParty,
    ConcessionStatus,
    DurationKind,
    PartyRole,
    PlaceStatus,
    PlaceType,
)

CONCESSION_NOT_FOUND = "Concession introuvable dans cette commune."
TEMPORARY_MAX_YEARS = 15
"""L2223-14 CGCT: a temporary concession lasts 15 years at most."""

ALLOWED_STATUS_CHANGES: dict[str, frozenset[str]] = {
    ConcessionStatus.ATTRIBUEE: frozenset(
        {ConcessionStatus.ECHUE, ConcessionStatus.EN_PROCEDURE_ABANDON}
    ),
    ConcessionStatus.ECHUE: frozenset({ConcessionStatus.REPRISE_DELIBEREE}),
    ConcessionStatus.EN_PROCEDURE_ABANDON: frozenset(
        {ConcessionStatus.ATTRIBUEE, ConcessionStatus.REPRISE_DELIBEREE}
    ),
    ConcessionStatus.REPRISE_DELIBEREE: frozenset(),
}
"""Status changes made by ``set_concession_status``. Renewal, conversion and the execution of a
reprise have their own functions (they create rows or move remains)."""

_DURATION_RANK = {
    DurationKind.TEMPORARY: 0,
    DurationKind.THIRTY: 1,
    DurationKind.FIFTY: 2,
    DurationKind.PERPETUAL: 3,
}


def duration_years_of(kind: DurationKind | str, years: int | None) -> int | None:
    """The number of years for a duration kind, checked (L2223-14); None for perpetual."""
    kind = DurationKind(kind)
    if kind is DurationKind.PERPETUAL:
        if years is not None:
            raise _invalid("duration_years", "Une concession perpétuelle n'a pas de durée.")
        return None
    if kind is DurationKind.TEMPORARY:
        if years is None or not 1 <= years <= TEMPORARY_MAX_YEARS:
            raise _invalid(
                "duration_years",
                "Une concession temporaire dure de 1 à 15 ans (L2223-14 CGCT) : "
                "indiquez sa durée en années.",
            )
        return years
    expected = int(kind.value)
    if years is not None and years != expected:
        raise _invalid("duration_years", f"Une concession de {expected} ans dure {expected} ans.")
    return expected


def term_of(starts_on: date, years: int | None) -> date | None:
    """The term date: the same day ``years`` later (29 February → 28 February); None: perpetual."""
    return None if years is None else add_months(starts_on, 12 * years)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message, "type": "value"}])


async def next_concession_number(session: AsyncSession, tenant_id: uuid.UUID, year: int) -> str:
    """The next order number of the tenant's register for ``year`` (gap-free, e.g. 2026-00012)."""
    table = ReferenceCounter.__table__.c
    conn = await session.connection()
    stmt = (
        update(ReferenceCounter)
        .where(table.tenant_id == tenant_id, table.scope == "concession", table.year == year)
        .values(value=table.value + 1)
        .returning(table.value)
    )
    value = (await conn.execute(stmt)).scalar_one_or_none()
    if value is None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(ReferenceCounter).values(
                        tenant_id=tenant_id, scope="concession", year=year, value=1
                    )
                )
            value = 1
        except IntegrityError:  # another transaction created it first
            value = (await conn.execute(stmt)).scalar_one()
    return f"{year}-{value:05d}"


async def get_concession(
    session: AsyncSession, tenant_id: uuid.UUID, concession_id: uuid.UUID, *, lock: bool = False
) -> Concession:
    """The tenant's concession; NotFound for another tenant's (the same words: never revealed)."""
    stmt = select(Concession).where(
        Concession.id == concession_id, Concession.tenant_id == tenant_id
    )
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if is_postgres(session):
            stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(CONCESSION_NOT_FOUND)
    return row


async def find_concession(
    session: AsyncSession, tenant_id: uuid.UUID, number: str
) -> Concession | None:
    return await session.scalar(
        select(Concession).where(Concession.tenant_id == tenant_id, Concession.number == number)
    )


async def holding_concession(session: AsyncSession, place_id: uuid.UUID) -> Concession | None:
    """The concession holding the place now, if any."""
    return await session.scalar(select(Concession).where(Concession.active_place_id == place_id))


async def parties_of(
    session: AsyncSession, concession_id: uuid.UUID, *, current_only: bool = False
) -> Sequence[ConcessionParty]:
    stmt = (
        select(ConcessionParty)
        .where(ConcessionParty.concession_id == concession_id)
        .order_by(ConcessionParty.created_at, ConcessionParty.family_name)
    )
    if current_only:
        stmt = stmt.where(ConcessionParty.ended_on.is_(None))
    return (await session.scalars(stmt)).all()


async def concession_read(session: AsyncSession, concession: Concession) -> ConcessionRead:
    read = ConcessionRead.model_validate(concession)
    read.parties = [PartyRead.model_validate(p) for p in await parties_of(session, concession.id)]
    return read


def _party(
    tenant_id: uuid.UUID, concession_id: uuid.UUID, p: PartyIn, now: datetime
) -> ConcessionParty:
    return ConcessionParty(
        tenant_id=tenant_id,
        concession_id=concession_id,
        role=p.role.value,
        civility=p.civility,
        family_name=p.family_name,
        usage_name=p.usage_name,
        given_names=p.given_names,
        relationship=p.relationship,
        address=p.address,
        postal_code=p.postal_code,
        city=p.city,
        phone=p.phone,
        email=p.email,
        person_id=p.person_id,
        created_at=now,
    )


async def add_party(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    concession_id: uuid.UUID,
    party: PartyIn,
    *,
    now: datetime,
) -> ConcessionParty:
    """Adds a holder (indivision: several holders), an ayant droit or a named beneficiary."""
    concession = await get_concession(session, tenant_id, concession_id)
    row = _party(tenant_id, concession.id, party, now)
    session.add(row)
    await session.flush()
    return row


async def end_party(
    session: AsyncSession, tenant_id: uuid.UUID, party_id: uuid.UUID, *, on: date
) -> ConcessionParty:
    """A party renounces (or has died): kept in the history with the date it ended."""
    row = await session.get(ConcessionParty, party_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("Personne introuvable sur cette concession.")
    if row.ended_on is None:
        row.ended_on = on
        await session.flush()
    return row


async def _hold(session: AsyncSession, concession: Concession, place_id: uuid.UUID) -> None:
    """Makes ``concession`` the holder of the place; the UNIQUE constraint refuses a second one."""
    concession.active_place_id = place_id
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Cet emplacement vient d'être attribué à une autre concession : choisissez-en un autre."
        ) from exc


async def _release(
    session: AsyncSession, concession: Concession, status: str, now: datetime
) -> None:
    concession.status = status
    concession.active_place_id = None
    concession.updated_at = now
    await session.flush()


async def attribute_concession(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    data: ConcessionIn,
    *,
    now: datetime,
    case_id: uuid.UUID | None = None,
    status: ConcessionStatus = ConcessionStatus.ATTRIBUEE,
    require_holder: bool = True,
) -> Concession:
    """Grants a concession on a free place (locked until COMMIT): of two agents attributing the
    same place at once, one wins and the other gets Conflict.

    Checks: the place is the tenant's, free, and not terrain commun or ossuary; the duration
    (L2223-14); a holder (unless ``require_holder`` is False: registry import of old acts); named
    beneficiaries for a collective concession. ``status`` lets an import record an old concession
    as it stands (echue, en_procedure_abandon…)."""
    place = await get_place(session, tenant_id, data.place_id, lock=True)
    if place.place_type in {PlaceType.TERRAIN_COMMUN, PlaceType.OSSUAIRE}:
        raise Conflict(
            "Un emplacement en terrain commun ou un ossuaire ne peut pas faire l'objet d'une "
            "concession."
        )
    if place.status != PlaceStatus.LIBRE or await holding_concession(session, place.id):
        raise Conflict("Cet emplacement n'est pas libre : choisissez-en un autre.")
    years = duration_years_of(data.duration_kind, data.duration_years)
    roles = {p.role for p in data.parties}
    if require_holder and PartyRole.HOLDER not in roles:
        raise _invalid("parties", "Indiquez au moins un titulaire de la concession.")
    if data.category is ConcessionCategory.COLLECTIVE and PartyRole.BENEFICIARY not in roles:
        raise _invalid(
            "parties",
            "Une concession collective désigne nommément ses bénéficiaires : indiquez-les.",
        )
    starts_on = data.starts_on or data.granted_on
    number = data.number or await next_concession_number(session, tenant_id, data.granted_on.year)
    if await find_concession(session, tenant_id, number) is not None:
        raise Conflict(f"Le numéro de concession « {number} » est déjà utilisé.")
    concession = Concession(
        tenant_id=tenant_id,
        number=number,
        place_id=place.id,
        category=data.category.value,
        duration_kind=data.duration_kind.value,
        duration_years=years,
        granted_on=data.granted_on,
        starts_on=starts_on,
        ends_on=term_of(starts_on, years),
        status=status.value,
        price=data.price,
        ccas_share=data.ccas_share,
        payment_ref=data.payment_ref,
        paid_on=data.paid_on,
        commune_upkeep=data.commune_upkeep,
        case_id=case_id,
        area_m2=data.area_m2 if data.area_m2 is not None else place.area_m2,
        notes=data.notes,
        created_at=now,
        updated_at=now,
    )
    session.add(concession)
    await session.flush()
    if status in HOLDING_STATUSES:
        await _hold(session, concession, place.id)
        place.status = PlaceStatus.ATTRIBUEE
    for p in data.parties:
        session.add(_party(tenant_id, concession.id, p, now))
    await session.flush()
    return concession


async def set_concession_status(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    concession_id: uuid.UUID,
    status: ConcessionStatus,
    *,
    now: datetime,
) -> Concession:
    """A declared status change (``ALLOWED_STATUS_CHANGES``): term reached (echue), abandon
    procedure opened or closed, reprise deliberated. Conflict otherwise, naming what is possible."""
    concession = await get_concession(session, tenant_id, concession_id, lock=True)
    if concession.status == status:
        return concession
    allowed = ALLOWED_STATUS_CHANGES.get(concession.status, frozenset())
    if status not in allowed:
        possible = ", ".join(sorted(allowed)) or "aucun"
        raise Conflict(
            f"La concession n° {concession.number} ne peut pas passer de « {concession.status} » "
            f"à « {status.value} » (possible : {possible})."
        )
    concession.status = status.value
    concession.updated_at = now
    await session.flush()
    return concession


async def record_renewal_info_sent(
    session: AsyncSession, tenant_id: uuid.UUID, concession_id: uuid.UUID, *, at: datetime
) -> Concession:
    """Records that the holders were told of their renewal right (L2223-15, loi 3DS); the first
    date is kept (a reminder does not move it)."""
    concession = await get_concession(session, tenant_id, concession_id, lock=True)
    if concession.renewal_info_sent_at is None:
        concession.renewal_info_sent_at = at
        concession.updated_at = at
        await session.flush()
    return concession


async def expire_due_concessions(
    session: AsyncSession, tenant_id: uuid.UUID, *, today: date, now: datetime
) -> int:
    """Marks ``echue`` the tenant's running concessions whose term date has come; returns how many."""
    rows = (
        await session.scalars(
            select(Concession).where(
                Concession.tenant_id == tenant_id,
                Concession.status == ConcessionStatus.ATTRIBUEE,
                Concession.ends_on.is_not(None),
                Concession.ends_on <= today,
            )
        )
    ).all()
    for row in rows:
        row.status = ConcessionStatus.ECHUE.value
        row.updated_at = now
    await session.flush()
    return len(rows)
