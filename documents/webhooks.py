"""Outbound webhooks: tenants' subscriptions, fan-out of case events, signed deliveries.

Pipeline (all through the outbox, so a committed event is never missed and nothing is sent for an
event that was rolled back):

1. every case event has an outbox row ``case.event`` (written with the event);
2. ``fan_out`` turns it into one ``webhook.deliver`` row per active subscription of the case's
   tenant that wants the event (dedupe key ``webhook:<subscription>:<event>``);
3. ``deliver`` POSTs the event, signed, to the subscription's URL. Every attempt is recorded as a
   ``WebhookDelivery`` row, also when it fails; a failure raises, and the outbox retries with
   backoff until ``GUICHET_WEBHOOK_MAX_ATTEMPTS`` (capped by the outbox's own limit), after which
   the row is ``failed`` and stays visible to the tenant's admins.

Delivery is *at least once*: a receiver may see the same delivery twice (same ``id`` and
``X-Guichet-Delivery``) and must treat it as one. Events of a case may arrive out of order after a
retry: ``event.seq`` orders them.

What is sent
------------
``POST <url>`` with ``Content-Type: application/json``, ``User-Agent: Guichet-Webhooks/1``,
``X-Guichet-Event: <event kind>``, ``X-Guichet-Delivery: <delivery id>`` and
``X-Guichet-Signature: t=<unix timestamp>,v1=<hex HMAC-SHA256>``. The body::

    {"id": "<delivery id>", "type": "case.transitioned", "occurred_at": "2026-03-02T09:00:00+00:00",
     "tenant": "69001",
     "case": {"id": "…", "reference": "69001-2026-000001", "procedure": "urbanism.pcmi",
              "state": "<the case's state when delivered>"},
     "event": {"id": "…", "seq": 2, "public": true, "from_state": "…", "to_state": "…"},
     "data": {…}}

``data`` is the event's data without personal data (no name, e-mail, phone, postal address, no
message text): a receiver that needs more reads the case through the authenticated API.

Verifying a delivery (receivers)
--------------------------------
1. Split ``X-Guichet-Signature`` on ``,`` into ``t=`` and ``v1=`` (ignore other keys: later
   versions may add ``v2=``).
2. Compute ``HMAC-SHA256(secret, "<t>." + raw body bytes)`` in hex, with the secret returned once
   when the subscription was created, over the *raw* body as received (not re-serialised JSON).
3. Compare with ``v1`` in constant time (``hmac.compare_digest``); reject if different.
4. Reject if ``|now - t|`` exceeds a tolerance (5 minutes is usual): an old, replayed request is
   refused even though its signature is valid. Deduplicate on the delivery id within that window.
``verify_signature`` below is the reference implementation.

URLs must be ``http`` or ``https``, with a host and without credentials (the signature
authenticates Guichet). ``localhost`` and IP literals that are not public (loopback, private,
link-local, reserved) are refused unless ``GUICHET_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is set; host
names are not resolved (a name pointing to a private address is not caught). Redirects are not
followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.jobs import JobDeps, OutboxHandler
from documents.models import WebhookDelivery, WebhookSubscription
from identity.models import Tenant
from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.errors import NotFound, ValidationFailed
from services.kernel.journal import JournalEvent, record
from services.kernel.settings import webhook_settings
from workflows.cases.models import Case, CaseEvent, Outbox

USER_AGENT = "Guichet-Webhooks/1"
EVENT_HEADER = "X-Guichet-Event"
DELIVERY_HEADER = "X-Guichet-Delivery"
SIGNATURE_HEADER = "X-Guichet-Signature"
SIGNATURE_TOLERANCE = timedelta(minutes=5)
SECRET_PREFIX = "whsec_"
MAX_KINDS = 50
MAX_PAGE = 200
_ERROR_EXCERPT = 500
_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

PERSONAL_KEYS = frozenset(
    {
        "submitter",
        "on_behalf_of",
        "contact",
        "email",
        "mail",
        "phone",
        "mobile",
        "telephone",
        "address",
        "postal_address",
        "street",
        "to",
        "to_address",
        "cc",
        "given_name",
        "family_name",
        "first_name",
        "last_name",
        "birth_date",
        "birth_place",
        "text",  # messages exchanged with the person
    }
)
"""Keys removed, at any depth, from the event data sent to receivers."""


# ----- signing -------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed by the subscription secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """The receiver's check: a valid ``v1`` signature over the raw body, and a fresh timestamp."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# ----- subscriptions -------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _invalid(field: str, message: str, kind: str = "format") -> ValidationFailed:
    return ValidationFailed(
        f"Abonnement refusé : {message}.",
        errors=[{"field": field, "message": message, "type": kind}],
    )


def check_url(url: str) -> str:
    """The URL as stored, or ValidationFailed saying what to fix."""
    url = url.strip()
    if not url or len(url) > 2000:
        raise _invalid("url", "l'adresse doit faire de 1 à 2000 caractères")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise _invalid("url", "l'adresse ne doit contenir ni espace ni caractère de contrôle")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _invalid("url", "l'adresse n'est pas une URL valide") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _invalid("url", "seules les adresses http:// et https:// sont acceptées", "scheme")
    if parts.username is not None or parts.password is not None:
        raise _invalid(
            "url",
            "l'adresse ne doit pas contenir d'identifiants (la signature authentifie Guichet)",
            "credentials",
        )
    if not parts.hostname:
        raise _invalid("url", "l'adresse doit nommer un hôte", "host")
    if parts.fragment:
        raise _invalid("url", "l'adresse ne doit pas comporter de fragment (#…)")
    if is_private_host(parts.hostname) and not webhook_settings().webhook_allow_private_addresses:
        raise _invalid(
            "url",
            "les adresses locales, privées ou réservées (localhost, 10.x, 127.x, 192.168.x…) "
            "sont refusées : donnez l'adresse publique du destinataire",
            "private_address",
        )
    return url


def is_private_host(host: str) -> bool:
    """localhost, or an IP literal (also in the legacy forms 127.1 or 2130706433 that resolvers
    accept) that is not a public unicast address. Names are not resolved."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", host):
            return False
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_kinds(kinds: Sequence[str]) -> list[str]:
    if len(kinds) > MAX_KINDS:
        raise _invalid("event_kinds", f"au plus {MAX_KINDS} types d'événement", "too_long")
    result: list[str] = []
    for i, kind in enumerate(kinds):
        kind = kind.strip()
        if not _KIND.match(kind) or len(kind) > 60:
            raise ValidationFailed(
                f"Abonnement refusé : « {kind} » n'est pas un type d'événement "
                "(noms pointés, ex. case.opened, case.transitioned).",
                errors=[
                    {
                        "field": f"event_kinds.{i}",
                        "message": "type d'événement invalide (ex. case.opened)",
                        "type": "format",
                    }
                ],
            )
        if kind not in result:
            result.append(kind)
    return result


def is_admin(actor: Actor, tenant_id: uuid.UUID) -> bool:
    return actor.kind is ActorKind.AGENT and Role.ADMIN.value in actor.roles_in(tenant_id)


def _tenant_not_found() -> NotFound:
    return NotFound("Collectivité introuvable (ou vous n'en êtes pas administrateur).")


def _subscription_not_found() -> NotFound:
    return NotFound("Abonnement introuvable (ou hors des collectivités que vous administrez).")


def _journal_url(url: str) -> str:
    """The URL without its query string, which may hold a receiver's token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True, slots=True)
class CreatedSubscription:
    subscription: WebhookSubscription
    secret: str
    """Shown once: only its holder can check signatures."""


async def create_subscription(
    session: AsyncSession,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    url: str,
    kinds: Sequence[str],
    now: datetime,
) -> CreatedSubscription:
    if not is_admin(actor, tenant_id) or await session.get(Tenant, tenant_id) is None:
        raise _tenant_not_found()
    url = check_url(url)
    wanted = check_kinds(kinds)
    secret = new_secret()
    subscription = WebhookSubscription(
        tenant_id=tenant_id,
        url=url,
        secret=secret,
        event_kinds={"kinds": wanted},
        active=True,
        created_at=now,
    )
    session.add(subscription)
    await session.flush()
    record(
        session,
        JournalEvent.WEBHOOK_CREATED,
        at=now,
        actor=actor,
        tenant_id=tenant_id,
        data={
            "subscription_id": str(subscription.id),
            "url": _journal_url(url),
            "event_kinds": wanted,
        },
    )
    return CreatedSubscription(subscription, secret)


async def list_subscriptions(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID | None = None
) -> list[WebhookSubscription]:
    """Subscriptions of one tenant, or of every tenant the actor administers; newest first."""
    if tenant_id is not None:
        if not is_admin(actor, tenant_id):
            raise _tenant_not_found()
        tenants = [tenant_id]
    else:
        tenants = sorted(t for t in actor.tenant_ids() if is_admin(actor, t))
    if not tenants:
        return []
    rows = await session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.tenant_id.in_(tenants))
        .order_by(WebhookSubscription.created_at.desc(), WebhookSubscription.id.desc())
    )
    return list(rows)


async def get_subscription(
    session: AsyncSession, actor: Actor, subscription_id: uuid.UUID
) -> WebhookSubscription:
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None or not is_admin(actor, subscription.tenant_id):
        raise _subscription_not_found()
    return subscription


async def deactivate_subscription(
    session: AsyncSession, actor: Actor, subscription_id: uuid.UUID, *, now: datetime
) -> WebhookSubscription:
    """Stops deliveries, including the retries still owed; the attempts stay visible."""
    subscription = await get_subscription(session, actor, subscription_id)
    if subscription.active:
        subscription.active = False
        record(
            session,
            JournalEvent.WEBHOOK_DELETED,
            at=now,
            actor=actor,
            tenant_id=subscription.tenant_id,
            data={"subscription_id": str(subscription.id), "url": _journal_url(subscription.url)},
        )
    return subscription


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempt: WebhookDelivery
    event_kind: str
    delivery_status: str
    """The delivery's outbox status: enqueued (retry owed), done (delivered), failed (given up)."""


async def list_attempts(
    session: AsyncSession,
    actor: Actor,
    subscription_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
) -> tuple[list[DeliveryAttempt], int]:
    """Every attempt of a subscription's deliveries, newest first."""
    await get_subscription(session, actor, subscription_id)
    where = WebhookDelivery.subscription_id == subscription_id
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    rows = await session.execute(
        select(WebhookDelivery, CaseEvent.kind, Outbox.status)
        .join(CaseEvent, CaseEvent.id == WebhookDelivery.event_id)
        .join(Outbox, Outbox.id == WebhookDelivery.outbox_id)
        .where(where)
        .order_by(
            WebhookDelivery.at.desc(), WebhookDelivery.attempt.desc(), WebhookDelivery.id.desc()
        )
        .limit(limit)
        .offset(offset)
    )
    items = [DeliveryAttempt(d, kind, status) for d, kind, status in rows]
    return items, int(total or 0)


# ----- fan-out -------------------------------------------------------------------------------------


def wants(subscription: WebhookSubscription, kind: str, public: bool) -> bool:
    """An empty list means every public event; an internal event only when its kind is listed."""
    kinds = list(subscription.event_kinds.get("kinds") or [])
    if not kinds:
        return public
    return kind in kinds


async def fan_out(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """``case.event`` → one ``webhook.deliver`` row per subscription that wants the event.

    Without any active subscription in the case's tenant this costs one query. Idempotent: the
    rows are keyed on (subscription, event).
    """
    payload: Mapping[str, Any] = row.payload
    case_id = uuid.UUID(str(payload["case_id"]))
    event_id = uuid.UUID(str(payload["event_id"]))
    subscriptions = list(
        await session.scalars(
            select(WebhookSubscription)
            .join(Case, Case.tenant_id == WebhookSubscription.tenant_id)
            .where(Case.id == case_id, WebhookSubscription.active.is_(True))
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
    )
    if not subscriptions:
        return
    event = await session.get(CaseEvent, event_id)
    if event is None:
        raise LookupError(f"case event {event_id} not found")
    keys = {
        f"webhook:{s.id}:{event.id}": s for s in subscriptions if wants(s, event.kind, event.public)
    }
    if not keys:
        return
    existing = set(
        await session.scalars(select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(list(keys))))
    )
    now = deps.clock.now()
    for key, subscription in keys.items():
        if key in existing:
            continue
        session.add(
            Outbox(
                case_id=case_id,
                kind="webhook.deliver",
                payload={
                    "subscription_id": str(subscription.id),
                    "event_id": str(event.id),
                    "case_id": str(case_id),
                },
                dedupe_key=key,
                status="pending",
                attempts=0,
                created_at=now,
            )
        )


# ----- delivery ------------------------------------------------------------------------------------


def public_data(value: Any) -> Any:
    """The event data without personal data: keys of PERSONAL_KEYS and e-mail addresses dropped."""
    if isinstance(value, Mapping):
        return {
            str(k): public_data(v)
            for k, v in value.items()
            if str(k).lower() not in PERSONAL_KEYS and not (isinstance(v, str) and _EMAIL.match(v))
        }
    if isinstance(value, list | tuple):
        return [public_data(v) for v in value if not (isinstance(v, str) and _EMAIL.match(v))]
    return value


def event_body(delivery_id: uuid.UUID, event: CaseEvent, case: Case, tenant: Tenant) -> bytes:
    body = {
        "id": str(delivery_id),
        "type": event.kind,
        "occurred_at": event.at.isoformat(),
        "tenant": tenant.insee_code,
        "case": {
            "id": str(case.id),
            "reference": case.reference,
            "procedure": case.procedure_key,
            "state": case.state,
        },
        "event": {
            "id": str(event.id),
            "seq": event.seq,
            "public": event.public,
            "from_state": event.from_state,
            "to_state": event.to_state,
        },
        "data": public_data(event.data),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class DeliveryFailed(Exception):
    """A failed attempt. ``services.worker.outbox.perform`` rolls the handler's transaction back,
    then calls ``record_failure`` in the transaction that records the error: the attempt row is
    kept, and after the last attempt the outbox row is marked failed (no retry)."""

    def __init__(self, message: str, attempt: WebhookDelivery, *, give_up: bool) -> None:
        super().__init__(message)
        self.attempt = attempt
        self.give_up = give_up

    async def record_failure(self, session: AsyncSession, row: Outbox) -> None:
        a = self.attempt
        session.add(
            WebhookDelivery(
                subscription_id=a.subscription_id,
                outbox_id=a.outbox_id,
                event_id=a.event_id,
                attempt=a.attempt,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                at=a.at,
            )
        )
        if self.give_up:
            row.status = "failed"


async def _excerpt(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_EXCERPT:
            break
    text = b"".join(chunks)[:_ERROR_EXCERPT].decode("utf-8", "replace").strip()
    return " ".join(text.split())


async def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
    """POST once: (status code, error). No error means a 2xx."""
    timeout = webhook_settings().webhook_timeout_seconds
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        async with (
            asyncio.timeout(timeout),
            client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            if 200 <= response.status_code < 300:
                return response.status_code, None
            excerpt = await _excerpt(response)
            error = f"Réponse HTTP {response.status_code}"
            return response.status_code, f"{error} : {excerpt}" if excerpt else error
    except (TimeoutError, httpx.TimeoutException):
        return None, f"Pas de réponse dans le délai imparti ({timeout:g} s)"
    except httpx.HTTPError as exc:
        return None, f"Échec de la connexion : {type(exc).__name__} {exc}".strip()


async def deliver(session: AsyncSession, row: Outbox, deps: JobDeps) -> None:
    """``webhook.deliver``: sign and POST one event to one subscription; record the attempt.

    A 2xx marks the delivery done (the attempt is committed with it). Anything else raises
    ``DeliveryFailed``: the outbox retries with backoff, and the attempt is recorded anyway.
    """
    payload: Mapping[str, Any] = row.payload
    subscription = await session.get(WebhookSubscription, uuid.UUID(payload["subscription_id"]))
    if subscription is None or not subscription.active:
        return  # unsubscribed since: nothing is owed any more
    event = await session.get(CaseEvent, uuid.UUID(payload["event_id"]))
    if event is None:
        raise LookupError(f"case event {payload['event_id']} not found")
    case = await session.get(Case, event.case_id)
    tenant = await session.get(Tenant, case.tenant_id) if case is not None else None
    if case is None or tenant is None:
        raise LookupError(f"case {event.case_id} or its tenant not found")
    body = event_body(row.id, event, case, tenant)
    timestamp = int(deps.clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event.kind,
        DELIVERY_HEADER: str(row.id),
        SIGNATURE_HEADER: signature_header(subscription.secret, timestamp, body),
    }
    # Numbered from the attempts recorded, not from the outbox's count: that one also counts
    # tries that failed before sending, and restarts when an admin retries a failed row.
    previous = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.outbox_id == row.id)
    )
    started = time.perf_counter()
    status_code, error = await post(subscription.url, body, headers)
    attempt = WebhookDelivery(
        subscription_id=subscription.id,
        outbox_id=row.id,
        event_id=event.id,
        attempt=int(previous or 0) + 1,
        status_code=status_code,
        error=error,
        duration_ms=round((time.perf_counter() - started) * 1000),
        at=deps.clock.now(),
    )
    if error is None:
        session.add(attempt)
        return
    raise DeliveryFailed(
        error, attempt, give_up=row.attempts >= webhook_settings().webhook_max_attempts
    )


HANDLERS: dict[str, OutboxHandler] = {"case.event": fan_out, "webhook.deliver": deliver}
