"""Near-tacit alerts: a file whose tacit decision is born within N days (the file's rule set
``tacit_alert_days``, 15 by default) is announced by e-mail to its instructor and to the commune,
once per tacit date (``urbanism_file.alerted_for``).

Recipients: the assigned instructor, or else every instructor of the file's commune and of the
métropole that instructs for it; and the commune, through its ``urbanisme`` service's address, or
else its mayor's office agents. One message per file and tacit date, queued in the outbox
(``mail.send``) in the same transaction that records ``alerted_for``: a rollback sends nothing, a
second run finds nothing to send. If the tacit date moves (pieces received, majoration), the new
date is announced again.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Role
from services.kernel.logging import get_logger
from services.kernel.settings import smtp_settings
from workflows.cases.models import Case, Outbox
from workflows.procedures.urbanism.definitions import SERVICE_CODE
from workflows.procedures.urbanism.models import UrbanismFile
from workflows.procedures.urbanism.views import (
    MAX_ALERT_DAYS,
    TYPE_TITLES,
    alert_days,
    display_number,
    french_date,
    tacit_outcome,
)

_log = get_logger("guichet.urbanism.alerts")

MAIL_KIND = "mail.send"
"""Sent as built by ``documents.raw_mail`` (payload: the RFC 5322 bytes, base64)."""

_tenant = table(
    "tenant",
    column("id"),
    column("name"),
    column("insee_code"),
    column("parent_id"),
    column("mail_from"),
)
_service = table("tenant_service", column("tenant_id"), column("code"), column("email"))
_agent = table("agent", column("id"), column("email"), column("active"))
_role = table("role_assignment", column("agent_id"), column("role"), column("tenant_id"))

SILENCE: dict[str, str] = {
    "accord_tacite": "un permis tacite naîtra (R424-1 du code de l'urbanisme)",
    "non_opposition_tacite": (
        "une décision de non-opposition tacite à la déclaration préalable naîtra "
        "(R424-1 du code de l'urbanisme)"
    ),
    "cu_tacite": "un certificat d'urbanisme tacite naîtra (R410-12 du code de l'urbanisme)",
    "rejet_tacite": (
        "la demande sera tacitement rejetée (R424-2, R424-2-1 ou R424-3 du code de l'urbanisme)"
    ),
    "opposition_tacite": "une opposition tacite à la déclaration préalable naîtra",
}
FAVOURABLE_SILENCE = frozenset({"accord_tacite", "non_opposition_tacite", "cu_tacite"})


@dataclass(frozen=True, slots=True)
class Commune:
    id: uuid.UUID
    name: str
    insee: str
    parent_id: uuid.UUID | None
    mail_from: str | None


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def _commune(session: AsyncSession, tenant_id: uuid.UUID) -> Commune:
    found = (
        await session.execute(
            select(
                _tenant.c.name, _tenant.c.insee_code, _tenant.c.parent_id, _tenant.c.mail_from
            ).where(_tenant.c.id == tenant_id)
        )
    ).one()
    parent = _uuid(found[2]) if found[2] is not None else None
    return Commune(tenant_id, str(found[0]), str(found[1]), parent, found[3])


async def _agents_with(
    session: AsyncSession, role: str, tenant_ids: Sequence[uuid.UUID]
) -> list[str]:
    emails = await session.scalars(
        select(_agent.c.email)
        .join(_role, _role.c.agent_id == _agent.c.id)
        .where(
            _role.c.role == role,
            _role.c.tenant_id.in_(list(tenant_ids)),
            _agent.c.active.is_(True),
        )
        .order_by(_agent.c.email)
    )
    return [str(e) for e in emails if e]


async def recipients(
    session: AsyncSession, commune: Commune, assignee_id: uuid.UUID | None
) -> tuple[list[str], list[str]]:
    """(instruction side, commune side) addresses."""
    instructors: list[str] = []
    if assignee_id is not None:
        email = await session.scalar(
            select(_agent.c.email).where(_agent.c.id == assignee_id, _agent.c.active.is_(True))
        )
        if email:
            instructors = [str(email)]
    if not instructors:
        tenants = [commune.id] + ([commune.parent_id] if commune.parent_id else [])
        instructors = await _agents_with(session, Role.INSTRUCTOR.value, tenants)
    service = await session.scalar(
        select(_service.c.email).where(
            _service.c.tenant_id == commune.id, _service.c.code == SERVICE_CODE
        )
    )
    town = (
        [str(service)]
        if service
        else await _agents_with(session, Role.MAYOR_OFFICE.value, [commune.id])
    )
    return instructors, town


def _sender(commune: Commune) -> str:
    default = smtp_settings().smtp_from
    if commune.mail_from and commune.mail_from.strip():
        name, addr = parseaddr(commune.mail_from)
        if addr and "@" in addr:
            try:
                return str(Address(display_name=name or commune.name, addr_spec=addr))
            except (ValueError, IndexError):
                pass
    return default


def _domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    return domain or "guichet.invalid"


def alert_text(row: UrbanismFile, case: Case, commune: Commune, today: date) -> tuple[str, str]:
    """(subject, body) in French, without links."""
    assert row.tacit_on is not None
    number = display_number(row.number)
    tacit = french_date(row.tacit_on)
    last_day = french_date(row.tacit_on - timedelta(days=1))
    days = (row.tacit_on - today).days
    outcome = tacit_outcome(row)
    silence = SILENCE.get(outcome or "", "une décision tacite naîtra")
    kind = TYPE_TITLES.get(row.permit_type, row.permit_type)
    lines = [
        "Bonjour,",
        "",
        f"Le dossier d'urbanisme {number} ({kind.lower()}) arrive au terme de son délai "
        f"d'instruction dans {days} jour(s).",
        "",
        f"Demandeur : {row.applicant_name or 'non renseigné'}",
        f"Terrain : {row.address or 'adresse non renseignée'}"
        + (f" (parcelles {row.parcels})" if row.parcels else ""),
        f"Déposé le : {french_date(row.filed_on)}",
        f"Référence Guichet : {case.reference}",
        "",
        f"Sans décision notifiée au demandeur au plus tard le {last_day}, {silence} le {tacit}.",
    ]
    if outcome in FAVOURABLE_SILENCE:
        lines += [
            "",
            "Une décision ne compte qu'à partir de sa notification (première présentation du "
            "pli recommandé ou notification électronique) : notifiée après cette date, elle ne "
            "serait plus une décision mais un retrait, qui suppose la procédure contradictoire "
            "de l'article L424-5 du code de l'urbanisme.",
        ]
    lines += [
        "",
        "Pour agir : ouvrez le dossier dans Guichet (liste des dossiers d'urbanisme de la "
        "commune, par échéance) et enregistrez la décision et sa date de notification.",
        "",
        f"Message automatique de Guichet pour {commune.name} : un seul envoi pour cette date.",
    ]
    subject = f"Urbanisme {number} : décision tacite le {tacit} ({commune.name})"
    return subject, "\n".join(lines) + "\n"


def build_alert(
    row: UrbanismFile,
    case: Case,
    commune: Commune,
    to: Sequence[str],
    *,
    today: date,
    now: datetime,
) -> EmailMessage:
    assert row.tacit_on is not None
    sender = _sender(commune)
    subject, text = alert_text(row, case, commune, today)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<urbanism-tacit-{row.id}-{row.tacit_on.isoformat()}@{_domain(sender)}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    msg.set_content(text)
    msg["Content-Language"] = "fr"
    return msg


async def send_tacit_alerts(
    session: AsyncSession, *, today: date, now: datetime
) -> list[uuid.UUID]:
    """Queue one alert per file whose tacit date falls within its N days and was not announced
    yet; returns the case ids alerted. Idempotent (``alerted_for``)."""
    query = (
        select(UrbanismFile, Case)
        .join(Case, Case.id == UrbanismFile.case_id)
        .where(
            UrbanismFile.tacit_on.is_not(None),
            UrbanismFile.tacit_on > today,
            UrbanismFile.tacit_on <= today + timedelta(days=MAX_ALERT_DAYS),
            or_(
                UrbanismFile.alerted_for.is_(None),
                UrbanismFile.alerted_for != UrbanismFile.tacit_on,
            ),
        )
        .order_by(UrbanismFile.tacit_on, UrbanismFile.number)
        .with_for_update(of=UrbanismFile, skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    alerted: list[uuid.UUID] = []
    communes: dict[uuid.UUID, Commune] = {}
    for row, case in rows:
        assert row.tacit_on is not None
        if (row.tacit_on - today).days > alert_days(row.facts):
            continue
        commune = communes.get(row.tenant_id) or await _commune(session, row.tenant_id)
        communes[row.tenant_id] = commune
        instructors, town = await recipients(session, commune, case.assignee_id)
        to = list(dict.fromkeys([*instructors, *town]))
        if not to:
            _log.warning(
                "urbanism.tacit_alert_no_recipient", case_id=str(row.case_id), tenant=commune.insee
            )
            continue
        message = build_alert(row, case, commune, to, today=today, now=now)
        session.add(
            Outbox(
                case_id=row.case_id,
                kind=MAIL_KIND,
                payload={
                    "message": base64.b64encode(message.as_bytes(policy=policy.SMTP)).decode()
                },
                dedupe_key=f"urbanism-tacit-alert:{row.id}:{row.tacit_on.isoformat()}",
                status="pending",
                attempts=0,
                created_at=now,
            )
        )
        row.alerted_for = row.tacit_on
        alerted.append(row.case_id)
    await session.flush()
    return alerted
