"""Identity core tables: tenants and their services, agents, roles, API clients, tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.kernel.db import Base, IdMixin


class Tenant(IdMixin, Base):
    """A commune (INSEE code) or the métropole. Roles granted on a parent cover its children."""

    __tablename__ = "tenant"

    insee_code: Mapped[str] = mapped_column(String(5), unique=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # commune | metropole
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"))
    address: Mapped[str] = mapped_column(String(300))
    postal_code: Mapped[str] = mapped_column(String(10))
    city: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(30))
    email: Mapped[str] = mapped_column(String(254))
    alsace_moselle: Mapped[bool] = mapped_column(Boolean, default=False)
    mail_from: Mapped[str | None] = mapped_column(String(254))
    """Sender of the tenant's e-mails (default: the platform's GUICHET_SMTP_FROM)."""
    logo: Mapped[str | None] = mapped_column(Text)
    """The tenant's logo as a data: URI (SVG or PNG), printed on letterheads."""
    created_at: Mapped[datetime]

    services: Mapped[list[TenantService]] = relationship(
        back_populates="tenant", order_by="TenantService.code", lazy="raise"
    )


class TenantService(IdMixin, Base):
    """A department of a tenant with its contact details (the ARE must name them, R112-11-1)."""

    __tablename__ = "tenant_service"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str] = mapped_column(String(30))
    email: Mapped[str] = mapped_column(String(254))
    opening_hours: Mapped[str] = mapped_column(String(300), default="")

    tenant: Mapped[Tenant] = relationship(back_populates="services")


class Agent(IdMixin, Base):
    __tablename__ = "agent"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    given_name: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200), default="")
    """Job title, shown on letters (L111-2 CRPA)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class RoleAssignment(IdMixin, Base):
    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("agent_id", "role", "tenant_id"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    granted_at: Mapped[datetime]


class ApiClient(IdMixin, Base):
    """Software acting for a tenant's partner (OAuth 2 client credentials). Secret stored hashed."""

    __tablename__ = "api_client"

    client_id: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[dict[str, Any]]  # {"scopes": [...]} — JSON object for portability
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    @property
    def scope_list(self) -> list[str]:
        return [str(s) for s in self.scopes.get("scopes", [])]


class AccessToken(IdMixin, Base):
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "access_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    api_client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_client.id"), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
