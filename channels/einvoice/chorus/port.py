"""What Guichet needs from Chorus Pro, as a recipient structure: ``ChorusProPort``.

The real adapter (``http.py``) speaks the PISTE API; the stand-in (``standin.py``) answers the
same HTTP API locally for tests and trials. Every failure is a ``ChorusError`` with a French
message an administrator can act on; the pull and the push never let another exception out for
a Chorus-side problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

# Statuses Guichet pushes to Chorus Pro (traiterFactureRecue ``nouveauStatut``): set by the
# recipient structure (einvoicing.md §7). DEPOSEE / MISE_A_DISPOSITION are the platform's,
# COMPLETEE the supplier's.
PUSHED_STATUSES = frozenset(
    {"REJETEE", "SUSPENDUE", "SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"}
)


class ChorusError(Exception):
    """A Chorus Pro call failed. ``message`` is French and says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChorusNotConfigured(ChorusError):
    """Credentials missing (``GUICHET_CHORUS_*``)."""


class ChorusAuthError(ChorusError):
    """PISTE refused the application (client id/secret) or Chorus Pro the technical account."""


class ChorusUnavailable(ChorusError):
    """5xx, 429, timeout or network error, still failing after the retries: try again later."""


class ChorusProtocolError(ChorusError):
    """The answer is not what the API documents (not JSON, missing field, wrong type)."""


class ChorusRefused(ChorusError):
    """Chorus Pro answered with an error ``codeRetour`` / ``libelle``."""

    def __init__(self, message: str, *, code: str, label: str) -> None:
        super().__init__(message)
        self.code = code
        self.label = label


@dataclass(frozen=True, slots=True)
class ReceivedSummary:
    """One line of ``rechercher/recipiendaire`` (``listeFactures``)."""

    chorus_id: str
    """``idFacture``."""
    number: str
    """``numeroFacture``."""
    recipient_siret: str
    """``codeDestinataire``."""
    supplier_code: str | None
    """``codeFournisseur`` (SIRET of the supplier when ``typeIdentifiantFournisseur`` is SIRET)."""
    supplier_name: str | None
    status: str
    """``statut``."""
    deposited_on: date
    """``dateDepot``."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    invoices: tuple[ReceivedSummary, ...]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class PushResult:
    chorus_id: str
    status: str
    processed_on: date | None


class ChorusProPort(Protocol):
    """Chorus Pro as seen by one recipient's technical account."""

    async def structure_id(self, siret: str) -> str:
        """``idStructureCPP`` of the structure with this SIRET (ChorusRefused if unknown)."""
        ...

    async def search_received(
        self, structure_id: str, *, since: date | None, page: int = 1
    ) -> SearchPage:
        """Invoices received by the structure, deposited on or after ``since``, oldest first."""
        ...

    async def made_available_at(self, chorus_id: str) -> datetime | None:
        """When the invoice was made available to the recipient (its DGP starts then), from
        its status history; None when the history does not say."""
        ...

    async def current_status(self, chorus_id: str) -> str:
        """The invoice's current Chorus Pro status."""
        ...

    async def download(self, chorus_id: str) -> bytes:
        """The invoice file as deposited (UBL / CII XML, Factur-X PDF)."""
        ...

    async def push_status(
        self,
        chorus_id: str,
        status: str,
        *,
        reason: str | None = None,
        mandate_number: str | None = None,
    ) -> PushResult:
        """Set the invoice's status as the recipient (``traiter/factureRecue``)."""
        ...
