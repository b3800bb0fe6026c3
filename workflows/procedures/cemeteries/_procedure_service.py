"""Ex officio cemetery procedures (reprise, abandon) and the renewal-right information (loi 3DS).

These cases are not requests: no acknowledgement is owed, so they do not go through the intake
door. The town hall opens them (an instructor, or Guichet itself for the renewal information);
the projector checks their preconditions when they open.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import SYSTEM_ACTOR, Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden, NotFound, ValidationFailed
from services.kernel.validation import french_errors
from workflows.cases.models import Case
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries.definitions import EX_OFFICIO_KEYS
from workflows.procedures.cemeteries.models import Concession, ConcessionStatus


async def _insee(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    # The tenant table belongs to identity, which workflows never import: read the one column.
    query = text("SELECT insee_code FROM tenant WHERE id = :id").bindparams(
        bindparam("id", type_=Uuid)
    )
    code = await session.scalar(query, {"id": tenant_id})
    if code is None:
        raise NotFound("Collectivité inconnue.")
    return str(code)


async def open_ex_officio(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    *,
    tenant_id: uuid.UUID,
    procedure_key: str,
    payload: dict[str, Any],
    actor: Actor,
) -> Case:
    """Open a reprise or abandon case for the tenant (instructors, supervisors, admins, or the
    system). Forbidden for other actors; 422 for a bad payload; the projector's 404/409/422."""
    if procedure_key not in EX_OFFICIO_KEYS:
        raise NotFound(f"La procédure « {procedure_key} » ne s'engage pas d'office.")
    definition = engine.procedures.get(procedure_key)
    if actor.kind is not ActorKind.SYSTEM and not (
        actor.kind is ActorKind.AGENT and actor.roles_in(tenant_id) & set(definition.intake_roles)
    ):
        raise Forbidden("Seuls les instructeurs de la commune engagent cette procédure.")
    try:
        data = definition.payload_schema.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        raise ValidationFailed(
            f"Les données de « {definition.title} » sont invalides.",
            errors=french_errors(exc, prefix="payload"),
        ) from None
    now = clock.now()
    opened = await CaseService(session, engine, clock).open(
        definition,
        tenant_id=tenant_id,
        insee_code=await _insee(session, tenant_id),
        calendar_options={"timezone": "Europe/Paris"},
        channel="api",
        actor=actor,
        submitter={"kind": "commune", "name": "Commune (procédure d'office)"},
        submitter_id=None,
        on_behalf_of=None,
        agent_id=actor.id if actor.kind is ActorKind.AGENT else None,
        api_client_id=None,
        received_at=now,
        payload=data,
        external_ref=f"{procedure_key}:{data['concession_id']}:{now.date().isoformat()}",
        search_text=procedure_key,
    )
    return opened.case


async def _open_reprise_concessions(session: AsyncSession, tenant_id: uuid.UUID) -> set[str]:
    rows = await session.scalars(
        select(Case.payload).where(
            Case.tenant_id == tenant_id,
            Case.procedure_key == "cemeteries.reprise",
            Case.state.not_in(("completed", "closed")),
        )
    )
    return {str(p.get("concession_id")) for p in rows}


async def send_renewal_information(
    session: AsyncSession, engine: Engine, clock: Clock, *, today: date
) -> list[uuid.UUID]:
    """Loi 3DS (L2223-15): for every concession past its term whose holders were not yet told of
    their renewal right, open a reprise case and send the ``renewal_information`` letter (which
    sets ``renewal_info_sent_at``). Safe to run twice: a concession with an open reprise case or
    an information already sent is skipped. Returns the cases opened."""
    due = (
        await session.scalars(
            select(Concession).where(
                Concession.status.in_((ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE)),
                Concession.ends_on.is_not(None),
                Concession.ends_on <= today,
                Concession.renewal_info_sent_at.is_(None),
            )
        )
    ).all()
    opened: list[uuid.UUID] = []
    busy: dict[uuid.UUID, set[str]] = {}
    service = CaseService(session, engine, clock)
    for concession in due:
        if concession.tenant_id not in busy:
            busy[concession.tenant_id] = await _open_reprise_concessions(
                session, concession.tenant_id
            )
        if str(concession.id) in busy[concession.tenant_id]:
            continue
        case = await open_ex_officio(
            session,
            engine,
            clock,
            tenant_id=concession.tenant_id,
            procedure_key="cemeteries.reprise",
            payload={"concession_id": str(concession.id)},
            actor=SYSTEM_ACTOR,
        )
        await service.apply(case.id, "send_renewal_information", SYSTEM_ACTOR)
        busy[concession.tenant_id].add(str(concession.id))
        opened.append(case.id)
    return opened
