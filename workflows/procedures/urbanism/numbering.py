"""A423 numbers of the urbanism files (arrêté du 6 juin 2007, A423-1 to A423-4).

Current format ("version 2"): nature (PC, PA, PD, DP, CU) + INSEE département on 3 characters
("069", Corsica "02A", overseas "974") + INSEE commune on 3 characters + last 2 digits of the filing
year + a 5-digit sequence, continuous per tenant, nature and year: ``PC 069 001 26 00012``.
The older format reserved the first of the 5 characters for the service instructeur's letter
(``PC 49007 20 Z 0292``, département without its leading zero); both are accepted on import.

A modificatif or a transfert takes its parent's number + ``M`` or ``T`` + 2 digits, counted
separately (A423-4 [to confirm: text seen in part]). openADS' ``P0`` suffix (initial "dossier
d'instruction") is accepted and dropped.

Numbers are stored without spaces (``PC0690012600012``, ``PC0690012600012M01``);
``display_number`` adds them back.

Overseas départements: département = the first 3 INSEE characters (974), commune = the last 3
(411) [to confirm against A423-3 for the DOM].
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from workflows.procedures.urbanism.facts import FileKind, PermitType
from workflows.procedures.urbanism.models import UrbanismCounter, UrbanismFile

NATURES = ("PC", "PA", "PD", "DP", "CU")
"""The 2-letter natures of A423-1 (a PCMI is a PC, a CUa or CUb is a CU)."""

FOLLOW_UP_LETTERS: dict[FileKind, str] = {FileKind.MODIFICATIF: "M", FileKind.TRANSFERT: "T"}
MAX_SEQUENCE = 99_999
MAX_FOLLOW_UPS = 99

_NATURE_OF: dict[PermitType, str] = {
    PermitType.PC: "PC",
    PermitType.PCMI: "PC",
    PermitType.PA: "PA",
    PermitType.PD: "PD",
    PermitType.DP: "DP",
    PermitType.CUA: "CU",
    PermitType.CUB: "CU",
}

_INSEE = re.compile(r"^(?:[0-9]{5}|2[AB][0-9]{3})$")
_SPACES = re.compile(r"[\s\u00a0\u202f_.-]+")
_NUMBER = re.compile(
    r"^(?P<nature>PC|PA|PD|DP|CU)"
    r"(?P<place>[0-9]{6}|0?2[AB][0-9]{3}|[0-9]{5})"
    r"(?P<year>[0-9]{2})"
    r"(?P<sequence>[0-9]{5}|[A-Z][0-9]{4})"
    r"(?:(?P<letter>[MT])(?P<index>[0-9]{2})|P0)?$"
)


def nature_of(permit_type: PermitType | str) -> str:
    """A423-1 nature of an authorisation type: PCMI → PC, CUa/CUb → CU."""
    try:
        return _NATURE_OF[PermitType(permit_type)]
    except ValueError:
        value = str(permit_type).strip().upper()
        if value in NATURES:
            return value
        raise ValueError(
            f"Nature de dossier inconnue « {str(permit_type)[:20]} » : attendu "
            f"{', '.join(NATURES)}."
        ) from None


def split_insee(insee: str) -> tuple[str, str]:
    """(département on 3 characters, commune on 3 characters) of a 5-character INSEE code."""
    code = insee.strip().upper()
    if not _INSEE.match(code):
        raise ValueError(
            f"Code INSEE de commune invalide « {insee[:20]} » : 5 caractères attendus "
            "(par exemple 69001, ou 2A004 en Corse)."
        )
    if code.startswith(("97", "98")):
        return code[:3], code[2:]
    return "0" + code[:2], code[2:]


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    nature: str
    departement: str
    """3 characters: "069", "02A", "974"."""
    commune: str
    """3 characters."""
    year: str
    """Last 2 digits of the filing year."""
    sequence: int
    service_letter: str | None = None
    """Older format: the service instructeur's letter (``Z`` in ``PC 49007 20 Z 0292``)."""
    follow_up: FileKind | None = None
    follow_up_index: int | None = None

    @property
    def base(self) -> str:
        """The parent authorisation's number, stored form (no follow-up suffix)."""
        if self.service_letter is not None:
            body = f"{self.service_letter}{self.sequence:04d}"
        else:
            body = f"{self.sequence:05d}"
        return f"{self.nature}{self.departement}{self.commune}{self.year}{body}"

    @property
    def suffix(self) -> str:
        if self.follow_up is None or self.follow_up_index is None:
            return ""
        return f"{FOLLOW_UP_LETTERS[self.follow_up]}{self.follow_up_index:02d}"

    @property
    def stored(self) -> str:
        """Canonical stored form: no spaces, département on 3 characters."""
        return self.base + self.suffix

    @property
    def display(self) -> str:
        if self.service_letter is not None:
            body = f"{self.service_letter} {self.sequence:04d}"
        else:
            body = f"{self.sequence:05d}"
        text = f"{self.nature} {self.departement} {self.commune} {self.year} {body}"
        return f"{text} {self.suffix}" if self.suffix else text


def parse_number(text: str) -> ParsedNumber:
    """Read an A423 number in the current or the older format, with or without spaces, with an
    optional ``M01``/``T01`` suffix. Raises ``ValueError`` (French) otherwise."""
    if not isinstance(text, str) or len(text) > 60:
        raise ValueError("Numéro de dossier illisible : texte de 60 caractères au plus attendu.")
    compact = _SPACES.sub("", text).upper()
    match = _NUMBER.match(compact)
    if match is None:
        shown = text.strip()[:40]
        raise ValueError(
            f"Numéro de dossier invalide « {shown} » : attendu la nature (PC, PA, PD, DP, CU), "
            "le département et la commune INSEE, l'année sur 2 chiffres et le numéro sur "
            "5 caractères, par exemple « PC 069 001 26 00012 » (suffixe M01 ou T01 pour un "
            "modificatif ou un transfert)."
        )
    place = match["place"]
    if len(place) == 5:
        departement, commune = "0" + place[:2], place[2:]
    else:
        departement, commune = place[:3], place[3:]
    raw_sequence = match["sequence"]
    letter: str | None = None
    if raw_sequence[0].isalpha():
        letter, raw_sequence = raw_sequence[0], raw_sequence[1:]
    sequence = int(raw_sequence)
    if sequence == 0:
        raise ValueError(
            f"Numéro de dossier invalide « {text.strip()[:40]} » : le numéro d'ordre 0 n'existe pas."
        )
    follow_up: FileKind | None = None
    index: int | None = None
    if match["letter"]:
        follow_up = FileKind.MODIFICATIF if match["letter"] == "M" else FileKind.TRANSFERT
        index = int(match["index"])
        if index == 0:
            raise ValueError(
                f"Numéro de dossier invalide « {text.strip()[:40]} » : le suffixe commence à 01."
            )
    return ParsedNumber(
        nature=match["nature"],
        departement=departement,
        commune=commune,
        year=match["year"],
        sequence=sequence,
        service_letter=letter,
        follow_up=follow_up,
        follow_up_index=index,
    )


def display_number(stored: str) -> str:
    """``PC0690012600012`` → ``PC 069 001 26 00012``. A text that is not an A423 number (an
    imported reference of another form) is shown as it is: displaying never fails."""
    try:
        return parse_number(stored).display
    except ValueError:
        return stored.strip()


def format_number(nature: str, insee: str, year: int, sequence: int) -> str:
    """Stored form of a current-format number."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"numéro d'ordre hors limites : {sequence}")
    departement, commune = split_insee(insee)
    return f"{nature_of(nature)}{departement}{commune}{year % 100:02d}{sequence:05d}"


async def next_number(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    insee: str,
    nature: str | PermitType,
    year: int,
) -> str:
    """The next number of this tenant, nature and year, in the caller's transaction.

    One ``INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last``: the counter row
    stays locked until the transaction ends, so concurrent filings are numbered one after the
    other, and a rolled-back filing gives its number back (no gap).
    """
    code = nature_of(nature)
    if not 2000 <= year <= 2099:
        raise ValidationFailed(
            f"Année de dépôt invalide ({year}) : le numéro A423-3 porte les deux derniers "
            "chiffres d'une année 2000 à 2099."
        )
    try:
        split_insee(insee)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = insert(UrbanismCounter).values(tenant_id=tenant_id, nature=code, year=year, last=1)
    stmt = values.on_conflict_do_update(
        index_elements=[UrbanismCounter.tenant_id, UrbanismCounter.nature, UrbanismCounter.year],
        set_={"last": UrbanismCounter.last + 1},
    ).returning(UrbanismCounter.last)
    sequence = int((await session.execute(stmt)).scalar_one())
    if sequence > MAX_SEQUENCE:
        raise Conflict(
            f"Plus de {MAX_SEQUENCE} dossiers {code} cette année : la numérotation A423-3 est "
            "épuisée, contactez l'administrateur."
        )
    return format_number(code, insee, year, sequence)


async def follow_up_number(
    session: AsyncSession,
    parent_number: str,
    kind: FileKind,
    *,
    tenant_id: uuid.UUID | None = None,
) -> str:
    """Parent number + ``M01``, ``M02``… (modificatifs) or ``T01``… (transferts), counted
    separately, under a lock of the parent's row (A423-4 [to confirm])."""
    letter = FOLLOW_UP_LETTERS.get(kind)
    if letter is None:
        raise ValidationFailed(
            "Seuls un permis modificatif ou un transfert reçoivent un numéro dérivé (M01, T01)."
        )
    try:
        parsed = parse_number(parent_number)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    if parsed.follow_up is not None:
        raise ValidationFailed(
            f"« {parsed.display} » est déjà un modificatif ou un transfert : indiquez le numéro "
            "de l'autorisation initiale."
        )
    if parsed.nature == "CU":
        raise ValidationFailed(
            "Un certificat d'urbanisme ne peut être ni modifié ni transféré : déposez une "
            "nouvelle demande."
        )
    candidates = {parsed.stored, _SPACES.sub("", parent_number).upper()}
    stmt = select(UrbanismFile).where(UrbanismFile.number.in_(candidates)).with_for_update()
    if tenant_id is not None:
        stmt = stmt.where(UrbanismFile.tenant_id == tenant_id)
    parent = (await session.execute(stmt)).scalars().first()
    if parent is None:
        raise NotFound(
            f"Aucune autorisation n° {parsed.display} : vérifiez le numéro de l'autorisation "
            "initiale."
        )
    numbers = (
        await session.execute(
            select(UrbanismFile.number).where(
                UrbanismFile.parent_id == parent.id, UrbanismFile.file_kind == kind.value
            )
        )
    ).scalars()
    used = 0
    count = 0
    for number in numbers:
        count += 1
        tail = number[-3:]
        if tail[0] == letter and tail[1:].isdigit():
            used = max(used, int(tail[1:]))
    index = max(used, count) + 1
    if index > MAX_FOLLOW_UPS:
        raise Conflict(
            f"L'autorisation {parsed.display} a déjà {MAX_FOLLOW_UPS} dossiers de ce type : "
            "numérotation épuisée."
        )
    return f"{parent.number}{letter}{index:02d}"
