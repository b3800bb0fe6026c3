"""Wire types of the street-report endpoints (channels.street.controllers)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from channels.street import service
from channels.street.public import SuggestionRead, suggestion_read
from services.kernel.errors import ValidationFailed
from workflows.procedures.street_reports.states import state_title

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Coordinate = Any
"""Numbers or numeric strings (lenient); checked by ``parse_coordinate`` (the JSON decoder
would turn ``true`` into 1)."""


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=60, description="Code de la catégorie")
    lat: Coordinate = Field(description="Latitude WGS84 (nombre ou texte « 45.76 »)")
    lon: Coordinate = Field(description="Longitude WGS84")
    address: str = Field(default="", max_length=300)
    description: str = Field(default="", description="4000 caractères au plus")
    attributes: dict[str, Any] = Field(default_factory=dict)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, max_length=30)
    given_name: str | None = Field(default=None, max_length=120)
    family_name: str | None = Field(default=None, max_length=120)
    public_name: str | None = Field(
        default=None, max_length=120, description="Nom à afficher publiquement, si vous le voulez"
    )


class ReportCreated(BaseModel):
    case_id: uuid.UUID
    reference: str
    tenant_id: uuid.UUID
    state: str
    label: str
    created: bool
    tracking_code: str | None
    """Without an account: shown once, to follow the report (POST /suivi with the e-mail)."""
    suggestions: list[SuggestionRead]
    aee: dict[str, Any]


class CategoryRead(BaseModel):
    code: str
    name: str
    description: str
    group: str
    tenant_id: uuid.UUID
    attributes: list[dict[str, Any]]


class FollowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=254, pattern=EMAIL)


class FollowRead(BaseModel):
    reference: str
    following: bool
    created: bool


class ReopenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment: str | None = Field(default=None, description="Ce qui n'est pas réglé")
    code: str | None = Field(default=None, max_length=40, description="Code de suivi (sans compte)")
    contact: str | None = Field(default=None, max_length=254)


class ReopenRead(BaseModel):
    reference: str
    state: str
    label: str


class CallerInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str | None = Field(default=None, max_length=120)
    family_name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, max_length=30)


class CounterReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["counter", "phone"]
    category: str = Field(min_length=1, max_length=60)
    lat: Coordinate
    lon: Coordinate
    address: str = Field(default="", max_length=300)
    description: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    caller: CallerInfo | None = None
    caller_phone: str | None = Field(default=None, max_length=30)
    public_name: str | None = Field(default=None, max_length=120)


class MailQualify(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=60)
    lat: Coordinate
    lon: Coordinate
    address: str = Field(default="", max_length=300)
    description: str | None = Field(
        default=None, description="Par défaut : le texte du courriel (4000 caractères au plus)"
    )
    attributes: dict[str, Any] = Field(default_factory=dict)


def created_body(done: service.SubmittedReport) -> ReportCreated:
    return ReportCreated(
        case_id=done.case_id,
        reference=done.reference,
        tenant_id=done.tenant_id,
        state=done.state,
        label=state_title(done.state),
        created=done.created,
        tracking_code=done.tracking_code,
        suggestions=[suggestion_read(s) for s in done.suggestions],
        aee=done.aee,
    )


def category_error(exc: service.UnknownCategory) -> ValidationFailed:
    return ValidationFailed(
        exc.detail,
        errors=[{"field": "category", "message": "catégorie inconnue", "type": "unknown"}],
    )
