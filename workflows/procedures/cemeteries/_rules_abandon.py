"""The abandon procedure (L2223-17, R2223-12 to R2223-23): preconditions and legal timeline.

Steps and their delays: the heirs are told at least 1 month before the finding (R2223-13); the
1st PV (R2223-14) is notified and posted; after **1 year** of publicity (3 years for procedures
under the law before loi 3DS — transitional rule configurable), if the grave is still abandoned,
a 2nd PV is drawn up and notified; 1 month later the maire may refer to the conseil municipal;
after its deliberation the maire signs the arrêté de reprise, published and notified; the
removal of monuments and remains follows a configurable delay. An heir restoring the grave at
any point before the deliberation ends the procedure.
"""

from __future__ import annotations

from datetime import date, timedelta

from workflows.engine.calendar import add_months
from workflows.procedures.cemeteries._rules_common import Verdict, add_years, fr, ok, refused
from workflows.procedures.cemeteries.settings import CemeterySettings, cemetery_settings

L2223_17 = "article L2223-17 du CGCT"


def check_abandon_eligibility(
    *,
    concession_starts_on: date,
    last_burial_on: date | None,
    commune_upkeep: bool,
    on: date,
    settings: CemeterySettings | None = None,
) -> Verdict:
    """Whether the abandon procedure may start on ``on`` (L2223-17, R2223-12).

    The concession act is at least 30 years old, the last burial at least 10 years ago (no
    burial at all: the condition holds), and the commune does not keep the grave up through an
    accepted donation or legacy (such a concession is excluded).
    """
    cfg = settings or cemetery_settings()
    reference = f"{L2223_17} ; article R2223-12 du CGCT"
    if commune_upkeep:
        return refused(
            "L'entretien de cette concession incombe à la commune (donation ou legs accepté) : "
            "elle ne peut pas faire l'objet d'une procédure d'abandon.",
            reference,
        )
    old_enough_on = add_years(concession_starts_on, cfg.abandon_min_concession_years)
    if on < old_enough_on:
        return refused(
            f"La concession a moins de {cfg.abandon_min_concession_years} ans (acte du "
            f"{fr(concession_starts_on)}) : la procédure d'abandon n'est possible qu'à partir du "
            f"{fr(old_enough_on)}.",
            reference,
            available_on=old_enough_on.isoformat(),
        )
    if last_burial_on is not None:
        quiet_on = add_years(last_burial_on, cfg.abandon_min_years_since_burial)
        if on < quiet_on:
            return refused(
                f"La dernière inhumation date du {fr(last_burial_on)} : il faut "
                f"{cfg.abandon_min_years_since_burial} ans sans inhumation, soit jusqu'au "
                f"{fr(quiet_on)}.",
                reference,
                available_on=quiet_on.isoformat(),
            )
    return ok(reference)


def check_abandon_notice(
    *, notice_sent_on: date, finding_on: date, settings: CemeterySettings | None = None
) -> Verdict:
    """R2223-13: the heirs (LRAR) or, if unknown, the public (posting) are told at least one
    month before the finding. Less is a defect of the procedure."""
    cfg = settings or cemetery_settings()
    earliest = add_months(notice_sent_on, cfg.abandon_notice_months)
    reference = "article R2223-13 du CGCT"
    if finding_on < earliest:
        return refused(
            f"Le constat d'abandon doit avoir lieu au moins un mois après l'avis aux familles "
            f"(avis du {fr(notice_sent_on)} : constat au plus tôt le {fr(earliest)}) ; le "
            "procès-verbal serait irrégulier.",
            reference,
            earliest=earliest.isoformat(),
        )
    return ok(reference, earliest=earliest.isoformat())


def abandon_wait_years(first_pv_on: date, *, settings: CemeterySettings | None = None) -> int:
    """Years of publicity of the 1st PV before the 2nd finding: 1 year (loi 3DS), 3 years for a
    procedure whose 1st PV predates 3DS under the ``first_pv_date`` transitional rule."""
    cfg = settings or cemetery_settings()
    if cfg.abandon_transitional_rule == "first_pv_date" and first_pv_on < cfg.abandon_3ds_from:
        return cfg.abandon_old_wait_years
    return cfg.abandon_wait_years


def second_finding_earliest(first_pv_on: date, *, settings: CemeterySettings | None = None) -> date:
    return add_years(first_pv_on, abandon_wait_years(first_pv_on, settings=settings))


def check_second_finding(
    *, first_pv_on: date, second_pv_on: date, settings: CemeterySettings | None = None
) -> Verdict:
    """L2223-17: the 2nd PV only once the wait after the 1st PV is over."""
    years = abandon_wait_years(first_pv_on, settings=settings)
    earliest = second_finding_earliest(first_pv_on, settings=settings)
    reference = f"{L2223_17} ({'loi 3DS' if years == 1 else 'rédaction antérieure à la loi 3DS'})"
    if second_pv_on < earliest:
        return refused(
            f"Le second constat ne peut avoir lieu qu'après {years} an{'s' if years > 1 else ''} "
            f"de publicité du premier procès-verbal (du {fr(first_pv_on)}) : au plus tôt le "
            f"{fr(earliest)}.",
            reference,
            earliest=earliest.isoformat(),
        )
    return ok(reference, earliest=earliest.isoformat())


def council_referral_earliest(
    second_pv_notified_on: date, *, settings: CemeterySettings | None = None
) -> date:
    cfg = settings or cemetery_settings()
    return add_months(second_pv_notified_on, cfg.abandon_second_pv_delay_months)


def check_council_referral(
    *, second_pv_notified_on: date, deliberation_on: date, settings: CemeterySettings | None = None
) -> Verdict:
    """R2223-18 [to confirm]: one month after the 2nd PV is notified, the maire may refer the
    reprise to the conseil municipal."""
    earliest = council_referral_earliest(second_pv_notified_on, settings=settings)
    reference = "article R2223-18 du CGCT"
    if deliberation_on < earliest:
        return refused(
            f"Le conseil municipal ne peut délibérer sur la reprise qu'un mois après la "
            f"notification du second procès-verbal : au plus tôt le {fr(earliest)}.",
            reference,
            earliest=earliest.isoformat(),
        )
    return ok(reference, earliest=earliest.isoformat())


def removal_earliest(order_published_on: date, *, settings: CemeterySettings | None = None) -> date:
    """R2223-20 [to confirm]: monuments and remains are removed after the delay following the
    arrêté de reprise's publication and notification."""
    cfg = settings or cemetery_settings()
    return order_published_on + timedelta(days=cfg.reprise_removal_delay_days)


def check_removal(
    *, order_published_on: date, on: date, settings: CemeterySettings | None = None
) -> Verdict:
    earliest = removal_earliest(order_published_on, settings=settings)
    reference = "articles R2223-19 et R2223-20 du CGCT"
    if on < earliest:
        return refused(
            f"Les matériaux et les restes ne peuvent être enlevés avant le {fr(earliest)} "
            "(délai suivant la publication et la notification de l'arrêté de reprise).",
            reference,
            earliest=earliest.isoformat(),
        )
    return ok(reference, earliest=earliest.isoformat())
