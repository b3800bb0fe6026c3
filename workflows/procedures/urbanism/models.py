"""Tables of the `urbanism` procedures (registered in ``services.models``).

``urbanism_file`` is the projection of one urbanism case (an initial file or a follow-up): its
A423 number, its facts (what the instructor recorded, as JSON: ``facts_codec``) and the legal
timeline computed from them, kept by ``service``/``projector`` in the transaction of every case
change. ``urbanism_counter`` holds the gap-free sequence per tenant, nature and year.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class UrbanismFile(IdMixin, Base):
    __tablename__ = "urbanism_file"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_urbanism_file_tenant_next", "tenant_id", "next_legal_on"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    """A423 number without spaces, e.g. ``PC0690012600012`` (modificatif ``…M01``)."""
    permit_type: Mapped[str] = mapped_column(String(10))
    file_kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("urbanism_file.id"))
    """The authorisation a modificatif or transfert applies to."""
    filed_on: Mapped[date] = mapped_column(Date)
    applicant_name: Mapped[str] = mapped_column(String(300))
    """Searchable: first applicant (person or company)."""
    address: Mapped[str] = mapped_column(String(400))
    parcels: Mapped[str] = mapped_column(String(400))
    """Cadastral references, comma-separated ("AB 12, AB 13")."""
    state: Mapped[str] = mapped_column(String(40))
    facts: Mapped[dict[str, Any]] = mapped_column()
    timeline: Mapped[dict[str, Any]] = mapped_column()
    """``timeline_codec.dump(Timeline)``: dates with their rules, findings, tacit outcome."""
    tacit_on: Mapped[date | None] = mapped_column(Date)
    """Day the tacit decision is born (None when not running)."""
    next_legal_on: Mapped[date | None] = mapped_column(Date)
    next_legal_key: Mapped[str | None] = mapped_column(String(60))
    decided_on: Mapped[date | None] = mapped_column(Date)
    """Notification date of the explicit decision, or the tacit date."""
    decision: Mapped[str | None] = mapped_column(String(40))
    alerted_for: Mapped[date | None] = mapped_column(Date)
    """Tacit date already announced to the instructor and the commune (no repeat alert)."""
    updated_at: Mapped[datetime]


class UrbanismCounter(Base):
    """Next dossier number per tenant, nature (PC, PA, PD, DP, CU) and year (A423-1 to A423-3)."""

    __tablename__ = "urbanism_counter"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    nature: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
