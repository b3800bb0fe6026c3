"""Renewal and conversion of a concession: a new concession row follows the old one.

A renewal's new period starts at the old term (CE 21 May 2007 n°281615); a conversion goes to a
longer duration only and never from an expired concession (L2223-16). The prices and the 2-year
window are the caller's rules (``rules.py``, ``tariffs.py``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict
from workflows.procedures.cemeteries._registry_concessions import (
    _DURATION_RANK,
    _hold,
    _invalid,
    _release,
    duration_years_of,
    get_concession,
    next_concession_number,
    parties_of,
    term_of,
)
from workflows.procedures.cemeteries.models import (
    Concession,
    ConcessionParty,
    ConcessionStatus,
    DurationKind,
)


async def _successor(
    session: AsyncSession,
    old: Concession,
    *,
    duration_kind: DurationKind,
    duration_years: int | None,
    starts_on: date,
    granted_on: date,
    price: Decimal | None,
    payment_ref: str | None,
    paid_on: date | None,
    case_id: uuid.UUID | None,
    now: datetime,
) -> Concession:
    years = duration_years_of(duration_kind, duration_years)
    number = await next_concession_number(session, old.tenant_id, granted_on.year)
    new = Concession(
        tenant_id=old.tenant_id,
        number=number,
        place_id=old.place_id,
        category=old.category,
        duration_kind=DurationKind(duration_kind).value,
        duration_years=years,
        granted_on=granted_on,
        starts_on=starts_on,
        ends_on=term_of(starts_on, years),
        status=ConcessionStatus.ATTRIBUEE.value,
        price=price,
        payment_ref=payment_ref,
        paid_on=paid_on,
        commune_upkeep=old.commune_upkeep,
        previous_id=old.id,
        case_id=case_id,
        area_m2=old.area_m2,
        created_at=now,
        updated_at=now,
    )
    session.add(new)
    await session.flush()
    for p in await parties_of(session, old.id, current_only=True):
        session.add(
            ConcessionParty(
                tenant_id=p.tenant_id,
                concession_id=new.id,
                role=p.role,
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
        )
    await _hold(session, new, old.place_id)
    return new


async def renew_concession(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    concession_id: uuid.UUID,
    *,
    duration_kind: DurationKind,
    duration_years: int | None = None,
    price: Decimal | None = None,
    payment_ref: str | None = None,
    paid_on: date | None = None,
    granted_on: date,
    now: datetime,
    case_id: uuid.UUID | None = None,
) -> Concession:
    """Renews a concession (attribuee or echue): a new concession row whose period starts at the
    old term (CE 21 May 2007 n°281615), with the same place, category and parties (a renewal by one
    ayant droit is made for all: it does not make them sole holder); the old one becomes
    ``renouvelee``. The 2-year window and the price (tariff on the term date) are the caller's rule
    (``rules.py``); here: NotFound for another tenant's, Conflict for a perpetual or taken-back one."""
    old = await get_concession(session, tenant_id, concession_id, lock=True)
    if old.status not in {ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE}:
        raise Conflict(
            f"La concession n° {old.number} ne peut pas être renouvelée dans son état actuel "
            f"({old.status})."
        )
    if old.ends_on is None:
        raise Conflict(f"La concession n° {old.number} est perpétuelle : rien à renouveler.")
    await _release(session, old, ConcessionStatus.RENOUVELEE, now)
    return await _successor(
        session,
        old,
        duration_kind=duration_kind,
        duration_years=duration_years,
        starts_on=old.ends_on,
        granted_on=granted_on,
        price=price,
        payment_ref=payment_ref,
        paid_on=paid_on,
        case_id=case_id,
        now=now,
    )


async def convert_concession(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    concession_id: uuid.UUID,
    *,
    duration_kind: DurationKind,
    duration_years: int | None = None,
    on_date: date,
    price: Decimal | None = None,
    payment_ref: str | None = None,
    paid_on: date | None = None,
    now: datetime,
    case_id: uuid.UUID | None = None,
) -> Concession:
    """Converts a running concession to a longer duration (L2223-16): a new row starting on
    ``on_date``; the old one becomes ``convertie``. An expired concession cannot be converted
    (renew it for a longer duration instead). The price (new tariff minus the value of the time
    left) is computed by the caller (``rules.py``)."""
    old = await get_concession(session, tenant_id, concession_id, lock=True)
    expired = old.ends_on is not None and old.ends_on <= on_date
    if old.status != ConcessionStatus.ATTRIBUEE or expired:
        raise Conflict(
            f"La concession n° {old.number} est échue ou n'est plus en cours : elle ne peut pas "
            "être convertie (demandez un renouvellement pour une durée plus longue)."
        )
    if (
        _DURATION_RANK[DurationKind(duration_kind)]
        <= _DURATION_RANK[DurationKind(old.duration_kind)]
    ):
        raise _invalid(
            "duration_kind",
            "Une conversion se fait vers une durée plus longue (L2223-16 CGCT).",
        )
    await _release(session, old, ConcessionStatus.CONVERTIE, now)
    return await _successor(
        session,
        old,
        duration_kind=duration_kind,
        duration_years=duration_years,
        starts_on=on_date,
        granted_on=on_date,
        price=price,
        payment_ref=payment_ref,
        paid_on=paid_on,
        case_id=case_id,
        now=now,
    )
