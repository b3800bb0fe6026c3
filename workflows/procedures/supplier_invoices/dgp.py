"""Délai global de paiement (DGP): pure date and money rules (Code de la commande publique).

- R2192-10 / -11: 30 days for the State, collectivités territoriales and their établissements
  publics (``payment_days``).
- R2192-12 / -13: the period runs from the receipt of the payment request; for an electronic
  invoice to a buyer other than the State, from the notification of its "mise à disposition" on
  Chorus Pro. Counted in calendar days, in Europe/Paris: made available on 2 March, due on
  1 April (2 March + 30 days); a last day on a week-end is not moved (the CCP does not say so,
  and interest only starts the day after). **Decision**, written here: no working-day
  extension.
- DGFiP circular of 15 April 2013: of the 30 days, 20 for the ordonnateur (reception →
  mandatement), 10 for the comptable public.
- R2192-27 / -28 / -29: the period may be interrupted **once**, before ordonnancement, by a
  notified suspension listing the missing pieces; on receipt of the pieces a **new** period
  runs: the full period, or the balance left at the suspension if it is longer.
- L2192-13, R2192-31: moratorium interest runs automatically from the day after the period
  ends until the day of payment included, at the ECB main refinancing rate in force on the
  first day of the half-year in which interest starts to run, plus 8 points; computed on the
  amount paid late (TTC), ``amount × rate × days / 365``, rounded to the cent.
- D2192-35: plus a flat indemnity of 40 euros for recovery costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.kernel.errors import Conflict

CENT = Decimal("0.01")


def due_date(start: date, days: int = 30) -> date:
    """Last day of the DGP for a period starting on ``start`` (R2192-10, R2192-12)."""
    return start + timedelta(days=days)


def ordonnateur_due(start: date, days: int = 20) -> date:
    """Last day for the mandatement (20 of the 30 days)."""
    return start + timedelta(days=days)


def due_after_completion(
    *, current_due: date, suspended_on: date, completed_on: date, days: int = 30
) -> date:
    """New end of the DGP when the supplier completes a suspended invoice (R2192-29): a new
    period from the receipt of the pieces, of ``days`` or of the balance left on the day of the
    suspension if that is longer."""
    if completed_on < suspended_on:
        raise ValueError("completion before suspension")
    balance = max((current_due - suspended_on).days, 0)
    return completed_on + timedelta(days=max(days, balance))


def check_can_suspend(suspension_count: int, *, mandated: bool) -> None:
    """R2192-27: one suspension only, and before ordonnancement."""
    if mandated:
        raise Conflict(
            "La facture est déjà mandatée : le délai de paiement ne peut plus être suspendu "
            "(R2192-27 du code de la commande publique)."
        )
    if suspension_count >= 1:
        raise Conflict(
            "Le délai de paiement de cette facture a déjà été suspendu une fois : une seule "
            "suspension est permise (R2192-27 du code de la commande publique). Rejetez la "
            "facture si elle reste incomplète."
        )


def half_year_key(day: date) -> str:
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


@dataclass(frozen=True, slots=True)
class LatePayment:
    """What the buyer owes for paying late (L2192-13, R2192-31, D2192-35)."""

    days_late: int
    first_day: date | None
    """First day of interest (the day after the DGP ended), None when paid in time."""
    rate_percent: Decimal
    interest: Decimal
    indemnity: Decimal

    @property
    def total(self) -> Decimal:
        return self.interest + self.indemnity

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "jours_de_retard": self.days_late,
            "premier_jour_interets": self.first_day.isoformat() if self.first_day else None,
            "taux_pourcent": str(self.rate_percent),
            "interets_moratoires": str(self.interest),
            "indemnite_forfaitaire": str(self.indemnity),
            "total": str(self.total),
        }


def late_payment(
    *,
    amount: Decimal,
    due: date,
    paid_on: date,
    ecb_rate_percent: Decimal,
    ecb_rates_percent: dict[str, Decimal] | None = None,
    penalty_points: Decimal = Decimal("8"),
    flat_indemnity: Decimal = Decimal("40"),
) -> LatePayment:
    """Interest and indemnity owed when ``paid_on`` is after ``due`` (nothing otherwise).

    The rate is the one of the half-year in which interest starts (``ecb_rates_percent`` keyed
    ``YYYY-H1``/``YYYY-H2``, else ``ecb_rate_percent``) plus ``penalty_points``.
    """
    days_late = (paid_on - due).days
    if days_late <= 0:
        return LatePayment(0, None, Decimal("0"), Decimal("0.00"), Decimal("0.00"))
    first_day = due + timedelta(days=1)
    ecb = (ecb_rates_percent or {}).get(half_year_key(first_day), ecb_rate_percent)
    rate = Decimal(ecb) + penalty_points
    interest = (abs(amount) * rate / Decimal(100) * days_late / Decimal(365)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    return LatePayment(
        days_late, first_day, rate, interest, flat_indemnity.quantize(CENT, ROUND_HALF_UP)
    )
