"""Burial rules: the legal window (R2213-33), the right to burial (L2223-3 and the concession's
category), terrain commun rotation (R2223-5) and the ossuaire (L2223-4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from workflows.engine.calendar import LegalCalendar, calendar_for
from workflows.procedures.cemeteries._rules_common import Verdict, add_years, fr, ok, refused
from workflows.procedures.cemeteries.settings import CemeterySettings, cemetery_settings

R2213_33 = "article R2213-33 du CGCT"
R2213_33_NEW = "article R2213-33 du CGCT (décret n° 2024-790)"


@dataclass(frozen=True, slots=True)
class PrefectDerogation:
    """A préfet's derogation to the burial delay, recorded with its act (R2213-33)."""

    until: date
    """Last day the burial may take place."""
    kind: Literal["individual", "local"] = "individual"
    """``individual``: for this death; ``local``: for local circumstances (21 days at most)."""
    reference: str = ""
    """The préfet's act (arrêté n°…, date)."""


@dataclass(frozen=True, slots=True)
class BurialWindow:
    """When a burial (or cremation, R2213-35) may take place."""

    regime: Literal["since_2024_07_12", "before_2024_07_12"]
    earliest: datetime
    """Death + 24 h (aware, UTC)."""
    latest_day: date
    """Last calendar day allowed (legal time zone), inclusive."""
    latest: datetime
    """End of ``latest_day``: the first instant no longer allowed (aware, UTC)."""
    reference: str
    derogation: PrefectDerogation | None = None

    def allows(self, at: datetime) -> bool:
        return self.earliest <= at < self.latest


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _old_regime_last_day(death_day: date, days: int, calendar: LegalCalendar) -> date:
    """``days`` days after the day of death, Sundays and public holidays not counted."""
    d = death_day
    counted = 0
    while counted < days:
        d += timedelta(days=1)
        if d.weekday() != 6 and not calendar.is_holiday(d):
            counted += 1
    return d


def burial_window(
    death_at: datetime,
    *,
    start_event_on: date | None = None,
    derogation: PrefectDerogation | None = None,
    calendar: LegalCalendar | None = None,
    settings: CemeterySettings | None = None,
) -> BurialWindow:
    """The legal window of R2213-33 for a death at ``death_at`` (aware).

    Deaths from 12 July 2024 (décret 2024-790): at least 24 h after death and at most on the 14th
    calendar day after the day of death — or after ``start_event_on``: the entry of the body into
    France, or the procureur's permit in medico-legal cases. Earlier deaths: 6 days, Sundays and
    public holidays not counted. A préfet's derogation replaces the last day; a local one may not
    go beyond 21 days.
    """
    _aware(death_at, "death_at")
    cfg = settings or cemetery_settings()
    cal = calendar or calendar_for()
    death_day = cal.local_date(death_at)
    counted_from = start_event_on or death_day
    earliest = (death_at + timedelta(hours=cfg.burial_min_hours)).astimezone(UTC)
    if death_day >= cfg.burial_new_regime_from:
        regime: Literal["since_2024_07_12", "before_2024_07_12"] = "since_2024_07_12"
        last = counted_from + timedelta(days=cfg.burial_max_days)
        reference = R2213_33_NEW
    else:
        regime = "before_2024_07_12"
        last = _old_regime_last_day(counted_from, cfg.burial_old_regime_days, cal)
        reference = f"{R2213_33} (rédaction antérieure au décret n° 2024-790)"
    if derogation is not None:
        if derogation.kind == "local":
            cap = death_day + timedelta(days=cfg.burial_local_derogation_max_days)
            if derogation.until > cap:
                raise ValueError(
                    f"une dérogation préfectorale pour circonstances locales ne va pas au-delà "
                    f"de {cfg.burial_local_derogation_max_days} jours (au plus tard le {fr(cap)})"
                )
        last = max(last, derogation.until)
        reference = f"{reference}, dérogation préfectorale {derogation.reference}".rstrip(" ,")
    latest = datetime.combine(last + timedelta(days=1), time(0), tzinfo=cal.tz).astimezone(UTC)
    return BurialWindow(regime, earliest, last, latest, reference, derogation)


def check_burial_time(
    at: datetime, window: BurialWindow, *, calendar: LegalCalendar | None = None
) -> Verdict:
    """A planned burial date inside the window (R2213-33)."""
    _aware(at, "at")
    cal = calendar or calendar_for()
    if at < window.earliest:
        local = window.earliest.astimezone(cal.tz)
        return refused(
            "L'inhumation ne peut avoir lieu moins de 24 heures après le décès : au plus tôt "
            f"le {fr(local.date())} à {local:%H:%M}.",
            window.reference,
            earliest=window.earliest.isoformat(),
        )
    if at >= window.latest:
        return refused(
            f"L'inhumation doit avoir lieu au plus tard le {fr(window.latest_day)} ; au-delà, "
            "une dérogation du préfet est nécessaire.",
            window.reference,
            latest_day=window.latest_day.isoformat(),
        )
    return ok(
        window.reference, earliest=window.earliest.isoformat(), latest_day=str(window.latest_day)
    )


# ----- right to burial -----------------------------------------------------------------------

L2223_3 = "article L2223-3 du CGCT"

Category = Literal["individual", "collective", "family"]
FAMILY_RELATIONSHIPS = frozenset(
    {"holder", "spouse", "child", "descendant", "parent", "ascendant", "descendant_spouse"}
)
"""Who belongs to the holder's family for a family concession (spouse, ascendants, descendants
and their spouses). Others only when the holder names them (beneficiaries)."""


def right_to_burial_in_commune(
    *,
    died_in_commune: bool,
    domiciled_in_commune: bool,
    family_grave_in_commune: bool,
    french_abroad_on_electoral_roll: bool = False,
) -> Verdict:
    """L2223-3: who may be buried in the commune's cemetery."""
    if (
        died_in_commune
        or domiciled_in_commune
        or family_grave_in_commune
        or french_abroad_on_electoral_roll
    ):
        return ok(L2223_3)
    return refused(
        "La personne défunte n'a pas de droit à être inhumée dans la commune : elle n'y est pas "
        "décédée, n'y était pas domiciliée, n'y a pas de sépulture de famille et n'est pas "
        "inscrite sur sa liste électorale en tant que Français établi hors de France.",
        L2223_3,
    )


def right_to_burial_in_concession(
    *,
    category: Category,
    relationship_to_holder: str,
    named_beneficiary: bool = False,
    excluded_by_holder: bool = False,
) -> Verdict:
    """Who may rest in a concession, by its category (L2223-13, L2223-3).

    Individual: only the person it was granted for (the holder). Collective: the persons named
    in the act. Family: the holder, their spouse, ascendants and descendants (and descendants'
    spouses), plus anyone the holder named; not a person the holder expressly excluded.
    ``relationship_to_holder`` is ``holder`` for the holder themself.
    """
    reference = "articles L2223-3 et L2223-13 du CGCT"
    if relationship_to_holder == "holder" and not excluded_by_holder:
        return ok(reference)
    if category == "individual":
        return refused(
            "Concession individuelle : seul son titulaire peut y être inhumé, sauf modification "
            "de l'acte de concession.",
            reference,
        )
    if category == "collective":
        if named_beneficiary:
            return ok(reference)
        return refused(
            "Concession collective : seules les personnes nommées dans l'acte peuvent y être "
            "inhumées.",
            reference,
        )
    if excluded_by_holder:
        return refused("Le titulaire a exclu cette personne de la concession.", reference)
    if named_beneficiary or relationship_to_holder in FAMILY_RELATIONSHIPS:
        return ok(reference)
    return refused(
        "Concession de famille : y sont inhumés le titulaire, son conjoint, ses ascendants et "
        "descendants (et leurs conjoints) ; une autre personne doit y avoir été admise par le "
        "titulaire.",
        reference,
    )


# ----- terrain commun and ossuaire --------------------------------------------------------------


def terrain_commun_reusable(
    last_burial_on: date, on: date, *, settings: CemeterySettings | None = None
) -> Verdict:
    """R2223-5: a terrain commun grave is reopened only 5 years after the last burial."""
    cfg = settings or cemetery_settings()
    reusable_on = add_years(last_burial_on, cfg.terrain_commun_min_years)
    reference = "article R2223-5 du CGCT"
    if on < reusable_on:
        return refused(
            f"Cette sépulture en terrain commun ne peut être reprise avant le {fr(reusable_on)} "
            f"({cfg.terrain_commun_min_years} ans après la dernière inhumation).",
            reference,
            reusable_on=reusable_on.isoformat(),
        )
    return ok(reference, reusable_on=reusable_on.isoformat())


@dataclass(frozen=True, slots=True)
class OssuaryDisposition:
    """What happens to remains transferred to the ossuaire (L2223-4, R2223-6)."""

    cremation_allowed: bool
    kept_apart: bool
    public_register: bool
    reference: str


def ossuary_disposition(*, refused_cremation: bool) -> OssuaryDisposition:
    """Remains go to the ossuaire or are cremated; a person known to have refused cremation is
    never cremated and rests apart. Every name goes into the public register (L2223-4)."""
    return OssuaryDisposition(
        cremation_allowed=not refused_cremation,
        kept_apart=refused_cremation,
        public_register=True,
        reference="article L2223-4 du CGCT",
    )
