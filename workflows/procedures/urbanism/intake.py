"""Intake payloads of the urbanism procedures: the CERFA's blocks (placeholder, see issue 7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from workflows.procedures.urbanism.facts import Exception_, PermitType


class UrbanismRequest(BaseModel):
    model_config = ConfigDict(extra="allow")


def intake_schema(permit_type: PermitType) -> type[BaseModel]:
    return UrbanismRequest


@dataclass(frozen=True, slots=True)
class IntakeSummary:
    applicant_name: str
    address: str
    parcels: str
    exceptions: frozenset[Exception_]
    tree_felling: bool
    protected_area: bool
    maison_individuelle: bool
    parent_number: str | None
    pieces: tuple[str, ...]


def summary(payload: Mapping[str, Any]) -> IntakeSummary:
    return IntakeSummary(
        applicant_name=str(payload.get("applicant_name", "")),
        address=str(payload.get("address", "")),
        parcels="",
        exceptions=frozenset(),
        tree_felling=False,
        protected_area=False,
        maison_individuelle=False,
        parent_number=None,
        pieces=(),
    )
