"""Local accounts: citizens without FranceConnect, and the break-glass administrator.

A citizen registers with an e-mail address and a password (ANSSI, *recommandations relatives à
l'authentification multifacteur et aux mots de passe*, 2021: a minimum length, no composition
rules, a generous maximum, hashed with a memory-hard function — argon2id here). Nothing is usable
before the address is verified, and nothing is ever linked by e-mail.

**Account pre-hijacking.** Whoever registers an address first must not be able to set the password
of the account that its owner will later verify. So the password chosen at registration lives in
the verification token (its argon2 hash, in ``OneTimeToken.data``), not on the person: each
registration gets its own link, and the account is activated with the password of the registration
whose link was opened — by the mailbox owner. Registering an address that already has a verified
account reveals nothing to the caller (same 202) and tells the owner by e-mail.

**One-time sign-in links.** Mail scanners fetch links: opening the link only shows a form; the POST
of that form (bound to the browser's session by its CSRF token) signs in.

**Break-glass administrator.** An agent with a local password, created or reset by the CLI only
(``guichet agent break-glass``), for when ProConnect is down; every use is journaled.

Tokens are 32 random bytes; only their SHA-256 is stored; each is single-use (an atomic UPDATE).
E-mails to one person are capped per hour (``mail_max_per_hour``), so that the forms cannot be used
to flood a mailbox: a notice that is not sent leaves a marker row (``OneTimeToken`` with purpose
``exists_notice``, already used) so that it is counted like the links.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity import throttle
from identity.models import Agent, OneTimeToken, Person
from identity.person_search import refresh_search_text
from identity.service import agent_actor, create_agent, get_tenant, grant_role, hash_token
from identity.sessions import StartedSession, end_session, end_sessions_of, load_session
from identity.sessions import start_session as _start_session
from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.errors import (
    Forbidden,
    GuichetError,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from services.kernel.journal import JournalEvent, record
from services.kernel.ports import Mailer

VERIFY_EMAIL = "verify_email"
MAGIC_LINK = "magic_link"
EXISTS_NOTICE = "exists_notice"
_MAILED = (VERIFY_EMAIL, MAGIC_LINK, EXISTS_NOTICE)
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_LOCAL_PART = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})

BAD_CREDENTIALS = (
    "Adresse électronique ou mot de passe incorrect. Vérifiez-les et réessayez, ou demandez un "
    "lien de connexion par courriel."
)

_hasher = PasswordHasher()


class LocalAccountSettings(BaseSettings):
    """Local accounts: password policy, link lifetimes, e-mail cap."""

    model_config = SettingsConfigDict(env_prefix="GUICHET_LOCAL_", extra="ignore", env_file=None)

    password_min_length: int = Field(
        default=12, ge=8, le=128, description="Shortest password accepted (ANSSI: 12 or more)."
    )
    password_max_length: int = Field(
        default=256, ge=64, le=1024, description="Longest password accepted, in characters."
    )
    verify_hours: int = Field(default=24, ge=1, description="Lifetime of verification links.")
    magic_link_minutes: int = Field(
        default=15, ge=1, le=120, description="Lifetime of one-time sign-in links."
    )
    mail_max_per_hour: int = Field(
        default=5, ge=1, description="E-mails sent to one account per hour, at most (anti-flood)."
    )


@lru_cache(maxsize=1)
def local_settings() -> LocalAccountSettings:
    return LocalAccountSettings()


class LinkUnusable(GuichetError):
    """A verification or sign-in link that is unknown, used or expired (400)."""

    code = "link-unusable"
    title = "Lien inutilisable"


# ----- input -------------------------------------------------------------------------------------


def _refused_character(value: str) -> bool:
    return any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value)


def _invalid(field: str, message: str, detail: str, kind: str = "format") -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": message, "type": kind}])


def normalize_email(raw: str, field: str = "email") -> str:
    """Lower-case, stripped, ASCII (internationalised domains in their xn-- form)."""
    value = raw.strip().lower()
    bad = _invalid(
        field,
        "adresse invalide",
        f"Adresse électronique invalide : écrivez-la sous la forme nom@domaine.fr (champ « {field} »).",
    )
    if not value or len(value) > 254 or _refused_character(value) or value.count("@") != 1:
        raise bad
    local, domain = value.split("@")
    if not _LOCAL_PART.match(local) or len(local) > 64:
        if local and not local.isascii():
            raise _invalid(
                field,
                "caractères non ASCII avant @",
                "Adresse électronique refusée : avant le @, seuls les lettres sans accent, les "
                "chiffres et . _ - + sont acceptés.",
            )
        raise bad
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise bad from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise bad
    email = f"{local}@{domain}"
    if len(email) > 254:
        raise bad
    return email


def clean_name(raw: str, field: str) -> str:
    value = unicodedata.normalize("NFC", raw).strip()
    if not value:
        raise _invalid(
            field, "champ vide", f"Le champ « {field} » est vide : indiquez-le.", "missing"
        )
    if len(value) > 120:
        raise _invalid(
            field,
            "texte trop long (au plus 120 caractères)",
            f"Le champ « {field} » dépasse 120 caractères : raccourcissez-le.",
            "too_long",
        )
    if _refused_character(value):
        raise _invalid(
            field,
            "caractère invisible ou de contrôle refusé",
            f"Le champ « {field} » contient un caractère invisible ou de contrôle : retirez-le.",
        )
    return value


def _normalize_password(password: str) -> str:
    # NIST SP 800-63B §5.1.1.2: normalise Unicode so that the same password typed on another
    # keyboard gives the same bytes.
    return unicodedata.normalize("NFKC", password)


def check_password_policy(
    password: str, email: str, settings: LocalAccountSettings | None = None
) -> str:
    """The password, normalised, or ValidationFailed (422) saying what to change."""
    cfg = settings or local_settings()
    if len(password) > cfg.password_max_length * 4:
        raise _too_long(cfg)
    value = _normalize_password(password)
    if len(value) < cfg.password_min_length:
        raise _invalid(
            "password",
            f"au moins {cfg.password_min_length} caractères",
            f"Mot de passe trop court : choisissez-en un d'au moins {cfg.password_min_length} "
            "caractères (une phrase de plusieurs mots est plus facile à retenir).",
            "too_short",
        )
    if len(value) > cfg.password_max_length:
        raise _too_long(cfg)
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in value):
        raise _invalid(
            "password",
            "caractère de contrôle refusé",
            "Le mot de passe contient un caractère de contrôle (ou invalide) : retirez-le.",
        )
    lowered = value.strip().casefold()
    if lowered in {email.casefold(), email.split("@")[0].casefold()}:
        raise _invalid(
            "password",
            "identique à l'adresse électronique",
            "Le mot de passe ne doit pas être votre adresse électronique : choisissez-en un autre.",
            "same_as_email",
        )
    return value


def _too_long(cfg: LocalAccountSettings) -> ValidationFailed:
    return _invalid(
        "password",
        f"au plus {cfg.password_max_length} caractères",
        f"Mot de passe trop long : {cfg.password_max_length} caractères au plus.",
        "too_long",
    )


# ----- passwords and tokens ----------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(_normalize_password(password))


def _verify(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        _dummy_verify(password)
        return False
    try:
        return _hasher.verify(password_hash, _normalize_password(password))
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _dummy_verify(password: str) -> None:
    """Spend the time of a real check, so that unknown accounts cannot be told by timing."""
    with contextlib.suppress(VerificationError, InvalidHashError, UnicodeError):
        _hasher.verify(_dummy_hash(), _normalize_password(password))


async def _new_token(
    session: AsyncSession,
    purpose: str,
    *,
    now: datetime,
    ttl: timedelta,
    person_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=hash_token(token),
            person_id=person_id,
            data=dict(data or {}),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def find_token(
    session: AsyncSession, purpose: str, token: str, *, now: datetime
) -> OneTimeToken:
    """A usable token (unknown, used or expired: LinkUnusable with what to do)."""
    row = None
    if _TOKEN_SHAPE.match(token):
        row = await session.scalar(
            select(OneTimeToken).where(
                OneTimeToken.token_hash == hash_token(token), OneTimeToken.purpose == purpose
            )
        )
    again = (
        "demandez un nouveau lien de connexion"
        if purpose == MAGIC_LINK
        else "refaites l'inscription avec la même adresse pour recevoir un nouveau lien"
    )
    if row is None:
        raise LinkUnusable(
            f"Ce lien n'est pas valide : vérifiez qu'il a été copié en entier, ou {again}."
        )
    if row.used_at is not None:
        raise LinkUnusable(f"Ce lien a déjà été utilisé (il ne sert qu'une fois) : {again}.")
    if row.expires_at <= now:
        raise LinkUnusable(f"Ce lien a expiré : {again}.")
    return row


async def _use(session: AsyncSession, row: OneTimeToken, *, now: datetime) -> None:
    """Mark a token used, atomically: of two simultaneous uses, one fails."""
    result = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now, data={})
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LinkUnusable("Ce lien a déjà été utilisé (il ne sert qu'une fois).")


async def _may_mail(session: AsyncSession, person_id: uuid.UUID, *, now: datetime) -> bool:
    sent = await session.scalar(
        select(func.count())
        .select_from(OneTimeToken)
        .where(
            OneTimeToken.person_id == person_id,
            OneTimeToken.purpose.in_(_MAILED),
            OneTimeToken.created_at > now - timedelta(hours=1),
        )
    )
    return int(sent or 0) < local_settings().mail_max_per_hour


def _person_actor(person: Person) -> Actor:
    return Actor(id=person.id, kind=ActorKind.PERSON, display_name=person.display_name)


# ----- registration and verification -------------------------------------------------------------


async def register(
    session: AsyncSession,
    mailer: Mailer,
    *,
    now: datetime,
    email: str,
    password: str,
    given_name: str,
    family_name: str,
    base_url: str,
    ip: str | None = None,
) -> None:
    """Create an unverified account and mail its link, or tell the existing owner. Says nothing
    to the caller about which happened."""
    address = normalize_email(email)
    given = clean_name(given_name, "given_name")
    family = clean_name(family_name, "family_name")
    normalized = check_password_policy(password, address)
    # Hash in every case: an existing address must not answer faster than a new one.
    pending_hash = _hasher.hash(normalized)
    person = await session.scalar(select(Person).where(Person.login_email == address))
    if person is None:
        person = Person(login_email=address, given_name=given, family_name=family, created_at=now)
        refresh_search_text(person)
        try:
            async with session.begin_nested():
                session.add(person)
                await session.flush()
        except IntegrityError:  # registered at the same instant by another request
            person = await session.scalar(select(Person).where(Person.login_email == address))
            if person is None:
                raise
        else:
            record(
                session,
                JournalEvent.ACCOUNT_CREATED,
                at=now,
                actor=_person_actor(person),
                data={"method": "local", "person_id": str(person.id)},
                ip=ip,
            )
    if person.status != "active" or not await _may_mail(session, person.id, now=now):
        return
    if person.email_verified_at is not None:
        # A marker (already used, so never a credential) that counts towards the e-mail cap.
        session.add(
            OneTimeToken(
                purpose=EXISTS_NOTICE,
                token_hash=hash_token(secrets.token_urlsafe(32)),
                person_id=person.id,
                data={},
                created_at=now,
                expires_at=now,
                used_at=now,
            )
        )
        await session.flush()
        await mailer.send(
            to=address,
            to_name=person.display_name,
            subject="Tentative de création d'un compte Guichet avec votre adresse",
            text=_exists_text(base_url),
        )
        return
    token = await _new_token(
        session,
        VERIFY_EMAIL,
        now=now,
        ttl=timedelta(hours=local_settings().verify_hours),
        person_id=person.id,
        data={"password_hash": pending_hash, "given_name": given, "family_name": family},
    )
    await mailer.send(
        to=address,
        to_name=f"{given} {family}",
        subject="Confirmez votre adresse pour activer votre compte Guichet",
        text=_verify_text(f"{base_url}/api/v1/auth/local/verify?token={token}"),
    )


async def verify_email(
    session: AsyncSession, *, now: datetime, token: str, ip: str | None = None
) -> Person:
    row = await find_token(session, VERIFY_EMAIL, token, now=now)
    data = dict(row.data)
    person = await session.get(Person, row.person_id) if row.person_id else None
    if person is None or person.status != "active":
        raise LinkUnusable("Ce lien ne correspond plus à aucun compte : refaites l'inscription.")
    await _use(session, row, now=now)
    if person.email_verified_at is None:
        person.email_verified_at = now
        person.password_hash = str(data.get("password_hash") or "") or None
        person.given_name = str(data.get("given_name") or person.given_name)
        person.family_name = str(data.get("family_name") or person.family_name)
        person.contact_email = person.contact_email or person.login_email
        refresh_search_text(person)
    # The other pending registrations of this address (other passwords) die with this one.
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.person_id == person.id,
            OneTimeToken.purpose == VERIFY_EMAIL,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now, data={})
    )
    await session.flush()
    record(
        session,
        JournalEvent.EMAIL_VERIFIED,
        at=now,
        actor=_person_actor(person),
        data={"person_id": str(person.id)},
        ip=ip,
    )
    return person


# ----- password sign-in --------------------------------------------------------------------------


async def _refuse(
    session: AsyncSession,
    keys: throttle.ThrottleKeys,
    *,
    now: datetime,
    method: str,
    email: str,
    reason: str,
    ip: str | None,
) -> Unauthenticated:
    """Count the failure and journal it. The caller must commit before raising (the request's
    transaction is rolled back on error)."""
    await throttle.record_failure(session, keys, now=now)
    record(
        session,
        JournalEvent.LOGIN_FAILED,
        at=now,
        data={"method": method, "email": email[:254], "reason": reason},
        ip=ip,
    )
    return Unauthenticated(BAD_CREDENTIALS)


async def _throttle(
    session: AsyncSession,
    keys: throttle.ThrottleKeys,
    *,
    now: datetime,
    method: str,
    email: str,
    ip: str | None,
) -> None:
    try:
        await throttle.check(session, keys, now=now)
    except TooManyRequests as exc:
        record(
            session,
            JournalEvent.LOGIN_THROTTLED,
            at=now,
            data={"method": method, "email": email[:254], **exc.extra},
            ip=ip,
        )
        raise


async def password_login(
    session: AsyncSession, *, now: datetime, email: str, password: str, ip: str | None = None
) -> Person:
    """The person whose verified account this is. Unauthenticated (401, counted), TooManyRequests
    (429) or Forbidden (403, address not verified yet). Commit before raising the first two."""
    address = normalize_email(email)
    keys = throttle.ThrottleKeys.of(address, ip)
    await _throttle(session, keys, now=now, method="password", email=address, ip=ip)
    person = await session.scalar(select(Person).where(Person.login_email == address))
    if person is None or person.status != "active":
        _dummy_verify(password)
        raise await _refuse(
            session, keys, now=now, method="password", email=address, reason="unknown", ip=ip
        )
    if person.email_verified_at is None:
        if await _matches_pending(session, person, password):
            raise Forbidden(
                "Votre adresse électronique n'est pas encore vérifiée : vérifiez votre adresse en "
                "ouvrant le lien reçu par courriel. Si vous ne le trouvez plus, refaites "
                "l'inscription avec la même adresse pour en recevoir un nouveau."
            )
        raise await _refuse(
            session, keys, now=now, method="password", email=address, reason="unverified", ip=ip
        )
    if not _verify(person.password_hash, password):
        raise await _refuse(
            session, keys, now=now, method="password", email=address, reason="password", ip=ip
        )
    if person.password_hash and _hasher.check_needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
    await throttle.clear_account(session, keys)
    return person


async def _matches_pending(session: AsyncSession, person: Person, password: str) -> bool:
    rows = await session.scalars(
        select(OneTimeToken)
        .where(
            OneTimeToken.person_id == person.id,
            OneTimeToken.purpose == VERIFY_EMAIL,
            OneTimeToken.used_at.is_(None),
        )
        .order_by(OneTimeToken.created_at.desc())
        .limit(5)
    )
    candidates = [str(r.data.get("password_hash")) for r in rows if r.data.get("password_hash")]
    if not candidates:
        _dummy_verify(password)
    return any(_verify(h, password) for h in candidates)


async def agent_password_login(
    session: AsyncSession, *, now: datetime, email: str, password: str, ip: str | None = None
) -> Agent:
    """A break-glass administrator (an agent with a local password), with the same throttling."""
    address = normalize_email(email)
    keys = throttle.ThrottleKeys.of(address, ip)
    await _throttle(session, keys, now=now, method="break_glass", email=address, ip=ip)
    agent = await session.scalar(select(Agent).where(Agent.email == address))
    usable = agent is not None and agent.active and agent.password_hash is not None
    if agent is None or not usable or not _verify(agent.password_hash, password):
        if not usable:
            _dummy_verify(password)
        raise await _refuse(
            session, keys, now=now, method="break_glass", email=address, reason="refused", ip=ip
        )
    assert agent.password_hash is not None
    if _hasher.check_needs_rehash(agent.password_hash):
        agent.password_hash = hash_password(password)
    await throttle.clear_account(session, keys)
    return agent


# ----- one-time sign-in links --------------------------------------------------------------------


async def request_magic_link(
    session: AsyncSession,
    mailer: Mailer,
    *,
    now: datetime,
    email: str,
    base_url: str,
    next_path: str | None = None,
    ip: str | None = None,
) -> None:
    """Mail a sign-in link if a verified account has this address; never says whether one has."""
    address = normalize_email(email)
    person = await session.scalar(select(Person).where(Person.login_email == address))
    if person is None or person.status != "active" or person.email_verified_at is None:
        return
    if not await _may_mail(session, person.id, now=now):
        return
    minutes = local_settings().magic_link_minutes
    token = await _new_token(
        session,
        MAGIC_LINK,
        now=now,
        ttl=timedelta(minutes=minutes),
        person_id=person.id,
        data={"next": next_path} if next_path else {},
    )
    await mailer.send(
        to=address,
        to_name=person.display_name,
        subject="Votre lien de connexion à Guichet",
        text=_magic_text(f"{base_url}/api/v1/auth/local/magic-link/consume?token={token}", minutes),
    )


async def consume_magic_link(
    session: AsyncSession, *, now: datetime, token: str
) -> tuple[Person, str | None]:
    """The person the link signs in, and where to go next. Single use."""
    row = await find_token(session, MAGIC_LINK, token, now=now)
    next_path = row.data.get("next")
    person = await session.get(Person, row.person_id) if row.person_id else None
    await _use(session, row, now=now)
    if person is None or person.status != "active" or person.email_verified_at is None:
        raise LinkUnusable("Ce lien ne correspond plus à aucun compte actif.")
    await throttle.clear_account(session, throttle.ThrottleKeys.of(person.login_email or "", None))
    return person, str(next_path) if isinstance(next_path, str) else None


# ----- sessions ----------------------------------------------------------------------------------


async def open_session(
    session: AsyncSession,
    *,
    now: datetime,
    previous_token: str | None,
    method: str,
    person: Person | None = None,
    agent: Agent | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> StartedSession:
    """End the browser's current session (whatever it was) and start a new one with a new id:
    no session fixation (ASVS 7.2.4). Journals ``identity.login``."""
    if previous_token:
        old = await load_session(session, previous_token, now=now, touch=False)
        if old is not None:
            await end_session(session, old, now=now)
    started = await _start_session(
        session,
        now=now,
        person_id=person.id if person else None,
        agent_id=agent.id if agent else None,
        ip=ip,
        user_agent=user_agent,
    )
    if person is not None:
        person.last_login_at = now
        actor = _person_actor(person)
    else:
        assert agent is not None
        actor = await agent_actor(session, agent)
    record(
        session,
        JournalEvent.LOGIN,
        at=now,
        actor=actor,
        data={"method": method, "session_id": str(started.record.id)},
        ip=ip,
    )
    return started


# ----- break-glass administrator -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakGlass:
    agent_id: uuid.UUID
    email: str
    password: str
    """Shown once by the CLI, never stored in clear."""
    created: bool


async def create_break_glass(
    session: AsyncSession,
    *,
    now: datetime,
    email: str,
    given_name: str,
    family_name: str,
    tenant_ref: str,
    operator: str | None = None,
) -> BreakGlass:
    """Create (or reset) a local administrator of a tenant with a new generated password."""
    address = normalize_email(email)
    given = clean_name(given_name, "given_name")
    family = clean_name(family_name, "family_name")
    tenant = await get_tenant(session, tenant_ref)
    password = secrets.token_urlsafe(24)
    agent = await session.scalar(select(Agent).where(Agent.email == address))
    created = agent is None
    if agent is None:
        agent = await create_agent(
            session,
            now=now,
            email=address,
            given_name=given,
            family_name=family,
            title="Administrateur de secours",
        )
    else:
        agent.given_name, agent.family_name, agent.active = given, family, True
        await end_sessions_of(session, now=now, agent_id=agent.id)
    agent.password_hash = hash_password(password)
    await grant_role(session, agent, Role.ADMIN, tenant, now=now)
    await throttle.clear_account(session, throttle.ThrottleKeys.of(address, None))
    await session.flush()
    record(
        session,
        JournalEvent.BREAK_GLASS_CREATED,
        at=now,
        tenant_id=tenant.id,
        data={
            "agent_id": str(agent.id),
            "email": address,
            "reset": not created,
            "operator": operator,
        },
    )
    return BreakGlass(agent.id, address, password, created)


# ----- messages ----------------------------------------------------------------------------------


def _verify_text(link: str) -> str:
    hours = local_settings().verify_hours
    return (
        "Bonjour,\n\n"
        "Vous avez demandé la création d'un compte Guichet avec cette adresse électronique.\n"
        "Pour confirmer votre adresse et activer votre compte, ouvrez ce lien "
        f"(valable {hours} heures, utilisable une seule fois) :\n\n{link}\n\n"
        "Vous pourrez ensuite vous connecter avec le mot de passe choisi lors de l'inscription.\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : aucun compte ne "
        "sera activé.\n"
    )


def _exists_text(base_url: str) -> str:
    return (
        "Bonjour,\n\n"
        "Quelqu'un (vous, peut-être) a demandé à créer un compte Guichet avec cette adresse "
        "électronique. Un compte existe déjà avec cette adresse : aucun nouveau compte n'a été "
        "créé et votre compte n'a pas été modifié.\n\n"
        "Si c'est vous : connectez-vous avec votre mot de passe, ou demandez un lien de "
        f"connexion à usage unique sur {base_url}.\n\n"
        "Si ce n'est pas vous, vous n'avez rien à faire.\n"
    )


def _magic_text(link: str, minutes: int) -> str:
    return (
        "Bonjour,\n\n"
        "Voici votre lien de connexion à Guichet. Il est valable "
        f"{minutes} minutes et ne sert qu'une fois :\n\n{link}\n\n"
        "Ouvrez-le puis confirmez en appuyant sur « Me connecter ».\n\n"
        "Si vous n'avez pas demandé ce lien, ignorez ce message : personne ne peut l'utiliser "
        "sans accès à votre messagerie.\n"
    )
