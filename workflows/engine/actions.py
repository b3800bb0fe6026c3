"""Actions: small registered classes with a stable key, an idempotent ``perform`` and a failure policy.

The engine knows only the base class and the registry. What an action may touch is the
``ActionContext`` port, implemented by the persistence layer (workflows.cases).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from services.kernel.actor import Actor
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import Definition, Timer


class ActionFailed(Exception):
    """An action could not do its work; the action's failure policy decides what follows."""


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the engine and actions may read of a case. Not its channel: a request is handled the
    same way whether it came by web, counter, phone or mail (DESIGN §4)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    reference: str
    procedure_key: str
    definition_version: int
    state: str
    submitter_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    payload: Mapping[str, Any] = field(default_factory=dict)


class ActionContext(Protocol):
    """The port through which actions act. Every method must be idempotent per (case, seq)."""

    @property
    def case(self) -> CaseView: ...
    @property
    def definition(self) -> Definition: ...
    @property
    def actor(self) -> Actor: ...
    @property
    def now(self) -> datetime: ...
    @property
    def event_seq(self) -> int:
        """Sequence number of the event this action belongs to."""
        ...

    async def start_deadline(self, timer: Timer) -> None: ...
    async def suspend_deadline(self, kind: str) -> None: ...
    async def resume_deadline(self, kind: str) -> None: ...
    async def extend_deadline(self, kind: str, by: DelaySpec) -> None: ...
    async def cancel_deadline(self, kind: str) -> None: ...
    async def request_document(self, kind: str, params: Mapping[str, Any]) -> None: ...
    async def emit(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Queue a side effect (mail, webhook) in the outbox."""
        ...


class Action:
    key: ClassVar[str]
    description: ClassVar[str] = ""

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        raise NotImplementedError


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> None:
        if action.key in self._actions:
            raise ValueError(f"action {action.key!r} registered twice")
        self._actions[action.key] = action

    def get(self, key: str) -> Action:
        return self._actions[key]

    def keys(self) -> frozenset[str]:
        return frozenset(self._actions)


Condition = Callable[[CaseView], bool]


class ConditionRegistry:
    def __init__(self) -> None:
        self._conditions: dict[str, Condition] = {}

    def register(self, key: str, condition: Condition) -> None:
        if key in self._conditions:
            raise ValueError(f"condition {key!r} registered twice")
        self._conditions[key] = condition

    def get(self, key: str) -> Condition:
        return self._conditions[key]

    def keys(self) -> frozenset[str]:
        return frozenset(self._conditions)


# ----- built-in actions ---------------------------------------------------------------------


def _kind(params: Mapping[str, Any]) -> str:
    kind = params.get("kind")
    if not isinstance(kind, str):
        raise ActionFailed("paramètre 'kind' manquant")
    return kind


class RequestDocument(Action):
    key = "document.request"
    description = "Queue the rendering of a document of a declared kind."

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        # Who asked goes with the request: letters and decisions print the agent's name and
        # title (L111-2, L212-2 CRPA) unless the definition names a signatory.
        requested_by = {"name": ctx.actor.display_name, "title": ctx.actor.title or ""}
        await ctx.request_document(_kind(params), {"requested_by": requested_by, **params})


class StartDeadline(Action):
    key = "deadline.start"
    description = "Start a declared timer now (besides the automatic start on entering a state)."

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        await ctx.start_deadline(ctx.definition.timer(_kind(params)))


class SuspendDeadline(Action):
    key = "deadline.suspend"

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        await ctx.suspend_deadline(_kind(params))


class ResumeDeadline(Action):
    key = "deadline.resume"

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        await ctx.resume_deadline(_kind(params))


class ExtendDeadline(Action):
    key = "deadline.extend"
    description = (
        "Extend a running deadline (majoration): params kind, amount, unit, legal_reference."
    )

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        by = DelaySpec(
            amount=int(params.get("amount", 0)),
            unit=DelayUnit(params.get("unit", DelayUnit.MONTHS)),
            legal_reference=str(params.get("legal_reference", "")),
        )
        await ctx.extend_deadline(_kind(params), by)


class CancelDeadline(Action):
    key = "deadline.cancel"

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        await ctx.cancel_deadline(_kind(params))


class Notify(Action):
    key = "notify.submitter"
    description = "Queue a notification to the submitter (template given by params['template'])."

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        await ctx.emit("notification.send", {"template": params.get("template", "case.updated")})


BUILTIN_ACTIONS: tuple[type[Action], ...] = (
    RequestDocument,
    StartDeadline,
    SuspendDeadline,
    ResumeDeadline,
    ExtendDeadline,
    CancelDeadline,
    Notify,
)


def default_action_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for cls in BUILTIN_ACTIONS:
        registry.register(cls())
    return registry
