"""Federated sign-in: what a FranceConnect or ProConnect login means for our accounts.

The protocol itself (state, nonce, tokens, signatures, acr) is ``identity.oidc``; this module keeps
the pre-login state in the browser session and decides, once the provider has vouched for someone,
which account signs in (identity.md §4):

- identities are keyed on (issuer, sub), **never on e-mail**: a FranceConnect identity whose e-mail
  equals a local account's creates a separate account; the person links them explicitly, signed in;
- linking a ``sub`` already bound to another account is refused and journaled;
- a returning person whose FranceConnect ``sub`` changed (civil-status correction: name, gender or
  birth date corrected in the RNIPP) is recognised by their pivot identity and **not** merged nor
  given a second account: a re-link request is opened, completed by a code sent to the old account's
  verified e-mail or by an agent who checked an ID document; the old (issuer, sub) is kept, retired;
- ProConnect: an agent account is bound at the first login that presents its invitation; a
  ProConnect login bound to no agent is business staff: a person whose ``siret`` claim is recorded as
  *membership* of the organisation (read its cases), never as a power to act for it (identity.md §3).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import (
    Agent,
    FederatedIdentity,
    Mandate,
    OneTimeToken,
    Organisation,
    Person,
    RelinkRequest,
    WebSession,
)
from identity.oidc import LoginResult, OidcClient, OidcError
from identity.person_search import refresh_person
from identity.sessions import set_data
from identity.siret import is_valid_siret
from services.kernel.actor import Actor
from services.kernel.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from services.kernel.journal import JournalEvent, record
from services.kernel.ports import Mailer

PENDING_KEY = "oidc_pending"
LOGIN_KEY = "oidc_login"
LOGOUT_KEY = "oidc_logout"
RELINK_KEY = "relink"
MAX_PENDING = 5
RELINK_CODE_TTL = timedelta(minutes=15)
RELINK_MAX_ATTEMPTS = 5
PIVOT_FIELDS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
PIVOT_MATCH_MIN = 4
"""A returning person's pivot identity may differ from the recorded one by the corrected fields
only: at least 4 of the 6 must be identical to suggest a re-link (never an automatic one)."""
MEMBERSHIP_DAYS = 30
"""A ProConnect ``siret`` membership lasts this long after the last login that vouched for it."""

Intent = Literal["login", "link"]


@dataclass(frozen=True, slots=True)
class PendingLogin:
    provider: str
    state: str
    nonce: str
    code_verifier: str | None
    acr_values: tuple[str, ...]
    next: str
    intent: Intent
    invitation: str | None
    created_at: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["acr_values"] = list(self.acr_values)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingLogin:
        return cls(
            provider=str(data["provider"]),
            state=str(data["state"]),
            nonce=str(data["nonce"]),
            code_verifier=data.get("code_verifier"),
            acr_values=tuple(data.get("acr_values") or ()),
            next=str(data.get("next") or "/"),
            intent="link" if data.get("intent") == "link" else "login",
            invitation=data.get("invitation"),
            created_at=str(data.get("created_at") or ""),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """Who signs in after a provider's answer; ``relink_request_id`` when nobody does yet."""

    person_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    relink_request_id: uuid.UUID | None = None
    created: bool = False
    linked: bool = False


def remember_pending(record: WebSession, pending: PendingLogin) -> None:
    """Keep the login's state, nonce and verifier in the session (a few logins at once, e.g. two
    tabs; the oldest is forgotten beyond MAX_PENDING)."""
    current = dict(record.data.get(PENDING_KEY) or {})
    current[pending.state] = pending.to_json()
    while len(current) > MAX_PENDING:
        current.pop(next(iter(current)))
    set_data(record, PENDING_KEY, current)


def take_pending(record: WebSession | None, state: str | None) -> PendingLogin | None:
    """The pending login for ``state``, removed from the session: each state serves once."""
    if record is None or not state:
        return None
    current = dict(record.data.get(PENDING_KEY) or {})
    found: PendingLogin | None = None
    for key in list(current):
        if hmac.compare_digest(key.encode(), state.encode()):
            found = PendingLogin.from_json(current.pop(key))
    set_data(record, PENDING_KEY, current or None)
    return found


# ----- pivot identity ----------------------------------------------------------------------------


def _norm(value: Any) -> str:
    text = unicodedata.normalize("NFKD", str(value or "")).encode("ascii", "ignore").decode()
    return " ".join(text.upper().replace("-", " ").split())


def pivot_of(claims: dict[str, Any]) -> dict[str, str]:
    return {name: _norm(claims.get(name)) for name in PIVOT_FIELDS}


def pivot_keys(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    pivot = pivot_of(claims)
    if not (pivot["family_name"] and pivot["birthdate"]):
        return None, None
    name = hashlib.sha256(f"{pivot['given_name']}|{pivot['family_name']}".encode()).hexdigest()
    birth = hashlib.sha256(
        f"{pivot['birthdate']}|{pivot['birthplace']}|{pivot['birthcountry']}".encode()
    ).hexdigest()
    return name, birth


def pivot_similarity(a: dict[str, Any], b: dict[str, Any]) -> int:
    pa, pb = pivot_of(a), pivot_of(b)
    return sum(1 for name in PIVOT_FIELDS if pa[name] and pa[name] == pb[name])


def verified_claims(result: LoginResult) -> dict[str, Any]:
    """What we keep of a login: the userinfo claims (verified by signature) and the level."""
    claims = {k: v for k, v in result.userinfo.items() if k not in {"aud", "iat", "exp", "iss"}}
    claims["acr"] = result.acr
    if result.amr:
        claims["amr"] = list(result.amr)
    return claims


# ----- resolving a login -------------------------------------------------------------------------


async def _active_identity(
    session: AsyncSession, issuer: str, subject: str
) -> FederatedIdentity | None:
    return await session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.issuer == issuer,
            FederatedIdentity.subject == subject,
        )
    )


def _refresh(identity: FederatedIdentity, result: LoginResult, now: datetime) -> None:
    claims = verified_claims(result)
    identity.claims = claims
    identity.acr = result.acr
    identity.idp_id = result.idp_id
    identity.verified_at = now
    identity.pivot_name_key, identity.pivot_birth_key = pivot_keys(claims)


def _new_identity(
    provider: str,
    result: LoginResult,
    now: datetime,
    *,
    person_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
) -> FederatedIdentity:
    identity = FederatedIdentity(
        provider=provider,
        issuer=result.issuer,
        subject=result.subject,
        person_id=person_id,
        agent_id=agent_id,
        claims={},
        linked_at=now,
        verified_at=now,
    )
    _refresh(identity, result, now)
    return identity


async def resolve_login(
    session: AsyncSession,
    *,
    client: OidcClient,
    result: LoginResult,
    pending: PendingLogin,
    current: Actor | None,
    now: datetime,
    ip: str | None,
) -> Outcome:
    """Decide who signs in (below), then refresh the person's search text (verified names and
    birth date are found by the counter's search)."""
    outcome = await _resolve_login(
        session,
        client=client,
        result=result,
        pending=pending,
        current=current,
        now=now,
        ip=ip,
    )
    if outcome.person_id is not None:
        await session.flush()
        person = await session.get(Person, outcome.person_id)
        if person is not None:
            await refresh_person(session, person)
    return outcome


async def _resolve_login(
    session: AsyncSession,
    *,
    client: OidcClient,
    result: LoginResult,
    pending: PendingLogin,
    current: Actor | None,
    now: datetime,
    ip: str | None,
) -> Outcome:
    """Decide who signs in. Raises Conflict/Forbidden (journaled by the caller) when nobody may."""
    cfg = client.config
    identity = await _active_identity(session, result.issuer, result.subject)
    base = {"provider": cfg.name, "issuer": result.issuer, "acr": result.acr}
    if identity is not None and identity.retired_at is not None:
        raise Forbidden(
            f"Cette identité {cfg.label} a été remplacée le "
            f"{identity.retired_at.date().isoformat()} ; connectez-vous avec votre identité "
            "actuelle ou adressez-vous au guichet."
        )

    if pending.intent == "link":
        if current is None or current.kind.value != "person":
            raise Forbidden("Connectez-vous d'abord à votre compte pour y lier une identité.")
        if identity is not None:
            if identity.person_id == current.id:
                _refresh(identity, result, now)
                return Outcome(person_id=current.id)
            refusal = Conflict(
                f"Cette identité {cfg.label} est déjà liée à un autre compte Guichet : elle ne "
                "peut pas être liée au vôtre. Si c'est une erreur, adressez-vous au guichet."
            )
            refusal.journal_event = JournalEvent.LINK_REFUSED  # type: ignore[attr-defined]
            raise refusal
        session.add(_new_identity(cfg.name, result, now, person_id=current.id))
        record(session, JournalEvent.LINKED, at=now, actor=current, ip=ip, data=base)
        return Outcome(person_id=current.id, linked=True)

    if identity is not None:
        _refresh(identity, result, now)
        if identity.agent_id is not None:
            agent = await session.get(Agent, identity.agent_id)
            if agent is None or not agent.active:
                raise Forbidden(
                    "Votre compte agent est désactivé : adressez-vous à votre administrateur."
                )
            return Outcome(agent_id=agent.id)
        if identity.person_id is None:
            raise Forbidden("Cette identité n'est rattachée à aucun compte.")
        person = await session.get(Person, identity.person_id)
        if person is None or person.status != "active":
            raise Forbidden("Ce compte a été supprimé : adressez-vous au guichet.")
        if cfg.audience == "agent":
            await _record_membership(session, person, result, now)
        return Outcome(person_id=person.id)

    # A first login with this (issuer, sub).
    if cfg.audience == "agent" and pending.invitation:
        from identity.admin import accept_invitation

        agent = await accept_invitation(session, token=pending.invitation, now=now)
        if await session.scalar(
            select(FederatedIdentity.id).where(
                FederatedIdentity.agent_id == agent.id,
                FederatedIdentity.issuer == result.issuer,
                FederatedIdentity.retired_at.is_(None),
            )
        ):
            raise Conflict("Ce compte agent est déjà lié à une autre identité ProConnect.")
        session.add(_new_identity(cfg.name, result, now, agent_id=agent.id))
        record(
            session, JournalEvent.LINKED, at=now, data={**base, "agent_id": str(agent.id)}, ip=ip
        )
        return Outcome(agent_id=agent.id, linked=True)

    claims = verified_claims(result)
    if cfg.audience == "citizen":
        candidate = await _changed_sub_candidate(session, result.issuer, claims)
        if candidate is not None:
            request = RelinkRequest(
                person_id=candidate.person_id,
                old_identity_id=candidate.id,
                provider=cfg.name,
                issuer=result.issuer,
                subject=result.subject,
                claims=claims,
                acr=result.acr,
                created_at=now,
            )
            session.add(request)
            await session.flush()
            record(
                session,
                JournalEvent.RELINK_REQUESTED,
                at=now,
                ip=ip,
                data={
                    **base,
                    "request_id": str(request.id),
                    "person_id": str(candidate.person_id),
                    "matching_fields": pivot_similarity(candidate.claims, claims),
                },
            )
            return Outcome(relink_request_id=request.id)

    person = Person(
        given_name=str(claims.get("given_name") or "")[:120],
        family_name=str(claims.get("usual_name") or claims.get("family_name") or "")[:120],
        contact_email=(str(claims["email"])[:254] if claims.get("email") else None),
        created_at=now,
    )
    session.add(person)
    await session.flush()
    session.add(_new_identity(cfg.name, result, now, person_id=person.id))
    record(
        session,
        JournalEvent.ACCOUNT_CREATED,
        at=now,
        ip=ip,
        data={**base, "person_id": str(person.id)},
    )
    if cfg.audience == "agent":
        await _record_membership(session, person, result, now)
    return Outcome(person_id=person.id, created=True)


async def _changed_sub_candidate(
    session: AsyncSession, issuer: str, claims: dict[str, Any]
) -> FederatedIdentity | None:
    name_key, birth_key = pivot_keys(claims)
    if name_key is None:
        return None
    rows = await session.scalars(
        select(FederatedIdentity).where(
            FederatedIdentity.issuer == issuer,
            FederatedIdentity.retired_at.is_(None),
            FederatedIdentity.person_id.is_not(None),
            or_(
                FederatedIdentity.pivot_name_key == name_key,
                FederatedIdentity.pivot_birth_key == birth_key,
            ),
        )
    )
    best: tuple[int, FederatedIdentity] | None = None
    for row in rows:
        score = pivot_similarity(row.claims, claims)
        if score >= PIVOT_MATCH_MIN and (best is None or score > best[0]):
            best = (score, row)
    return best[1] if best else None


async def _record_membership(
    session: AsyncSession, person: Person, result: LoginResult, now: datetime
) -> None:
    """A ProConnect ``siret`` says the person belongs to that establishment: membership only."""
    siret = str(result.userinfo.get("siret") or "").strip()
    if not siret or not is_valid_siret(siret):
        return
    organisation = await session.scalar(select(Organisation).where(Organisation.siret == siret))
    if organisation is None:
        organisation = Organisation(
            siren=siret[:9],
            siret=siret,
            name=str(result.userinfo.get("organization_label") or f"Établissement {siret}")[:200],
            source="proconnect",
            created_at=now,
        )
        session.add(organisation)
        await session.flush()
    until = now + timedelta(days=MEMBERSHIP_DAYS)
    memberships = list(
        await session.scalars(
            select(Mandate).where(
                Mandate.holder_person_id == person.id,
                Mandate.basis == "proconnect_siret_membership",
                Mandate.revoked_at.is_(None),
            )
        )
    )
    kept = False
    for mandate in memberships:
        if mandate.organisation_id == organisation.id:
            mandate.valid_until = until
            kept = True
        else:
            mandate.revoked_at = now
            mandate.revoked_reason = "ProConnect indique un autre établissement (siret)"
    if not kept:
        session.add(
            Mandate(
                holder_person_id=person.id,
                organisation_id=organisation.id,
                role="membre",
                basis="proconnect_siret_membership",
                scope={"procedures": []},
                evidence=f"ProConnect {result.issuer} siret={siret} idp_id={result.idp_id}",
                valid_from=now,
                valid_until=until,
                created_at=now,
            )
        )


# ----- re-link after a sub change ---------------------------------------------------------------


async def _pending_relink(session: AsyncSession, request_id: uuid.UUID) -> RelinkRequest:
    request = await session.get(RelinkRequest, request_id)
    if request is None or request.status != "pending":
        raise NotFound("Aucune demande de rattachement en cours : reconnectez-vous.")
    return request


def _code_hash(salt: str, code: str) -> str:
    """A 6-digit code has a million values: its strength is the attempt limit and the 15-minute
    life, not the hash; salted SHA-256 keeps it out of the database in clear."""
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


async def send_relink_code(
    session: AsyncSession, *, request_id: uuid.UUID, mailer: Mailer, now: datetime
) -> str:
    """E-mail a 6-digit code to the old account's verified address; returns the masked address."""
    request = await _pending_relink(session, request_id)
    person = await session.get(Person, request.person_id)
    if person is None or not person.login_email or person.email_verified_at is None:
        raise Conflict(
            "Votre ancien compte n'a pas d'adresse électronique vérifiée : présentez une pièce "
            "d'identité au guichet, un agent rattachera votre nouvelle identité."
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(16)
    session.add(
        OneTimeToken(
            purpose="relink",
            token_hash=_code_hash(salt, code),
            person_id=person.id,
            data={"request_id": str(request.id), "attempts": 0, "salt": salt},
            created_at=now,
            expires_at=now + RELINK_CODE_TTL,
        )
    )
    await mailer.send(
        to=person.login_email,
        to_name=person.display_name,
        subject="Votre code pour rattacher votre identité FranceConnect",
        text=(
            f"Bonjour,\n\nVotre code de confirmation est : {code}\n\nIl est valable "
            f"{int(RELINK_CODE_TTL.total_seconds() // 60)} minutes. Si vous n'avez pas demandé "
            "ce code, ignorez ce message et signalez-le au guichet de votre mairie.\n"
        ),
    )
    local, _, domain = person.login_email.partition("@")
    return f"{local[:1]}***@{domain}"


async def confirm_relink_code(
    session: AsyncSession, *, request_id: uuid.UUID, code: str, now: datetime, ip: str | None
) -> uuid.UUID | None:
    """Check the code; on success move the link (see ``approve_relink``) and return the person.

    A wrong code returns None after counting the attempt: the caller commits, then refuses."""
    request = await _pending_relink(session, request_id)
    tokens = list(
        await session.scalars(
            select(OneTimeToken)
            .where(
                OneTimeToken.purpose == "relink",
                OneTimeToken.person_id == request.person_id,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > now,
            )
            .order_by(OneTimeToken.created_at.desc())
        )
    )
    token = next((t for t in tokens if t.data.get("request_id") == str(request.id)), None)
    if token is None:
        raise ValidationFailed(
            "Aucun code valide : demandez un nouveau code.",
            errors=[{"field": "code", "message": "code expiré ou absent", "type": "expired"}],
        )
    attempts = int(token.data.get("attempts", 0))
    if attempts >= RELINK_MAX_ATTEMPTS:
        raise TooManyRequests("Trop de codes erronés : demandez un nouveau code.", retry_after=60)
    given = _code_hash(str(token.data.get("salt", "")), code.strip())
    if not hmac.compare_digest(given, token.token_hash):
        token.data = {**token.data, "attempts": attempts + 1}
        return None
    token.used_at = now
    await approve_relink(session, request=request, now=now, ip=ip, evidence="code e-mail")
    return request.person_id


async def approve_relink(
    session: AsyncSession,
    *,
    request: RelinkRequest,
    now: datetime,
    ip: str | None,
    evidence: str,
    agent: Actor | None = None,
) -> None:
    """Move the link to the new ``sub``; the old one stays, retired with the date."""
    old = await session.get(FederatedIdentity, request.old_identity_id)
    if old is None or old.retired_at is not None:
        raise Conflict("L'ancienne identité n'est plus active : cette demande ne peut aboutir.")
    if await _active_identity(session, request.issuer, request.subject) is not None:
        raise Conflict("La nouvelle identité est déjà liée à un compte.")
    old.retired_at = now
    old.retired_reason = "sub modifié (rectification d'état civil)"
    await session.flush()
    new = FederatedIdentity(
        provider=request.provider,
        issuer=request.issuer,
        subject=request.subject,
        person_id=request.person_id,
        claims=request.claims,
        acr=request.acr,
        linked_at=now,
        verified_at=now,
    )
    new.pivot_name_key, new.pivot_birth_key = pivot_keys(request.claims)
    session.add(new)
    await session.flush()
    person = await session.get(Person, request.person_id)
    if person is not None:
        await refresh_person(session, person)
    request.status = "approved"
    request.decided_at = now
    request.evidence = evidence
    request.decided_by_agent_id = agent.id if agent else None
    record(
        session,
        JournalEvent.RELINKED,
        at=now,
        actor=agent,
        ip=ip,
        data={
            "request_id": str(request.id),
            "person_id": str(request.person_id),
            "old_subject": old.subject,
            "new_subject": request.subject,
            "evidence": evidence[:300],
        },
    )


async def refuse_relink(
    session: AsyncSession, *, request: RelinkRequest, now: datetime, agent: Actor, reason: str
) -> None:
    request.status = "refused"
    request.decided_at = now
    request.decided_by_agent_id = agent.id
    request.evidence = reason
    record(
        session,
        JournalEvent.RELINK_REFUSED,
        at=now,
        actor=agent,
        data={"request_id": str(request.id), "reason": reason[:300]},
    )


def login_data(provider: str, result: LoginResult) -> dict[str, Any]:
    """Kept in the session: the raw ID token is the "active provider login" marker for logout."""
    return {LOGIN_KEY: {"provider": provider, "id_token": result.id_token, "acr": result.acr}}


def oidc_refusal(exc: OidcError | Exception) -> str:
    return getattr(exc, "code", type(exc).__name__)
