"""The runner: applies declared transitions, never matched ones.

``apply`` refuses a transition not declared from the current state (naming the allowed ones),
checks the guard, validates the transition's data, runs the actions in order under their failure
policies, moves the timers, records one step (one CaseEvent), then follows automatic transitions
up to a depth limit. Persistence is behind the ``CaseStore`` port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from services.kernel.actor import Actor, ActorKind
from services.kernel.errors import (
    DefinitionError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from services.kernel.validation import french_errors
from workflows.engine.actions import (
    ActionContext,
    ActionFailed,
    ActionRegistry,
    CaseView,
    ConditionRegistry,
)
from workflows.engine.definitions import (
    Definition,
    FailurePolicy,
    Relation,
    Transition,
    validate_definition,
)

MAX_AUTOMATIC_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Step:
    transition: str
    from_state: str
    to_state: str
    automatic: bool
    data: Mapping[str, Any]
    failures: Sequence[Mapping[str, str]] = ()
    public: bool = True


class CaseStore(Protocol):
    """Persistence port for one locked case, inside one transaction."""

    @property
    def view(self) -> CaseView: ...

    def next_seq(self) -> int: ...

    def context(self, seq: int, actor: Actor, definition: Definition) -> ActionContext: ...

    async def timers_moved(
        self, definition: Definition, ctx: ActionContext, from_state: str, to_state: str
    ) -> None: ...

    async def record_step(self, seq: int, step: Step, actor: Actor) -> None:
        """Append the event and move the case projection to ``step.to_state``."""
        ...


@dataclass
class ProcedureRegistry:
    """Every loaded definition, by key and version. The newest version opens new cases."""

    _by_key: dict[str, dict[int, Definition]] = field(default_factory=dict)

    def add(self, definition: Definition) -> None:
        versions = self._by_key.setdefault(definition.key, {})
        if definition.version in versions:
            raise DefinitionError(definition.ref, ["version loaded twice"])
        versions[definition.version] = definition

    def get(self, key: str, version: int | None = None) -> Definition:
        versions = self._by_key.get(key)
        if not versions:
            raise NotFound(
                f"La démarche « {key} » n'existe pas.",
                extra={"known_procedures": sorted(self._by_key)},
            )
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise NotFound(
                f"La démarche « {key} » n'a pas de version {version}.",
                extra={"versions": sorted(versions)},
            ) from None

    def latest(self) -> list[Definition]:
        return [v[max(v)] for _, v in sorted(self._by_key.items())]

    def versions(self, key: str) -> list[int]:
        return sorted(self._by_key.get(key, {}))


class Engine:
    def __init__(
        self,
        *,
        actions: ActionRegistry,
        conditions: ConditionRegistry | None = None,
        known_roles: frozenset[str],
        max_depth: int = MAX_AUTOMATIC_DEPTH,
    ) -> None:
        self.actions = actions
        self.conditions = conditions or ConditionRegistry()
        self.known_roles = known_roles
        self.max_depth = max_depth
        self.procedures = ProcedureRegistry()

    def load(self, definition: Definition) -> Definition:
        validate_definition(
            definition,
            known_roles=self.known_roles,
            known_actions=self.actions.keys(),
            known_conditions=self.conditions.keys(),
        )
        self.procedures.add(definition)
        return definition

    # ----- guards -------------------------------------------------------------------------
    def may_fire(self, transition: Transition, actor: Actor, case: CaseView) -> bool:
        guard = transition.guard
        if actor.kind is ActorKind.SYSTEM:
            return guard.system
        if guard.roles and set(guard.roles) & actor.roles_in(case.tenant_id):
            return True
        if Relation.SUBMITTER in guard.relations and case.submitter_id == actor.id:
            return True
        return Relation.ASSIGNEE in guard.relations and case.assignee_id == actor.id

    def available(self, definition: Definition, case: CaseView, actor: Actor) -> list[Transition]:
        return [
            t
            for t in definition.transitions_from(case.state)
            if not t.automatic and self.may_fire(t, actor, case)
        ]

    # ----- apply --------------------------------------------------------------------------
    async def apply(
        self,
        definition: Definition,
        store: CaseStore,
        transition_name: str,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
    ) -> list[Step]:
        case = store.view
        allowed = [t.name for t in self.available(definition, case, actor)]
        try:
            transition = definition.transition(transition_name)
        except KeyError:
            raise InvalidTransition(
                f"La transition « {transition_name} » n'existe pas dans la démarche "
                f"{definition.key}. Transitions possibles depuis l'état « {case.state} » : "
                f"{', '.join(allowed) or 'aucune'}.",
                allowed=allowed,
            ) from None
        if case.state not in transition.sources:
            raise InvalidTransition(
                f"La transition « {transition_name} » n'est pas possible depuis l'état "
                f"« {case.state} ». Transitions possibles : {', '.join(allowed) or 'aucune'}.",
                allowed=allowed,
                extra={"state": case.state},
            )
        if transition.automatic and actor.kind is not ActorKind.SYSTEM:
            raise InvalidTransition(
                f"La transition « {transition_name} » est automatique : elle ne se déclenche pas "
                "à la main.",
                allowed=allowed,
            )
        if not self.may_fire(transition, actor, case):
            raise Forbidden(
                f"Vous n'avez pas le droit d'effectuer « {transition.title} » sur ce dossier.",
                extra={"transition": transition_name},
            )
        data: dict[str, Any] = {}
        if transition.payload_schema is not None:
            try:
                model = transition.payload_schema.model_validate(payload or {})
            except ValidationError as exc:
                raise ValidationFailed(
                    f"Les données de « {transition.title} » sont invalides.",
                    errors=french_errors(exc, prefix="payload"),
                ) from None
            data = model.model_dump(mode="json")
        elif payload:
            raise ValidationFailed(
                f"« {transition.title} » n'attend pas de données.",
                errors=[{"field": "payload", "message": "aucune donnée attendue", "type": "extra"}],
            )
        steps = [await self._run(definition, store, transition, actor, data, automatic=False)]
        steps.extend(await self.follow_automatic(definition, store))
        return steps

    async def follow_automatic(self, definition: Definition, store: CaseStore) -> list[Step]:
        from services.kernel.actor import SYSTEM_ACTOR

        steps: list[Step] = []
        for _ in range(self.max_depth):
            case = store.view
            nxt = next(
                (
                    t
                    for t in definition.transitions_from(case.state)
                    if t.automatic
                    and (t.condition is None or self.conditions.get(t.condition)(case))
                ),
                None,
            )
            if nxt is None:
                return steps
            steps.append(await self._run(definition, store, nxt, SYSTEM_ACTOR, {}, automatic=True))
        if any(
            t.automatic and (t.condition is None or self.conditions.get(t.condition)(store.view))
            for t in definition.transitions_from(store.view.state)
        ):
            raise DefinitionError(
                definition.ref, [f"automatic transitions loop beyond depth {self.max_depth}"]
            )
        return steps

    async def open(self, definition: Definition, store: CaseStore, actor: Actor) -> list[Step]:
        """Run the on_open actions, start the initial state's timers, record ``case.opened``."""
        seq = store.next_seq()
        ctx = store.context(seq, actor, definition)
        failures: list[dict[str, str]] = []
        for spec in definition.on_open:
            try:
                await self.actions.get(spec.key).perform(ctx, spec.params)
            except ActionFailed as exc:
                if spec.on_failure is FailurePolicy.STOP:
                    raise ValidationFailed(
                        f"Le dossier n'a pas pu être ouvert : {exc}",
                        errors=[{"field": spec.key, "message": str(exc), "type": "action"}],
                    ) from exc
                failures.append({"action": spec.key, "message": str(exc)})
        step = Step(
            transition="open",
            from_state="",
            to_state=definition.initial_state,
            automatic=False,
            data={},
            failures=failures,
            public=True,
        )
        await store.timers_moved(definition, ctx, "", definition.initial_state)
        await store.record_step(seq, step, actor)
        return [step, *await self.follow_automatic(definition, store)]

    async def _run(
        self,
        definition: Definition,
        store: CaseStore,
        transition: Transition,
        actor: Actor,
        data: Mapping[str, Any],
        *,
        automatic: bool,
    ) -> Step:
        seq = store.next_seq()
        ctx = store.context(seq, actor, definition)
        from_state = store.view.state
        target = transition.target
        failures: list[dict[str, str]] = []
        for spec in transition.actions:
            try:
                # Declared parameters win over what an actor sends with the transition.
                await self.actions.get(spec.key).perform(ctx, {**data, **spec.params})
            except ActionFailed as exc:
                if spec.on_failure is FailurePolicy.STOP:
                    raise ValidationFailed(
                        f"« {transition.title} » n'a pas pu aboutir : {exc}",
                        errors=[{"field": spec.key, "message": str(exc), "type": "action"}],
                    ) from exc
                failures.append({"action": spec.key, "message": str(exc)})
                if spec.on_failure is FailurePolicy.GOTO and spec.failure_state:
                    target = spec.failure_state
                    break
        step = Step(
            transition=transition.name,
            from_state=from_state,
            to_state=target,
            automatic=automatic,
            data=data,
            failures=failures,
            public=transition.public and definition.state(target).public,
        )
        await store.timers_moved(definition, ctx, from_state, target)
        await store.record_step(seq, step, actor)
        return step
