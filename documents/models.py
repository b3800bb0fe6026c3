"""Documents produced for a case, stored content-addressed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class StoredDocument(IdMixin, Base):
    __tablename__ = "stored_document"
    __table_args__ = (UniqueConstraint("case_id", "kind", "seq"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    seq: Mapped[int] = mapped_column(Integer)
    """The case event that asked for it: (case, kind, seq) makes the job idempotent."""
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
