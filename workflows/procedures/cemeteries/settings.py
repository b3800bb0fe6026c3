"""Settings of the cemetery rules (``GUICHET_CEMETERY_*``).

Every point ``../shared/domain/cemeteries.md`` marks "[to confirm]" is a field here, with the
default chosen and why, so that counsel can change it without touching the code. The legal
figures that are certain (24 h, 14 days, 2 years, 30 years, 10 years) are settings too because a
new decree changes them; their defaults are the law in force.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SilenceSetting = Literal["acceptance", "rejection"]


class CemeterySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_CEMETERY_", extra="ignore", env_file=None)

    service_code: str = Field(
        default="cimetieres",
        max_length=60,
        description="Code of the tenant service handling cemetery requests (its address and phone "
        "go on the acknowledgement, R112-11-1 CRPA). Read when the definitions load.",
    )
    # ----- burial window (R2213-33, décret 2024-790) ----------------------------------------------
    burial_min_hours: int = Field(
        default=24, ge=0, description="Earliest burial after death, in hours (R2213-33)."
    )
    burial_max_days: int = Field(
        default=14,
        ge=1,
        description="Latest burial: this calendar day after the day of death, weekends and "
        "holidays counted (R2213-33 as amended by décret 2024-790).",
    )
    burial_local_derogation_max_days: int = Field(
        default=21,
        ge=1,
        description="Longest delay a préfet may allow for local circumstances (R2213-33).",
    )
    burial_new_regime_from: date = Field(
        default=date(2024, 7, 12),
        description="Deaths from this day follow the 14-calendar-day rule (décret 2024-790).",
    )
    burial_old_regime_days: int = Field(
        default=6,
        ge=1,
        description="Earlier deaths: this many days, Sundays and public holidays not counted.",
    )
    # ----- renewal (L2223-15) --------------------------------------------------------------------
    renewal_window_months: int = Field(
        default=24,
        ge=0,
        description="Months after the term during which the holder or ayants cause may renew "
        "(L2223-15: two full years). The last day counts.",
    )
    renewal_max_months_before_term: int = Field(
        default=12,
        ge=0,
        description="[decide] How early before the term a renewal is accepted (the new period "
        "still starts at the old term). Not in the texts: commune practice.",
    )
    renewal_shorter_duration_allowed: bool = Field(
        default=True,
        description="[to confirm] Whether a renewal may be for a shorter duration than the "
        "expiring one (disputed). Default yes: renewal is the holder's right, a refusal is the "
        "riskier act.",
    )
    # ----- conversion (L2223-16) -----------------------------------------------------------------
    conversion_prorata_unit: Literal["months", "days"] = Field(
        default="months",
        description="[decide] Unit in which the time left is valued: whole months left over the "
        "months of the duration (30 → 50 years with 12 years left: 144/360 of the old price), or "
        "days.",
    )
    # ----- abandon (L2223-17, R2223-12 to R2223-23) ----------------------------------------------
    abandon_min_concession_years: int = Field(
        default=30, ge=0, description="Concession act at least this old (L2223-17)."
    )
    abandon_min_years_since_burial: int = Field(
        default=10, ge=0, description="Last burial at least this long ago (R2223-12)."
    )
    abandon_notice_months: int = Field(
        default=1,
        ge=0,
        description="Heirs told (LRAR or posting) at least this long before the finding "
        "(R2223-13).",
    )
    abandon_wait_years: int = Field(
        default=1, ge=0, description="Wait after the 1st PV's publicity (L2223-17, loi 3DS)."
    )
    abandon_old_wait_years: int = Field(
        default=3, ge=0, description="Wait under the law before loi 3DS (L2223-17 old text)."
    )
    abandon_3ds_from: date = Field(
        default=date(2022, 2, 23),
        description="[to confirm] Day the 1-year rule applies from (loi 3DS n°2022-217 of "
        "21 Feb 2022, JO 22 Feb 2022).",
    )
    abandon_transitional_rule: Literal["first_pv_date", "new_rule_for_all"] = Field(
        default="first_pv_date",
        description="[to confirm with counsel, edge case 5] first_pv_date: a procedure whose 1st "
        "PV predates abandon_3ds_from keeps the 3-year wait; new_rule_for_all: 1 year for every "
        "procedure.",
    )
    abandon_second_pv_delay_months: int = Field(
        default=1,
        ge=0,
        description="[to confirm article: R2223-18] Delay after the 2nd PV is notified before "
        "the maire refers the matter to the conseil municipal.",
    )
    reprise_removal_delay_days: int = Field(
        default=30,
        ge=0,
        description="[to confirm: R2223-20] Days between the arrêté de reprise (published and "
        "notified) and the removal of monuments and remains.",
    )
    # ----- operations ------------------------------------------------------------------------------
    exhumation_intact_coffin_min_years: int = Field(
        default=5,
        ge=0,
        description="[practitioner source] An intact coffin is opened only this long after death.",
    )
    terrain_commun_min_years: int = Field(
        default=5, ge=0, description="Rotation before a terrain commun grave is reused (R2223-5)."
    )
    # ----- silence (CRPA L231-1, décret 2015-1459) -----------------------------------------------
    silence_delay_months: int = Field(
        default=2, ge=1, description="Delay after which silence is a decision (L231-1 CRPA)."
    )
    attribution_silence: SilenceSetting = Field(
        default="acceptance",
        description="[to confirm, flagged] What silence means on a request to attribute a "
        "concession: not found in the décret 2015-1459 annex, so the general rule (L231-1 CRPA, "
        "acceptance) by default; the case then waits for the town hall to choose the place.",
    )
    other_requests_silence: SilenceSetting = Field(
        default="acceptance",
        description="[to confirm] Silence on renewal, conversion, dispersion and works requests "
        "(not listed in the décret 2015-1459 annex: general rule L231-1 CRPA). Inhumation and "
        "exhumation (urn deposit and removal included) are always rejection (décret 2015-1459).",
    )


@lru_cache
def cemetery_settings() -> CemeterySettings:
    return CemeterySettings()
