"""Finding a person at the counter or on the phone: ``Person.search_text`` and the queries on it.

``search_text`` holds, space-separated and surrounded by spaces, the lower-case accent-free words
of the names (declared, and verified by FranceConnect when given), the e-mail addresses
(lower-case), the phone number's digits (``+33 6…`` and ``06…`` made equal, as
``channels.intake.normalise_contact`` does), the postal address's words and the birth date
(``dYYYYMMDD``). A search matches every word of the query with ``LIKE`` (portable: SQLite and
PostgreSQL), so "helene" finds "Hélène" and "0612345678" finds "+33 6 12 34 56 78".

Whoever creates or changes a person's names, contact details or birth date calls
``refresh_search_text``; ``reindex_all`` rebuilds every record (after a migration, or for records
written before this module). Erased persons are never found.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import FederatedIdentity, Person

MAX_RESULTS = 20
MIN_WORD = 2
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise_words(value: str | None) -> list[str]:
    """Lower-case, accent-free words of a text ("Jean-Pierre Lhôte" → jean, pierre, lhote)."""
    if not value:
        return []
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    return [w for w in _NOT_WORD.split(stripped.lower()) if w]


def phone_digits(value: str | None) -> str | None:
    """A phone number's digits, the international French prefix made national (+33 6… → 06…)."""
    if not value:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if digits.startswith("0033") and len(digits) == 13:
        digits = "0" + digits[4:]
    elif digits.startswith("330") and len(digits) == 12:  # +33 (0)6…
        digits = digits[2:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits or None


def normal_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return None
    return value.strip().lower()


def birth_token(value: date | str | None) -> str | None:
    """The birth date as one search word (``d19800131``)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return f"d{value:%Y%m%d}"


def normal_name(given_name: str | None, family_name: str | None) -> str:
    """Names compared for duplicates: accent- and case-insensitive, punctuation ignored."""
    return " ".join(normalise_words(given_name) + normalise_words(family_name))


def search_text_of(person: Person, claims: Iterable[Mapping[str, Any]] = ()) -> str:
    """What ``Person.search_text`` should hold (module docstring); ``claims``: the verified
    attributes of the person's FranceConnect identities (names and birth date)."""
    words: list[str] = []
    words += normalise_words(person.given_name)
    words += normalise_words(person.family_name)
    birthdates: list[date | str | None] = [person.birthdate]
    for claim in claims:
        for key in ("given_name", "family_name", "preferred_username"):
            raw = claim.get(key)
            if isinstance(raw, str):
                words += normalise_words(raw)
        raw_birth = claim.get("birthdate")
        if isinstance(raw_birth, str):
            birthdates.append(raw_birth)
    for email in (person.login_email, person.contact_email):
        normal = normal_email(email)
        if normal:
            words.append(normal)
    digits = phone_digits(person.phone)
    if digits:
        words.append(digits)
    words += normalise_words(person.postal_address)
    for value in birthdates:
        token = birth_token(value)
        if token:
            words.append(token)
    unique = list(dict.fromkeys(words))
    return f" {' '.join(unique)} " if unique else ""


def refresh_search_text(person: Person, claims: Iterable[Mapping[str, Any]] = ()) -> None:
    """Recompute ``person.search_text``: call it whenever names, contact or birth date change.
    An erased person keeps an empty text (never found)."""
    person.search_text = "" if person.status == "erased" else search_text_of(person, claims)


async def franceconnect_claims(
    session: AsyncSession, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Verified claims of the live FranceConnect identities of these people."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if not person_ids:
        return found
    rows = await session.execute(
        select(FederatedIdentity.person_id, FederatedIdentity.claims).where(
            FederatedIdentity.person_id.in_(list(person_ids)),
            FederatedIdentity.provider == "franceconnect",
            FederatedIdentity.retired_at.is_(None),
        )
    )
    for person_id, claims in rows.all():
        if person_id is not None:
            found.setdefault(person_id, []).append(dict(claims or {}))
    return found


async def refresh_person(session: AsyncSession, person: Person) -> None:
    """``refresh_search_text`` with the person's FranceConnect claims read from the database."""
    claims = await franceconnect_claims(session, [person.id])
    refresh_search_text(person, claims.get(person.id, ()))


async def reindex_all(session: AsyncSession, *, batch: int = 500) -> int:
    """Rebuild every person's search text (records created before this module, or by code that
    did not refresh it). Returns the number of records whose text changed."""
    changed = 0
    last: uuid.UUID | None = None
    while True:
        stmt = select(Person).order_by(Person.id).limit(batch)
        if last is not None:
            stmt = stmt.where(Person.id > last)
        people = list(await session.scalars(stmt))
        if not people:
            break
        claims = await franceconnect_claims(session, [p.id for p in people])
        for person in people:
            before = person.search_text
            refresh_search_text(person, claims.get(person.id, ()))
            if person.search_text != before:
                changed += 1
        await session.flush()
        last = people[-1].id
    return changed


# ----- searching ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """Already normalised criteria; build them with ``criteria``."""

    words: tuple[str, ...] = ()
    birthdate: date | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.words or self.phone or self.email)


def criteria(
    *,
    q: str | None = None,
    birthdate: date | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> SearchCriteria:
    """Normalise what the agent typed; words shorter than two characters are dropped (they would
    match almost everyone)."""
    words = tuple(dict.fromkeys(w for w in normalise_words(q) if len(w) >= MIN_WORD))
    return SearchCriteria(
        words=words,
        birthdate=birthdate,
        phone=phone_digits(phone),
        email=normal_email(email),
    )


def _contains(value: str) -> Any:
    return Person.search_text.contains(value, autoescape=True)


async def search(
    session: AsyncSession, found: SearchCriteria, *, limit: int = MAX_RESULTS
) -> list[Person]:
    """Active people matching every criterion (at most ``limit``), by name then id."""
    if found.empty:
        return []
    conditions: list[Any] = [Person.status == "active"]
    conditions += [_contains(word) for word in found.words]
    if found.phone:
        conditions.append(_contains(found.phone))
    if found.email:
        conditions.append(_contains(f" {found.email} "))
    if found.birthdate is not None:
        conditions.append(
            or_(
                Person.birthdate == found.birthdate,
                _contains(f" {birth_token(found.birthdate)} "),
            )
        )
    rows = await session.scalars(
        select(Person)
        .where(and_(*conditions))
        .order_by(Person.family_name, Person.given_name, Person.id)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class Duplicate:
    person: Person
    reasons: tuple[str, ...]
    """same_name_and_birthdate | same_email | same_phone"""


async def possible_duplicates(
    session: AsyncSession,
    *,
    given_name: str | None,
    family_name: str | None,
    birthdate: date | None,
    emails: Iterable[str | None] = (),
    phone: str | None = None,
    exclude: uuid.UUID | None = None,
    limit: int = MAX_RESULTS,
) -> list[Duplicate]:
    """Other active records that may be the same person: the same names (accent- and
    case-insensitive) and birth date, or the same e-mail address, or the same phone number."""
    name = normal_name(given_name, family_name)
    name_words = name.split()
    token = birth_token(birthdate)
    mails = [m for m in dict.fromkeys(normal_email(e) for e in emails) if m]
    digits = phone_digits(phone)
    branches: list[Any] = []
    if name_words and token:
        branches.append(
            and_(
                *[_contains(f" {w} ") for w in name_words],
                or_(Person.birthdate == birthdate, _contains(f" {token} ")),
            )
        )
    branches += [_contains(f" {m} ") for m in mails]
    if digits and len(digits) >= 6:
        branches.append(_contains(f" {digits} "))
    if not branches:
        return []
    stmt = select(Person).where(Person.status == "active", or_(*branches))
    if exclude is not None:
        stmt = stmt.where(Person.id != exclude)
    candidates = list(await session.scalars(stmt.order_by(Person.id).limit(limit * 3)))
    out: list[Duplicate] = []
    for other in candidates:
        reasons: list[str] = []
        if (
            token
            and normal_name(other.given_name, other.family_name) == name
            and (other.birthdate == birthdate or f" {token} " in other.search_text)
        ):
            reasons.append("same_name_and_birthdate")
        other_mails = {normal_email(other.login_email), normal_email(other.contact_email)}
        if any(m in other_mails for m in mails):
            reasons.append("same_email")
        if digits and len(digits) >= 6 and phone_digits(other.phone) == digits:
            reasons.append("same_phone")
        if reasons:
            out.append(Duplicate(other, tuple(reasons)))
        if len(out) >= limit:
            break
    return out


async def duplicates_of(session: AsyncSession, person: Person) -> list[Duplicate]:
    return await possible_duplicates(
        session,
        given_name=person.given_name,
        family_name=person.family_name,
        birthdate=person.birthdate,
        emails=(person.login_email, person.contact_email),
        phone=person.phone,
        exclude=person.id,
    )
