"""Case state → Chorus Pro status → 2026 lifecycle code (CDAR "cycle de vie").

Guichet keeps the Chorus Pro code on the invoice and derives the lifecycle code from this table
(einvoicing.md §7 and §9; the Chorus Pro → lifecycle pairs follow the open-source SDK reading
quoted there, not an official table: versioned with the definition, change it with a new
version). A rejection by the buyer is 210 "Refusée"; 213 "Rejetée" is the platform's semantic
rejection and is never issued by Guichet.
"""

from __future__ import annotations

from dataclasses import dataclass

MAPPING_VERSION = 1


@dataclass(frozen=True, slots=True)
class Status:
    chorus: str
    lifecycle: str
    lifecycle_label: str


STATUSES: dict[str, Status] = {
    "deposited": Status("DEPOSEE", "200", "Déposée"),
    "made_available": Status("MISE_A_DISPOSITION", "203", "Mise à disposition"),
    "suspended": Status("SUSPENDUE", "208", "Suspendue"),
    "completed": Status("COMPLETEE", "209", "Complétée"),
    "service_done": Status("SERVICE_FAIT", "205", "Approuvée"),
    "mandated": Status("MANDATEE", "205", "Approuvée"),
    "paid": Status("MISE_EN_PAIEMENT", "211", "Paiement transmis"),
    "rejected": Status("REJETEE", "210", "Refusée"),
}

MANDATORY_TO_ADMINISTRATION = frozenset({"200", "210", "212", "213"})
"""Lifecycle codes that must be sent to the administration (einvoicing.md §9)."""


def status_of(state: str) -> Status:
    try:
        return STATUSES[state]
    except KeyError:
        raise KeyError(f"état de facture sans statut Chorus Pro : {state!r}") from None
