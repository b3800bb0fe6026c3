"""Organisations (SIREN / SIRET) and mandates: who may act for a person or a company, and how far.

Rules (domain brief identity.md §3, decisions written here):

- A ProConnect ``siret`` claim proves attachment to an establishment, not a power to act: a
  ``proconnect_siret_membership`` mandate lets its holder *read* the organisation's cases only.
- *Acting* for an organisation (filing, answering, paying) needs ``certification_dirigeant``,
  ``rne_mandataire`` or ``agent_validated`` (an agent checked the evidence).
- A helper acting for a *person* (counter agent, social worker, family member, Aidants Connect
  aidant) needs a valid, unrevoked mandate whose scope covers the procedure, based on
  ``aidants_connect_mandate``, ``agent_validated`` or ``person_consent``. Such a mandate always has
  an expiry, at most ``GUICHET_MANDATE_PERSON_MAX_DAYS`` (default 365) days after its creation.
- ``scope.procedures``: the procedure keys covered; an empty list covers every procedure. A check
  without a procedure key (``procedure_key=None``) passes only for such unrestricted mandates.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.admin import (
    Page,
    covers_all_tenants,
    resolve_tenant,
    tenants_with,
)
from identity.models import Mandate, Organisation, Person
from identity.siret import is_valid_siren, is_valid_siret
from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.errors import Conflict, HiddenDenial, NotFound, ValidationFailed
from services.kernel.journal import JournalEvent, record

Action = Literal["read", "act"]

MEMBERSHIP = "proconnect_siret_membership"
CERTIFICATION_DIRIGEANT = "certification_dirigeant"
RNE_MANDATAIRE = "rne_mandataire"
AIDANTS_CONNECT = "aidants_connect_mandate"
AGENT_VALIDATED = "agent_validated"
PERSON_CONSENT = "person_consent"

ORGANISATION_BASES = frozenset(
    {MEMBERSHIP, CERTIFICATION_DIRIGEANT, RNE_MANDATAIRE, AGENT_VALIDATED}
)
"""Bases on which someone may be recorded as acting for an organisation."""
ACTING_FOR_ORGANISATION = frozenset({CERTIFICATION_DIRIGEANT, RNE_MANDATAIRE, AGENT_VALIDATED})
"""Bases that give the power to act (not only read) for an organisation."""
PERSON_BASES = frozenset({AIDANTS_CONNECT, AGENT_VALIDATED, PERSON_CONSENT})
"""Bases on which a helper may act for a person."""
BASES = ORGANISATION_BASES | PERSON_BASES

ACTIONS = ("read", "act")
"""A mandate's ``role`` is free text (``dirigeant``, ``comptable``, ``aidant``…); what it allows
(reading, acting) follows from its basis."""

MANDATE_CHECKER_ROLES = (Role.ADMIN.value, Role.IDENTITY_CHECKER.value)
_PROCEDURE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_SPACES = str.maketrans("", "", " \u00a0\u202f\t")


class MandateSettings(BaseSettings):
    """Mandates (people acting for someone else)."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_MANDATE_", extra="ignore")

    person_max_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description=(
            "Longest validity of a mandate to act for a person (a helper): an expiry is required "
            "and may be at most this many days after the mandate is recorded."
        ),
    )


@lru_cache(maxsize=1)
def mandate_settings() -> MandateSettings:
    return MandateSettings()


def _invalid(field_name: str, message: str, detail: str, kind: str = "format") -> ValidationFailed:
    return ValidationFailed(
        detail, errors=[{"field": field_name, "message": message, "type": kind}]
    )


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


# ----- organisations --------------------------------------------------------------------------------


def check_identifiers(siren: str | None, siret: str | None) -> tuple[str, str | None]:
    """(siren, siret) checked: digits (spaces allowed and removed), Luhn with La Poste's known
    exception; a SIRET implies its SIREN (its first 9 digits)."""
    siren = siren.translate(_SPACES) if siren else None
    siret = siret.translate(_SPACES) if siret else None
    if not siren and not siret:
        raise _invalid(
            "siren",
            "SIREN ou SIRET requis",
            "Indiquez le SIREN (9 chiffres) ou le SIRET (14 chiffres) de l'organisation.",
            "missing",
        )
    if siret is not None and not is_valid_siret(siret):
        raise _invalid(
            "siret",
            "SIRET invalide",
            f"Le SIRET « {siret[:20]} » est invalide : 14 chiffres dont le dernier est une clé de "
            "contrôle. Recopiez-le depuis l'avis de situation Sirene ou un document officiel.",
        )
    if siren is not None and not is_valid_siren(siren):
        raise _invalid(
            "siren",
            "SIREN invalide",
            f"Le SIREN « {siren[:20]} » est invalide : 9 chiffres dont le dernier est une clé de "
            "contrôle. Recopiez-le depuis l'avis de situation Sirene ou un document officiel.",
        )
    if siret is not None:
        if siren is not None and siret[:9] != siren:
            raise _invalid(
                "siret",
                "ne commence pas par le SIREN",
                f"Le SIRET {siret} n'appartient pas au SIREN {siren} : un SIRET commence par le "
                "SIREN de son entreprise (9 premiers chiffres).",
                "mismatch",
            )
        siren = siret[:9]
    assert siren is not None
    return siren, siret


def _clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > 200 or _has_control(name):
        raise _invalid(
            "name",
            "de 1 à 200 caractères, sans caractère de contrôle",
            "Le nom de l'organisation doit compter de 1 à 200 caractères imprimables.",
        )
    return name


async def create_organisation(
    session: AsyncSession,
    *,
    now: datetime,
    name: str,
    siren: str | None = None,
    siret: str | None = None,
    diffusible: bool = True,
    source: str = "agent",
    actor: Actor | None = None,
    ip: str | None = None,
) -> Organisation:
    siren, siret = check_identifiers(siren, siret)
    name = _clean_name(name)
    same = select(Organisation.id).where(Organisation.siren == siren)
    same = same.where(
        Organisation.siret == siret if siret is not None else Organisation.siret.is_(None)
    )
    existing = await session.scalar(same)
    if existing is not None:
        what = f"SIRET {siret}" if siret else f"SIREN {siren}"
        raise Conflict(
            f"Une organisation avec le {what} existe déjà : utilisez-la.",
            extra={"organisation_id": str(existing)},
        )
    organisation = Organisation(
        siren=siren,
        siret=siret,
        name=name,
        source=source,
        diffusible=diffusible,
        created_at=now,
    )
    session.add(organisation)
    await session.flush()
    record(
        session,
        JournalEvent.ORGANISATION_CREATED,
        at=now,
        actor=actor,
        ip=ip,
        data={
            "organisation_id": str(organisation.id),
            "siren": siren,
            "siret": siret,
            "source": source,
        },
    )
    return organisation


async def find_organisations(
    session: AsyncSession, *, q: str | None = None, limit: int = 50, offset: int = 0
) -> Page[Organisation]:
    """By name (every word), or by SIREN / SIRET prefix (spaces ignored)."""
    stmt = select(Organisation)
    if q is not None:
        q = q.strip()
        if len(q) > 200 or _has_control(q):
            raise _invalid(
                "q",
                "au plus 200 caractères imprimables",
                "La recherche doit compter au plus 200 caractères imprimables.",
            )
        digits = q.translate(_SPACES)
        if digits.isascii() and digits.isdigit():
            if len(digits) <= 9:
                stmt = stmt.where(Organisation.siren.startswith(digits))
            else:
                stmt = stmt.where(Organisation.siret.startswith(digits))
        else:
            for word in q.lower().split()[:8]:
                stmt = stmt.where(func.lower(Organisation.name).contains(word, autoescape=True))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(Organisation.name, Organisation.siren, Organisation.id)
        .limit(limit)
        .offset(offset)
    )
    return Page(list(rows), total, limit, offset)


async def get_organisation(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("Organisation introuvable : vérifiez son identifiant.")
    return organisation


# ----- mandates: the rules ------------------------------------------------------------------------


def procedures_of(mandate: Mandate) -> list[str]:
    value = (mandate.scope or {}).get("procedures") or []
    return [str(p) for p in value] if isinstance(value, list) else []


def mandate_status(mandate: Mandate, now: datetime) -> str:
    if mandate.revoked_at is not None:
        return "revoked"
    if mandate.valid_from > now:
        return "future"
    if mandate.valid_until is not None and mandate.valid_until <= now:
        return "expired"
    return "active"


def mandate_allows(
    mandate: Mandate, *, action: Action, procedure_key: str | None, now: datetime
) -> bool:
    """Whether the mandate lets its holder ``read`` or ``act`` on ``procedure_key`` now.

    Pure: no I/O. Reading an organisation's cases accepts ProConnect membership; acting for it
    needs a certified dirigeant, an RNE mandataire or an agent's validation. A person's helper
    needs a person basis; for both, the scope must cover the procedure."""
    if mandate_status(mandate, now) != "active":
        return False
    if action not in ACTIONS:
        return False
    if mandate.organisation_id is not None and mandate.represented_person_id is None:
        allowed = ORGANISATION_BASES if action == "read" else ACTING_FOR_ORGANISATION
    elif mandate.represented_person_id is not None and mandate.organisation_id is None:
        allowed = PERSON_BASES
        if mandate.valid_until is None:
            return False  # a helper's mandate always has an expiry
    else:
        return False
    if mandate.basis not in allowed:
        return False
    return _scope_covers(mandate, procedure_key)


def _scope_covers(mandate: Mandate, procedure_key: str | None) -> bool:
    """An empty (or absent) list covers every procedure; anything but a list covers none."""
    procedures = (mandate.scope or {}).get("procedures", [])
    if not isinstance(procedures, list):
        return False
    if not procedures:
        return True
    return procedure_key is not None and procedure_key in procedures


async def active_mandate(
    session: AsyncSession,
    *,
    holder_person_id: uuid.UUID,
    represented_id: uuid.UUID,
    procedure_key: str | None,
    action: Action,
    now: datetime,
) -> Mandate | None:
    """The most recent mandate by which ``holder_person_id`` may ``action`` for the person or
    organisation ``represented_id`` on ``procedure_key`` now, or None."""
    rows = await session.scalars(
        select(Mandate)
        .where(
            Mandate.holder_person_id == holder_person_id,
            or_(
                Mandate.represented_person_id == represented_id,
                Mandate.organisation_id == represented_id,
            ),
            Mandate.revoked_at.is_(None),
            Mandate.valid_from <= now,
            or_(Mandate.valid_until.is_(None), Mandate.valid_until > now),
        )
        .order_by(Mandate.created_at.desc(), Mandate.id.desc())
    )
    for mandate in rows:
        if mandate_allows(mandate, action=action, procedure_key=procedure_key, now=now):
            return mandate
    return None


# ----- mandates: administration ------------------------------------------------------------------


def _check_procedures(procedures: Sequence[str], known: Collection[str] | None) -> list[str]:
    cleaned: list[str] = []
    for i, key in enumerate(procedures):
        if not isinstance(key, str) or len(key) > 80 or not _PROCEDURE_KEY.match(key):
            raise _invalid(
                f"scope.procedures.{i}",
                "clé de démarche invalide",
                f"« {str(key)[:80]} » n'est pas une clé de démarche : écrivez-la "
                "« service.demarche », par exemple « urbanism.pcmi ».",
            )
        if known is not None and key not in known:
            raise _invalid(
                f"scope.procedures.{i}",
                "démarche inconnue",
                f"La démarche « {key} » n'existe pas. Démarches possibles : "
                f"{', '.join(sorted(known))}.",
                "enum",
            )
        if key not in cleaned:
            cleaned.append(key)
    return cleaned


def _check_rep_scope(rep_scope: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for i, value in enumerate(rep_scope):
        if not isinstance(value, str) or not 0 < len(value) <= 80 or _has_control(value):
            raise _invalid(
                f"scope.rep_scope.{i}",
                "valeur invalide",
                "Chaque périmètre Aidants Connect (rep_scope) est un texte de 1 à 80 caractères, "
                "par exemple « Social-Santé ».",
            )
        cleaned.append(value)
    return cleaned


async def _person(session: AsyncSession, person_id: uuid.UUID, field_name: str) -> Person:
    person = await session.get(Person, person_id)
    if person is None or person.status != "active":
        raise _invalid(
            field_name,
            "personne inconnue",
            "Aucune personne active avec cet identifiant : vérifiez-le (le compte a pu être "
            "supprimé).",
            "not_found",
        )
    return person


async def create_mandate(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    tenant: str,
    holder_person_id: uuid.UUID,
    represented_person_id: uuid.UUID | None,
    organisation_id: uuid.UUID | None,
    role: str,
    basis: str,
    procedures: Sequence[str] = (),
    rep_scope: Sequence[str] = (),
    evidence: str = "",
    valid_until: datetime | None = None,
    known_procedures: Collection[str] | None = None,
    ip: str | None = None,
    settings: MandateSettings | None = None,
) -> Mandate:
    """Record a mandate checked by an agent (admin or identity checker of ``tenant``)."""
    cfg = settings or mandate_settings()
    target = await resolve_tenant(session, actor, tenant, MANDATE_CHECKER_ROLES)
    if (represented_person_id is None) == (organisation_id is None):
        raise _invalid(
            "represented_person_id",
            "une personne ou une organisation",
            "Un mandat représente soit une personne (represented_person_id), soit une "
            "organisation (organisation_id) : indiquez l'un des deux, pas les deux.",
            "exclusive",
        )
    if basis not in BASES:
        raise _invalid(
            "basis",
            "fondement inconnu",
            f"Fondement « {basis[:40]} » inconnu. Fondements possibles : "
            f"{', '.join(sorted(BASES))}.",
            "enum",
        )
    role = unicodedata.normalize("NFC", role.strip())
    if not role or len(role) > 60 or _has_control(role):
        raise _invalid(
            "role",
            "de 1 à 60 caractères",
            "Le rôle du mandataire (ex. « dirigeant », « aidant ») doit compter de 1 à 60 "
            "caractères imprimables.",
        )
    if len(evidence) > 2000 or _has_control(evidence.replace("\n", "").replace("\r", "")):
        raise _invalid(
            "evidence",
            "au plus 2000 caractères imprimables",
            "La pièce justificative (evidence) doit compter au plus 2000 caractères imprimables.",
        )
    scope_procedures = _check_procedures(procedures, known_procedures)
    scope_rep = _check_rep_scope(rep_scope)
    if valid_until is not None and valid_until.tzinfo is None:
        raise _invalid(
            "valid_until",
            "doit préciser le fuseau horaire",
            "« valid_until » doit préciser le fuseau horaire, par exemple 2026-12-31T23:00:00Z.",
            "timezone_aware",
        )
    if valid_until is not None and valid_until <= now:
        raise _invalid(
            "valid_until",
            "date passée",
            f"La fin de validité ({valid_until.isoformat()}) est déjà passée : choisissez une date "
            "future.",
            "past",
        )
    holder = await _person(session, holder_person_id, "holder_person_id")

    if represented_person_id is not None:
        if basis not in PERSON_BASES:
            raise _invalid(
                "basis",
                "fondement non permis pour une personne",
                f"Pour agir pour une personne, le fondement doit être l'un de : "
                f"{', '.join(sorted(PERSON_BASES))}.",
                "enum",
            )
        if represented_person_id == holder.id:
            raise _invalid(
                "represented_person_id",
                "différent du mandataire",
                "Une personne ne peut pas recevoir un mandat pour elle-même.",
                "same",
            )
        await _person(session, represented_person_id, "represented_person_id")
        limit = now + timedelta(days=cfg.person_max_days)
        if valid_until is None:
            raise _invalid(
                "valid_until",
                "obligatoire pour une personne",
                "Un mandat pour agir au nom d'une personne doit avoir une fin de validité "
                f"(au plus {cfg.person_max_days} jours) : complétez « valid_until ».",
                "missing",
            )
        if valid_until > limit:
            raise _invalid(
                "valid_until",
                f"au plus {cfg.person_max_days} jours",
                f"Un mandat pour une personne dure au plus {cfg.person_max_days} jours : "
                "choisissez une fin de validité au plus tard le "
                f"{limit.strftime('%d/%m/%Y à %H:%M')} (UTC).",
                "range",
            )
    else:
        if basis not in ORGANISATION_BASES:
            raise _invalid(
                "basis",
                "fondement non permis pour une organisation",
                f"Pour agir pour une organisation, le fondement doit être l'un de : "
                f"{', '.join(sorted(ORGANISATION_BASES))}.",
                "enum",
            )
        assert organisation_id is not None
        if await session.get(Organisation, organisation_id) is None:
            raise _invalid(
                "organisation_id",
                "organisation inconnue",
                "Aucune organisation avec cet identifiant : créez-la d'abord "
                "(POST /admin/organisations).",
                "not_found",
            )

    duplicate = await session.scalar(
        select(Mandate.id).where(
            Mandate.holder_person_id == holder.id,
            Mandate.represented_person_id == represented_person_id
            if represented_person_id is not None
            else Mandate.organisation_id == organisation_id,
            Mandate.basis == basis,
            Mandate.role == role,
            Mandate.revoked_at.is_(None),
            or_(Mandate.valid_until.is_(None), Mandate.valid_until > now),
        )
    )
    if duplicate is not None:
        raise Conflict(
            "Un mandat identique (même mandataire, même représenté, même rôle et même "
            "fondement) est déjà en cours : révoquez-le d'abord pour le remplacer.",
            extra={"mandate_id": str(duplicate)},
        )
    scope: dict[str, list[str]] = {"procedures": scope_procedures}
    if scope_rep:
        scope["rep_scope"] = scope_rep
    mandate = Mandate(
        holder_person_id=holder.id,
        represented_person_id=represented_person_id,
        organisation_id=organisation_id,
        role=role,
        basis=basis,
        scope=scope,
        evidence=evidence,
        tenant_id=target.id,
        valid_from=now,
        valid_until=valid_until,
        verified_by_agent_id=actor.id if actor.kind is ActorKind.AGENT else None,
        created_at=now,
    )
    session.add(mandate)
    await session.flush()
    record(
        session,
        JournalEvent.MANDATE_CREATED,
        at=now,
        actor=actor,
        tenant_id=target.id,
        ip=ip,
        data={
            "mandate_id": str(mandate.id),
            "holder_person_id": str(holder.id),
            "represented_person_id": str(represented_person_id) if represented_person_id else None,
            "organisation_id": str(organisation_id) if organisation_id else None,
            "basis": basis,
            "role": role,
            "procedures": scope_procedures,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return mandate


async def _visibility(session: AsyncSession, actor: Actor) -> tuple[frozenset[uuid.UUID], bool]:
    return (
        tenants_with(actor, MANDATE_CHECKER_ROLES),
        await covers_all_tenants(session, actor, MANDATE_CHECKER_ROLES),
    )


async def list_mandates(
    session: AsyncSession,
    actor: Actor,
    *,
    person_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Mandate]:
    """Mandates recorded in the actor's tenants (a métropole checker also sees those recorded
    outside any tenant, e.g. ProConnect memberships); ``person``: as holder or represented."""
    tenants, everything = await _visibility(session, actor)
    visible: ColumnElement[bool] = Mandate.tenant_id.in_(tenants)
    if everything:
        visible = or_(visible, Mandate.tenant_id.is_(None))
    stmt = select(Mandate).where(visible)
    if person_id is not None:
        stmt = stmt.where(
            or_(Mandate.holder_person_id == person_id, Mandate.represented_person_id == person_id)
        )
    if organisation_id is not None:
        stmt = stmt.where(Mandate.organisation_id == organisation_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(Mandate.created_at.desc(), Mandate.id.desc()).limit(limit).offset(offset)
    )
    return Page(list(rows), total, limit, offset)


async def revoke_mandate(
    session: AsyncSession,
    actor: Actor,
    mandate_id: uuid.UUID,
    *,
    reason: str,
    now: datetime,
    ip: str | None = None,
) -> Mandate:
    reason = reason.strip()
    if not reason or len(reason) > 300 or _has_control(reason):
        raise _invalid(
            "reason",
            "de 1 à 300 caractères",
            "Donnez le motif de la révocation (1 à 300 caractères imprimables).",
        )
    mandate = await session.get(Mandate, mandate_id)
    tenants, everything = await _visibility(session, actor)
    visible = mandate is not None and (
        (mandate.tenant_id is not None and mandate.tenant_id in tenants)
        or (mandate.tenant_id is None and everything)
    )
    if mandate is None or not visible:
        raise HiddenDenial(
            "Mandat introuvable, ou enregistré hors des collectivités où vous pouvez valider "
            "des mandats."
        )
    if mandate.revoked_at is not None:
        raise Conflict(
            f"Ce mandat est déjà révoqué depuis le {mandate.revoked_at.strftime('%d/%m/%Y')}."
        )
    mandate.revoked_at = now
    mandate.revoked_reason = reason
    record(
        session,
        JournalEvent.MANDATE_REVOKED,
        at=now,
        actor=actor,
        tenant_id=mandate.tenant_id,
        ip=ip,
        data={"mandate_id": str(mandate.id), "reason": reason},
    )
    await session.flush()
    return mandate
