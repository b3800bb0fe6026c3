"""Tables of the `street_reports` procedures (registered in ``services.models``).

``street_report`` is a projection of a ``street_reports.report`` case, kept by the procedure's
projector in the transaction of every case change: it can be rebuilt from the case history and
never disagrees with it. Departments, categories and boundaries are the tenants' data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin

JSONList = JSON().with_variant(JSONB(), "postgresql")
"""A JSON array column (the base type map only knows dict-valued JSON)."""


class StreetDepartment(IdMixin, Base):
    """A department (voirie, propreté, éclairage…) of a tenant: its agents see its queue."""

    __tablename__ = "street_department"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    """Where the department is told of new and reopened reports (unset: the tenant's address)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StreetDepartmentMember(IdMixin, Base):
    __tablename__ = "street_department_member"
    __table_args__ = (UniqueConstraint("department_id", "agent_id"),)

    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("street_department.id"))
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id"), index=True)


class StreetCategory(IdMixin, Base):
    """A kind of report in a tenant: Open311 ``service`` (``code`` = ``service_code``)."""

    __tablename__ = "street_category"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    group: Mapped[str] = mapped_column(String(100), default="")
    keywords: Mapped[str] = mapped_column(String(300), default="")
    """Comma-separated (Open311 ``keywords``)."""
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("street_department.id"))
    sla_working_days: Mapped[int] = mapped_column(Integer)
    """Service-level target, in working days from receipt (not a legal delay)."""
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONList)
    """Attribute definitions: code, description, datatype, required, order, values, variable,
    datatype_description (Open311 ``service_definition``)."""
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class TenantBoundary(Base):
    """A tenant's territory (GeoJSON Polygon or MultiPolygon, WGS84)."""

    __tablename__ = "tenant_boundary"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    geojson: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the canonical GeoJSON: the key of the prepared-geometry cache."""
    updated_at: Mapped[datetime]


class StreetReport(Base):
    """A street report as it is now: the projection of its case."""

    __tablename__ = "street_report"
    __table_args__ = (
        Index("ix_street_report_tenant_state", "tenant_id", "state"),
        Index("ix_street_report_category_state", "category_id", "state"),
        Index("ix_street_report_lat_lon", "lat", "lon"),
        Index("ix_street_report_fingerprint", "fingerprint"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    reference: Mapped[str] = mapped_column(String(40), index=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("street_category.id"))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("street_department.id"))
    state: Mapped[str] = mapped_column(String(60))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]]
    public_name: Mapped[str | None] = mapped_column(String(120))
    """Shown publicly only because the reporter chose it."""
    channel: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sla_due: Mapped[date] = mapped_column(Date)
    scheduled_for: Mapped[date | None] = mapped_column(Date)
    fixed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    duplicate_reference: Mapped[str | None] = mapped_column(String(40))
    """Reference of the report kept (shown: « Déjà signalé, n° … »)."""
    transferred_to: Mapped[str | None] = mapped_column(String(200))
    rejection_reason: Mapped[str | None] = mapped_column(String(600))
    fingerprint: Mapped[str | None] = mapped_column(String(64))


class StreetReportFollower(IdMixin, Base):
    """Someone told of every public change of a report (the reporter is one when they gave an
    e-mail address; merged duplicates bring theirs)."""

    __tablename__ = "street_report_follower"
    __table_args__ = (UniqueConstraint("case_id", "email"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime]


class StreetReportPhoto(IdMixin, Base):
    """Up to three photos of a report, re-encoded without EXIF (channels.street.photos)."""

    __tablename__ = "street_report_photo"
    __table_args__ = (UniqueConstraint("case_id", "position"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    image_key: Mapped[str] = mapped_column(String(300))
    thumb_key: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(60))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
