"""Writing a validated registry CSV (``_csv_import``) and the import entry point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict
from services.kernel.ids import new_id
from services.kernel.settings import legal_settings
from workflows.procedures.cemeteries._csv_import import (
    ImportReport,
    PlaceKey,
    Progress,
    _check_references,
    _parse,
    _Plan,
    read_rows,
)
from workflows.procedures.cemeteries.models import (
    HOLDING_STATUSES,
    Cemetery,
    CemeteryAlley,
    CemeteryPlace,
    CemeteryZone,
    Concession,
    ConcessionParty,
    Deceased,
    OssuaryEntry,
)


async def import_registry(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    data: bytes,
    *,
    now: datetime,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validates the whole CSV, then (unless ``dry_run`` or any error) writes it in the session's
    transaction. The report lists every error (line, column, French message) and the counts per
    record type; ``written`` says whether anything was written — never part of the file.
    ``progress(n)`` is called as lines are written (the command's progress bar)."""
    rows, errors = read_rows(data)
    report = ImportReport(lines=len(rows), dry_run=dry_run)
    plan = _parse(rows)
    if not errors:
        await _check_references(session, tenant_id, plan)
    for r in rows:
        errors.extend(r.errors)
    report.errors = sorted(errors, key=lambda e: (e.line, e.column))
    for r in rows:
        kind = r.cells.get("type", "").strip().lower()
        if kind in report.counts:
            report.counts[kind] += 1
    if report.errors or dry_run:
        return report
    try:
        async with session.begin_nested():
            await _write(session, tenant_id, plan, now=now, progress=progress or (lambda n: None))
    except IntegrityError as exc:  # a concurrent change between validation and writing
        raise Conflict(
            "Le registre a changé pendant l'import (emplacement ou numéro pris entre-temps) : "
            "rien n'a été importé, relancez l'import."
        ) from exc
    report.written = True
    return report


async def _maps(
    session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[
    dict[str, uuid.UUID],
    dict[tuple[uuid.UUID, str], uuid.UUID],
    dict[tuple[uuid.UUID, str], uuid.UUID],
    dict[PlaceKey, CemeteryPlace],
    dict[str, uuid.UUID],
]:
    cems = {
        c.code: c.id
        for c in (await session.scalars(select(Cemetery).where(Cemetery.tenant_id == tenant_id)))
    }
    zones = {
        (z.cemetery_id, z.code): z.id
        for z in await session.scalars(
            select(CemeteryZone).where(CemeteryZone.tenant_id == tenant_id)
        )
    }
    alleys = {
        (a.zone_id, a.code): a.id
        for a in await session.scalars(
            select(CemeteryAlley).where(CemeteryAlley.tenant_id == tenant_id)
        )
    }
    code_of = {v: k for k, v in cems.items()}
    zone_code = {v: k[1] for k, v in zones.items()}
    alley_code = {v: k[1] for k, v in alleys.items()}
    places = {
        (code_of[p.cemetery_id], zone_code[p.zone_id], alley_code[p.alley_id], p.number): p
        for p in await session.scalars(
            select(CemeteryPlace).where(CemeteryPlace.tenant_id == tenant_id)
        )
    }
    numbers = dict(
        (
            await session.execute(
                select(Concession.number, Concession.id).where(Concession.tenant_id == tenant_id)
            )
        ).all()
    )
    return cems, zones, alleys, places, numbers


async def _write(
    session: AsyncSession, tenant_id: uuid.UUID, plan: _Plan, *, now: datetime, progress: Progress
) -> None:
    cems, zones, alleys, places, numbers = await _maps(session, tenant_id)
    for _, v in plan.cemeteries:
        row = Cemetery(id=new_id(), tenant_id=tenant_id, created_at=now, **v)
        session.add(row)
        cems[v["code"]] = row.id
        progress(1)
    await session.flush()
    new_alleys: list[CemeteryAlley] = []
    new_places: list[CemeteryPlace] = []
    for _, key, v in plan.places:
        cem_id = cems[key[0]]
        zone_id = zones.get((cem_id, key[1]))
        if zone_id is None:
            zone_id = zones[(cem_id, key[1])] = new_id()
            session.add(
                CemeteryZone(id=zone_id, tenant_id=tenant_id, cemetery_id=cem_id, code=key[1])
            )
        alley_id = alleys.get((zone_id, key[2]))
        if alley_id is None:
            alley_id = alleys[(zone_id, key[2])] = new_id()
            new_alleys.append(
                CemeteryAlley(id=alley_id, tenant_id=tenant_id, zone_id=zone_id, code=key[2])
            )
        place = CemeteryPlace(
            id=new_id(),
            tenant_id=tenant_id,
            cemetery_id=cem_id,
            zone_id=zone_id,
            alley_id=alley_id,
            number=key[3],
            created_at=now,
            **v,
        )
        new_places.append(place)
        places[key] = place
        progress(1)
    await session.flush()  # zones first, then alleys, then places (foreign keys)
    session.add_all(new_alleys)
    await session.flush()
    session.add_all(new_places)
    await session.flush()
    previous: list[tuple[Concession, str]] = []
    tz = ZoneInfo(legal_settings().timezone)
    for _, key, v, prev in plan.concessions:
        place = places[key]
        values = dict(v)
        sent = values.pop("renewal_info_sent_on")
        conc = Concession(
            id=new_id(),
            tenant_id=tenant_id,
            place_id=place.id,
            active_place_id=place.id if values["status"] in HOLDING_STATUSES else None,
            renewal_info_sent_at=(
                datetime.combine(sent, time(12), tzinfo=tz).astimezone(UTC) if sent else None
            ),
            created_at=now,
            updated_at=now,
            **values,
        )
        if conc.active_place_id is not None:
            place.status = "attribuee"
        session.add(conc)
        numbers[values["number"]] = conc.id
        if prev is not None:
            previous.append((conc, prev))
        progress(1)
    await session.flush()
    for conc, prev in previous:
        conc.previous_id = numbers[prev]
    for _, party_of, v in plan.parties:
        session.add(
            ConcessionParty(
                tenant_id=tenant_id, concession_id=numbers[party_of], created_at=now, **v
            )
        )
        progress(1)
    for _, key, number, v in plan.deceased:
        place = places[key]
        dead = Deceased(
            id=new_id(),
            tenant_id=tenant_id,
            place_id=place.id,
            concession_id=numbers[number] if number else None,
            created_at=now,
            **v,
        )
        session.add(dead)
        if v["status"] == "in_ossuary":
            session.add(_register_line(tenant_id, place, dead, now))
        elif place.place_type == "terrain_commun":
            place.status = "occupee"
        progress(1)
    await session.flush()


def _register_line(
    tenant_id: uuid.UUID, ossuary: CemeteryPlace, dead: Deceased, now: datetime
) -> OssuaryEntry:
    values: dict[str, Any] = {
        "family_name": dead.family_name,
        "usage_name": dead.usage_name,
        "given_names": dead.given_names,
        "death_date": dead.death_date,
    }
    return OssuaryEntry(
        tenant_id=tenant_id,
        ossuary_place_id=ossuary.id,
        deceased_id=dead.id,
        deposited_on=dead.inhumed_on or now.date(),
        kept_apart=dead.refused_cremation,
        cremated=False,
        created_at=now,
        **values,
    )
