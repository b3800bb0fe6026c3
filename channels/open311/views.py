"""What GeoReport v2 shows of Guichet's data: a projection, never personal data.

- ``service_request_id`` is the report's reference (a string); ``status`` is ``open``/``closed``
  (``street_reports.states.public_status``) and ``status_notes`` the finer French label (a
  rejection with its reason, a transfer with the organisation, a duplicate with the kept
  reference: "closed" never reads as "fixed").
- ``requested_datetime`` is the receipt; ``updated_datetime`` the last change, the closing time
  for a closed request; ``expected_datetime`` the scheduled date when the work is scheduled,
  else the service-level due date, for open requests only (a date is shown as the end of that
  day, 23:59:59 in Paris).
- ``agency_responsible`` is the department; ``media_url`` the first photo's public address.
- Dates are ISO 8601 with the Paris offset (``2026-03-02T10:00:00+01:00``).
- E-mail, phone, device id and names never appear (the reporter's chosen public name is not part
  of GeoReport v2 and is not emitted either).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311.parsing import PARIS
from channels.street.photos import photo_path
from identity.web import public_base_url
from workflows.procedures.street_reports.models import (
    StreetCategory,
    StreetDepartment,
    StreetReport,
    StreetReportPhoto,
)
from workflows.procedures.street_reports.queries import ReportUpdate
from workflows.procedures.street_reports.states import extended_status, label, public_status

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ["text/xml", "application/json"]
BASE_PATH = "/api/v1/open311/v2"
DATATYPES = frozenset({"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"})


def iso(at: datetime) -> str:
    return at.astimezone(PARIS).isoformat(timespec="seconds")


def end_of_day(day: date) -> str:
    return iso(datetime.combine(day, time(23, 59, 59), PARIS))


def base_url() -> str:
    return public_base_url() + BASE_PATH


# ----- services -------------------------------------------------------------------------------


def service(category: StreetCategory) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description or None,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": category.keywords or None,
        "group": category.group or None,
    }


def _attribute(raw: dict[str, Any], position: int) -> dict[str, Any]:
    datatype = str(raw.get("datatype") or "string")
    values = raw.get("values") or []
    order = raw.get("order")
    return {
        "variable": bool(raw.get("variable", True)),
        "code": str(raw.get("code") or ""),
        "datatype": datatype if datatype in DATATYPES else "string",
        "required": bool(raw.get("required", False)),
        "datatype_description": str(raw.get("datatype_description") or "") or None,
        "order": order if isinstance(order, int) and order > 0 else position,
        "description": str(raw.get("description") or ""),
        "values": [{"key": str(v.get("key")), "name": str(v.get("name"))} for v in values]
        if datatype in ("singlevaluelist", "multivaluelist")
        else None,
    }


def definition(category: StreetCategory) -> dict[str, Any]:
    raws = [a for a in (category.attributes or []) if isinstance(a, dict)]
    attributes = [_attribute(a, i) for i, a in enumerate(raws, start=1)]
    attributes.sort(key=lambda a: (a["order"], a["code"]))
    return {"service_code": category.code, "attributes": attributes}


# ----- requests -------------------------------------------------------------------------------


class Lookups:
    """Categories, departments and first photos of a batch of reports, loaded in three queries."""

    def __init__(self) -> None:
        self.categories: dict[uuid.UUID, StreetCategory] = {}
        self.departments: dict[uuid.UUID, StreetDepartment] = {}
        self.photos: set[uuid.UUID] = set()

    @classmethod
    async def load(cls, session: AsyncSession, reports: Sequence[StreetReport]) -> Lookups:
        found = cls()
        if not reports:
            return found
        category_ids = {r.category_id for r in reports}
        department_ids = {r.department_id for r in reports}
        case_ids = [r.case_id for r in reports]
        for category in await session.scalars(
            select(StreetCategory).where(StreetCategory.id.in_(category_ids))
        ):
            found.categories[category.id] = category
        for department in await session.scalars(
            select(StreetDepartment).where(StreetDepartment.id.in_(department_ids))
        ):
            found.departments[department.id] = department
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            found.photos.update(
                await session.scalars(
                    select(StreetReportPhoto.case_id).where(
                        StreetReportPhoto.case_id.in_(chunk), StreetReportPhoto.position == 1
                    )
                )
            )
        return found


def request(report: StreetReport, lookups: Lookups) -> dict[str, Any]:
    status = public_status(report.state)
    category = lookups.categories.get(report.category_id)
    department = lookups.departments.get(report.department_id)
    expected: str | None = None
    if status == "open":
        if report.state == "scheduled" and report.scheduled_for is not None:
            expected = end_of_day(report.scheduled_for)
        else:
            expected = end_of_day(report.sla_due)
    updated = report.closed_at if status == "closed" and report.closed_at else report.updated_at
    media = (
        public_base_url() + photo_path(report.reference, 1)
        if report.case_id in lookups.photos
        else None
    )
    return {
        "service_request_id": report.reference,
        "status": status,
        "status_notes": label(report),
        "service_name": category.name if category else None,
        "service_code": category.code if category else "",
        "description": report.description or None,
        "agency_responsible": department.name if department else None,
        "service_notice": None,
        "requested_datetime": iso(report.submitted_at),
        "updated_datetime": iso(updated),
        "expected_datetime": expected,
        "address": report.address or None,
        "lat": report.lat,
        "long": report.lon,
        "media_url": media,
    }


async def requests(session: AsyncSession, reports: Sequence[StreetReport]) -> list[dict[str, Any]]:
    lookups = await Lookups.load(session, reports)
    return [request(r, lookups) for r in reports]


# ----- mySociety updates -----------------------------------------------------------------------


def update(item: ReportUpdate) -> dict[str, Any]:
    return {
        "update_id": item.update_id,
        "service_request_id": item.reference,
        "status": extended_status(item.state).lower(),
        "updated_datetime": iso(item.at),
        "description": item.description,
        "media_url": None,
    }
