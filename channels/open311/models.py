"""Tables of the Open311 channel (registered in ``services.models``).

- ``open311_api_key``: one key per client application (FixMyStreet, a mobile app, a partner
  back-end). Only the SHA-256 of the key is stored; the key is shown once, at creation. A key is
  scoped to one tenant (and the communes of a métropole) or to every tenant (``tenant_id`` null).
- ``open311_update_receipt``: the mySociety ``POST servicerequestupdates`` a client sent, by its
  own ``update_id``: the same update sent twice gets the same answer and is recorded once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class Open311ApiKey(IdMixin, Base):
    __tablename__ = "open311_api_key"

    name: Mapped[str] = mapped_column(String(120))
    """Who uses it (application or partner), as the administrator named it."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the key."""
    key_prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the key, to recognise it in a list (never enough to use it)."""
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"), index=True)
    """The tenant the key files reports for (a métropole covers its communes); null: every
    tenant."""
    created_at: Mapped[datetime]
    created_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    last_used_at: Mapped[datetime | None]


class Open311UpdateReceipt(IdMixin, Base):
    __tablename__ = "open311_update_receipt"
    __table_args__ = (UniqueConstraint("api_key_id", "client_update_id"),)

    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("open311_api_key.id"))
    client_update_id: Mapped[str] = mapped_column(String(100))
    """The client's ``update_id``."""
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    update_id: Mapped[str] = mapped_column(String(100))
    """The ``update_id`` Guichet answered."""
    created_at: Mapped[datetime]
