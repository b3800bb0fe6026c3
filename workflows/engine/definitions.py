"""Procedure definitions: declarative, frozen, typed, checked when loaded.

A definition says which states exist (public or internal), which transitions are declared from
which states, who may fire them (guards), which actions they run, which timers (legal deadlines)
fire which transition, which documents may be requested, and the schema of the intake payload.
"""

from __future__ import annotations

import re
from collections import deque
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kernel.errors import DefinitionError
from workflows.engine.calendar import DelaySpec


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class State(_Frozen):
    name: str
    title: str
    public: bool = True
    terminal: bool = False
    public_title: str | None = None
    """Name shown to the public when it differs from the agents' one."""


class Relation(StrEnum):
    """Who the actor is to the case."""

    SUBMITTER = "submitter"
    ASSIGNEE = "assignee"


class Guard(_Frozen):
    """Who may fire a transition. Default deny: an empty guard allows nobody (refused at load)."""

    roles: tuple[str, ...] = ()
    relations: tuple[Relation, ...] = ()
    system: bool = False
    """Timers and automatic follow-ups act as the system actor."""

    def is_empty(self) -> bool:
        return not (self.roles or self.relations or self.system)


class FailurePolicy(StrEnum):
    STOP = "stop"
    """Abort the whole transition: nothing is written."""
    CONTINUE = "continue"
    """Record the failure in the event and go on."""
    GOTO = "goto"
    """Record the failure and land in ``failure_state`` instead of the transition's target."""


class ActionSpec(_Frozen):
    key: str
    params: dict[str, Any] = Field(default_factory=dict)
    on_failure: FailurePolicy = FailurePolicy.STOP
    failure_state: str | None = None


class Transition(_Frozen):
    name: str
    title: str
    sources: tuple[str, ...]
    target: str
    guard: Guard
    actions: tuple[ActionSpec, ...] = ()
    automatic: bool = False
    """Fired by the engine, right after the case enters one of ``sources``, when ``condition`` holds."""
    condition: str | None = None
    """Key of a registered condition (automatic transitions only); None means always."""
    payload_schema: type[BaseModel] | None = None
    """Schema of the data an actor gives with the transition (a reason, a date...)."""
    public: bool = True
    """Whether the resulting event is shown to the public."""


class Timer(_Frozen):
    """A legal deadline: started on entering ``starts_in``, fires ``fires`` when due.

    It is suspended while the case sits in one of ``suspended_in``, resumed on leaving them, and
    cancelled when the case enters any other state not in ``runs_in``.
    """

    kind: str
    delay: DelaySpec
    starts_in: str
    fires: str
    runs_in: tuple[str, ...] = ()
    suspended_in: tuple[str, ...] = ()
    legal_reference: str = ""


class SilenceRule(StrEnum):
    """What the administration's silence means when the decision delay ends (CRPA L231-1, L231-4)."""

    ACCEPTANCE = "acceptance"
    REJECTION = "rejection"
    NONE = "none"
    """No decision is asked (information request, declaration without opposition)."""


DEFAULT_APPEAL_ROUTES = (
    "Vous pouvez contester une décision de rejet dans un délai de deux mois à compter de sa "
    "naissance : par un recours gracieux auprès de l'autorité qui l'a prise, ou par un recours "
    "contentieux devant le tribunal administratif territorialement compétent (y compris par "
    "l'application Télérecours citoyens, www.telerecours.fr). Le recours gracieux prolonge le "
    "délai du recours contentieux."
)


class Acknowledgement(_Frozen):
    """What the accusé de réception must say (CRPA R112-11-1, R112-5). A public procedure without
    it cannot be loaded: every request gets a legally complete acknowledgement."""

    request_kind: Literal["demande", "declaration", "information"]
    service_code: str
    """The tenant's service in charge (its address and phone go on the ARE)."""
    silence: SilenceRule
    decision_delay: DelaySpec | None = None
    """Delay after which silence is a decision, counted from receipt of a complete file."""
    legal_basis: str = ""
    """Texts setting the delay and the silence rule, cited on the ARE."""
    appeal_routes: str = DEFAULT_APPEAL_ROUTES
    """Appeal deadlines and routes, printed when silence means rejection (R112-11-1 5°)."""


class DocumentKind(_Frozen):
    kind: str
    title: str


class Definition(_Frozen):
    key: str
    version: int = Field(ge=1)
    title: str
    description: str = ""
    states: tuple[State, ...]
    initial_state: str
    transitions: tuple[Transition, ...]
    timers: tuple[Timer, ...] = ()
    documents: tuple[DocumentKind, ...] = ()
    on_open: tuple[ActionSpec, ...] = ()
    """Actions run when a case is opened (acknowledgements, first deadlines)."""
    payload_schema: type[BaseModel]
    intake_roles: tuple[str, ...] = ()
    """Agent roles that may enter a case of this procedure for a caller."""
    public: bool = False
    """Published: open to API clients and citizens. Needs ``acknowledgement``."""
    acknowledgement: Acknowledgement | None = None
    anonymous_intake: bool = False
    """Accepts a filing from someone who gives no name (``Submitter.kind`` anonymous): a street
    report is a signalement, not a request calling for a decision, so the identification of
    R112-9-1 CRPA does not apply; an invoice's seller may have no French identifier."""

    # ----- look-ups -------------------------------------------------------------------------
    def state(self, name: str) -> State:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def transition(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise KeyError(name)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def timer(self, kind: str) -> Timer:
        for t in self.timers:
            if t.kind == kind:
                return t
        raise KeyError(kind)

    @property
    def ref(self) -> str:
        return f"{self.key}@{self.version}"


ProblemList = list[str]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def validate_definition(
    definition: Definition,
    *,
    known_roles: frozenset[str],
    known_actions: frozenset[str],
    known_conditions: frozenset[str] = frozenset(),
) -> None:
    """Refuse a definition that would fail at 3 a.m.: raise DefinitionError listing every problem."""
    d = definition
    problems: ProblemList = []
    for kind_name, values in (
        ("state", [s.name for s in d.states]),
        ("transition", [t.name for t in d.transitions]),
        ("timer", [t.kind for t in d.timers]),
        ("document kind", [doc.kind for doc in d.documents]),
    ):
        for value in values:
            if not _NAME.match(value):
                problems.append(
                    f"{kind_name} name {value!r} must be lower-case ASCII letters, digits and _"
                )
    names = [s.name for s in d.states]
    state_names = set(names)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"state {dup!r} declared twice")
    tnames = [t.name for t in d.transitions]
    for dup in sorted({n for n in tnames if tnames.count(n) > 1}):
        problems.append(f"transition {dup!r} declared twice")
    if d.initial_state not in state_names:
        problems.append(f"initial state {d.initial_state!r} is not a declared state")
    document_kinds = {doc.kind for doc in d.documents}

    def check_actions(where: str, actions: tuple[ActionSpec, ...]) -> None:
        for a in actions:
            if a.key not in known_actions:
                problems.append(f"{where}: unknown action {a.key!r}")
            if a.on_failure is FailurePolicy.GOTO and a.failure_state not in state_names:
                problems.append(
                    f"{where}: action {a.key!r} fails to unknown state {a.failure_state!r}"
                )
            kind = a.params.get("kind")
            if a.key == "document.request" and kind not in document_kinds:
                problems.append(f"{where}: document kind {kind!r} is not declared")
            if a.key.startswith("deadline.") and kind not in {t.kind for t in d.timers}:
                problems.append(f"{where}: timer kind {kind!r} is not declared")

    check_actions("on_open", d.on_open)
    ack = d.acknowledgement
    if ack is None:
        if d.public:
            problems.append(
                "a public procedure needs its acknowledgement rules (R112-11-1 CRPA): "
                "service, silence rule, delay"
            )
    else:
        if ack.silence is not SilenceRule.NONE and ack.decision_delay is None:
            problems.append("acknowledgement: a silence rule needs its decision_delay")
        if ack.silence is not SilenceRule.NONE and not ack.legal_basis:
            problems.append("acknowledgement: a silence rule needs its legal_basis")
        if ack.request_kind == "information" and ack.silence is not SilenceRule.NONE:
            problems.append("acknowledgement: an information request has no silence rule")
    for t in d.transitions:
        where = f"transition {t.name!r}"
        for s in t.sources:
            if s not in state_names:
                problems.append(f"{where}: unknown source state {s!r}")
            elif d.state(s).terminal:
                problems.append(f"{where}: leaves terminal state {s!r}")
        if t.target not in state_names:
            problems.append(f"{where}: unknown target state {t.target!r}")
        if t.guard.is_empty():
            problems.append(f"{where}: has no guard (nobody could fire it)")
        for role in t.guard.roles:
            if role not in known_roles:
                problems.append(f"{where}: guard names unknown role {role!r}")
        if t.condition is not None and not t.automatic:
            problems.append(f"{where}: a condition only makes sense on an automatic transition")
        if t.condition is not None and t.condition not in known_conditions:
            problems.append(f"{where}: unknown condition {t.condition!r}")
        if t.automatic and not t.guard.system:
            problems.append(
                f"{where}: automatic transitions run as the system (guard.system needed)"
            )
        check_actions(where, t.actions)
    for role in d.intake_roles:
        if role not in known_roles:
            problems.append(f"intake_roles names unknown role {role!r}")
    tkinds = [t.kind for t in d.timers]
    for dup in sorted({k for k in tkinds if tkinds.count(k) > 1}):
        problems.append(f"timer {dup!r} declared twice")
    for timer in d.timers:
        where = f"timer {timer.kind!r}"
        for s in (timer.starts_in, *timer.runs_in, *timer.suspended_in):
            if s not in state_names:
                problems.append(f"{where}: unknown state {s!r}")
        if timer.fires not in tnames:
            problems.append(f"{where}: has no target (transition {timer.fires!r} is not declared)")
        else:
            fired = d.transition(timer.fires)
            if not fired.guard.system:
                problems.append(f"{where}: transition {timer.fires!r} must allow the system actor")
            if timer.starts_in in state_names and timer.starts_in not in fired.sources:
                problems.append(
                    f"{where}: transition {timer.fires!r} is not declared from {timer.starts_in!r}"
                )
    if d.initial_state in state_names:
        reachable = _reachable(d)
        for st in d.states:
            if st.name not in reachable:
                problems.append(f"state {st.name!r} is unreachable from {d.initial_state!r}")
    for st in d.states:
        if not st.terminal and not d.transitions_from(st.name):
            problems.append(f"state {st.name!r} is not terminal but no transition leaves it")
    if problems:
        raise DefinitionError(d.ref, problems)


def _reachable(d: Definition) -> set[str]:
    seen = {d.initial_state}
    queue = deque([d.initial_state])
    edges: dict[str, set[str]] = {}
    for t in d.transitions:
        for s in t.sources:
            edges.setdefault(s, set()).add(t.target)
            for a in t.actions:
                if a.on_failure is FailurePolicy.GOTO and a.failure_state:
                    edges[s].add(a.failure_state)
    while queue:
        current = queue.popleft()
        for nxt in edges.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
