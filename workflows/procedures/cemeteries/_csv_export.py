"""Export of a tenant's registry to CSV, in the import's columns (``_csv_format``).

UTF-8 with a BOM and ``;`` (what spreadsheet software in French expects); importing the export
into an empty commune and exporting again gives the same file. Deceased whose ashes were
dispersed or who were taken out of the commune's cemeteries have no place and are not exported
(their history stays in the operations).
"""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.settings import legal_settings
from workflows.procedures.cemeteries._csv_format import (
    CATEGORIES,
    COLUMNS,
    CONTAINERS,
    DECEASED_STATUSES,
    DURATIONS,
    ROLES,
    fmt_date,
    fmt_decimal,
    fmt_flag,
    reverse,
)
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryAlley,
    CemeteryPlace,
    CemeteryZone,
    Concession,
    ConcessionParty,
    Deceased,
    DeceasedStatus,
    OssuaryEntry,
)

_CATEGORY = reverse(CATEGORIES)
_DURATION = reverse(DURATIONS)
_ROLE = reverse(ROLES)
_CONTAINER = reverse(CONTAINERS)
_DSTATUS = reverse(DECEASED_STATUSES)


def csv_text(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Rows as CSV text with a BOM, ``;`` separated, every cell quoted when needed. Cells starting
    with = + - @ are prefixed with a quote so that a spreadsheet never runs them as formulas."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=list(columns), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe(v) for k, v in row.items()})
    return out.getvalue()


def _safe(value: str) -> str:
    return "'" + value if value[:1] in {"=", "+", "-", "@"} and not _is_number(value) else value


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", "."))
    except ValueError:
        return False
    return True


async def export_registry(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """The tenant's whole registry as CSV text (see the module's docstring)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(legal_settings().timezone)
    cems = (
        await session.scalars(
            select(Cemetery).where(Cemetery.tenant_id == tenant_id).order_by(Cemetery.code)
        )
    ).all()
    code = {c.id: c.code for c in cems}
    zone = {
        z.id: z.code
        for z in await session.scalars(
            select(CemeteryZone).where(CemeteryZone.tenant_id == tenant_id)
        )
    }
    alley = {
        a.id: a.code
        for a in await session.scalars(
            select(CemeteryAlley).where(CemeteryAlley.tenant_id == tenant_id)
        )
    }
    places = (
        await session.scalars(select(CemeteryPlace).where(CemeteryPlace.tenant_id == tenant_id))
    ).all()
    keys = {
        p.id: (code[p.cemetery_id], zone[p.zone_id], alley[p.alley_id], p.number) for p in places
    }

    def where(place_id: uuid.UUID) -> dict[str, str]:
        c, z, a, n = keys[place_id]
        return {"cimetiere": c, "zone": z, "allee": a, "numero": n}

    rows: list[dict[str, str]] = []
    for c in cems:
        rows.append(
            {"type": "cimetiere", "cimetiere": c.code, "nom": c.name, "adresse": c.address or ""}
        )
    for p in sorted(places, key=lambda p: keys[p.id]):
        rows.append(
            {
                "type": "emplacement",
                **where(p.id),
                "type_emplacement": p.place_type,
                "type_sepulture": p.grave_type or "",
                "capacite": fmt_decimal(p.capacity),
                "surface_m2": fmt_decimal(p.area_m2),
                "plan": p.plan_ref or "",
                "statut": p.status,
            }
        )
    concessions = (
        await session.scalars(
            select(Concession).where(Concession.tenant_id == tenant_id).order_by(Concession.number)
        )
    ).all()
    number = {c.id: c.number for c in concessions}
    for k in concessions:
        sent = k.renewal_info_sent_at.astimezone(tz).date() if k.renewal_info_sent_at else None
        rows.append(
            {
                "type": "concession",
                **where(k.place_id),
                "concession": k.number,
                "categorie": _CATEGORY[k.category],
                "duree": _DURATION[k.duration_kind],
                "duree_annees": str(k.duration_years) if k.duration_kind == "temporary" else "",
                "date_acte": fmt_date(k.granted_on),
                "date_debut": fmt_date(k.starts_on),
                "statut": k.status,
                "prix": fmt_decimal(k.price),
                "reference_paiement": k.payment_ref or "",
                "entretien_commune": fmt_flag(k.commune_upkeep),
                "info_renouvellement": fmt_date(sent),
                "precedente": number[k.previous_id] if k.previous_id else "",
                "surface_m2": fmt_decimal(k.area_m2),
            }
        )
    parties = (
        await session.scalars(
            select(ConcessionParty).where(
                ConcessionParty.tenant_id == tenant_id, ConcessionParty.ended_on.is_(None)
            )
        )
    ).all()
    for q in sorted(
        parties, key=lambda q: (number[q.concession_id], q.role, q.family_name, q.given_names)
    ):
        rows.append(
            {
                "type": "personne",
                "concession": number[q.concession_id],
                "role": _ROLE[q.role],
                "civilite": q.civility or "",
                "nom": q.family_name,
                "nom_usage": q.usage_name or "",
                "prenoms": q.given_names,
                "lien": q.relationship or "",
                "adresse": q.address or "",
                "code_postal": q.postal_code or "",
                "ville": q.city or "",
                "telephone": q.phone or "",
                "courriel": q.email or "",
            }
        )
    deposited = dict(
        (
            await session.execute(
                select(OssuaryEntry.deceased_id, OssuaryEntry.deposited_on).where(
                    OssuaryEntry.tenant_id == tenant_id
                )
            )
        ).all()
    )
    dead = (
        await session.scalars(
            select(Deceased).where(
                Deceased.tenant_id == tenant_id,
                Deceased.place_id.is_not(None),
                Deceased.status.in_([DeceasedStatus.IN_PLACE, DeceasedStatus.IN_OSSUARY]),
            )
        )
    ).all()
    for d in sorted(
        dead, key=lambda d: (keys[d.place_id] if d.place_id else (), d.family_name, d.given_names)
    ):
        assert d.place_id is not None
        on = deposited.get(d.id) if d.status == DeceasedStatus.IN_OSSUARY else None
        rows.append(
            {
                "type": "defunt",
                **where(d.place_id),
                "concession": number[d.concession_id] if d.concession_id else "",
                "civilite": d.civility or "",
                "nom": d.family_name,
                "nom_usage": d.usage_name or "",
                "prenoms": d.given_names,
                "date_naissance": fmt_date(d.birth_date),
                "lieu_naissance": d.birth_place or "",
                "date_deces": fmt_date(d.death_date),
                "adresse": d.last_domicile or "",
                "contenant": _CONTAINER[d.container],
                "opposition_cremation": fmt_flag(d.refused_cremation),
                "date_inhumation": fmt_date(on or d.inhumed_on),
                "statut": _DSTATUS[d.status],
            }
        )
    return csv_text(rows)
