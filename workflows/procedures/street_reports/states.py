"""What a report's state means to the public: Open311 status, extended status, French label.

"Closed" is never shown as "fixed" (FixMyStreet #1339, #1340): each closing state has its own
label, a rejection always shows its reason, a transfer names the third party, a duplicate the
reference of the report kept (open311.md §11).
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Protocol

from workflows.procedures.street_reports.definition import OPEN_STATES, REJECTION_REASONS

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

_EXTENDED = {
    "submitted": "FOR_TRIAGE",
    "acknowledged": "OPEN",
    "in_progress": "IN_PROGRESS",
    "scheduled": "ACTION_SCHEDULED",
    "fixed": "FIXED",
    "closed": "CLOSED",
    "rejected": "NO_FURTHER_ACTION",
    "transferred": "NOT_COUNCILS_RESPONSIBILITY",
    "duplicate": "DUPLICATE",
    "cancelled": "CANCELLED",
}

_LABELS = {
    "submitted": "À qualifier",
    "acknowledged": "Pris en compte",
    "in_progress": "Intervention en cours",
    "scheduled": "Intervention programmée",
    "fixed": "Résolu",
    "closed": "Clôturé",
    "rejected": "Non retenu",
    "transferred": "Transmis à un autre organisme",
    "duplicate": "Déjà signalé",
    "cancelled": "Annulé",
}


class LabelledReport(Protocol):
    """What ``label`` reads of a report (a ``StreetReport`` row has all of it)."""

    @property
    def state(self) -> str: ...
    @property
    def scheduled_for(self) -> date | None: ...
    @property
    def rejection_reason(self) -> str | None: ...
    @property
    def transferred_to(self) -> str | None: ...
    @property
    def duplicate_reference(self) -> str | None: ...


def french_date(day: date) -> str:
    """``2 mars 2026``, ``1er mai 2026``."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_MONTHS[day.month - 1]} {day.year}"


def public_status(state: str) -> Literal["open", "closed"]:
    """GeoReport v2 status: open while someone still has to act; ``fixed`` is closed."""
    return "open" if state in OPEN_STATES else "closed"


def extended_status(state: str) -> str:
    """mySociety's extended status (upper case, as in POST servicerequestupdates)."""
    return _EXTENDED.get(state, "OPEN")


def state_title(state: str) -> str:
    return _LABELS.get(state, state)


def rejection_text(reason: str | None, details: str | None) -> str:
    """The reason as shown: the label of the listed reason, then the agent's precision."""
    label = REJECTION_REASONS.get(reason or "", reason or "")
    details = (details or "").strip()
    if details and reason == "autre":
        return details
    return f"{label} ({details})" if details else label


def label(report: LabelledReport) -> str:
    """The French label of the report's state, with its date, reason, organisation or kept
    reference."""
    state = report.state
    if state == "scheduled" and report.scheduled_for is not None:
        return f"Intervention programmée le {french_date(report.scheduled_for)}"
    if state == "rejected":
        return f"Non retenu : {report.rejection_reason or 'motif non précisé'}"
    if state == "transferred" and report.transferred_to:
        return f"Transmis à {report.transferred_to}"
    if state == "duplicate":
        kept = report.duplicate_reference
        return f"Déjà signalé, n° {kept}" if kept else "Déjà signalé"
    return state_title(state)
