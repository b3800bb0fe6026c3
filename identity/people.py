"""A person's own account: profile (verified apart from declared), linked identities, mandates,
the identity part of their data export, and the erasure of their account.

**Verified vs declared.** What FranceConnect vouched for (names, birth, ...) lives in the claims
of the person's FederatedIdentity, with the provider and the time it was verified; it is shown
apart and cannot be edited here (it is refreshed at each FranceConnect login). What the person
declares — contact e-mail, phone, postal address — is theirs to edit.

**Unlinking** an identity is allowed only while the person keeps another way to sign in: another
active federated identity, or a local password on a verified e-mail address. The row is deleted,
so its (issuer, sub) is free to be linked again later; an identity already retired (after a
``sub`` change) is kept for the audit trail and cannot be unlinked.

**Erasure** (RGPD art. 17). The account is erased, the case files are not:

- RGPD art. 17(3)(b): the right to erasure does not apply where processing is necessary for
  compliance with a legal obligation or for a task carried out in the public interest or in the
  exercise of official authority. A case (the request, its events, the decision, the letters) is a
  public archive from its creation (Code du patrimoine L211-1, L211-4); it may only be destroyed at
  the end of its administrative usefulness period and with the visa of the archives administration
  (Code du patrimoine L212-2, L212-3 [to confirm: article numbers and the R212-14 visa procedure]);
  the retention period per procedure is set by the tenant's records schedule (tableau de gestion)
  [to confirm per procedure].
- So cases are never deleted: each keeps the submitter snapshot taken at intake (the identity
  the law requires for the file, CRPA R112-9-1), unchanged, and its ``submitter_id`` (a bare id
  that no longer leads to any personal data).
- The account loses everything else: login e-mail, password, names, contact e-mail, phone,
  postal address, last login; its status becomes ``erased`` (the row stays, with its creation and
  erasure dates, because mandates and sessions refer to it).
- Federated identities are **deleted** [decision]: keeping (issuer, sub) — a pseudonymous
  identifier — serves no legal purpose once the account is gone, and a retired key would block the
  person from ever signing in with FranceConnect again. A later FranceConnect login creates a new,
  empty account; it does not see the old cases (the old account cannot be reached any more).
  Pending re-link requests (which copy claims) and one-time tokens go with them.
- Sessions are ended and stripped of their data (tokens), IP address and user agent; bearer
  tokens are revoked; mandates held by or on the person are revoked (``identity.mandate.revoked``).
- The security journal keeps its entries (actor id, event, time, IP): logs kept for security
  and accountability, for a limited period [to confirm: the retention period, CNIL's
  recommendation on access logs is 6 months to 1 year]. ``identity.account.erased`` is recorded.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import (
    AccessToken,
    Agent,
    FederatedIdentity,
    LoginFailure,
    Mandate,
    OneTimeToken,
    Organisation,
    Person,
    RelinkRequest,
    WebSession,
)
from identity.organisations import mandate_status
from identity.person_search import refresh_person
from identity.sessions import end_sessions_of
from services.kernel.actor import Actor
from services.kernel.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from services.kernel.journal import JournalEntry, JournalEvent, record

FRANCECONNECT = "franceconnect"
ERASED_STATUS = "erased"
ERASED_REASON = "compte effacé à la demande de la personne (RGPD art. 17)"

TECHNICAL_CLAIMS = frozenset(
    {"sub", "acr", "amr", "aud", "iss", "iat", "exp", "nbf", "nonce", "at_hash", "auth_time"}
)
"""Claims that say how the login went, not who the person is: not shown as attributes."""

DECLARED_FIELDS = ("contact_email", "phone", "postal_address")
VERIFIED_FIELDS = frozenset(
    {
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "preferred_username",
        "email",
        "login_email",
        "name",
        "usual_name",
    }
)
"""Fields a person may try to PATCH that are not theirs to edit (verified, or the sign-in id)."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 .()\-]{5,29}$")
_MAX_LENGTH = {"contact_email": 254, "phone": 30, "postal_address": 300}


# ----- the person behind the actor ----------------------------------------------------------------


async def current_person(session: AsyncSession, actor: Actor) -> Person:
    """The signed-in person's account (active), or 401: an erased account signs nobody in."""
    person = await session.get(Person, actor.id)
    if person is None or person.status != "active":
        raise Unauthenticated("Votre compte n'est plus actif : reconnectez-vous.")
    return person


async def active_franceconnect(
    session: AsyncSession, person_id: uuid.UUID
) -> FederatedIdentity | None:
    """The person's current FranceConnect identity (not retired), the most recently verified."""
    found: FederatedIdentity | None = await session.scalar(
        select(FederatedIdentity)
        .where(
            FederatedIdentity.person_id == person_id,
            FederatedIdentity.provider == FRANCECONNECT,
            FederatedIdentity.retired_at.is_(None),
        )
        .order_by(FederatedIdentity.verified_at.desc())
        .limit(1)
    )
    return found


def shown_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k not in TECHNICAL_CLAIMS}


# ----- declared attributes ------------------------------------------------------------------------


def _clean_declared(name: str, value: Any) -> tuple[str | None, dict[str, str] | None]:
    """(cleaned value, error) for one declared field; None or "" clears it."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, {"field": name, "message": "doit être un texte", "type": "string_type"}
    text = value.strip()
    if not text:
        return None, None
    if len(text) > _MAX_LENGTH[name]:
        return None, {
            "field": name,
            "message": f"texte trop long (au plus {_MAX_LENGTH[name]} caractères)",
            "type": "string_too_long",
        }
    allowed_controls = "\n" if name == "postal_address" else ""
    if any((ord(c) < 0x20 and c not in allowed_controls) or ord(c) == 0x7F for c in text):
        return None, {
            "field": name,
            "message": "caractère de contrôle refusé (tabulation, caractère nul...)",
            "type": "control_character",
        }
    if name == "contact_email" and not _EMAIL.match(text):
        return None, {
            "field": name,
            "message": "adresse e-mail invalide (attendu : nom@domaine.fr)",
            "type": "email",
        }
    if name == "phone" and not _PHONE.match(text):
        return None, {
            "field": name,
            "message": "numéro invalide (chiffres, espaces, points, tirets ; + en tête permis)",
            "type": "phone",
        }
    return text, None


async def update_declared(
    session: AsyncSession, person: Person, changes: Mapping[str, Any]
) -> Person:
    """Edit the declared attributes. Verified attributes and unknown fields are refused (422)
    with the reason, never ignored."""
    errors: list[dict[str, str]] = []
    cleaned: dict[str, str | None] = {}
    for name, value in changes.items():
        if name in DECLARED_FIELDS:
            text, error = _clean_declared(name, value)
            if error is not None:
                errors.append(error)
            else:
                cleaned[name] = text
        elif name in VERIFIED_FIELDS:
            errors.append(
                {
                    "field": name,
                    "message": "donnée vérifiée (FranceConnect) ou identifiant de connexion : "
                    "elle ne se modifie pas ici",
                    "type": "read_only",
                }
            )
        else:
            errors.append(
                {
                    "field": name,
                    "message": "champ inconnu (modifiables : contact_email, phone, postal_address)",
                    "type": "extra_forbidden",
                }
            )
    if errors:
        raise ValidationFailed(
            "Profil non modifié : seules vos coordonnées déclarées (contact_email, phone, "
            "postal_address) se modifient ici ; vos nom, prénoms et date de naissance viennent "
            "de FranceConnect et se corrigent auprès de l'état civil.",
            errors=errors,
        )
    for name, text in cleaned.items():
        setattr(person, name, text)
    await refresh_person(session, person)
    await session.flush()
    return person


# ----- linked identities --------------------------------------------------------------------------


async def identities_of(session: AsyncSession, person_id: uuid.UUID) -> list[FederatedIdentity]:
    rows = await session.scalars(
        select(FederatedIdentity)
        .where(FederatedIdentity.person_id == person_id)
        .order_by(FederatedIdentity.linked_at, FederatedIdentity.id)
    )
    return list(rows)


def has_local_password(person: Person) -> bool:
    """A password the person can use: set, on a login e-mail they proved they control."""
    return bool(person.password_hash and person.login_email and person.email_verified_at)


async def unlink(
    session: AsyncSession,
    person: Person,
    identity_id: uuid.UUID,
    *,
    now: datetime,
    actor: Actor,
    ip: str | None,
) -> FederatedIdentity:
    identities = await identities_of(session, person.id)
    identity = next((i for i in identities if i.id == identity_id), None)
    if identity is None:
        raise NotFound("Identité introuvable parmi celles liées à votre compte.")
    label = _label(identity.provider)
    if identity.retired_at is not None:
        raise Conflict(
            f"Cette identité {label} est déjà retirée (depuis le "
            f"{identity.retired_at.date().isoformat()}) : elle est conservée pour la traçabilité "
            "et ne sert plus à se connecter."
        )
    others = [i for i in identities if i.id != identity.id and i.retired_at is None]
    if not others and not has_local_password(person):
        raise Conflict(
            f"Impossible de délier votre identité {label} : ce serait votre dernier moyen de "
            "connexion. Liez d'abord une autre identité, ou définissez un mot de passe sur une "
            "adresse e-mail vérifiée, puis recommencez."
        )
    pending = await session.scalar(
        select(RelinkRequest.id).where(
            RelinkRequest.old_identity_id == identity.id, RelinkRequest.status == "pending"
        )
    )
    if pending is not None:
        raise Conflict(
            f"Une demande de rattachement est en cours pour cette identité {label} : attendez "
            "qu'elle soit traitée (ou adressez-vous au guichet) avant de la délier."
        )
    # Decided re-link requests refer to the row (their outcome is in the journal).
    await session.execute(delete(RelinkRequest).where(RelinkRequest.old_identity_id == identity.id))
    data = {
        "identity_id": str(identity.id),
        "provider": identity.provider,
        "issuer": identity.issuer,
        "idp_id": identity.idp_id,
    }
    await session.delete(identity)
    await session.flush()
    record(session, JournalEvent.UNLINKED, at=now, actor=actor, ip=ip, data=data)
    return identity


def _label(provider: str) -> str:
    return {"franceconnect": "FranceConnect", "proconnect": "ProConnect"}.get(provider, provider)


# ----- mandates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MandateView:
    mandate: Mandate
    status: str
    """valid | expired | revoked | upcoming."""
    holder: dict[str, Any]
    represented: dict[str, Any]


_STATUS = {"active": "valid", "future": "upcoming", "expired": "expired", "revoked": "revoked"}


def status_of(mandate: Mandate, now: datetime) -> str:
    return _STATUS[mandate_status(mandate, now)]


async def mandates_of(
    session: AsyncSession, person_id: uuid.UUID, *, now: datetime
) -> tuple[list[MandateView], list[MandateView]]:
    """(mandates the person holds, mandates others hold on the person), newest first."""
    rows = list(
        await session.scalars(
            select(Mandate)
            .where(
                or_(
                    Mandate.holder_person_id == person_id,
                    Mandate.represented_person_id == person_id,
                )
            )
            .order_by(Mandate.created_at.desc(), Mandate.id.desc())
        )
    )
    person_ids = {i for m in rows for i in (m.holder_person_id, m.represented_person_id) if i}
    agent_ids = {m.holder_agent_id for m in rows if m.holder_agent_id}
    organisation_ids = {m.organisation_id for m in rows if m.organisation_id}
    people = await _by_id(session, Person, person_ids)
    agents = await _by_id(session, Agent, agent_ids)
    organisations = await _by_id(session, Organisation, organisation_ids)

    def person_ref(pid: uuid.UUID) -> dict[str, Any]:
        found = people.get(pid)
        name = (
            "Compte effacé"
            if found is None or found.status == ERASED_STATUS
            else found.display_name
        )
        return {"kind": "person", "id": str(pid), "name": name}

    def view(m: Mandate) -> MandateView:
        if m.holder_agent_id is not None:
            agent = agents.get(m.holder_agent_id)
            holder = {
                "kind": "agent",
                "id": str(m.holder_agent_id),
                "name": agent.display_name if agent else "Agent",
            }
        else:
            holder = person_ref(m.holder_person_id) if m.holder_person_id else {"kind": "none"}
        if m.represented_person_id is not None:
            represented = person_ref(m.represented_person_id)
        elif m.organisation_id is not None:
            organisation = organisations.get(m.organisation_id)
            represented = {
                "kind": "organisation",
                "id": str(m.organisation_id),
                "name": organisation.name if organisation else "Organisation",
                "siren": organisation.siren if organisation else None,
                "siret": organisation.siret if organisation else None,
            }
        else:
            represented = {"kind": "none"}
        return MandateView(m, status_of(m, now), holder, represented)

    held = [view(m) for m in rows if m.holder_person_id == person_id]
    on_me = [view(m) for m in rows if m.represented_person_id == person_id]
    return held, on_me


_Row = TypeVar("_Row", Person, Agent, Organisation)


async def _by_id(
    session: AsyncSession, model: type[_Row], ids: set[uuid.UUID]
) -> dict[uuid.UUID, _Row]:
    if not ids:
        return {}
    rows = await session.scalars(select(model).where(model.id.in_(list(ids))))
    return {row.id: row for row in rows}


# ----- export (identity part) ---------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def mandate_export(view: MandateView) -> dict[str, Any]:
    m = view.mandate
    return {
        "id": str(m.id),
        "status": view.status,
        "role": m.role,
        "basis": m.basis,
        "scope": m.scope,
        "tenant_id": str(m.tenant_id) if m.tenant_id else None,
        "holder": view.holder,
        "represented": view.represented,
        "valid_from": _iso(m.valid_from),
        "valid_until": _iso(m.valid_until),
        "created_at": _iso(m.created_at),
        "revoked_at": _iso(m.revoked_at),
        "revoked_reason": m.revoked_reason,
    }


async def identity_export(
    session: AsyncSession, person: Person, *, now: datetime
) -> dict[str, Any]:
    """Everything the identity layer holds about the person (RGPD art. 15 and 20)."""
    identities = await identities_of(session, person.id)
    sessions = list(
        await session.scalars(
            select(WebSession)
            .where(WebSession.person_id == person.id)
            .order_by(WebSession.created_at, WebSession.id)
        )
    )
    held, on_me = await mandates_of(session, person.id, now=now)
    entries = await journal_about(session, person.id)
    return {
        "profile": {
            "id": str(person.id),
            "status": person.status,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "login_email": person.login_email,
            "email_verified_at": _iso(person.email_verified_at),
            "has_password": person.password_hash is not None,
            "contact_email": person.contact_email,
            "phone": person.phone,
            "postal_address": person.postal_address,
            "created_at": _iso(person.created_at),
            "last_login_at": _iso(person.last_login_at),
        },
        "identities": [
            {
                "id": str(i.id),
                "provider": i.provider,
                "issuer": i.issuer,
                "subject": i.subject,
                "idp_id": i.idp_id,
                "acr": i.acr,
                "claims": i.claims,
                "verified_at": _iso(i.verified_at),
                "linked_at": _iso(i.linked_at),
                "retired_at": _iso(i.retired_at),
                "retired_reason": i.retired_reason,
            }
            for i in identities
        ],
        "sessions": [
            {
                "created_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
                "expires_at": _iso(s.expires_at),
                "ended_at": _iso(s.ended_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
            }
            for s in sessions
        ],
        "mandates": {
            "held": [mandate_export(v) for v in held],
            "on_me": [mandate_export(v) for v in on_me],
        },
        "journal": [
            {
                "at": _iso(e.at),
                "event": e.event,
                "actor_kind": e.actor_kind,
                "by_me": e.actor_id == person.id,
                "data": e.data,
                "ip": e.ip,
            }
            for e in entries
        ],
    }


async def journal_about(
    session: AsyncSession, person_id: uuid.UUID, *, limit: int = 5000
) -> list[JournalEntry]:
    """Journal entries where the person acted, or whose data names them (by id)."""
    rows = await session.scalars(
        select(JournalEntry)
        .where(
            or_(
                JournalEntry.actor_id == person_id,
                cast(JournalEntry.data, String).like(f"%{person_id}%"),
            )
        )
        .order_by(JournalEntry.at, JournalEntry.id)
        .limit(limit)
    )
    return list(rows)


# ----- erasure ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erasure:
    person_id: uuid.UUID
    erased_at: datetime
    identities_deleted: int
    mandates_revoked: int
    sessions_ended: int


async def erase_account(
    session: AsyncSession,
    person: Person,
    *,
    now: datetime,
    actor: Actor,
    ip: str | None,
    cases_kept: int,
    kept_case_references: Sequence[str] = (),
) -> Erasure:
    """Erase the person's account (module docstring: what goes, what stays and why)."""
    if person.status == ERASED_STATUS:
        raise Conflict("Ce compte est déjà effacé.")
    login_email = person.login_email

    identities = await identities_of(session, person.id)
    identity_ids = [i.id for i in identities]
    await session.execute(
        delete(RelinkRequest).where(
            or_(
                RelinkRequest.person_id == person.id,
                RelinkRequest.old_identity_id.in_(identity_ids),
            )
        )
    )
    if identity_ids:
        await session.execute(
            delete(FederatedIdentity).where(FederatedIdentity.id.in_(identity_ids))
        )
    await session.execute(delete(OneTimeToken).where(OneTimeToken.person_id == person.id))
    if login_email:
        await session.execute(
            delete(LoginFailure).where(LoginFailure.key == f"account:{login_email}")
        )

    live_sessions = list(
        await session.scalars(
            select(WebSession.id).where(
                WebSession.person_id == person.id, WebSession.ended_at.is_(None)
            )
        )
    )
    await end_sessions_of(session, now=now, person_id=person.id)
    await session.execute(
        update(WebSession)
        .where(WebSession.person_id == person.id)
        .values(data={}, ip=None, user_agent=None)
    )
    await session.execute(
        update(AccessToken).where(AccessToken.person_id == person.id).values(revoked=True)
    )

    mandates = list(
        await session.scalars(
            select(Mandate).where(
                or_(
                    Mandate.holder_person_id == person.id,
                    Mandate.represented_person_id == person.id,
                ),
                Mandate.revoked_at.is_(None),
            )
        )
    )
    for mandate in mandates:
        mandate.revoked_at = now
        mandate.revoked_reason = ERASED_REASON
        record(
            session,
            JournalEvent.MANDATE_REVOKED,
            at=now,
            actor=actor,
            tenant_id=mandate.tenant_id,
            ip=ip,
            data={"mandate_id": str(mandate.id), "reason": ERASED_REASON},
        )

    person.status = ERASED_STATUS
    person.search_text = ""
    person.birthdate = None
    person.erased_at = now
    person.login_email = None
    person.email_verified_at = None
    person.password_hash = None
    person.given_name = ""
    person.family_name = ""
    person.contact_email = None
    person.phone = None
    person.postal_address = None
    person.last_login_at = None
    await session.flush()
    record(
        session,
        JournalEvent.ACCOUNT_ERASED,
        at=now,
        actor=actor,
        ip=ip,
        data={
            "person_id": str(person.id),
            "identities_deleted": len(identity_ids),
            "mandates_revoked": len(mandates),
            "sessions_ended": len(live_sessions),
            "cases_kept": cases_kept,
            "kept_case_references": list(kept_case_references),
        },
    )
    return Erasure(person.id, now, len(identity_ids), len(mandates), len(live_sessions))
