"""``street_reports.report``: one definition for every kind of street report; categories are data.

A report (signalement) is not a request for a decision: CRPA L112-3 still has it acknowledged
(AEE, ARE), but no silence rule applies (as ``general.request``). The service-level target of the
category (working days) is not a legal delay: it is kept on the report (``sla_due``) for the
department queue, not as an engine timer.

States and what the reporter sees (open311.md §11): ``submitted`` « À qualifier »,
``acknowledged`` « Pris en compte », ``in_progress`` « Intervention en cours », ``scheduled``
« Intervention programmée le {date} », ``fixed`` « Résolu » (the only state that says fixed),
``closed`` « Clôturé », ``rejected`` « Non retenu : {motif} », ``transferred`` « Transmis à
{organisme} », ``duplicate`` « Déjà signalé (n° {référence}) », ``cancelled`` « Annulé ».

``fixed`` is not terminal: the reporter may reopen it (back to ``acknowledged``) within
``GUICHET_STREET_REOPEN_DAYS`` days, checked by the channel that receives the request.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.kernel.actor import Role
from workflows.engine.definitions import (
    Acknowledgement,
    Definition,
    DocumentKind,
    Guard,
    Relation,
    SilenceRule,
    State,
    Transition,
)

KEY = "street_reports.report"
SERVICE_CODE = "signalements"
"""The tenant service named on the acknowledgement of receipt (R112-11-1 CRPA)."""
DESCRIPTION_MAX = 4000
"""Characters (Open311 GeoReport v2: description ≤ 4000)."""

AGENTS = (
    Role.INSTRUCTOR.value,
    Role.SUPERVISOR.value,
    Role.ADMIN.value,
    Role.COUNTER_AGENT.value,
    Role.PHONE_AGENT.value,
)
DECIDERS = (Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value)
OPEN_STATES = ("submitted", "acknowledged", "in_progress", "scheduled")
CLOSED_STATES = ("fixed", "closed", "rejected", "transferred", "duplicate", "cancelled")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_control(value: str, *, lines: bool = False) -> str:
    """Refuse NUL and control characters (line breaks allowed where ``lines``)."""
    if (_CONTROL if lines else _LINE_CONTROL).search(value):
        raise ValueError("contient un caractère de contrôle (ou nul) : retirez-le")
    return value


class ReportPayload(BaseModel):
    """What a report says. Attributes are checked against the category by the intake channel
    (channels.street.service), which knows the tenant's categories."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=60, description="Code de la catégorie")
    lat: float = Field(ge=-90, le=90, description="Latitude WGS84")
    lon: float = Field(ge=-180, le=180, description="Longitude WGS84")
    address: str = Field(default="", max_length=300, description="Adresse ou repère")
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    attributes: dict[str, Any] = Field(default_factory=dict)
    public_name: str | None = Field(
        default=None, max_length=120, description="Nom affiché publiquement, si choisi"
    )

    @field_validator("lat", "lon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("doit être un nombre fini")
        return value

    @field_validator("category", "address", "public_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else no_control(value)

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        return no_control(value, lines=True)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=2000)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    date: date
    note: str | None = Field(default=None, max_length=2000)


REJECTION_REASONS: dict[str, str] = {
    "mal_localise": "signalement mal localisé",
    "domaine_prive": "sur une propriété privée",
    "hors_competence": "hors de la compétence de la collectivité",
    "non_constate": "anomalie non constatée sur place",
    "deja_traite": "déjà traité",
    "autre": "autre motif",
}
"""Reasons an agent picks from (plus free text, required for ``autre``)."""


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Literal[
        "mal_localise", "domaine_prive", "hors_competence", "non_constate", "deja_traite", "autre"
    ]
    details: str | None = Field(default=None, max_length=500)

    @field_validator("details")
    @classmethod
    def _details(cls, value: str | None) -> str | None:
        return None if value is None else no_control(value, lines=True)

    @model_validator(mode="after")
    def _other_needs_details(self) -> Rejection:
        if self.reason == "autre" and not (self.details or "").strip():
            raise ValueError("le motif « autre » demande une précision (details)")
        return self


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organisation: str = Field(
        min_length=2, max_length=200, description="L'organisme qui prend le relais"
    )
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("organisation")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return no_control(value)


class DuplicateOf(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kept_case_id: uuid.UUID
    kept_reference: str = Field(default="", max_length=40)


class Reopen(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment: str | None = Field(default=None, max_length=DESCRIPTION_MAX)


def _t(
    name: str,
    title: str,
    sources: tuple[str, ...],
    target: str,
    payload: type[BaseModel] | None,
    roles: tuple[str, ...] = AGENTS,
    relations: tuple[Relation, ...] = (),
    system: bool = False,
) -> Transition:
    return Transition(
        name=name,
        title=title,
        sources=sources,
        target=target,
        guard=Guard(roles=roles, relations=relations, system=system),
        payload_schema=payload,
    )


DEFINITION = Definition(
    key=KEY,
    version=1,
    title="Signalement sur l'espace public",
    description=(
        "Nid-de-poule, lampadaire éteint, dépôt sauvage, tag, mobilier abîmé… : le service "
        "concerné intervient et vous tient informé."
    ),
    states=(
        State(name="submitted", title="À qualifier"),
        State(name="acknowledged", title="Pris en compte"),
        State(name="in_progress", title="Intervention en cours"),
        State(name="scheduled", title="Intervention programmée"),
        State(name="fixed", title="Résolu"),
        State(name="closed", title="Clôturé", terminal=True),
        State(name="rejected", title="Non retenu", terminal=True),
        State(name="transferred", title="Transmis à un autre organisme", terminal=True),
        State(name="duplicate", title="Déjà signalé", terminal=True),
        State(name="cancelled", title="Annulé", terminal=True),
    ),
    initial_state="submitted",
    transitions=(
        _t("acknowledge", "Prendre en compte", ("submitted",), "acknowledged", Note),
        _t(
            "start",
            "Intervention en cours",
            ("submitted", "acknowledged", "scheduled"),
            "in_progress",
            Note,
        ),
        _t(
            "schedule",
            "Programmer l'intervention",
            ("submitted", "acknowledged", "in_progress", "scheduled"),
            "scheduled",
            Schedule,
        ),
        _t("fix", "Marquer résolu", OPEN_STATES, "fixed", Note),
        _t("close", "Clôturer", ("fixed",), "closed", Note, system=True),
        _t("reject", "Ne pas retenir", OPEN_STATES, "rejected", Rejection, roles=DECIDERS),
        _t("transfer", "Transmettre à un tiers", OPEN_STATES, "transferred", Transfer),
        _t("mark_duplicate", "Fusionner (doublon)", OPEN_STATES, "duplicate", DuplicateOf),
        _t(
            "cancel",
            "Annuler",
            OPEN_STATES,
            "cancelled",
            Note,
            relations=(Relation.SUBMITTER,),
            system=True,
        ),
        _t(
            "reopen",
            "Rouvrir (pas résolu)",
            ("fixed",),
            "acknowledged",
            Reopen,
            relations=(Relation.SUBMITTER,),
            system=True,
        ),
    ),
    documents=(DocumentKind(kind="are", title="Accusé de réception"),),
    payload_schema=ReportPayload,
    public=True,
    anonymous_intake=True,  # a signalement: no name needed (R112-9-1 CRPA does not apply)
    acknowledgement=Acknowledgement(
        request_kind="information",
        service_code=SERVICE_CODE,
        silence=SilenceRule.NONE,
        legal_basis="L112-3 et L112-11 du code des relations entre le public et l'administration",
    ),
    intake_roles=AGENTS,
)
