"""Identity core tables: tenants and their services, agents, roles, API clients, tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, String, Text, UniqueConstraint
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
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """Break-glass local administrator only (set by the CLI, never over the API); argon2."""
    invited_at: Mapped[datetime | None]
    """Invited by an administrator; inactive until the first ProConnect login binds the invitation."""

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
    previous_secret_hash: Mapped[str | None] = mapped_column(String(200))
    """After a rotation, the old secret still works until ``previous_valid_until`` (no downtime)."""
    previous_valid_until: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisation.id"))
    """A business's software (e-invoices) acts for its organisation."""
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
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    api_client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_client.id"), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# ----- people, federation, organisations, mandates ------------------------------------------------


class Person(IdMixin, Base):
    """A citizen (or a business's staff member) with an account. Declared attributes live here;
    verified ones live on their FederatedIdentity (claims, with source and verification time)."""

    __tablename__ = "person"

    login_email: Mapped[str | None] = mapped_column(String(254), unique=True)
    """E-mail of a local account (sign-in identifier), lower-case. Never used to link identities."""
    email_verified_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2; None: no usable password (FranceConnect-only account)."""
    given_name: Mapped[str] = mapped_column(String(120), default="")
    family_name: Mapped[str] = mapped_column(String(120), default="")
    contact_email: Mapped[str | None] = mapped_column(String(254))
    """Where notifications go (declared, or taken from the provider at creation)."""
    phone: Mapped[str | None] = mapped_column(String(30))
    postal_address: Mapped[str | None] = mapped_column(String(300))
    birthdate: Mapped[date | None] = mapped_column(Date)
    """Declared (counter, phone) — the verified one is in the FranceConnect claims."""
    identity_check: Mapped[str | None] = mapped_column(String(30))
    """How an agent checked who this is when creating the record: document_seen | none |
    franceconnect. None for people who created their own account."""
    created_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    search_text: Mapped[str] = mapped_column(Text, default="")
    """Lower-case, accent-free names, e-mail, phone digits and address: the counter's search."""
    status: Mapped[str] = mapped_column(String(20), default="active")
    """active | erased (GDPR: identity reduced to what the law needs)."""
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]

    @property
    def display_name(self) -> str:
        name = f"{self.given_name} {self.family_name}".strip()
        return name or (self.login_email or self.contact_email or "Usager")


class FederatedIdentity(IdMixin, Base):
    """A login at an OpenID provider, keyed on (issuer, subject) — never on e-mail."""

    __tablename__ = "federated_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    provider: Mapped[str] = mapped_column(String(40))
    """Provider name in our configuration: franceconnect | proconnect."""
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    idp_id: Mapped[str | None] = mapped_column(String(120))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    claims: Mapped[dict[str, Any]]
    """Verified attributes as the provider gave them at the last login (read-only for people)."""
    acr: Mapped[str | None] = mapped_column(String(120))
    pivot_name_key: Mapped[str | None] = mapped_column(String(64), index=True)
    """SHA-256 of the normalised names of the pivot identity; with pivot_birth_key, finds the
    account of a returning person whose ``sub`` changed after a civil-status correction."""
    pivot_birth_key: Mapped[str | None] = mapped_column(String(64), index=True)
    """SHA-256 of birth date, place and country of the pivot identity."""
    verified_at: Mapped[datetime]
    """Last time the provider vouched for these claims (refreshed at every login)."""
    linked_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    retired_reason: Mapped[str | None] = mapped_column(String(200))
    """E.g. "sub changed (civil-status correction)": the old key is kept, inactive, with the date."""


class Organisation(IdMixin, Base):
    """A business or association, by SIREN (legal unit) and optionally SIRET (establishment)."""

    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("siren", "siret"),)

    siren: Mapped[str] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(40))
    """declared | proconnect | agent | sirene."""
    diffusible: Mapped[bool] = mapped_column(Boolean, default=True)
    """False for non-diffusible units (statut_diffusion): never shown to the public."""
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Mandate(IdMixin, Base):
    """Someone acting for a person or an organisation, with a basis, a scope and an expiry."""

    __tablename__ = "mandate"

    holder_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    holder_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    represented_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("person.id"), index=True
    )
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
    role: Mapped[str] = mapped_column(String(60))
    basis: Mapped[str] = mapped_column(String(40))
    """proconnect_siret_membership | certification_dirigeant | rne_mandataire |
    aidants_connect_mandate | agent_validated | person_consent."""
    scope: Mapped[dict[str, Any]]
    """{"procedures": [...]} (empty list: all) and {"rep_scope": [...]} for Aidants Connect."""
    evidence: Mapped[str] = mapped_column(Text, default="")
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenant.id"), index=True)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    verified_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(300))


# ----- sessions, one-time tokens, throttling ------------------------------------------------------


class WebSession(IdMixin, Base):
    """A browser session, server-side. The cookie holds a random id; only its SHA-256 is stored.

    Anonymous sessions carry a pending login (state, nonce, PKCE verifier) or a pending logout;
    a login always ends the anonymous one and starts a new session (new id)."""

    __tablename__ = "web_session"

    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    """Absolute timeout; the idle timeout is checked against last_seen_at."""
    ended_at: Mapped[datetime | None] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class OneTimeToken(IdMixin, Base):
    """E-mail verification, sign-in link, re-link code, agent invitation: single use, hashed."""

    __tablename__ = "one_time_token"

    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"), index=True)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LoginFailure(IdMixin, Base):
    """One failed sign-in, counted per account and per IP for throttling."""

    __tablename__ = "login_failure"

    key: Mapped[str] = mapped_column(String(300), index=True)
    """"account:<e-mail>" or "ip:<address>"."""
    at: Mapped[datetime] = mapped_column(index=True)


class RelinkRequest(IdMixin, Base):
    """A returning person whose FranceConnect ``sub`` changed: never merged silently."""

    __tablename__ = "relink_request"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    old_identity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("federated_identity.id"))
    provider: Mapped[str] = mapped_column(String(40))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    claims: Mapped[dict[str, Any]]
    acr: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """pending | approved | refused."""
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    evidence: Mapped[str | None] = mapped_column(Text)
