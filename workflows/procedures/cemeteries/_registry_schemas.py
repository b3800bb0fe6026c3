"""Wire and input types of the cemetery registry (pydantic): what the service functions take and
what the API answers. French field descriptions are shown in the OpenAPI page."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from workflows.procedures.cemeteries.models import (
    ConcessionCategory,
    Container,
    DurationKind,
    OperationKind,
    PartyRole,
    PlaceStatus,
    PlaceType,
)

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[^\x00]+$"),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[^\x00]+$"),
]
Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^\x00]*$")
]
Text300 = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=300, pattern=r"^[^\x00]*$")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CemeteryIn(_In):
    code: Code = Field(description="Code court du cimetière, unique dans la commune")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
    address: Text300 | None = None


class ZoneIn(_In):
    code: Code = Field(description="Zone ou carré")
    name: Text200 | None = None


class AlleyIn(_In):
    code: Code = Field(description="Allée ou voie")
    name: Text200 | None = None


class PlaceIn(_In):
    zone: Code = Field(description="Code de la zone ou du carré (créé s'il n'existe pas)")
    alley: Code = Field(description="Code de l'allée (créée si elle n'existe pas)")
    number: Code = Field(description="Numéro de l'emplacement dans l'allée")
    place_type: PlaceType
    grave_type: Annotated[str, StringConstraints(max_length=60, pattern=r"^[^\x00]*$")] | None = (
        None
    )
    capacity: Decimal | None = Field(
        default=None, ge=0, le=1000, decimal_places=2, description="Nombre de places"
    )
    area_m2: Decimal | None = Field(default=None, gt=0, le=10000, decimal_places=2)
    plan_ref: Annotated[str, StringConstraints(max_length=60, pattern=r"^[^\x00]*$")] | None = None
    status: PlaceStatus = PlaceStatus.LIBRE
    notes: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class PartyIn(_In):
    role: PartyRole = PartyRole.HOLDER
    civility: Annotated[str, StringConstraints(max_length=20, pattern=r"^[^\x00]*$")] | None = None
    family_name: Name
    usage_name: Name | None = None
    given_names: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    ]
    relationship: Annotated[str, StringConstraints(max_length=80, pattern=r"^[^\x00]*$")] | None = (
        None
    )
    address: Text300 | None = None
    postal_code: (
        Annotated[str, StringConstraints(max_length=10, pattern=r"^[0-9A-Za-z -]*$")] | None
    ) = None
    city: Name | None = None
    phone: Annotated[str, StringConstraints(max_length=30, pattern=r"^[0-9+() .-]*$")] | None = None
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
        | None
    ) = None
    person_id: uuid.UUID | None = None


class DeceasedIn(_In):
    civility: Annotated[str, StringConstraints(max_length=20, pattern=r"^[^\x00]*$")] | None = None
    family_name: Name
    usage_name: Name | None = None
    given_names: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    ]
    birth_date: date | None = None
    birth_place: Name | None = None
    death_date: date | None = None
    death_at: AwareDatetime | None = None
    death_place: Name | None = None
    last_domicile: Text300 | None = None
    container: Container = Container.COFFIN
    refused_cremation: bool = False


class ConcessionIn(_In):
    """A concession to grant on a free place (the maire alone chooses the place: CE 1925 Valès)."""

    place_id: uuid.UUID
    number: Code | None = Field(default=None, description="Numéro d'ordre (attribué sinon)")
    category: ConcessionCategory
    duration_kind: DurationKind
    duration_years: int | None = Field(default=None, ge=1, le=100)
    granted_on: date
    starts_on: date | None = Field(default=None, description="Par défaut : la date de l'acte")
    price: Decimal | None = Field(default=None, ge=0, le=10_000_000, decimal_places=2)
    ccas_share: Decimal | None = Field(default=None, ge=0, le=10_000_000, decimal_places=2)
    payment_ref: Annotated[str, StringConstraints(max_length=80, pattern=r"^[^\x00]*$")] | None = (
        None
    )
    paid_on: date | None = None
    commune_upkeep: bool = False
    area_m2: Decimal | None = Field(default=None, gt=0, le=10000, decimal_places=2)
    parties: list[PartyIn] = Field(default_factory=list, max_length=200)
    notes: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class OperationIn(_In):
    kind: OperationKind
    place_id: uuid.UUID
    at: AwareDatetime = Field(description="Date et heure, avec le fuseau (ex. +01:00)")
    deceased_id: uuid.UUID | None = None
    deceased: DeceasedIn | None = Field(
        default=None, description="Pour une inhumation ou un dépôt d'urne : le défunt à inscrire"
    )
    target_place_id: uuid.UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict)


# ----- read models ---------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CemeteryRead(_Out):
    id: uuid.UUID
    tenant_id: uuid.UUID
    code: str
    name: str
    address: str | None


class PlaceRead(_Out):
    id: uuid.UUID
    tenant_id: uuid.UUID
    cemetery_id: uuid.UUID
    cemetery: str
    zone: str
    alley: str
    number: str
    location: str
    place_type: str
    grave_type: str | None
    capacity: Decimal | None
    occupancy: Decimal
    area_m2: Decimal | None
    plan_ref: str | None
    status: str
    notes: str | None


class PartyRead(_Out):
    id: uuid.UUID
    role: str
    civility: str | None
    family_name: str
    usage_name: str | None
    given_names: str
    relationship: str | None
    address: str | None
    postal_code: str | None
    city: str | None
    phone: str | None
    email: str | None
    person_id: uuid.UUID | None
    ended_on: date | None


class ConcessionRead(_Out):
    id: uuid.UUID
    tenant_id: uuid.UUID
    number: str
    place_id: uuid.UUID
    category: str
    duration_kind: str
    duration_years: int | None
    granted_on: date
    starts_on: date
    ends_on: date | None
    status: str
    price: Decimal | None
    ccas_share: Decimal | None
    payment_ref: str | None
    paid_on: date | None
    commune_upkeep: bool
    renewal_info_sent_at: datetime | None
    previous_id: uuid.UUID | None
    case_id: uuid.UUID | None
    area_m2: Decimal | None
    notes: str | None
    parties: list[PartyRead] = Field(default_factory=list)


class DeceasedRead(_Out):
    id: uuid.UUID
    place_id: uuid.UUID | None
    concession_id: uuid.UUID | None
    civility: str | None
    family_name: str
    usage_name: str | None
    given_names: str
    birth_date: date | None
    birth_place: str | None
    death_date: date | None
    death_at: datetime | None
    death_place: str | None
    last_domicile: str | None
    container: str
    refused_cremation: bool
    inhumed_on: date | None
    status: str


class OperationRead(_Out):
    id: uuid.UUID
    kind: str
    place_id: uuid.UUID
    target_place_id: uuid.UUID | None
    deceased_id: uuid.UUID | None
    concession_id: uuid.UUID | None
    case_id: uuid.UUID | None
    at: datetime
    details: dict[str, Any]


class OssuaryEntryPublic(_Out):
    """A line of the public ossuary register: names and dates only, and the kept-apart flag."""

    family_name: str
    usage_name: str | None
    given_names: str
    death_date: date | None
    deposited_on: date
    kept_apart: bool


class PlaceHistory(BaseModel):
    place: PlaceRead
    concessions: list[ConcessionRead]
    deceased: list[DeceasedRead]
    operations: list[OperationRead]
