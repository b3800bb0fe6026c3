"""Exhumation rules (R2213-40, R2213-42), operations following them (urn removal R2223-23-3,
réduction, réunion) and the silence rules (décret 2015-1459)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from workflows.procedures.cemeteries._rules_common import Verdict, add_years, fr, ok, refused
from workflows.procedures.cemeteries.settings import CemeterySettings, cemetery_settings

R2213_40 = "article R2213-40 du CGCT"

Relationship = Literal[
    "spouse",
    "child",
    "parent",
    "sibling",
    "grandchild",
    "grandparent",
    "nephew_niece",
    "other",
]
RANK: dict[str, int] = {
    "spouse": 1,
    "child": 2,
    "parent": 3,
    "sibling": 4,
    "grandchild": 5,
    "grandparent": 6,
    "nephew_niece": 7,
    "other": 99,
}
"""Indicative order of the plus proche parent (IGREC §426-7): a surviving spouse who was not
separated, then children, parents, siblings; further relatives after them."""

RELATIONSHIP_FR = {
    "spouse": "conjoint",
    "child": "enfant",
    "parent": "parent",
    "sibling": "frère ou sœur",
    "grandchild": "petit-enfant",
    "grandparent": "grand-parent",
    "nephew_niece": "neveu ou nièce",
    "other": "autre",
}


def check_exhumation_request(
    *,
    requester_relationship: str,
    living_relatives: Iterable[str],
    sworn_statement: bool,
    known_objection: bool,
) -> Verdict:
    """R2213-40: only the plus proche parent asks, proves it and swears that no relative of the
    same degree objects (CE 9 May 2005 n°262977). Being an ayant droit of the concession is not
    enough. A conflict known to the maire: refuse and send the family to the judge.

    ``living_relatives``: the relationships of the deceased's known living relatives (the
    requester's own included or not). ``details['send_to_judge']`` when refused for a conflict.
    """
    reference = f"{R2213_40} ; CE, 9 mai 2005, n° 262977"
    if known_objection:
        return refused(
            "Un membre de la famille s'oppose à l'exhumation : le maire ne peut pas trancher ce "
            "conflit. La famille doit saisir le juge judiciaire (tribunal judiciaire).",
            reference,
            send_to_judge=True,
        )
    rank = RANK.get(requester_relationship, RANK["other"])
    closest = min((RANK.get(r, RANK["other"]) for r in living_relatives), default=rank)
    if rank > closest:
        closest_name = next(k for k, v in RANK.items() if v == closest)
        return refused(
            "Le demandeur n'est pas le plus proche parent de la personne défunte (un "
            f"{RELATIONSHIP_FR[closest_name]} est connu) : seul le plus proche parent peut "
            "demander l'exhumation, même si le demandeur est ayant droit de la concession.",
            reference,
        )
    if not sworn_statement:
        return refused(
            "Le demandeur doit attester sur l'honneur être le plus proche parent et qu'aucun "
            "parent au même degré ne s'oppose à l'exhumation.",
            reference,
        )
    return ok(reference)


def check_exhumation_attendance(*, relative_present: bool) -> Verdict:
    """R2213-40: a relative or their mandatary attends; absent, the operation does not happen."""
    if relative_present:
        return ok(R2213_40)
    return refused(
        "Aucun parent ni mandataire de la famille n'est présent : l'exhumation n'a pas lieu.",
        R2213_40,
        cancel=True,
    )


def may_open_coffin(
    *, coffin_intact: bool, death_on: date, on: date, settings: CemeterySettings | None = None
) -> Verdict:
    """An intact coffin is opened only when at least 5 years have passed since death
    (practitioner rule, configurable); otherwise it is moved whole (R2213-42)."""
    cfg = settings or cemetery_settings()
    reference = "article R2213-42 du CGCT (pratique : 5 ans)"
    if not coffin_intact:
        return ok(reference)
    openable_on = add_years(death_on, cfg.exhumation_intact_coffin_min_years)
    if on < openable_on:
        return refused(
            f"Le cercueil est intact et le décès date de moins de "
            f"{cfg.exhumation_intact_coffin_min_years} ans : il ne peut pas être ouvert avant le "
            f"{fr(openable_on)} ; il est transféré sans ouverture.",
            reference,
            openable_on=openable_on.isoformat(),
        )
    return ok(reference)


OperationKind = Literal[
    "inhumation",
    "exhumation",
    "urn_deposit",
    "urn_removal",
    "dispersion",
    "reduction",
    "reunion",
    "transfer",
    "works",
]


def follows_exhumation_rules(kind: str, place_type: str | None = None) -> bool:
    """Operations treated as an exhumation (plus proche parent, sworn statement, attendance):
    exhumation, réduction and réunion de corps (R2213-40), transfer, and the removal of an urn
    (from a columbarium case: R2223-23-3; from a grave or cavurne it is an exhumation)."""
    return kind in {"exhumation", "reduction", "reunion", "transfer", "urn_removal"}


def silence_means_rejection(kind: str) -> bool:
    """Décret 2015-1459 (annex): 2 months of silence on a request to inhume, exhume or cremate
    is a rejection; urn deposits and removals are inhumations and exhumations of ashes."""
    return kind in {
        "inhumation",
        "exhumation",
        "urn_deposit",
        "urn_removal",
        "reduction",
        "reunion",
        "transfer",
    }


def silence_setting_for(kind: str, *, settings: CemeterySettings | None = None) -> str:
    """``acceptance`` or ``rejection`` for a request kind (attribution: flagged setting)."""
    cfg = settings or cemetery_settings()
    if silence_means_rejection(kind):
        return "rejection"
    if kind == "attribution":
        return cfg.attribution_silence
    return cfg.other_requests_silence
