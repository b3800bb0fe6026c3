"""What mayors' offices follow: free places by type, concessions expiring soon, expired ones in
their 2-year renewal window, abandon procedures with their next legal date; CSV variants.

Dates are legal dates (Europe/Paris) given by the caller from the injected clock.
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case, Deadline
from workflows.engine.calendar import add_months
from workflows.procedures.cemeteries._csv_export import csv_text
from workflows.procedures.cemeteries._registry_ossuary import local_date
from workflows.procedures.cemeteries._registry_places import place_reads
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryPlace,
    Concession,
    ConcessionParty,
    ConcessionStatus,
    PartyRole,
    PlaceStatus,
)
from workflows.procedures.cemeteries.rules import renewal_window_end

ABANDON_KEY = "cemeteries.abandon"


class FreePlacesCount(BaseModel):
    cemetery_id: uuid.UUID
    cemetery: str
    place_type: str
    free: int


class ConcessionLine(BaseModel):
    """A concession as the follow-up lists show it."""

    id: uuid.UUID
    number: str
    place_id: uuid.UUID
    location: str
    category: str
    duration_kind: str
    starts_on: date
    ends_on: date | None
    status: str
    holders: str
    """Current holders, "NOM Prénoms" separated by commas."""
    window_ends_on: date | None = None
    """Last day of the 2-year renewal window (L2223-15), for expired concessions."""
    renewal_info_sent_on: date | None = None
    renewal_info_sent: bool = False
    abandon_case_id: uuid.UUID | None = None
    abandon_case_reference: str | None = None
    abandon_case_state: str | None = None
    next_legal_date: date | None = None
    next_legal_step: str | None = None


async def free_places_by_type(
    session: AsyncSession, tenant_id: uuid.UUID, *, cemetery_id: uuid.UUID | None = None
) -> list[FreePlacesCount]:
    """Number of free places per cemetery and place type (ossuaries are never "free")."""
    stmt = (
        select(Cemetery.id, Cemetery.name, CemeteryPlace.place_type, func.count())
        .join(Cemetery, Cemetery.id == CemeteryPlace.cemetery_id)
        .where(
            CemeteryPlace.tenant_id == tenant_id,
            CemeteryPlace.status == PlaceStatus.LIBRE,
            CemeteryPlace.place_type != "ossuaire",
        )
        .group_by(Cemetery.id, Cemetery.name, CemeteryPlace.place_type)
        .order_by(Cemetery.name, CemeteryPlace.place_type)
    )
    if cemetery_id is not None:
        stmt = stmt.where(CemeteryPlace.cemetery_id == cemetery_id)
    return [
        FreePlacesCount(cemetery_id=c, cemetery=name, place_type=t, free=n)
        for c, name, t, n in (await session.execute(stmt)).all()
    ]


async def _lines(
    session: AsyncSession, concessions: list[Concession], *, today: date | None = None
) -> list[ConcessionLine]:
    if not concessions:
        return []
    places = (
        await session.scalars(
            select(CemeteryPlace).where(CemeteryPlace.id.in_({c.place_id for c in concessions}))
        )
    ).all()
    where = {p.id: p.location for p in await place_reads(session, places)}
    holders: dict[uuid.UUID, list[str]] = {}
    for p in await session.scalars(
        select(ConcessionParty)
        .where(
            ConcessionParty.concession_id.in_([c.id for c in concessions]),
            ConcessionParty.role == PartyRole.HOLDER,
            ConcessionParty.ended_on.is_(None),
        )
        .order_by(ConcessionParty.family_name, ConcessionParty.given_names)
    ):
        holders.setdefault(p.concession_id, []).append(f"{p.family_name.upper()} {p.given_names}")
    out = []
    for c in concessions:
        sent = c.renewal_info_sent_at
        out.append(
            ConcessionLine(
                id=c.id,
                number=c.number,
                place_id=c.place_id,
                location=where[c.place_id],
                category=c.category,
                duration_kind=c.duration_kind,
                starts_on=c.starts_on,
                ends_on=c.ends_on,
                status=c.status,
                holders=", ".join(holders.get(c.id, [])),
                window_ends_on=(
                    renewal_window_end(c.ends_on)
                    if c.ends_on is not None and today is not None and c.ends_on <= today
                    else None
                ),
                renewal_info_sent_on=local_date(sent) if sent else None,
                renewal_info_sent=sent is not None,
            )
        )
    return out


async def expiring_concessions(
    session: AsyncSession, tenant_id: uuid.UUID, *, today: date, months: int
) -> list[ConcessionLine]:
    """Running concessions whose term falls after ``today`` and within ``months`` months."""
    until = add_months(today, months)
    rows = (
        await session.scalars(
            select(Concession)
            .where(
                Concession.tenant_id == tenant_id,
                Concession.status == ConcessionStatus.ATTRIBUEE,
                Concession.ends_on > today,
                Concession.ends_on <= until,
            )
            .order_by(Concession.ends_on, Concession.number)
        )
    ).all()
    return await _lines(session, list(rows))


async def expired_concessions(
    session: AsyncSession, tenant_id: uuid.UUID, *, today: date, past_window: bool = False
) -> list[ConcessionLine]:
    """Concessions whose term has come and that are neither renewed nor taken back: by default
    those still inside their 2-year renewal window (L2223-15), with the window's last day and
    whether the renewal-right information was sent; ``past_window``: those whose window has
    closed (a reprise may be considered, once the information was sent)."""
    rows = (
        await session.scalars(
            select(Concession)
            .where(
                Concession.tenant_id == tenant_id,
                Concession.status.in_([ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE]),
                Concession.ends_on <= today,
            )
            .order_by(Concession.ends_on, Concession.number)
        )
    ).all()
    lines = await _lines(session, list(rows), today=today)
    return [
        line
        for line in lines
        if line.window_ends_on is not None and (line.window_ends_on < today) == past_window
    ]


async def abandon_procedures(session: AsyncSession, tenant_id: uuid.UUID) -> list[ConcessionLine]:
    """Concessions in an abandon procedure (or whose reprise was deliberated), each with its open
    ``cemeteries.abandon`` case and that case's next legal date (its earliest active deadline)."""
    rows = (
        await session.scalars(
            select(Concession)
            .where(
                Concession.tenant_id == tenant_id,
                Concession.status.in_(
                    [ConcessionStatus.EN_PROCEDURE_ABANDON, ConcessionStatus.REPRISE_DELIBEREE]
                ),
            )
            .order_by(Concession.number)
        )
    ).all()
    lines = await _lines(session, list(rows))
    cases = (
        await session.scalars(
            select(Case)
            .where(Case.tenant_id == tenant_id, Case.procedure_key == ABANDON_KEY)
            .order_by(Case.received_at.desc())
        )
    ).all()
    by_concession: dict[str, Case] = {}
    for case in cases:
        key = str(case.payload.get("concession_id", ""))
        by_concession.setdefault(key, case)  # the latest case per concession
    for line in lines:
        found = by_concession.get(str(line.id))
        if found is None:
            continue
        line.abandon_case_id = found.id
        line.abandon_case_reference = found.reference
        line.abandon_case_state = found.state
        deadline = await session.scalar(
            select(Deadline)
            .where(Deadline.case_id == found.id, Deadline.status == "active")
            .order_by(Deadline.due_on)
            .limit(1)
        )
        if deadline is not None:
            line.next_legal_date = deadline.due_on
            line.next_legal_step = deadline.kind
    lines.sort(key=lambda x: (x.next_legal_date or date.max, x.number))
    return lines


LIST_COLUMNS = (
    "numero",
    "emplacement",
    "categorie",
    "duree",
    "debut",
    "echeance",
    "statut",
    "titulaires",
    "fin_delai_renouvellement",
    "information_envoyee_le",
    "dossier_abandon",
    "etat_dossier",
    "prochaine_echeance_legale",
    "prochaine_etape",
)


def lines_csv(lines: list[ConcessionLine]) -> str:
    """A follow-up list as CSV for mayors' offices (UTF-8 with BOM, ``;``)."""

    def d(x: date | None) -> str:
        return x.isoformat() if x else ""

    return csv_text(
        [
            {
                "numero": x.number,
                "emplacement": x.location,
                "categorie": x.category,
                "duree": x.duration_kind,
                "debut": d(x.starts_on),
                "echeance": d(x.ends_on),
                "statut": x.status,
                "titulaires": x.holders,
                "fin_delai_renouvellement": d(x.window_ends_on),
                "information_envoyee_le": d(x.renewal_info_sent_on),
                "dossier_abandon": x.abandon_case_reference or "",
                "etat_dossier": x.abandon_case_state or "",
                "prochaine_echeance_legale": d(x.next_legal_date),
                "prochaine_etape": x.next_legal_step or "",
            }
            for x in lines
        ],
        LIST_COLUMNS,
    )


def free_places_csv(counts: list[FreePlacesCount]) -> str:
    return csv_text(
        [
            {"cimetiere": c.cemetery, "type_emplacement": c.place_type, "libres": str(c.free)}
            for c in counts
        ],
        ("cimetiere", "type_emplacement", "libres"),
    )
