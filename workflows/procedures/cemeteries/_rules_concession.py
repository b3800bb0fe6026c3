"""Concession rules: renewal (L2223-15), conversion (L2223-16), donation, reprise of an expired
concession after the renewal window (L2223-15, loi 3DS)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from workflows.engine.calendar import add_months
from workflows.procedures.cemeteries._rules_common import Verdict, add_years, fr, ok, refused
from workflows.procedures.cemeteries.settings import CemeterySettings, cemetery_settings

L2223_15 = "article L2223-15 du CGCT"
L2223_16 = "article L2223-16 du CGCT"
CE_2007 = "CE, 21 mai 2007, n° 281615, Ville de Paris"
CENT = Decimal("0.01")

Years = int | None
"""A concession's duration in years; None for a perpetual concession."""


def _label(years: Years) -> str:
    return "perpétuelle" if years is None else f"{years} ans"


def renewal_window_end(term_on: date, *, settings: CemeterySettings | None = None) -> date:
    """Last day on which a renewal is a right: two full years after the term (L2223-15)."""
    cfg = settings or cemetery_settings()
    return add_months(term_on, cfg.renewal_window_months)


def check_renewal(
    *,
    term_on: date | None,
    current_years: Years,
    new_years: Years,
    asked_on: date,
    settings: CemeterySettings | None = None,
) -> Verdict:
    """Renewal asked on ``asked_on`` of a concession ending on ``term_on`` (L2223-15).

    Within the two years after the term: accepted; the new period starts **at the old term**
    and the price is the tariff in force **on the term date** (CE 2007 n°281615), whatever the
    day of the request. After the window the land has returned to the commune, which may refuse.
    ``details``: ``starts_on``, ``ends_on`` (None when the renewal is perpetual), ``tariff_on``.
    """
    cfg = settings or cemetery_settings()
    reference = f"{L2223_15} ; {CE_2007}"
    if term_on is None or current_years is None:
        return refused(
            "Une concession perpétuelle n'a pas de terme : elle ne se renouvelle pas.", reference
        )
    if (
        new_years is not None
        and new_years < current_years
        and not cfg.renewal_shorter_duration_allowed
    ):
        return refused(
            f"Le renouvellement pour une durée plus courte ({_label(new_years)} au lieu de "
            f"{_label(current_years)}) n'est pas admis par la commune.",
            reference,
        )
    earliest = add_months(term_on, -cfg.renewal_max_months_before_term)
    if asked_on < earliest:
        return refused(
            f"Le renouvellement ne peut être demandé qu'à partir du {fr(earliest)} "
            f"(la concession prend fin le {fr(term_on)}).",
            reference,
        )
    window_end = renewal_window_end(term_on, settings=cfg)
    if asked_on > window_end:
        return refused(
            f"Le délai de deux ans pour renouveler la concession a expiré le {fr(window_end)} : "
            "le terrain a fait retour à la commune, qui peut refuser le renouvellement "
            "(une nouvelle concession peut être demandée).",
            L2223_15,
            window_end=window_end.isoformat(),
            commune_may_refuse=True,
        )
    ends_on = None if new_years is None else add_years(term_on, new_years)
    return ok(
        reference,
        starts_on=term_on.isoformat(),
        ends_on=ends_on.isoformat() if ends_on else None,
        tariff_on=term_on.isoformat(),
        window_end=window_end.isoformat(),
    )


def _months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 when end <= start)."""
    if end <= start:
        return 0
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return months


def time_left_fraction(
    starts_on: date, ends_on: date, on: date, *, settings: CemeterySettings | None = None
) -> Decimal:
    """Share of the concession's duration still to run on ``on``, in whole months (default) or
    days (``conversion_prorata_unit``)."""
    cfg = settings or cemetery_settings()
    if on >= ends_on:
        return Decimal(0)
    if cfg.conversion_prorata_unit == "days":
        total = (ends_on - starts_on).days
        left = (ends_on - max(on, starts_on)).days
    else:
        total = _months_between(starts_on, ends_on)
        left = _months_between(max(on, starts_on), ends_on)
    if total <= 0:
        return Decimal(0)
    return Decimal(left) / Decimal(total)


def check_conversion(
    *,
    starts_on: date,
    ends_on: date | None,
    current_years: Years,
    new_years: Years,
    old_price: Decimal,
    new_price: Decimal,
    on: date,
    settings: CemeterySettings | None = None,
) -> Verdict:
    """Conversion on ``on`` to a longer duration (L2223-16).

    Only to a longer duration; the commune cannot refuse. Price = the new tariff minus the value
    of the time left (old price × time left / duration: 30 → 50 years with 12 years left pays
    the 50-year tariff minus 12/30 of the old price). The new period starts on the conversion
    day. An expired concession is not converted: it is renewed for a longer duration instead.
    ``details``: ``price`` (str, cents), ``credit``, ``starts_on``, ``ends_on``.
    """
    cfg = settings or cemetery_settings()
    if current_years is None:
        return refused("Une concession perpétuelle ne peut pas être convertie.", L2223_16)
    if ends_on is not None and on >= ends_on:
        return refused(
            f"La concession est échue depuis le {fr(ends_on)} : elle ne peut plus être "
            "convertie. Demandez son renouvellement pour une durée plus longue.",
            L2223_16,
            offer="renewal",
        )
    if new_years is not None and new_years <= current_years:
        return refused(
            f"Une conversion se fait pour une durée plus longue : {_label(new_years)} n'est pas "
            f"plus long que {_label(current_years)}.",
            L2223_16,
        )
    fraction = time_left_fraction(starts_on, ends_on, on, settings=cfg) if ends_on else Decimal(0)
    credit = (old_price * fraction).quantize(CENT, rounding=ROUND_HALF_UP)
    price = max(new_price - credit, Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    new_end = None if new_years is None else add_years(on, new_years)
    return ok(
        L2223_16,
        price=str(price),
        credit=str(credit),
        fraction_left=str(fraction),
        starts_on=on.isoformat(),
        ends_on=new_end.isoformat() if new_end else None,
    )


def check_donation(*, concession_used: bool, donee_is_relative: bool) -> Verdict:
    """A concession is outside commerce. A donation (notarial deed + acte de substitution signed
    with the maire) goes to a non-relative only if the concession was never used."""
    reference = "hors commerce ; jurisprudence constante (donation par acte notarié)"
    if concession_used and not donee_is_relative:
        return refused(
            "Une concession déjà utilisée ne peut être donnée qu'à un membre de la famille.",
            reference,
        )
    return ok(reference, requires=["acte notarié", "acte de substitution signé avec le maire"])


def check_reprise_after_term(
    *,
    term_on: date | None,
    renewal_info_sent_on: date | None,
    on: date,
    renewed: bool = False,
    settings: CemeterySettings | None = None,
) -> Verdict:
    """Reprise of a concession not renewed (L2223-15): only after the two full years following
    the term, and only once the holders were informed of their renewal right (loi 3DS)."""
    reference = f"{L2223_15} (loi n° 2022-217 dite 3DS)"
    if term_on is None:
        return refused(
            "Une concession perpétuelle ne fait pas retour à la commune à un terme.", reference
        )
    if renewed:
        return refused("La concession a été renouvelée : elle ne peut pas être reprise.", reference)
    if renewal_info_sent_on is None:
        return refused(
            "Les titulaires n'ont pas été informés de leur droit au renouvellement : la reprise "
            "est impossible tant que cette information n'a pas été envoyée.",
            reference,
        )
    window_end = renewal_window_end(term_on, settings=settings)
    if on <= window_end:
        return refused(
            f"Le délai de renouvellement court jusqu'au {fr(window_end)} inclus : la reprise "
            "n'est possible qu'après.",
            reference,
            window_end=window_end.isoformat(),
        )
    return ok(reference, window_end=window_end.isoformat())
