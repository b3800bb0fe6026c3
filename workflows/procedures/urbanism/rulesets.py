"""Urbanism rule sets: the settings a tenant applies, pinned by filing date (``GUICHET_URBANISM_*``).

``rule_set_for(insee, filed_on)`` returns the ``RuleSet`` a file keeps for its whole life: the rules
in force on the day it was filed (a permis modificatif gets the rules of its own filing day). Its
``key`` is recorded with every computed date:

- ``"ads-2024"`` for files filed before the first dated change below;
- ``"ads-2025-12-31"`` for files filed from 31 Dec 2025 (R424-2-1: silence on a project subject
  to évaluation environnementale means rejection);
- ``"ads-<date>"`` for files filed from ``working_day_extension_from`` when the working-day
  extension is turned on with a start date (ordonnance 2025-1091);
- a tenant override (``tenant_overrides[insee]``) appends ``"+<insee>"`` so the key always names
  the exact rules used.

Settings marked **[to confirm]** in shared/domain/urbanism.md (defaults = the reading in force):

- ``extend_instruction_deadlines_to_working_day`` (default False) and
  ``working_day_extension_from`` (default None = from any date once turned on): ordonnance
  2025-1091 (L1322-5) **may** carry an instruction deadline ending on a Saturday, Sunday or holiday
  to the next working day. Off, deadlines run date to date with no extension (rapport du 120e
  Congrès des notaires, 2024). Scope and entry into force [to confirm].
- ``environmental_assessment_from`` (31 Dec 2025): first filing day for which R424-2-1 turns
  silence into rejection.
- ``consultation_months`` (1, R423-59): default delay of a consulted service; ABF and other special
  delays (R423-67) are carried by each consultation [to confirm].
- ``r423_28_months`` (5): deadline set by R423-28 (immeuble inscrit MH, ERP, IGH) [to confirm list].
- ``conformity_months`` / ``conformity_months_protected`` (3 / 5, R462-6 / R462-7).
- ``validity_years`` (3, R424-17), ``works_interruption_max_months`` (12, R424-17),
  ``prorogation_max`` (2), ``prorogation_request_months_before`` (2) and
  ``prorogation_silence_months`` (2: silence on a prorogation request means acceptance, R424-21 ff.
  [to confirm]).
- ``withdrawal_months`` (3, L424-5), ``appeal_months`` (2, R600-2), ``cu_validity_months`` (18,
  L410-1), ``tacit_alert_days`` (15: files whose tacit date is this close are flagged).
- ``tenant_overrides``: JSON object keyed by INSEE code, each value an object of the fields above,
  e.g. ``GUICHET_URBANISM_TENANT_OVERRIDES='{"69001": {"consultation_months": 2}}'``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.procedures.urbanism.facts import RuleSet

__all__ = ["LEGACY_KEY", "RuleSetValues", "UrbanismSettings", "rule_set_for"]

LEGACY_KEY = "ads-2024"
"""Key of the rule set for files filed before any dated change."""

_INSEE = re.compile(r"^(?:\d{2}|2A|2B)\d{3}$")


class RuleSetValues(BaseModel):
    """The overridable fields of ``RuleSet`` (everything but ``key``), validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    extend_instruction_deadlines_to_working_day: bool = False
    environmental_assessment_from: date = date(2025, 12, 31)
    consultation_months: int = Field(default=1, ge=1, le=12)
    r423_28_months: int = Field(default=5, ge=1, le=24)
    tacit_alert_days: int = Field(default=15, ge=0, le=365)
    conformity_months: int = Field(default=3, ge=1, le=24)
    conformity_months_protected: int = Field(default=5, ge=1, le=24)
    validity_years: int = Field(default=3, ge=1, le=10)
    works_interruption_max_months: int = Field(default=12, ge=1, le=60)
    withdrawal_months: int = Field(default=3, ge=1, le=24)
    appeal_months: int = Field(default=2, ge=1, le=24)
    cu_validity_months: int = Field(default=18, ge=1, le=60)
    prorogation_request_months_before: int = Field(default=2, ge=0, le=24)
    prorogation_silence_months: int = Field(default=2, ge=1, le=24)
    prorogation_max: int = Field(default=2, ge=0, le=10)


_FIELDS = frozenset(f.name for f in dataclasses.fields(RuleSet)) - {"key"}
"""Overridable ``RuleSet`` fields (``RuleSetValues`` mirrors them; a unit test checks it)."""


class UrbanismSettings(BaseSettings):
    """Rule-set settings (see the module docstring for each [to confirm] point)."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_URBANISM_", extra="ignore", env_file=None)

    extend_instruction_deadlines_to_working_day: bool = Field(
        default=False,
        description="Ordonnance 2025-1091 (L1322-5) [to confirm]: carry an instruction deadline "
        "ending on a Saturday, Sunday or holiday to the next working day.",
    )
    working_day_extension_from: date | None = Field(
        default=None,
        description="First filing day the extension above applies to (None: every file).",
    )
    environmental_assessment_from: date = Field(
        default=date(2025, 12, 31),
        description="R424-2-1: silence means rejection for projects subject to évaluation "
        "environnementale filed from this day.",
    )
    consultation_months: int = Field(default=1, ge=1, le=12, description="R423-59.")
    r423_28_months: int = Field(default=5, ge=1, le=24, description="R423-28 [to confirm].")
    tacit_alert_days: int = Field(default=15, ge=0, le=365)
    conformity_months: int = Field(default=3, ge=1, le=24, description="R462-6.")
    conformity_months_protected: int = Field(default=5, ge=1, le=24, description="R462-7.")
    validity_years: int = Field(default=3, ge=1, le=10, description="R424-17.")
    works_interruption_max_months: int = Field(default=12, ge=1, le=60, description="R424-17.")
    withdrawal_months: int = Field(default=3, ge=1, le=24, description="L424-5.")
    appeal_months: int = Field(default=2, ge=1, le=24, description="R600-2.")
    cu_validity_months: int = Field(default=18, ge=1, le=60, description="L410-1.")
    prorogation_request_months_before: int = Field(default=2, ge=0, le=24, description="R424-21.")
    prorogation_silence_months: int = Field(default=2, ge=1, le=24, description="[to confirm].")
    prorogation_max: int = Field(default=2, ge=0, le=10, description="R424-21.")
    tenant_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per INSEE code, RuleSet fields to override (JSON in the environment).",
    )

    @field_validator("tenant_overrides")
    @classmethod
    def _check_overrides(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        checked: dict[str, dict[str, Any]] = {}
        for insee, fields in value.items():
            if not _INSEE.match(insee):
                raise ValueError(f"code INSEE invalide dans tenant_overrides : {insee!r}")
            unknown = set(fields) - _FIELDS
            if unknown:
                raise ValueError(f"paramètres inconnus pour {insee} : {', '.join(sorted(unknown))}")
            validated = RuleSetValues.model_validate(fields)
            checked[insee] = validated.model_dump(include=set(fields))
        return checked


def rule_set_for(insee: str, filed_on: date, settings: UrbanismSettings | None = None) -> RuleSet:
    """The rule set of a file filed on ``filed_on`` in commune ``insee`` (pinned for its life)."""
    s = settings if settings is not None else UrbanismSettings()
    extension = s.extend_instruction_deadlines_to_working_day and (
        s.working_day_extension_from is None or filed_on >= s.working_day_extension_from
    )
    values: dict[str, Any] = {
        name: getattr(s, name) for name in _FIELDS if name in UrbanismSettings.model_fields
    }
    values["extend_instruction_deadlines_to_working_day"] = extension
    overrides = s.tenant_overrides.get(insee, {})
    values.update(overrides)
    epochs = [values["environmental_assessment_from"]]
    if values["extend_instruction_deadlines_to_working_day"] and s.working_day_extension_from:
        epochs.append(s.working_day_extension_from)
    passed = [e for e in epochs if e <= filed_on]
    key = f"ads-{max(passed).isoformat()}" if passed else LEGACY_KEY
    if overrides:
        key += f"+{insee}"
    return RuleSet(key=key, **values)
