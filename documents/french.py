"""What every document's context needs and no document kind owns: French dates, the case's legal
calendar, the requester's name, and the signature of a context builder. Kept apart from
``documents.contexts`` so that the builders of each service (cemeteries, invoices…), which
``contexts`` registers, can use them without importing ``contexts`` back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from workflows.cases.models import Case
from workflows.engine.calendar import LegalCalendar, calendar_for

ContextBuilder = Callable[
    [AsyncSession, Case, Any, dict[str, Any], datetime], Awaitable[dict[str, Any]]
]
"""(session, case, definition, params, now) → what the kind's template adds to the base context."""

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


def french_date(day: date) -> str:
    """``2 mars 2026``, ``1er mai 2026``."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_MONTHS[day.month - 1]} {day.year}"


def french_time(instant: datetime) -> str:
    """``10 h 00`` (French typography)."""
    return f"{instant.hour} h {instant.minute:02d}"


def french_datetime(instant: datetime, timezone: str = "Europe/Paris") -> str:
    """``2 mars 2026 à 10 h 00``, in the legal time zone."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{french_date(local.date())} à {french_time(local)}"


def calendar_of(case: Case) -> LegalCalendar:
    """The case's legal calendar (time zone, Alsace-Moselle holidays)."""
    options = case.calendar_options or {}
    return calendar_for(
        alsace_moselle=bool(options.get("alsace_moselle", False)),
        timezone=str(options.get("timezone", "Europe/Paris")),
    )


def submitter_name(submitter: Mapping[str, Any]) -> str:
    """The person's or organisation's name as given at intake (R112-9-1 CRPA)."""
    if submitter.get("kind", "person") == "person":
        return " ".join(
            str(submitter[k]) for k in ("given_name", "family_name") if submitter.get(k)
        )
    for key in ("organisation_name", "siret", "siren", "rna"):
        if submitter.get(key):
            return str(submitter[key])
    return ""
