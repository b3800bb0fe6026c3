"""French business identifiers and IBANs, checked with python-stdnum (Luhn / ISO 13616 keys).

Workflows may not import ``identity``: the same rules as ``identity.siret`` come from
``stdnum.fr.siren`` / ``stdnum.fr.siret`` (Luhn; La Poste's SIRETs have their own rule there).
"""

from __future__ import annotations

from collections.abc import Mapping

from stdnum import iban as _iban
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret


def _digits(value: str) -> str:
    return "".join(value.split()).replace(".", "").replace("-", "")


def normal_siret(value: str) -> str | None:
    """The 14 digits of a valid SIRET (spaces allowed), else None."""
    compact = _digits(value)
    if len(compact) != 14 or not compact.isascii() or not compact.isdigit():
        return None
    return compact if _siret.is_valid(compact) else None


def normal_siren(value: str) -> str | None:
    compact = _digits(value)
    if len(compact) != 9 or not compact.isascii() or not compact.isdigit():
        return None
    return compact if _siren.is_valid(compact) else None


def normal_iban(value: str) -> str | None:
    """The compact upper-case IBAN when its check digits are right, else None."""
    compact = "".join(value.split()).upper()
    if not compact.isascii() or not compact.isalnum() or len(compact) > 34:
        return None
    return compact if _iban.is_valid(compact) else None


def buyer_siret_candidates(data: Mapping[str, str | None]) -> tuple[list[str], list[str]]:
    """(valid SIRETs, malformed 14-digit ids) the invoice gives for the buyer: BT-46 (scheme
    0009 or 14 digits), BT-47 (scheme 0009 or 14 digits), BT-49 (``0009:…`` or scheme 0009)."""
    found: list[str] = []
    bad: list[str] = []
    for bt in ("BT-46", "BT-47", "BT-49"):
        value = (data.get(bt) or "").strip()
        scheme = (data.get(f"{bt}-scheme") or "").strip()
        if value.startswith("0009:"):
            value, scheme = value[5:], "0009"
        compact = "".join(value.split())
        if scheme == "0009" or (len(compact) == 14 and compact.isdigit()):
            siret = normal_siret(compact)
            if siret is None:
                bad.append(f"{bt}={value}")
            elif siret not in found:
                found.append(siret)
    return found, bad


CREDIT_NOTE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "532"})
"""UNTDID 1001 codes of credit notes (BT-3)."""


def is_credit_note(data: Mapping[str, str | None], syntax: str | None) -> bool:
    return (syntax or "").startswith("UBL-CreditNote") or (data.get("BT-3") or "") in (
        CREDIT_NOTE_CODES
    )
