"""What reporters and apps send back on a report: a comment, or "not fixed" (REOPEN).

A reporter may reopen a fixed report within ``GUICHET_STREET_REOPEN_DAYS`` days (30) of the fix:
back to ``acknowledged``, the department told (FixMyStreet #897, #29: such answers must reach it).
Later, or on a report closed otherwise, a reopening is refused with the reason; a comment is still
recorded and sent to the agents, except on a duplicate (comment the report kept instead).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, ValidationFailed
from workflows.cases.models import CaseEvent
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.definition import DESCRIPTION_MAX, no_control
from workflows.procedures.street_reports.models import StreetReport
from workflows.procedures.street_reports.queries import get_report
from workflows.procedures.street_reports.settings import street_settings
from workflows.procedures.street_reports.states import french_date

REOPEN = "REOPEN"
COMMENT_STATUSES = frozenset({"", "UNCHANGED", "OPEN", "COMMENT"})


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    update_id: str
    """The id of the case event recorded."""
    case_id: uuid.UUID
    reference: str
    state: str
    reopened: bool


def _clean(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"Le commentaire fait {len(text)} caractères : {DESCRIPTION_MAX} au plus.",
            errors=[
                {
                    "field": "description",
                    "message": f"{DESCRIPTION_MAX} caractères au plus",
                    "type": "too_long",
                }
            ],
        )
    try:
        return no_control(text, lines=True)
    except ValueError as exc:
        raise ValidationFailed(
            f"Le commentaire {exc}.",
            errors=[{"field": "description", "message": str(exc), "type": "control"}],
        ) from None


def check_reopenable(report: StreetReport, clock: Clock) -> None:
    """Conflict unless the report is fixed and the reopening window is still open."""
    days = street_settings().reopen_days
    if report.state != "fixed" or report.fixed_at is None:
        raise Conflict(
            f"Le signalement {report.reference} n'est pas à l'état « Résolu » : il ne peut pas "
            "être rouvert. Ajoutez plutôt un commentaire, ou faites un nouveau signalement.",
            extra={"state": report.state},
        )
    limit = report.fixed_at + timedelta(days=days)
    if clock.now() > limit:
        raise Conflict(
            f"Le signalement {report.reference} a été résolu il y a plus de {days} jours (le "
            f"{french_date(report.fixed_at.date())}) : il ne peut plus être rouvert. Faites un "
            "nouveau signalement si le problème persiste.",
            extra={"state": report.state, "reopen_until": limit.isoformat()},
        )


async def reopen(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    report: StreetReport,
    actor: Actor,
    comment: str | None,
    *,
    channel: str,
) -> PublicUpdate:
    check_reopenable(report, clock)
    text = _clean(comment)
    case, _ = await CaseService(session, engine, clock).apply(
        report.case_id,
        "reopen",
        actor,
        {"comment": text} if text else {},
        channel=channel,
    )
    event_id = await _last_event_id(session, case.id)
    return PublicUpdate(event_id, case.id, report.reference, case.state, True)


async def _last_event_id(session: AsyncSession, case_id: uuid.UUID) -> str:
    found = await session.scalar(
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    return str(found)


async def add_public_update(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    *,
    reference: str,
    actor: Actor,
    status: str | None,
    description: str | None,
    client_update_id: str | None,
    tenant_id: uuid.UUID | None = None,
    channel: str = "open311",
) -> PublicUpdate:
    """A comment (``status`` empty, UNCHANGED, OPEN) or a reopening (REOPEN) from a reporter or
    an app. ``client_update_id`` is the app's own id of the update: the caller keeps its
    idempotency (channels.open311 keeps a receipt per key and id)."""
    report = await get_report(session, reference, tenant_id)
    wanted = (status or "").strip().upper()
    if wanted == REOPEN:
        return await reopen(session, engine, clock, report, actor, description, channel=channel)
    if wanted not in COMMENT_STATUSES:
        raise ValidationFailed(
            f"Statut « {wanted[:30]} » non admis pour une mise à jour : REOPEN pour rouvrir un "
            "signalement résolu, ou aucun statut pour un commentaire.",
            errors=[{"field": "status", "message": "REOPEN ou vide", "type": "choice"}],
        )
    if report.state == "duplicate":
        raise Conflict(
            f"Ce signalement a déjà été signalé sous le n° {report.duplicate_reference} : "
            "commentez ce signalement-là.",
            extra={"duplicate_of": report.duplicate_reference},
        )
    text = _clean(description)
    if not text:
        raise ValidationFailed(
            "Le commentaire est vide.",
            errors=[{"field": "description", "message": "obligatoire", "type": "missing"}],
        )
    event = await CaseService(session, engine, clock).add_message(
        report.case_id, actor, text, public=True, channel=channel
    )
    del client_update_id  # idempotency is the caller's (channels.open311 keeps a receipt)
    return PublicUpdate(str(event.id), report.case_id, report.reference, report.state, False)
