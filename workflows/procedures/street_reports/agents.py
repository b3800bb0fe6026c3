"""What agents do with street reports: see their department's queue, act in bulk, merge
duplicates.

Who sees a department's queue: its members, and the tenant's instructors, supervisors and
administrators (a role on the métropole covers its communes). Anyone else gets 404: a tenant's
departments do not exist for another tenant's agents.

Bulk actions apply each transition through ``CaseService.apply`` in its own savepoint: one
failing case (wrong state, stale, forbidden) is reported with its reason and does not undo the
others.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.clock import Clock
from services.kernel.errors import GuichetError, HiddenDenial, ValidationFailed
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.definition import REJECTION_REASONS
from workflows.procedures.street_reports.models import (
    StreetDepartment,
    StreetDepartmentMember,
    StreetReport,
)

MANAGERS = frozenset({Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value})
NOT_FOUND = "Service introuvable (ou hors de vos collectivités)."
REPORT_NOT_FOUND = "Signalement introuvable (ou hors de vos collectivités)."
MAX_BULK = 200


async def is_member(session: AsyncSession, department_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(StreetDepartmentMember.id).where(
            StreetDepartmentMember.department_id == department_id,
            StreetDepartmentMember.agent_id == agent_id,
        )
    )
    return found is not None


async def may_see_department(
    session: AsyncSession, actor: Actor, department: StreetDepartment
) -> bool:
    if actor.kind is not ActorKind.AGENT:
        return False
    roles = actor.roles_in(department.tenant_id)
    if not roles:
        return False
    return bool(roles & MANAGERS) or await is_member(session, department.id, actor.id)


async def visible_departments(
    session: AsyncSession, actor: Actor, *, tenant_ids: Sequence[uuid.UUID], code: str
) -> list[StreetDepartment]:
    """The departments with this code, in these tenants, whose queue the actor may see;
    404 when there are none."""
    departments = list(
        await session.scalars(
            select(StreetDepartment)
            .where(StreetDepartment.tenant_id.in_(list(tenant_ids)), StreetDepartment.code == code)
            .order_by(StreetDepartment.tenant_id)
        )
    )
    seen = [d for d in departments if await may_see_department(session, actor, d)]
    if not seen:
        raise HiddenDenial(NOT_FOUND)
    return seen


async def visible_report(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> StreetReport:
    """A report of a department the agent may see, else 404."""
    report = await session.get(StreetReport, case_id)
    if report is None:
        raise HiddenDenial(REPORT_NOT_FOUND)
    department = await session.get(StreetDepartment, report.department_id)
    if department is None or not await may_see_department(session, actor, department):
        raise HiddenDenial(REPORT_NOT_FOUND)
    return report


BulkAction = Literal["acknowledge", "schedule", "close"]


@dataclass(frozen=True, slots=True)
class BulkResult:
    case_id: uuid.UUID
    ok: bool
    reference: str | None = None
    state: str | None = None
    error: str | None = None
    code: str | None = None


def _transition_for(
    action: BulkAction, report: StreetReport, when: date | None, reason: str | None
) -> tuple[str, dict[str, Any]]:
    if action == "acknowledge":
        return "acknowledge", {}
    if action == "schedule":
        if when is None:
            raise ValidationFailed(
                "Indiquez la date de l'intervention programmée.",
                errors=[{"field": "date", "message": "obligatoire", "type": "missing"}],
            )
        return "schedule", {"date": when.isoformat()}
    if report.state == "fixed":
        return "close", ({"note": reason} if reason else {})
    if not (reason or "").strip():
        raise ValidationFailed(
            f"Le signalement {report.reference} n'est pas résolu : le clore, c'est ne pas le "
            "retenir, ce qui demande un motif (reason).",
            errors=[{"field": "reason", "message": "motif obligatoire", "type": "missing"}],
        )
    text = (reason or "").strip()
    if text in REJECTION_REASONS and text != "autre":
        return "reject", {"reason": text}
    return "reject", {"reason": "autre", "details": text[:500]}


async def bulk_apply(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    *,
    action: BulkAction,
    case_ids: Sequence[uuid.UUID],
    when: date | None = None,
    reason: str | None = None,
) -> list[BulkResult]:
    if not case_ids or len(case_ids) > MAX_BULK:
        raise ValidationFailed(
            f"Sélectionnez entre 1 et {MAX_BULK} signalements.",
            errors=[{"field": "case_ids", "message": f"1 à {MAX_BULK}", "type": "range"}],
        )
    service = CaseService(session, engine, clock)
    results: list[BulkResult] = []
    for case_id in dict.fromkeys(case_ids):
        try:
            async with session.begin_nested():
                report = await visible_report(session, actor, case_id)
                transition, payload = _transition_for(action, report, when, reason)
                case, _ = await service.apply(case_id, transition, actor, payload)
            results.append(BulkResult(case_id, True, case.reference, case.state))
        except GuichetError as exc:
            results.append(BulkResult(case_id, False, error=exc.detail, code=type(exc).code))
    return results


async def merge(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    *,
    duplicate_id: uuid.UUID,
    kept_id: uuid.UUID,
) -> StreetReport:
    """Mark ``duplicate_id`` as a duplicate of ``kept_id``: it goes to ``duplicate`` (« Déjà
    signalé, n° … »), its followers move to the report kept (the projector does it, so that the
    generic case API gives the same result)."""
    duplicate = await visible_report(session, actor, duplicate_id)
    kept = await visible_report(session, actor, kept_id)
    if duplicate.case_id == kept.case_id:
        raise ValidationFailed(
            "Un signalement ne peut pas être le doublon de lui-même.",
            errors=[{"field": "kept_case_id", "message": "même signalement", "type": "same"}],
        )
    await CaseService(session, engine, clock).apply(
        duplicate.case_id,
        "mark_duplicate",
        actor,
        {"kept_case_id": str(kept.case_id), "kept_reference": kept.reference},
    )
    await session.refresh(duplicate)
    return duplicate


async def merge_references(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    actor: Actor,
    *,
    duplicate: str,
    kept: str,
) -> StreetReport:
    """``merge`` by references; a reference the agent may not see is 404 (never told apart)."""
    ids: list[uuid.UUID] = []
    for reference in (duplicate, kept):
        found = await session.scalar(
            select(StreetReport.case_id).where(StreetReport.reference == reference.strip()[:40])
        )
        if found is None:
            raise HiddenDenial(REPORT_NOT_FOUND)
        ids.append(found)
    return await merge(session, engine, clock, actor, duplicate_id=ids[0], kept_id=ids[1])
