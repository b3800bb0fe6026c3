"""Keeps ``street_report`` (and its followers) in step with ``street_reports.report`` cases.

Called by ``CaseService`` in the transaction of the case change (workflows.cases.projections):
the row is written when the case opens and moved at every transition, so it can never disagree
with the history. Every public transition also queues one ``notification.send`` per follower
(the reporter follows their own report when they gave an e-mail address), and a reopening tells
the department. A merge (``mark_duplicate``) moves the followers to the report kept.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import ValidationFailed
from workflows.cases._store import calendar_of
from workflows.cases.models import Case, CaseEvent, Outbox
from workflows.engine.runner import Step
from workflows.procedures.street_reports.definition import OPEN_STATES
from workflows.procedures.street_reports.location import OutsideTerritory, tenants_at
from workflows.procedures.street_reports.models import (
    StreetCategory,
    StreetDepartment,
    StreetReport,
    StreetReportFollower,
)
from workflows.procedures.street_reports.states import label, rejection_text

TEMPLATE = "street_report.updated"
CLOSING = frozenset({"closed", "rejected", "transferred", "duplicate", "cancelled"})


def normal_email(value: str) -> str:
    return value.strip().lower()


async def add_follower(
    session: AsyncSession,
    case_id: uuid.UUID,
    email: str,
    *,
    person_id: uuid.UUID | None,
    now: Any,
) -> tuple[StreetReportFollower, bool]:
    """(the follower, created): idempotent on (case, e-mail)."""
    address = normal_email(email)
    found = await session.scalar(
        select(StreetReportFollower).where(
            StreetReportFollower.case_id == case_id, StreetReportFollower.email == address
        )
    )
    if found is not None:
        if found.person_id is None and person_id is not None:
            found.person_id = person_id
        return found, False
    follower = StreetReportFollower(
        case_id=case_id, email=address, person_id=person_id, created_at=now
    )
    session.add(follower)
    await session.flush()
    return follower, True


def sla_due_of(case: Case, working_days: int) -> date:
    """Service-level deadline: the n-th working day after the day of receipt (the day of
    receipt does not count, CPC art. 641; Saturdays, Sundays and French public holidays are not
    working days — workflows.engine.calendar.LegalCalendar.add_working_days)."""
    calendar = calendar_of(case)
    return calendar.add_working_days(calendar.local_date(case.received_at), working_days)


class StreetReportProjector:
    async def opened(self, session: AsyncSession, case: Case) -> None:
        payload = case.payload
        category = await session.scalar(
            select(StreetCategory).where(
                StreetCategory.tenant_id == case.tenant_id,
                StreetCategory.code == str(payload.get("category")),
            )
        )
        if category is None:
            raise ValidationFailed(
                f"Catégorie « {str(payload.get('category'))[:60]} » inconnue dans cette "
                "collectivité.",
                errors=[{"field": "category", "message": "inconnue", "type": "unknown"}],
            )
        if case.tenant_id not in await tenants_at(
            session, float(payload["lat"]), float(payload["lon"])
        ):
            # Whatever the path (the generic mail qualification, the case API…), a report is
            # never opened in a tenant whose territory does not cover its point.
            raise OutsideTerritory(
                "Ce point est hors du territoire de la collectivité du dossier : le signalement "
                "doit être déposé par POST /api/v1/signalements (la collectivité vient du point).",
                errors=[
                    {
                        "field": "location",
                        "message": "hors du territoire de la collectivité",
                        "type": "outside_territory",
                    }
                ],
            )
        street = (case.channel_data or {}).get("street") or {}
        session.add(
            StreetReport(
                case_id=case.id,
                tenant_id=case.tenant_id,
                reference=case.reference,
                category_id=category.id,
                department_id=category.department_id,
                state=case.state,
                lat=float(payload["lat"]),
                lon=float(payload["lon"]),
                address=str(payload.get("address") or ""),
                description=str(payload.get("description") or ""),
                attributes=dict(payload.get("attributes") or {}),
                public_name=payload.get("public_name") or None,
                channel=case.channel,
                submitted_at=case.received_at,
                updated_at=case.updated_at,
                sla_due=sla_due_of(case, category.sla_working_days),
                fingerprint=street.get("fingerprint"),
            )
        )
        await session.flush()
        email = case.submitter.get("email")
        if isinstance(email, str) and email.strip():
            await add_follower(
                session, case.id, email, person_id=case.submitter_id, now=case.registered_at
            )
        # The department learns of a new report at once (its queue is the reference; the mail
        # carries no personal data of the reporter).
        department = await session.get(StreetDepartment, category.department_id)
        if department is not None and department.email:
            report = await session.get(StreetReport, case.id)
            assert report is not None
            extra = {
                "audience": "department_new",
                "category": category.name,
                "address": report.address,
                "lat": round(report.lat, 6),
                "lon": round(report.lon, 6),
                "sla_due": report.sla_due.strftime("%d/%m/%Y") if report.sla_due else "",
                "label": _label_after(report),
                "note": "",
            }
            _outbox(session, case, 1, department.email, extra, now=case.registered_at)

    async def transitioned(self, session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
        report = await session.get(StreetReport, case.id)
        if report is None:
            raise ValidationFailed(
                "Ce dossier n'a pas de signalement associé.",
                errors=[{"field": "case_id", "message": "signalement absent", "type": "missing"}],
            )
        seqs = list(
            await session.scalars(
                select(CaseEvent.seq)
                .where(CaseEvent.case_id == case.id, CaseEvent.kind == "case.transitioned")
                .order_by(CaseEvent.seq.desc())
                .limit(len(steps))
            )
        )[::-1]
        now = case.updated_at
        for seq, step in zip(seqs, steps, strict=False):
            data = dict(step.data)
            moved_to: uuid.UUID | None = None
            if step.transition == "schedule":
                report.scheduled_for = date.fromisoformat(str(data["date"]))
            elif step.transition == "fix":
                report.fixed_at, report.closed_at = now, None
            elif step.transition == "reopen":
                report.fixed_at, report.closed_at = None, None
            elif step.transition == "reject":
                report.rejection_reason = rejection_text(
                    str(data.get("reason")), data.get("details")
                )[:600]
            elif step.transition == "transfer":
                report.transferred_to = str(data["organisation"])[:200]
            elif step.transition == "mark_duplicate":
                moved_to = await self._kept(session, report, uuid.UUID(str(data["kept_case_id"])))
            if step.to_state in CLOSING:
                report.closed_at = now
            report.state = step.to_state
            report.updated_at = now
            if step.public:
                note = str(data.get("note") or data.get("comment") or "")
                await self._notify(session, case, report, seq, note)
                if step.transition == "reopen":
                    await self._notify_department(session, case, report, seq, note)
            if moved_to is not None:
                await move_followers(session, case.id, moved_to, now=now)
        report.state = case.state
        await session.flush()

    async def _kept(
        self, session: AsyncSession, report: StreetReport, kept_id: uuid.UUID
    ) -> uuid.UUID:
        kept = await session.get(StreetReport, kept_id)
        if kept is None or kept.tenant_id != report.tenant_id or kept.case_id == report.case_id:
            raise ValidationFailed(
                "Le signalement conservé doit être un autre signalement de la même collectivité.",
                errors=[{"field": "kept_case_id", "message": "introuvable", "type": "unknown"}],
            )
        if kept.state not in OPEN_STATES and kept.state != "fixed":
            raise ValidationFailed(
                f"Le signalement conservé ({kept.reference}) est clos : fusionnez vers un "
                "signalement ouvert.",
                errors=[{"field": "kept_case_id", "message": "signalement clos", "type": "state"}],
            )
        report.duplicate_of = kept.case_id
        report.duplicate_reference = kept.reference
        return kept.case_id

    async def _notify(
        self, session: AsyncSession, case: Case, report: StreetReport, seq: int, note: str
    ) -> None:
        followers = list(
            await session.scalars(
                select(StreetReportFollower)
                .where(StreetReportFollower.case_id == case.id)
                .order_by(StreetReportFollower.created_at, StreetReportFollower.email)
            )
        )
        extra = {"label": _label_after(report), "note": note[:2000], "audience": "follower"}
        for follower in followers:
            _outbox(session, case, seq, follower.email, extra, now=case.updated_at)

    async def _notify_department(
        self, session: AsyncSession, case: Case, report: StreetReport, seq: int, note: str
    ) -> None:
        department = await session.get(StreetDepartment, report.department_id)
        if department is None or not department.email:
            return
        extra = {"label": _label_after(report), "note": note[:2000], "audience": "department"}
        _outbox(session, case, seq, department.email, extra, now=case.updated_at)


def _label_after(report: StreetReport) -> str:
    return label(report)


def _outbox(
    session: AsyncSession,
    case: Case,
    seq: int,
    email: str,
    extra: dict[str, Any],
    *,
    now: Any,
) -> None:
    digest = hashlib.sha256(email.encode()).hexdigest()[:16]
    session.add(
        Outbox(
            case_id=case.id,
            kind="notification.send",
            payload={
                "case_id": str(case.id),
                "template": TEMPLATE,
                "seq": seq,
                "recipient": "address",
                "to": email,
                "extra": extra,
            },
            dedupe_key=f"notification:{case.id}:street:{seq}:{digest}",
            status="pending",
            attempts=0,
            created_at=now,
        )
    )


async def move_followers(
    session: AsyncSession, from_case: uuid.UUID, to_case: uuid.UUID, *, now: Any
) -> int:
    """Move the followers of a duplicate to the report kept (once per e-mail address)."""
    kept = set(
        await session.scalars(
            select(StreetReportFollower.email).where(StreetReportFollower.case_id == to_case)
        )
    )
    moved = 0
    for follower in list(
        await session.scalars(
            select(StreetReportFollower).where(StreetReportFollower.case_id == from_case)
        )
    ):
        if follower.email in kept:
            await session.delete(follower)
        else:
            follower.case_id = to_case
            kept.add(follower.email)
            moved += 1
    await session.flush()
    return moved
