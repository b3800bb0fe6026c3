"""The persistence side of the engine: a locked case inside one transaction (CaseStore port)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.ids import new_id
from workflows.cases.models import Case, CaseEvent, Deadline, Outbox
from workflows.engine.actions import ActionContext, CaseView
from workflows.engine.calendar import DelaySpec, LegalCalendar, calendar_for
from workflows.engine.definitions import Definition, Timer
from workflows.engine.runner import Step

GENESIS_HASH = "0" * 64
LIVE = ("active", "suspended")


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    body = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def hashed_fields(event: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": str(event.case_id),
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_kind": event.actor_kind,
        "actor_name": event.actor_name,
        "channel": event.channel,
        "kind": event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "public": event.public,
        "data": event.data,
    }


def calendar_of(case: Case) -> LegalCalendar:
    return calendar_for(
        alsace_moselle=bool(case.calendar_options.get("alsace_moselle", False)),
        timezone=str(case.calendar_options.get("timezone", "Europe/Paris")),
    )


def view_of(case: Case) -> CaseView:
    return CaseView(
        id=case.id,
        tenant_id=case.tenant_id,
        reference=case.reference,
        procedure_key=case.procedure_key,
        definition_version=case.definition_version,
        state=case.state,
        submitter_id=case.submitter_id,
        assignee_id=case.assignee_id,
        payload=case.payload,
    )


class DbCaseStore:
    """Implements ``workflows.engine.runner.CaseStore`` on SQLAlchemy for one locked case."""

    def __init__(
        self,
        session: AsyncSession,
        case: Case,
        *,
        now: datetime,
        last_seq: int,
        last_hash: str,
        channel: str,
    ) -> None:
        self.session = session
        self.case = case
        self.now = now
        self.last_seq = last_seq
        self.last_hash = last_hash
        self.channel = channel
        self.calendar = calendar_of(case)
        self._allocated = last_seq
        self.events: list[CaseEvent] = []
        # A case opened in this transaction has no deadline and no outbox row in the database
        # yet: what it gets is tracked here, which spares a query per timer and per side effect.
        self.fresh = last_seq == 0
        self.new_deadlines: dict[str, Deadline] = {}
        self.new_outbox_keys: set[str] = set()
        self.fresh_outbox: list[dict[str, Any]] = []
        """Outbox rows of a fresh case, inserted with it in one statement (CaseService.open)."""

    @property
    def view(self) -> CaseView:
        return view_of(self.case)

    def next_seq(self) -> int:
        self._allocated += 1
        return self._allocated

    def context(self, seq: int, actor: Actor, definition: Definition) -> ActionContext:
        return _Context(self, seq, actor, definition)

    async def append_event(
        self,
        seq: int,
        *,
        kind: str,
        actor: Actor,
        data: Mapping[str, Any],
        from_state: str | None = None,
        to_state: str | None = None,
        public: bool = True,
    ) -> CaseEvent:
        if seq != self.last_seq + 1:
            raise RuntimeError(f"event seq {seq} out of order after {self.last_seq}")
        event = CaseEvent(
            id=new_id(),
            case_id=self.case.id,
            seq=seq,
            at=self.now,
            actor_id=actor.id,
            actor_kind=actor.kind.value,
            actor_name=actor.display_name,
            channel=self.channel,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            public=public,
            data=dict(data),
            prev_hash=self.last_hash,
            hash="",
        )
        event.hash = event_hash(self.last_hash, hashed_fields(event))
        if not self.fresh:
            self.session.add(event)  # a fresh case's events are inserted with it (CaseService.open)
        self.events.append(event)
        # Every event is offered to the tenant's webhook subscriptions (documents.webhooks fans
        # it out); through the outbox, so that a committed event is never missed.
        self.add_outbox(
            "case.event",
            {"case_id": str(self.case.id), "event_id": str(event.id), "seq": seq},
            f"case.event:{event.id}",
        )
        self.last_seq = seq
        self.last_hash = event.hash
        self.case.updated_at = self.now
        return event

    def add_outbox(self, kind: str, payload: dict[str, Any], dedupe_key: str) -> None:
        row = {
            "id": new_id(),
            "case_id": self.case.id,
            "kind": kind,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "status": "pending",
            "attempts": 0,
            "lease_until": None,
            "created_at": self.now,
            "done_at": None,
            "last_error": None,
        }
        if self.fresh:
            self.fresh_outbox.append(row)
        else:
            self.session.add(Outbox(**row))

    async def record_step(self, seq: int, step: Step, actor: Actor) -> None:
        data: dict[str, Any] = {"transition": step.transition, "automatic": step.automatic}
        if step.data:
            data["input"] = dict(step.data)
        if step.failures:
            data["failures"] = [dict(f) for f in step.failures]
        kind = "case.opened" if step.from_state == "" else "case.transitioned"
        await self.append_event(
            seq,
            kind=kind,
            actor=actor,
            data=data,
            from_state=step.from_state or None,
            to_state=step.to_state,
            public=step.public,
        )
        self.case.state = step.to_state

    # ----- deadlines ---------------------------------------------------------------------------
    async def live_deadline(self, kind: str) -> Deadline | None:
        if self.fresh:
            new = self.new_deadlines.get(kind)
            return new if new is not None and new.status in LIVE else None
        result: Deadline | None = await self.session.scalar(
            select(Deadline).where(
                Deadline.case_id == self.case.id,
                Deadline.kind == kind,
                Deadline.status.in_(LIVE),
            )
        )
        return result

    def legal_today(self, ctx_now: datetime) -> date:
        return self.calendar.local_date(ctx_now)

    async def timers_moved(
        self, definition: Definition, ctx: ActionContext, from_state: str, to_state: str
    ) -> None:
        for timer in definition.timers:
            live = await self.live_deadline(timer.kind)
            if live is None:
                if to_state == timer.starts_in and from_state != to_state:
                    await ctx.start_deadline(timer)
                continue
            if to_state in timer.suspended_in:
                if live.status == "active":
                    await ctx.suspend_deadline(timer.kind)
            elif to_state in (timer.starts_in, *timer.runs_in):
                if live.status == "suspended":
                    await ctx.resume_deadline(timer.kind)
            else:
                await ctx.cancel_deadline(timer.kind)


class _Context:
    """ActionContext for one event of one case."""

    def __init__(self, store: DbCaseStore, seq: int, actor: Actor, definition: Definition) -> None:
        self._store = store
        self._seq = seq
        self._actor = actor
        self._definition = definition
        self._emitted = 0

    @property
    def case(self) -> CaseView:
        return self._store.view

    @property
    def definition(self) -> Definition:
        return self._definition

    @property
    def actor(self) -> Actor:
        return self._actor

    @property
    def now(self) -> datetime:
        return self._store.now

    @property
    def event_seq(self) -> int:
        return self._seq

    def _legal_start(self) -> datetime:
        # Deadlines started when a case opens count from its receipt, not from when it was keyed in.
        return self._store.case.received_at if self._seq == 1 else self._store.now

    async def start_deadline(self, timer: Timer) -> None:
        store = self._store
        if await store.live_deadline(timer.kind) is not None:
            return
        cal = store.calendar
        starts_on = cal.local_date(self._legal_start())
        due_on = cal.due_date(starts_on, timer.delay)
        deadline = Deadline(
            case_id=store.case.id,
            kind=timer.kind,
            transition=timer.fires,
            rule={
                "delay": timer.delay.model_dump(mode="json"),
                "description": timer.delay.describe(),
                "legal_reference": timer.legal_reference or timer.delay.legal_reference,
                "extensions": [],
                "suspensions": [],
            },
            starts_on=starts_on,
            due_on=due_on,
            due_at=cal.expiry_instant(due_on),
            status="active",
            created_seq=self._seq,
            created_at=store.now,
        )
        store.session.add(deadline)
        if store.fresh:
            store.new_deadlines[timer.kind] = deadline
        else:
            await store.session.flush()

    async def _require(self, kind: str) -> Deadline | None:
        return await self._store.live_deadline(kind)

    async def suspend_deadline(self, kind: str) -> None:
        d = await self._require(kind)
        if d is None or d.status != "active":
            return
        d.status = "suspended"
        d.suspended_on = self._store.legal_today(self._store.now)

    async def resume_deadline(self, kind: str) -> None:
        d = await self._require(kind)
        if d is None or d.status != "suspended" or d.suspended_on is None:
            return
        cal = self._store.calendar
        resumed_on = self._store.legal_today(self._store.now)
        spec = DelaySpec.model_validate(d.rule["delay"])
        new_due = cal.resume_due_date(d.due_on, spec, d.suspended_on, resumed_on)
        d.rule = {
            **d.rule,
            "suspensions": [
                *d.rule.get("suspensions", []),
                {"from": d.suspended_on.isoformat(), "to": resumed_on.isoformat()},
            ],
        }
        d.due_on = new_due
        d.due_at = cal.expiry_instant(new_due)
        d.status = "active"
        d.suspended_on = None

    async def extend_deadline(self, kind: str, by: DelaySpec) -> None:
        d = await self._require(kind)
        if d is None:
            return
        if any(e.get("seq") == self._seq for e in d.rule.get("extensions", [])):
            return  # idempotent per event
        cal = self._store.calendar
        d.due_on = cal.extend_due_date(d.due_on, by)
        d.due_at = cal.expiry_instant(d.due_on)
        d.rule = {
            **d.rule,
            "extensions": [
                *d.rule.get("extensions", []),
                {"seq": self._seq, "by": by.model_dump(mode="json"), "description": by.describe()},
            ],
        }

    async def cancel_deadline(self, kind: str) -> None:
        d = await self._require(kind)
        if d is not None:
            d.status = "cancelled"

    async def request_document(self, kind: str, params: Mapping[str, Any]) -> None:
        case = self._store.case
        await self._outbox(
            "document.render",
            {
                "case_id": str(case.id),
                "kind": kind,
                "seq": self._seq,
                "params": {k: v for k, v in params.items() if k != "kind"},
            },
            dedupe_key=f"document:{case.id}:{kind}:{self._seq}",
        )

    async def emit(self, kind: str, payload: Mapping[str, Any]) -> None:
        self._emitted += 1
        case = self._store.case
        await self._outbox(
            kind,
            {"case_id": str(case.id), "seq": self._seq, **payload},
            dedupe_key=f"{kind}:{case.id}:{self._seq}:{self._emitted}",
        )

    async def _outbox(self, kind: str, payload: dict[str, Any], *, dedupe_key: str) -> None:
        store = self._store
        if dedupe_key in store.new_outbox_keys:
            return
        if not store.fresh:
            existing = await store.session.scalar(
                select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)
            )
            if existing is not None:
                return
        store.new_outbox_keys.add(dedupe_key)
        store.add_outbox(kind, payload, dedupe_key)
