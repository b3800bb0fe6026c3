"""Public statistics of street reports, for everybody and for mayors' offices (CSV).

Counted: public reports only (as in the export). By category, by state (with its generic French
label and Open311 status), by month of submission (Europe/Paris), and the median time to fix:
days from submission to the moment the report was marked fixed, over the reports that were (a
fixed report closed since still counts, with its fixing date). Per tenant (``?commune=``) or
for all tenants together.

The rows are read in one query naming its columns and aggregated here (dialect-free: month
boundaries in the legal time zone are the same on SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import io
import statistics
import uuid
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.opendata._export import PUBLIC_STATES
from services.kernel.settings import legal_settings
from workflows.procedures.street_reports.models import StreetCategory, StreetReport
from workflows.procedures.street_reports.states import public_status, state_title

_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
DAY_SECONDS = 86_400


class CategoryCount(BaseModel):
    code: str
    name: str
    count: int


class StateCount(BaseModel):
    state: str
    label: str
    status: str = Field(description="open | closed (Open311)")
    count: int


class MonthCount(BaseModel):
    month: str = Field(description="YYYY-MM (mois du dépôt, heure de Paris)")
    count: int


class Statistics(BaseModel):
    commune_insee: str | None = Field(description="null : toutes les collectivités")
    computed_at: datetime
    total: int
    fixed: int = Field(description="Signalements résolus (marqués « Résolu » à un moment)")
    median_days_to_fix: float | None = Field(
        description="Médiane, en jours (une décimale), du dépôt à la résolution ; null sans "
        "signalement résolu"
    )
    by_category: list[CategoryCount]
    by_state: list[StateCount]
    by_month: list[MonthCount]


def median_days(durations_seconds: list[float]) -> float | None:
    """The median duration in days, one decimal (None for no duration)."""
    if not durations_seconds:
        return None
    return round(statistics.median(durations_seconds) / DAY_SECONDS, 1)


async def compute(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, commune_insee: str | None, now: datetime
) -> Statistics:
    tz = ZoneInfo(legal_settings().timezone)
    query = (
        select(
            StreetReport.state,
            StreetReport.submitted_at,
            StreetReport.fixed_at,
            StreetCategory.code,
            StreetCategory.name,
        )
        .join(StreetCategory, StreetCategory.id == StreetReport.category_id)
        .where(StreetReport.state.in_(PUBLIC_STATES))
    )
    if tenant_id is not None:
        query = query.where(StreetReport.tenant_id == tenant_id)
    categories: Counter[str] = Counter()
    names: dict[str, str] = {}
    states: Counter[str] = Counter()
    months: Counter[str] = Counter()
    durations: list[float] = []
    total = 0
    for state, submitted, fixed, code, name in await session.execute(query):
        total += 1
        categories[code] += 1
        names.setdefault(code, name)
        states[state] += 1
        months[submitted.astimezone(tz).strftime("%Y-%m")] += 1
        if fixed is not None and fixed >= submitted:
            durations.append((fixed - submitted).total_seconds())
    return Statistics(
        commune_insee=commune_insee,
        computed_at=now,
        total=total,
        fixed=len(durations),
        median_days_to_fix=median_days(durations),
        by_category=[
            CategoryCount(code=code, name=names[code], count=count)
            for code, count in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        by_state=[
            StateCount(
                state=state,
                label=state_title(state),
                status=public_status(state),
                count=states[state],
            )
            for state in PUBLIC_STATES
            if states[state]
        ],
        by_month=[MonthCount(month=month, count=months[month]) for month in sorted(months)],
    )


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{_MONTHS[int(number) - 1]} {year}"


def _french_number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _cell(text: str) -> str:
    """No formula injection: a spreadsheet must show a name, never run it (OWASP CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(stats: Statistics) -> str:
    """One table a spreadsheet opens as is (``;`` separators, decimal comma; the caller adds
    the UTF-8 BOM): rubrique, code, libellé, valeur."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["rubrique", "code", "libelle", "valeur"])
    scope = stats.commune_insee or "toutes"
    writer.writerow(["perimetre", scope, "Collectivité (code INSEE)", scope])
    writer.writerow(["total", "", "Signalements publics", stats.total])
    writer.writerow(["resolus", "", "Signalements résolus", stats.fixed])
    median = stats.median_days_to_fix
    writer.writerow(
        [
            "delai_median_resolution",
            "",
            "Délai médian du dépôt à la résolution (jours)",
            "" if median is None else _french_number(median),
        ]
    )
    for category in stats.by_category:
        writer.writerow(["categorie", _cell(category.code), _cell(category.name), category.count])
    for state in stats.by_state:
        writer.writerow(["etat", state.state, state.label, state.count])
    for month in stats.by_month:
        writer.writerow(["mois", month.month, _month_label(month.month), month.count])
    return out.getvalue()
