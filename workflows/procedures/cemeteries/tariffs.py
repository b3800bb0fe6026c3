"""Concession tariffs per tenant and period, voted by the conseil municipal (L2223-15, R2223-11).

A tariff line is keyed by (category, duration, place type or any, area band) and valid over a
period. ``tariff_on(..., on_date)`` answers the line in force on a date: for a renewal, pass the
**term date** of the expired concession — the price is the tariff in force then, not on the day
of the request (CE 21 May 2007 n°281615, Ville de Paris).

The durations and categories a commune offers are the ones it has voted a tariff for
(``offered_durations``): a commune need not offer every category or duration (L2223-14).

CCAS share: the third of the price once due to the poor (ordonnance of 1843) was abrogated by loi
96-142 of 21 February 1996. A commune may still choose to give a share (Rép. min. Sénat, 9 March
2000): ``ccas_share_percent`` on the tariff line, unset by default; nothing is ever computed when
it is unset.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from workflows.procedures.cemeteries.models import (
    CemeteryTariff,
    ConcessionCategory,
    DurationKind,
    PlaceType,
)

CENT = Decimal("0.01")


class TariffIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: ConcessionCategory
    duration_kind: DurationKind
    duration_years: int | None = Field(
        default=None, ge=1, le=15, description="Durée en années (concession temporaire)"
    )
    place_type: PlaceType | None = Field(default=None, description="Vide : tout type")
    area_min_m2: Decimal | None = Field(default=None, ge=0, le=10000, decimal_places=2)
    area_max_m2: Decimal | None = Field(default=None, gt=0, le=10000, decimal_places=2)
    price: Decimal = Field(ge=0, le=10_000_000, decimal_places=2)
    valid_from: date
    valid_to: date | None = None
    ccas_share_percent: Decimal | None = Field(
        default=None, ge=0, le=100, decimal_places=2, description="Part CCAS facultative (%)"
    )
    label: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    deliberation_ref: (
        Annotated[str, StringConstraints(max_length=120, pattern=r"^[^\x00]*$")] | None
    ) = None

    @model_validator(mode="after")
    def _coherent(self) -> TariffIn:
        if self.duration_kind is DurationKind.TEMPORARY and self.duration_years is None:
            raise ValueError("une concession temporaire a une durée en années (15 au plus)")
        if self.duration_kind is not DurationKind.TEMPORARY and self.duration_years is not None:
            raise ValueError("seule une concession temporaire a une durée en années à préciser")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("la fin de validité précède son début")
        if (
            self.area_min_m2 is not None
            and self.area_max_m2 is not None
            and self.area_max_m2 <= self.area_min_m2
        ):
            raise ValueError("la tranche de surface est vide (maximum ≤ minimum)")
        return self


class TariffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    category: str
    duration_kind: str
    duration_years: int | None
    place_type: str | None
    area_min_m2: Decimal | None
    area_max_m2: Decimal | None
    price: Decimal
    valid_from: date
    valid_to: date | None
    ccas_share_percent: Decimal | None
    label: str | None
    deliberation_ref: str | None


def _same_key(data: TariffIn) -> list[object]:
    t = CemeteryTariff
    conds: list[object] = [
        t.category == data.category.value,
        t.duration_kind == data.duration_kind.value,
    ]
    conds.append(
        t.duration_years.is_(None)
        if data.duration_years is None
        else t.duration_years == data.duration_years
    )
    conds.append(
        t.place_type.is_(None) if data.place_type is None else t.place_type == data.place_type.value
    )
    conds.append(
        t.area_min_m2.is_(None) if data.area_min_m2 is None else t.area_min_m2 == data.area_min_m2
    )
    conds.append(
        t.area_max_m2.is_(None) if data.area_max_m2 is None else t.area_max_m2 == data.area_max_m2
    )
    return conds


async def create_tariff(
    session: AsyncSession, tenant_id: uuid.UUID, data: TariffIn, *, now: datetime
) -> CemeteryTariff:
    """Records a voted tariff line. A line of the same key still open (no end) and starting
    earlier is closed the day before the new one starts; any other overlap is a Conflict (the
    tariff on a date must be unambiguous)."""
    same = (
        await session.scalars(
            select(CemeteryTariff).where(
                CemeteryTariff.tenant_id == tenant_id,
                *_same_key(data),  # type: ignore[arg-type]
            )
        )
    ).all()
    for line in same:
        if line.valid_to is None and line.valid_from < data.valid_from:
            line.valid_to = data.valid_from - timedelta(days=1)
            continue
        ends = line.valid_to or date.max
        new_ends = data.valid_to or date.max
        if line.valid_from <= new_ends and data.valid_from <= ends:
            raise Conflict(
                f"Un tarif de même catégorie, durée, type et surface est déjà en vigueur du "
                f"{line.valid_from:%d/%m/%Y} au "
                f"{(line.valid_to.strftime('%d/%m/%Y') if line.valid_to else 'sans fin')} : "
                "les périodes ne peuvent pas se chevaucher."
            )
    row = CemeteryTariff(
        tenant_id=tenant_id,
        category=data.category.value,
        duration_kind=data.duration_kind.value,
        duration_years=data.duration_years,
        place_type=data.place_type.value if data.place_type else None,
        area_min_m2=data.area_min_m2,
        area_max_m2=data.area_max_m2,
        price=data.price,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        ccas_share_percent=data.ccas_share_percent,
        label=data.label,
        deliberation_ref=data.deliberation_ref,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def list_tariffs(
    session: AsyncSession, tenant_id: uuid.UUID, *, on_date: date | None = None
) -> Sequence[CemeteryTariff]:
    stmt = select(CemeteryTariff).where(CemeteryTariff.tenant_id == tenant_id)
    if on_date is not None:
        stmt = stmt.where(
            CemeteryTariff.valid_from <= on_date,
            or_(CemeteryTariff.valid_to.is_(None), CemeteryTariff.valid_to >= on_date),
        )
    stmt = stmt.order_by(
        CemeteryTariff.category,
        CemeteryTariff.duration_kind,
        CemeteryTariff.duration_years,
        CemeteryTariff.valid_from,
    )
    return (await session.scalars(stmt)).all()


def _label(category: str, duration: str, years: int | None) -> str:
    length = f"{years} ans" if years else {"30": "30 ans", "50": "50 ans"}.get(duration, duration)
    return f"{category}, {length}"


async def find_tariff_on(
    session: AsyncSession,
    tenant: uuid.UUID,
    category: ConcessionCategory | str,
    duration: DurationKind | str,
    place_type: PlaceType | str | None,
    area: Decimal | None,
    on_date: date,
    *,
    duration_years: int | None = None,
) -> CemeteryTariff | None:
    """Like ``tariff_on`` but None when no line applies."""
    candidates = await list_tariffs(session, tenant, on_date=on_date)
    kind = DurationKind(duration).value
    cat = ConcessionCategory(category).value
    ptype = PlaceType(place_type).value if place_type is not None else None
    best: tuple[int, date, CemeteryTariff] | None = None
    for t in candidates:
        if t.category != cat or t.duration_kind != kind:
            continue
        if kind == DurationKind.TEMPORARY and t.duration_years != duration_years:
            continue
        if t.place_type is not None and t.place_type != ptype:
            continue
        if area is None:
            if t.area_min_m2 not in (None, Decimal(0)) or t.area_max_m2 is not None:
                continue
        else:
            if t.area_min_m2 is not None and area < t.area_min_m2:
                continue
            if t.area_max_m2 is not None and area >= t.area_max_m2:
                continue
        score = (t.place_type is not None) * 2 + (
            t.area_min_m2 is not None or t.area_max_m2 is not None
        )
        if best is None or (score, t.valid_from) > (best[0], best[1]):
            best = (score, t.valid_from, t)
    return best[2] if best else None


async def tariff_on(
    session: AsyncSession,
    tenant: uuid.UUID,
    category: ConcessionCategory | str,
    duration: DurationKind | str,
    place_type: PlaceType | str | None,
    area: Decimal | None,
    on_date: date,
    *,
    duration_years: int | None = None,
) -> CemeteryTariff:
    """The tariff line in force on ``on_date`` for this category, duration (``duration_years`` for
    a temporary one), place type and area (band [min, max)). The most specific line wins (a line
    for the place type over one for any type; a line with an area band over one without).
    NotFound (French) when the commune has no such tariff on that date: it does not offer it."""
    found = await find_tariff_on(
        session,
        tenant,
        category,
        duration,
        place_type,
        area,
        on_date,
        duration_years=duration_years,
    )
    if found is None:
        label = _label(
            ConcessionCategory(category).value, DurationKind(duration).value, duration_years
        )
        raise NotFound(
            f"Aucun tarif voté pour une concession ({label}) en vigueur le "
            f"{on_date:%d/%m/%Y} : la commune ne la propose pas, ou son tarif reste à délibérer."
        )
    return found


def ccas_share(tariff: CemeteryTariff, price: Decimal | None = None) -> Decimal | None:
    """The CCAS share of a price under this tariff line: None unless the commune chose one."""
    if tariff.ccas_share_percent is None:
        return None
    base = tariff.price if price is None else price
    return (base * tariff.ccas_share_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


async def offered_durations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    on_date: date,
    *,
    category: ConcessionCategory | str | None = None,
) -> list[tuple[str, str, int | None]]:
    """(category, duration kind, years) the commune offers on ``on_date``: those with a tariff."""
    seen: set[tuple[str, str, int | None]] = set()
    for t in await list_tariffs(session, tenant_id, on_date=on_date):
        if category is not None and t.category != ConcessionCategory(category).value:
            continue
        seen.add((t.category, t.duration_kind, t.duration_years))
    order = {"temporary": 0, "30": 1, "50": 2, "perpetual": 3}
    return sorted(seen, key=lambda k: (k[0], order.get(k[1], 9), k[2] or 0))


def check_offered(
    offered: list[tuple[str, str, int | None]], category: str, kind: str, years: int | None
) -> None:
    """ValidationFailed when the commune does not offer this category and duration."""
    if any(c == category and k == kind and (k != "temporary" or y == years) for c, k, y in offered):
        return
    message = "La commune ne propose pas cette catégorie ou cette durée de concession."
    raise ValidationFailed(
        message, errors=[{"field": "duration_kind", "message": message, "type": "value"}]
    )
