"""Tables of the e-invoice channel (registered in ``services.models``).

- ``einvoice_deposit``: one direct deposit of an invoice by a supplier's software (an API client
  of an organisation) through ``POST /espace-fournisseur/{insee}/depots``: what was sent (its
  SHA-256, name, media type), what the pipeline found (syntax, profile, verdict and every
  finding) and the case it opened, if any. ``(api_client_id, idempotency_key)`` is unique: the
  same key sent again with the same body gives back this deposit, with another body it is a
  conflict (409).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class EinvoiceDeposit(IdMixin, Base):
    """A direct deposit of an e-invoice (a check before sending, or a case where enabled)."""

    __tablename__ = "einvoice_deposit"
    __table_args__ = (
        UniqueConstraint("api_client_id", "idempotency_key"),
        Index("ix_einvoice_deposit_client_created", "api_client_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    api_client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_client.id"))
    """The depositing client: the only one who sees the deposit."""
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisation.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the invoice document as received (the file, not the multipart form)."""
    filename: Mapped[str | None] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    syntax: Mapped[str | None] = mapped_column(String(40))
    profile: Mapped[str | None] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))
    """``valid``, ``invalid`` or ``unprocessable`` (no structured invoice in it)."""
    valid: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]]
    """``{"findings": [...], "stages": [{"stage", "ran", "note"}], "rules": [...]}``."""
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"), index=True)
    message: Mapped[str] = mapped_column(String(600))
    """The French sentence answered: case opened, or a check only (and why)."""
    created_at: Mapped[datetime]
