"""Tables of the `cemeteries` procedures (registered in ``services.models``).

The registry is made of long-lived records, not cases: cemetery > zone (or carré) > alley > place;
concessions granted on places, their parties (holders, ayants droit, beneficiaries), the deceased
resting in a place, the funeral operations done on it, the public ossuary register, and the
tariffs voted by each commune. Every row carries its ``tenant_id`` so that every query filters on
the tenant first (an agent of commune B never sees commune A's rows: 404).

A place is held by at most one live concession: ``concession.active_place_id`` is set to the place
while the concession holds it (attribuee, echue, renouvelee's successor, en_procedure_abandon,
reprise_deliberee) and cleared when it no longer does; a UNIQUE constraint on it makes a double
allocation fail in the database even if two transactions race past the service's row lock.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.kernel.db import Base, IdMixin


class PlaceType(StrEnum):
    PLEINE_TERRE = "pleine_terre"
    CAVEAU = "caveau"
    CAVURNE = "cavurne"
    COLUMBARIUM = "columbarium"
    ENFEU = "enfeu"
    TERRAIN_COMMUN = "terrain_commun"
    OSSUAIRE = "ossuaire"


class PlaceStatus(StrEnum):
    LIBRE = "libre"
    ATTRIBUEE = "attribuee"
    """Held by a concession (whatever the concession's own status)."""
    OCCUPEE = "occupee"
    """Terrain commun grave in use (no concession)."""
    INDISPONIBLE = "indisponible"
    """Closed by the commune (works, unsafe ground)."""


class ConcessionCategory(StrEnum):
    INDIVIDUAL = "individual"
    COLLECTIVE = "collective"
    FAMILY = "family"


class DurationKind(StrEnum):
    """L2223-14 CGCT: temporary (15 years at most), 30 years, 50 years, perpetual."""

    TEMPORARY = "temporary"
    THIRTY = "30"
    FIFTY = "50"
    PERPETUAL = "perpetual"


class ConcessionStatus(StrEnum):
    ATTRIBUEE = "attribuee"
    ECHUE = "echue"
    RENOUVELEE = "renouvelee"
    CONVERTIE = "convertie"
    EN_PROCEDURE_ABANDON = "en_procedure_abandon"
    REPRISE_DELIBEREE = "reprise_deliberee"
    REPRISE = "reprise"


HOLDING_STATUSES = frozenset(
    {
        ConcessionStatus.ATTRIBUEE,
        ConcessionStatus.ECHUE,
        ConcessionStatus.EN_PROCEDURE_ABANDON,
        ConcessionStatus.REPRISE_DELIBEREE,
    }
)
"""Statuses in which a concession still holds its place."""


class PartyRole(StrEnum):
    HOLDER = "holder"
    AYANT_DROIT = "ayant_droit"
    BENEFICIARY = "beneficiary"


class Container(StrEnum):
    COFFIN = "coffin"
    URN = "urn"
    BOX = "box"
    """Reduction box (reliquaire) after a réduction de corps."""


class DeceasedStatus(StrEnum):
    IN_PLACE = "in_place"
    IN_OSSUARY = "in_ossuary"
    DISPERSED = "dispersed"
    REMOVED = "removed"
    """Exhumed and taken out of this commune's cemeteries (or urn handed to the family)."""


class OperationKind(StrEnum):
    INHUMATION = "inhumation"
    EXHUMATION = "exhumation"
    URN_DEPOSIT = "urn_deposit"
    URN_REMOVAL = "urn_removal"
    DISPERSION = "dispersion"
    REDUCTION = "reduction"
    TRANSFER = "transfer"
    WORKS = "works"


class Cemetery(IdMixin, Base):
    __tablename__ = "cemetery"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]


class CemeteryZone(IdMixin, Base):
    """A zone or carré of a cemetery."""

    __tablename__ = "cemetery_zone"
    __table_args__ = (UniqueConstraint("cemetery_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    cemetery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))


class CemeteryAlley(IdMixin, Base):
    """An alley (allée, voie) of a zone."""

    __tablename__ = "cemetery_alley"
    __table_args__ = (UniqueConstraint("zone_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_zone.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))


class CemeteryPlace(IdMixin, Base):
    """A place (grave, vault, columbarium case, ossuary…) at cemetery > zone > alley > number."""

    __tablename__ = "cemetery_place"
    __table_args__ = (
        UniqueConstraint("alley_id", "number"),
        Index("ix_cemetery_place_tenant_type_status", "tenant_id", "place_type", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    cemetery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery.id"), index=True)
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_zone.id"))
    alley_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_alley.id"))
    number: Mapped[str] = mapped_column(String(40))
    place_type: Mapped[str] = mapped_column(String(20))
    grave_type: Mapped[str | None] = mapped_column(String(60))
    """Local wording of the grave: "fosse maçonnée", "caveau T2"…"""
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    """Number of places (a coffin takes 1, an urn 0.1, a reduction box 0.5: see settings).
    None: no limit (the ossuary)."""
    area_m2: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    plan_ref: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Concession(IdMixin, Base):
    """A concession granted on a place. A renewal or a conversion is a new row (``previous_id``)."""

    __tablename__ = "concession"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("active_place_id"),
        Index("ix_concession_tenant_status_ends", "tenant_id", "status", "ends_on"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    number: Mapped[str] = mapped_column(String(40))
    place_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_place.id"), index=True)
    active_place_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cemetery_place.id"))
    """The place while this concession holds it, else None (UNIQUE: one holder per place)."""
    category: Mapped[str] = mapped_column(String(20))
    duration_kind: Mapped[str] = mapped_column(String(20))
    duration_years: Mapped[int | None]
    """15 at most for temporary, 30, 50; None for perpetual."""
    granted_on: Mapped[date] = mapped_column(Date)
    """Date of the act (arrêté or contract): starts the 30 years of L2223-17."""
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    """Term date (None: perpetual). For a renewal the new period starts at the old term."""
    status: Mapped[str] = mapped_column(String(30))
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    ccas_share: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    """Optional share paid to the CCAS (tenant's choice, never automatic since loi 96-142)."""
    payment_ref: Mapped[str | None] = mapped_column(String(80))
    paid_on: Mapped[date | None] = mapped_column(Date)
    commune_upkeep: Mapped[bool] = mapped_column(Boolean, default=False)
    """Upkeep by the commune through an accepted donation or legacy: excluded from abandon."""
    renewal_info_sent_at: Mapped[datetime | None]
    """When the holders were informed of their renewal right (L2223-15, loi 3DS)."""
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("concession.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    area_m2: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConcessionParty(IdMixin, Base):
    """A person attached to a concession: holder (several: indivision), ayant droit, beneficiary."""

    __tablename__ = "concession_party"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    concession_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("concession.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    civility: Mapped[str | None] = mapped_column(String(20))
    family_name: Mapped[str] = mapped_column(String(120))
    usage_name: Mapped[str | None] = mapped_column(String(120))
    given_names: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str | None] = mapped_column(String(80))
    """Relationship to the founder or to the holder (ayants droit, beneficiaries)."""
    address: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    ended_on: Mapped[date | None] = mapped_column(Date)
    """Renunciation or death: the party no longer holds the right."""
    created_at: Mapped[datetime]


class Deceased(IdMixin, Base):
    """A deceased person resting (or having rested) in a place of the commune."""

    __tablename__ = "deceased"
    __table_args__ = (Index("ix_deceased_tenant_family_name", "tenant_id", "family_name"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    place_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cemetery_place.id"), index=True)
    """Where the remains are now (the ossuary is a place too); None once dispersed or removed."""
    concession_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("concession.id"))
    civility: Mapped[str | None] = mapped_column(String(20))
    family_name: Mapped[str] = mapped_column(String(120))
    usage_name: Mapped[str | None] = mapped_column(String(120))
    given_names: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_place: Mapped[str | None] = mapped_column(String(120))
    death_date: Mapped[date | None] = mapped_column(Date)
    death_at: Mapped[datetime | None]
    """The instant of death when known (burial deadlines, R2213-33)."""
    death_place: Mapped[str | None] = mapped_column(String(120))
    last_domicile: Mapped[str | None] = mapped_column(String(300))
    container: Mapped[str] = mapped_column(String(10))
    refused_cremation: Mapped[bool] = mapped_column(Boolean, default=False)
    """Known opposition to cremation: remains go to the ossuary, kept apart (R2223-6)."""
    inhumed_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class FuneralOperation(IdMixin, Base):
    """One funeral operation on a place (and a deceased), the place's history."""

    __tablename__ = "funeral_operation"
    __table_args__ = (Index("ix_funeral_operation_place_at", "place_id", "at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    place_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_place.id"))
    target_place_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cemetery_place.id"))
    deceased_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deceased.id"), index=True)
    concession_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("concession.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    at: Mapped[datetime]
    details: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[uuid.UUID | None]
    """Actor id (agent, system) who recorded the operation."""


class OssuaryEntry(IdMixin, Base):
    """A line of the ossuary register, open to the public (L2223-4, R2223-6)."""

    __tablename__ = "ossuary_entry"
    __table_args__ = (Index("ix_ossuary_entry_tenant_deposited", "tenant_id", "deposited_on"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    ossuary_place_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cemetery_place.id"))
    deceased_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deceased.id"), unique=True)
    family_name: Mapped[str] = mapped_column(String(120))
    usage_name: Mapped[str | None] = mapped_column(String(120))
    given_names: Mapped[str] = mapped_column(String(200))
    death_date: Mapped[date | None] = mapped_column(Date)
    deposited_on: Mapped[date] = mapped_column(Date)
    kept_apart: Mapped[bool] = mapped_column(Boolean, default=False)
    """Remains of a person who refused cremation: never cremated, kept apart."""
    cremated: Mapped[bool] = mapped_column(Boolean, default=False)
    origin_place_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cemetery_place.id"))
    origin_concession_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("concession.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    created_at: Mapped[datetime]


class CemeteryTariff(IdMixin, Base):
    """A price voted by the conseil municipal for a period (L2223-15, R2223-11).

    A line applies to a category, a duration, a place type (None: any) and an area band
    [area_min_m2, area_max_m2) (None: unbounded), from ``valid_from`` to ``valid_to`` inclusive
    (None: until further notice). The durations and categories a commune offers are those it has a
    tariff for."""

    __tablename__ = "cemetery_tariff"
    __table_args__ = (Index("ix_cemetery_tariff_lookup", "tenant_id", "category", "duration_kind"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenant.id"))
    category: Mapped[str] = mapped_column(String(20))
    duration_kind: Mapped[str] = mapped_column(String(20))
    duration_years: Mapped[int | None]
    place_type: Mapped[str | None] = mapped_column(String(20))
    area_min_m2: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    area_max_m2: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    ccas_share_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    """Optional share to the CCAS (off by default; the legal third was abolished in 1996)."""
    label: Mapped[str | None] = mapped_column(String(200))
    deliberation_ref: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]
