"""CaseService: opens cases, applies transitions under a row lock, adds messages, assigns."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.clock import Clock
from services.kernel.db import is_postgres
from services.kernel.errors import (
    Conflict,
    Forbidden,
    HiddenDenial,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from services.kernel.ids import new_id
from services.kernel.ports import AgentDirectory
from workflows.cases import projections, repository
from workflows.cases._store import GENESIS_HASH, DbCaseStore, calendar_of, view_of
from workflows.cases.models import Case, CaseEvent, Deadline, Outbox, ReferenceCounter
from workflows.engine.definitions import Definition
from workflows.engine.runner import Engine, Step

CASE_TABLE = cast(Table, Case.__table__)
EVENT_TABLE = cast(Table, CaseEvent.__table__)
OUTBOX_TABLE = cast(Table, Outbox.__table__)


def _row(obj: Case | CaseEvent) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


MANAGER_ROLES = frozenset({Role.INSTRUCTOR, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class OpenedCase:
    case: Case
    created: bool
    """False when an identical external reference was replayed (idempotent intake)."""


class CaseService:
    def __init__(self, session: AsyncSession, engine: Engine, clock: Clock) -> None:
        self.session = session
        self.engine = engine
        self.clock = clock

    # ----- reading ----------------------------------------------------------------------------
    async def get_for(self, case_id: uuid.UUID, actor: Actor) -> Case:
        return await repository.visible_case(self.session, case_id, actor)

    def definition_of(self, case: Case) -> Definition:
        return self.engine.procedures.get(case.procedure_key, case.definition_version)

    # ----- opening ----------------------------------------------------------------------------
    async def next_reference(
        self, tenant_id: uuid.UUID, insee_code: str, year: int, scope: str = "case"
    ) -> str:
        """Gap-free per tenant, scope and year: the counter row is locked by its UPDATE until
        COMMIT, so take it as late as possible in the transaction."""
        table = ReferenceCounter.__table__.c
        conn = await self.session.connection()
        stmt = (
            update(ReferenceCounter)
            .where(table.tenant_id == tenant_id, table.scope == scope, table.year == year)
            .values(value=table.value + 1)
            .returning(table.value)
        )
        value = (await conn.execute(stmt)).scalar_one_or_none()
        if value is None:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(ReferenceCounter).values(
                            tenant_id=tenant_id, scope=scope, year=year, value=1
                        )
                    )
                value = 1
            except IntegrityError:  # another transaction created it first
                value = (await conn.execute(stmt)).scalar_one()
        return f"{insee_code}-{year}-{value:06d}"

    async def open(
        self,
        definition: Definition,
        *,
        tenant_id: uuid.UUID,
        insee_code: str,
        calendar_options: Mapping[str, Any],
        channel: str,
        actor: Actor,
        submitter: Mapping[str, Any],
        submitter_id: uuid.UUID | None,
        on_behalf_of: Mapping[str, Any] | None,
        agent_id: uuid.UUID | None,
        api_client_id: uuid.UUID | None,
        received_at: datetime,
        payload: Mapping[str, Any],
        external_ref: str | None,
        search_text: str,
        case_id: uuid.UUID | None = None,
        extra_outbox: Sequence[tuple[str, dict[str, Any], str]] = (),
        mandate_id: uuid.UUID | None = None,
        organisation_id: uuid.UUID | None = None,
        channel_data: Mapping[str, Any] | None = None,
    ) -> OpenedCase:
        """Open a case: its row, its first events, deadlines and outbox rows (plus
        ``extra_outbox``: kind, payload, dedupe key) — all in the caller's transaction."""
        now = self.clock.now()
        if external_ref is not None:
            conn = await self.session.connection()
            existing_id = await conn.scalar(
                select(Case.id).where(
                    Case.tenant_id == tenant_id,
                    Case.channel == channel,
                    Case.external_ref == external_ref,
                )
            )
            if existing_id is not None:
                existing = await self.session.get(Case, existing_id)
                assert existing is not None
                if existing.api_client_id != api_client_id:
                    # Another client's (or channel user's) request: never hand its case over.
                    raise Conflict(
                        "Cette référence externe (ou clé d'idempotence) est déjà celle d'une "
                        "demande déposée par un autre client de la collectivité : choisissez-en "
                        "une autre.",
                        extra={"external_ref": external_ref},
                    )
                return OpenedCase(existing, created=False)
        case = Case(
            id=case_id or new_id(),
            tenant_id=tenant_id,
            procedure_key=definition.key,
            definition_version=definition.version,
            reference="",
            state=definition.initial_state,
            channel=channel,
            submitter_id=submitter_id,
            submitter=dict(submitter),
            on_behalf_of=dict(on_behalf_of) if on_behalf_of else None,
            mandate_id=mandate_id,
            organisation_id=organisation_id,
            channel_data=dict(channel_data) if channel_data else None,
            agent_id=agent_id,
            api_client_id=api_client_id,
            assignee_id=None,
            received_at=received_at,
            registered_at=now,
            external_ref=external_ref,
            payload=dict(payload),
            calendar_options=dict(calendar_options),
            search_text=search_text,
            version=1,
            updated_at=now,
        )
        store = DbCaseStore(
            self.session, case, now=now, last_seq=0, last_hash=GENESIS_HASH, channel=channel
        )
        await self.engine.open(definition, store, actor)
        for kind, payload, key in extra_outbox:
            store.add_outbox(kind, payload, key)
        # The reference is taken last: the counter row stays locked only from here to COMMIT.
        year = calendar_of(case).local_date(received_at).year
        case.reference = await self.next_reference(tenant_id, insee_code, year)
        # A new case and its first events go in as two plain INSERTs (the ORM's unit of work
        # costs more than the database here); deadlines and outbox rows follow at flush.
        conn = await self.session.connection()
        await conn.execute(insert(CASE_TABLE), [_row(case)])
        await conn.execute(insert(EVENT_TABLE), [_row(e) for e in store.events])
        if store.fresh_outbox:
            await conn.execute(insert(OUTBOX_TABLE), store.fresh_outbox)
        await self.session.flush()
        await projections.project_opened(self.session, case)
        return OpenedCase(case, created=True)

    # ----- transitions ------------------------------------------------------------------------
    async def lock(self, case_id: uuid.UUID, *, visible_to: Actor | None = None) -> Case:
        """The case, row-locked until the end of the transaction; NotFound if it does not exist
        or, given ``visible_to``, if that actor may not see it (never revealed: HiddenDenial)."""
        stmt = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
        if is_postgres(self.session):
            stmt = stmt.with_for_update()
        case = await self.session.scalar(stmt)
        if case is None:
            # The same words as for a hidden case: the answer must not tell them apart.
            raise NotFound(repository.NOT_VISIBLE if visible_to else "Dossier introuvable.")
        if visible_to is not None and not repository.can_see(visible_to, case):
            raise HiddenDenial(repository.NOT_VISIBLE)
        return case

    async def _store_for(self, case: Case, channel: str) -> DbCaseStore:
        last = (
            await self.session.execute(
                select(CaseEvent.seq, CaseEvent.hash)
                .where(CaseEvent.case_id == case.id)
                .order_by(CaseEvent.seq.desc())
                .limit(1)
            )
        ).first()
        last_seq, last_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
        return DbCaseStore(
            self.session,
            case,
            now=self.clock.now(),
            last_seq=last_seq,
            last_hash=last_hash,
            channel=channel,
        )

    async def apply(
        self,
        case_id: uuid.UUID,
        transition: str,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        channel: str = "api",
    ) -> tuple[Case, list[Step]]:
        case = await self.lock(case_id, visible_to=actor)
        if expected_version is not None and expected_version != case.version:
            raise StaleVersion(
                f"Le dossier {case.reference} a été modifié entre-temps (vous aviez la version "
                f"{expected_version}, il est en version {case.version}). Rechargez-le.",
                extra={"current_version": case.version, "state": case.state},
            )
        definition = self.definition_of(case)
        store = await self._store_for(case, channel)
        steps = await self.engine.apply(definition, store, transition, actor, payload)
        case.version += 1
        await self.session.flush()
        await projections.project_transitioned(self.session, case, steps)
        return case, steps

    async def fire_deadline(self, deadline: Deadline, actor: Actor) -> list[Step]:
        """Fire a due deadline once: mark it fired, then apply its transition as the system."""
        case = await self.lock(deadline.case_id)
        deadline.status = "fired"
        deadline.fired_at = self.clock.now()
        # Flush now (autoflush is off): otherwise the timer bookkeeping of the transition below
        # still finds this deadline live and cancels it, and the deadline ends "cancelled".
        await self.session.flush()
        definition = self.definition_of(case)
        store = await self._store_for(case, "system")
        allowed = [t.name for t in definition.transitions_from(case.state)]
        if deadline.transition not in allowed:
            deadline.status = "obsolete"
            await store.append_event(
                store.next_seq(),
                kind="deadline.obsolete",
                actor=actor,
                data={"deadline": deadline.kind, "transition": deadline.transition},
                public=False,
            )
            case.version += 1
            return []
        steps = await self.engine.apply(definition, store, deadline.transition, actor, None)
        case.version += 1
        await self.session.flush()
        await projections.project_transitioned(self.session, case, steps)
        return steps

    # ----- messages and assignment ------------------------------------------------------------
    async def add_message(
        self, case_id: uuid.UUID, actor: Actor, text: str, *, public: bool, channel: str = "api"
    ) -> CaseEvent:
        text = text.strip()
        if not text:
            raise ValidationFailed(
                "Le message est vide.",
                errors=[{"field": "text", "message": "texte vide", "type": "missing"}],
            )
        if actor.kind is ActorKind.PERSON and not public:
            raise ValidationFailed(
                "Un usager ne peut pas écrire de note interne : son message est toujours visible "
                "dans son dossier. Renvoyez-le sans « public »: false.",
                errors=[{"field": "public", "message": "réservé aux agents", "type": "forbidden"}],
            )
        case = await self.lock(case_id, visible_to=actor)
        store = await self._store_for(case, channel)
        event = await store.append_event(
            store.next_seq(), kind="case.message", actor=actor, data={"text": text}, public=public
        )
        if public:
            # Each message is announced by e-mail (its text stays in the secure space): to the
            # agents in charge when the person writes, to the person when an agent does.
            to = "agent" if actor.kind in (ActorKind.PERSON, ActorKind.SYSTEM) else "submitter"
            store.add_outbox(
                "notification.send",
                {
                    "case_id": str(case.id),
                    "template": "case.message" if to == "submitter" else "case.message_to_agent",
                    "seq": event.seq,
                    "recipient": to,
                },
                f"notification:{case.id}:message:{event.seq}",
            )
        await self.session.flush()
        return event

    async def record(
        self,
        case_id: uuid.UUID,
        kind: str,
        actor: Actor,
        data: Mapping[str, Any],
        *,
        public: bool,
        channel: str = "system",
        visible_to: Actor | None = None,
    ) -> CaseEvent:
        """Append an event that leaves the case's state as it is (a document generated, a
        notification sent...), under the case's row lock. The version is not bumped: background
        work never makes an agent's pending decision stale."""
        case = await self.lock(case_id, visible_to=visible_to)
        store = await self._store_for(case, channel)
        event = await store.append_event(
            store.next_seq(), kind=kind, actor=actor, data=data, public=public
        )
        await self.session.flush()
        return event

    async def assign(
        self,
        case_id: uuid.UUID,
        assignee_id: uuid.UUID | None,
        actor: Actor,
        *,
        directory: AgentDirectory,
        expected_version: int | None = None,
    ) -> Case:
        case = await self.lock(case_id, visible_to=actor)
        if actor.kind is not ActorKind.AGENT or not (
            actor.roles_in(case.tenant_id) & MANAGER_ROLES
        ):
            raise Forbidden(
                "Seuls les instructeurs, superviseurs et administrateurs attribuent un dossier."
            )
        if expected_version is not None and expected_version != case.version:
            raise StaleVersion(
                f"Le dossier {case.reference} a été modifié entre-temps. Rechargez-le.",
                extra={"current_version": case.version},
            )
        if assignee_id is not None:
            roles = await directory.roles_of(self.session, assignee_id, case.tenant_id)
            if roles is None:
                raise NotFound("Agent à qui attribuer le dossier introuvable.")
            if not roles:
                raise ValidationFailed(
                    "Cet agent n'a aucun rôle dans la collectivité du dossier : "
                    "il ne peut pas en être chargé.",
                    errors=[{"field": "assignee_id", "message": "aucun rôle ici", "type": "role"}],
                )
        store = await self._store_for(case, "api")
        case.assignee_id = assignee_id
        await store.append_event(
            store.next_seq(),
            kind="case.assigned",
            actor=actor,
            data={"assignee_id": str(assignee_id) if assignee_id else None},
            public=False,
        )
        case.version += 1
        await self.session.flush()
        return case

    def available_transitions(self, case: Case, actor: Actor) -> Sequence[str]:
        return [
            t.name for t in self.engine.available(self.definition_of(case), view_of(case), actor)
        ]
