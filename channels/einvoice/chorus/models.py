"""Tables of the Chorus Pro connector (registered in ``services.models``).

- ``chorus_pull_cursor``: per buyer SIRET of a tenant, where the pull stands — the Chorus Pro
  structure id of that SIRET, the deposit date from which the next search starts (inclusive: the
  search is by day, replays are skipped through ``chorus_invoice``), the last pull and its error.
- ``chorus_invoice``: each invoice pulled from Chorus Pro (its ``idFacture``) and the case it
  became: the pull never downloads nor creates it twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class ChorusPullCursor(IdMixin, Base):
    __tablename__ = "chorus_pull_cursor"
    __table_args__ = (UniqueConstraint("siret"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    siret: Mapped[str] = mapped_column(String(14))
    structure_id: Mapped[str | None] = mapped_column(String(30))
    """``idStructureCPP`` of the SIRET on Chorus Pro (looked up once)."""
    since: Mapped[date | None] = mapped_column(Date)
    """Deposit date the next search starts from (inclusive)."""
    last_pull_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ChorusInvoice(IdMixin, Base):
    __tablename__ = "chorus_invoice"
    __table_args__ = (UniqueConstraint("chorus_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    chorus_id: Mapped[str] = mapped_column(String(30))
    """Chorus Pro ``idFacture``."""
    siret: Mapped[str] = mapped_column(String(14))
    number: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), unique=True)
    deposited_on: Mapped[date] = mapped_column(Date)
    made_available_at: Mapped[datetime]
    pulled_at: Mapped[datetime]
