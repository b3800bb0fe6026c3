"""The runner against an in-memory CaseStore: guards, payloads, actions, failures, follow-ups.

``FakeStore`` implements the ``CaseStore`` port of workflows/engine/runner.py. Its
``timers_moved`` follows the rules of DbCaseStore.timers_moved (start on entering ``starts_in``,
suspend in ``suspended_in``, resume in ``starts_in``/``runs_in``, cancel anywhere else).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from services.kernel.actor import KNOWN_ROLES, SYSTEM_ACTOR, Actor, ActorKind
from services.kernel.errors import DefinitionError, Forbidden, InvalidTransition, ValidationFailed
from tests.support import procedures as test_procedures
from workflows.engine.actions import (
    Action,
    ActionContext,
    ActionFailed,
    CaseView,
    default_action_registry,
)
from workflows.engine.calendar import DelaySpec
from workflows.engine.definitions import (
    ActionSpec,
    Definition,
    FailurePolicy,
    Guard,
    Relation,
    State,
    Timer,
    Transition,
)
from workflows.engine.runner import Engine, Step
from workflows.procedures import build_engine

pytestmark = pytest.mark.unit

PERMIT = test_procedures.DEFINITION
TENANT = uuid.UUID("0195f000-0000-7000-8000-000000000001")
OTHER_TENANT = uuid.UUID("0195f000-0000-7000-8000-000000000002")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ----- the fake store --------------------------------------------------------------------------


class FakeContext:
    def __init__(self, store: FakeStore, seq: int, actor: Actor, definition: Definition) -> None:
        self._store = store
        self._seq = seq
        self._actor = actor
        self._definition = definition

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
        return NOW

    @property
    def event_seq(self) -> int:
        return self._seq

    async def start_deadline(self, timer: Timer) -> None:
        if self._store.live(timer.kind) is None:
            self._store.deadlines[timer.kind] = "active"
            self._store.deadline_log.append(("started", timer.kind))

    async def suspend_deadline(self, kind: str) -> None:
        if self._store.live(kind) == "active":
            self._store.deadlines[kind] = "suspended"
            self._store.deadline_log.append(("suspended", kind))

    async def resume_deadline(self, kind: str) -> None:
        if self._store.live(kind) == "suspended":
            self._store.deadlines[kind] = "active"
            self._store.deadline_log.append(("resumed", kind))

    async def extend_deadline(self, kind: str, by: DelaySpec) -> None:
        if self._store.live(kind) is not None:
            self._store.deadline_log.append(("extended", f"{kind} +{by.describe()}"))

    async def cancel_deadline(self, kind: str) -> None:
        if self._store.live(kind) is not None:
            self._store.deadlines[kind] = "cancelled"
            self._store.deadline_log.append(("cancelled", kind))

    async def request_document(self, kind: str, params: Mapping[str, Any]) -> None:
        self._store.documents.append((self._seq, kind, dict(params)))

    async def emit(self, kind: str, payload: Mapping[str, Any]) -> None:
        self._store.emitted.append((self._seq, kind, dict(payload)))


class FakeStore:
    def __init__(self, case: CaseView) -> None:
        self.case = case
        self.allocated = 0
        self.steps: list[tuple[int, Step, Actor]] = []
        self.moves: list[tuple[str, str]] = []
        self.deadlines: dict[str, str] = {}
        self.deadline_log: list[tuple[str, str]] = []
        self.documents: list[tuple[int, str, dict[str, Any]]] = []
        self.emitted: list[tuple[int, str, dict[str, Any]]] = []

    @property
    def view(self) -> CaseView:
        return self.case

    def next_seq(self) -> int:
        self.allocated += 1
        return self.allocated

    def context(self, seq: int, actor: Actor, definition: Definition) -> ActionContext:
        return FakeContext(self, seq, actor, definition)

    def live(self, kind: str) -> str | None:
        status = self.deadlines.get(kind)
        return status if status in ("active", "suspended") else None

    async def timers_moved(
        self, definition: Definition, ctx: ActionContext, from_state: str, to_state: str
    ) -> None:
        self.moves.append((from_state, to_state))
        for timer in definition.timers:
            live = self.live(timer.kind)
            if live is None:
                if to_state == timer.starts_in and from_state != to_state:
                    await ctx.start_deadline(timer)
                continue
            if to_state in timer.suspended_in:
                if live == "active":
                    await ctx.suspend_deadline(timer.kind)
            elif to_state in (timer.starts_in, *timer.runs_in):
                if live == "suspended":
                    await ctx.resume_deadline(timer.kind)
            else:
                await ctx.cancel_deadline(timer.kind)

    async def record_step(self, seq: int, step: Step, actor: Actor) -> None:
        self.steps.append((seq, step, actor))
        self.case = dataclasses.replace(self.case, state=step.to_state)

    @property
    def recorded(self) -> list[tuple[str, str, str]]:
        return [(s.transition, s.from_state, s.to_state) for _, s, _ in self.steps]


# ----- helpers ---------------------------------------------------------------------------------


def make_case(state: str = "submitted", **fields: Any) -> CaseView:
    values: dict[str, Any] = {
        "id": uuid.UUID("0195f000-0000-7000-8000-0000000000c1"),
        "tenant_id": TENANT,
        "reference": "69001-2026-000001",
        "procedure_key": "test.permit",
        "definition_version": 1,
        "state": state,
        "submitter_id": None,
        "assignee_id": None,
        "payload": {"title": "Abri de jardin", "area_m2": 12},
    }
    values.update(fields)
    return CaseView(**values)


def agent(*roles: str, tenant: uuid.UUID = TENANT) -> Actor:
    return Actor(
        id=uuid.uuid4(),
        kind=ActorKind.AGENT,
        display_name="Camille Martin",
        roles={tenant: frozenset(roles)} if roles else {},
    )


@pytest.fixture
def engine() -> Engine:
    return build_engine(["tests.support.procedures:register"])


# ----- declared transitions only ---------------------------------------------------------------


async def test_a_transition_not_declared_from_the_state_lists_what_the_actor_may_do(
    engine: Engine,
) -> None:
    store = FakeStore(make_case("submitted"))
    with pytest.raises(InvalidTransition) as info:
        await engine.apply(PERMIT, store, "accept", agent("instructor"))
    assert info.value.allowed == ["start", "request_pieces", "withdraw"]
    assert info.value.extra["allowed_transitions"] == ["start", "request_pieces", "withdraw"]
    assert info.value.extra["state"] == "submitted"
    assert "« accept »" in info.value.detail
    assert "start, request_pieces, withdraw" in info.value.detail
    assert store.steps == []


async def test_allowed_transitions_depend_on_who_asks(engine: Engine) -> None:
    counter = agent("counter_agent")
    store = FakeStore(make_case("submitted"))
    with pytest.raises(InvalidTransition) as info:
        await engine.apply(PERMIT, store, "accept", counter)
    assert info.value.allowed == []
    assert "aucune" in info.value.detail
    # The same agent, once assigned, may withdraw the request.
    store = FakeStore(make_case("submitted", assignee_id=counter.id))
    with pytest.raises(InvalidTransition) as info:
        await engine.apply(PERMIT, store, "accept", counter)
    assert info.value.allowed == ["withdraw"]


async def test_an_unknown_transition_name_is_refused(engine: Engine) -> None:
    store = FakeStore(make_case("instruction"))
    with pytest.raises(InvalidTransition) as info:
        await engine.apply(PERMIT, store, "teleport", agent("instructor"))
    assert "« teleport » n'existe pas" in info.value.detail
    assert info.value.allowed == ["request_pieces", "extend", "accept", "reject", "withdraw"]
    assert store.steps == []


# ----- guards ----------------------------------------------------------------------------------


async def test_an_instructor_may_start_the_instruction(engine: Engine) -> None:
    instructor = agent("instructor")
    store = FakeStore(make_case("submitted"))
    steps = await engine.apply(PERMIT, store, "start", instructor)
    assert [(s.transition, s.from_state, s.to_state, s.automatic) for s in steps] == [
        ("start", "submitted", "instruction", False)
    ]
    assert store.case.state == "instruction"
    assert [(seq, actor) for seq, _, actor in store.steps] == [(1, instructor)]


async def test_a_counter_agent_may_not_decide(engine: Engine) -> None:
    store = FakeStore(make_case("submitted"))
    with pytest.raises(Forbidden) as info:
        await engine.apply(PERMIT, store, "start", agent("counter_agent"))
    assert info.value.detail == (
        "Vous n'avez pas le droit d'effectuer « Commencer l'instruction » sur ce dossier."
    )
    assert info.value.extra == {"transition": "start"}
    assert store.steps == []
    assert store.case.state == "submitted"


async def test_a_role_in_another_tenant_does_not_count(engine: Engine) -> None:
    store = FakeStore(make_case("submitted"))
    with pytest.raises(Forbidden):
        await engine.apply(PERMIT, store, "start", agent("instructor", tenant=OTHER_TENANT))
    assert store.steps == []


async def test_the_assignee_may_withdraw_without_a_role(engine: Engine) -> None:
    nobody = agent()
    store = FakeStore(make_case("instruction", assignee_id=nobody.id))
    steps = await engine.apply(PERMIT, store, "withdraw", nobody)
    assert [s.to_state for s in steps] == ["withdrawn"]


async def test_another_agent_without_role_may_not_withdraw(engine: Engine) -> None:
    store = FakeStore(make_case("instruction", assignee_id=uuid.uuid4()))
    with pytest.raises(Forbidden):
        await engine.apply(PERMIT, store, "withdraw", agent())


async def test_the_submitter_relation() -> None:
    d = Definition(
        key="test.submitter",
        version=1,
        title="Relation déposant",
        states=(
            State(name="open", title="Ouvert"),
            State(name="gone", title="Retiré", terminal=True),
        ),
        initial_state="open",
        transitions=(
            Transition(
                name="cancel",
                title="Annuler",
                sources=("open",),
                target="gone",
                guard=Guard(relations=(Relation.SUBMITTER,)),
            ),
        ),
        payload_schema=test_procedures.PermitPayload,
    )
    engine = Engine(actions=default_action_registry(), known_roles=KNOWN_ROLES)
    engine.load(d)
    person = Actor(id=uuid.uuid4(), kind=ActorKind.PERSON, display_name="Alex Dupont")
    with pytest.raises(Forbidden):
        await engine.apply(d, FakeStore(make_case("open")), "cancel", person)
    store = FakeStore(make_case("open", submitter_id=person.id))
    assert [s.to_state for s in await engine.apply(d, store, "cancel", person)] == ["gone"]


async def test_the_system_fires_only_system_guarded_transitions(engine: Engine) -> None:
    store = FakeStore(make_case("instruction"))
    with pytest.raises(Forbidden):
        await engine.apply(PERMIT, store, "accept", SYSTEM_ACTOR)
    steps = await engine.apply(PERMIT, store, "tacit_acceptance", SYSTEM_ACTOR)
    assert [(s.transition, s.to_state) for s in steps] == [("tacit_acceptance", "tacit_accepted")]
    assert store.steps[0][2] is SYSTEM_ACTOR


async def test_the_system_is_not_offered_manual_transitions(engine: Engine) -> None:
    assert [t.name for t in engine.available(PERMIT, make_case("instruction"), SYSTEM_ACTOR)] == [
        "tacit_acceptance"
    ]


async def test_an_automatic_transition_cannot_be_fired_by_hand(engine: Engine) -> None:
    store = FakeStore(make_case("pieces_in"))
    with pytest.raises(InvalidTransition) as info:
        await engine.apply(PERMIT, store, "resume", agent("instructor"))
    assert "automatique" in info.value.detail
    assert store.steps == []


# ----- transition data -------------------------------------------------------------------------


async def test_a_refusal_needs_a_reason(engine: Engine) -> None:
    store = FakeStore(make_case("instruction"))
    with pytest.raises(ValidationFailed) as info:
        await engine.apply(PERMIT, store, "reject", agent("instructor"))
    assert info.value.detail == "Les données de « Refuser » sont invalides."
    assert info.value.errors == [
        {"field": "payload.reason", "message": "champ obligatoire manquant", "type": "missing"}
    ]
    assert store.steps == []


async def test_a_too_short_reason_is_explained_in_french(engine: Engine) -> None:
    store = FakeStore(make_case("instruction"))
    with pytest.raises(ValidationFailed) as info:
        await engine.apply(PERMIT, store, "reject", agent("instructor"), {"reason": "no"})
    assert info.value.errors == [
        {
            "field": "payload.reason",
            "message": "texte trop court (au moins 3 caractère(s))",
            "type": "string_too_short",
        }
    ]


async def test_valid_data_is_recorded_and_given_to_the_actions(engine: Engine) -> None:
    store = FakeStore(make_case("instruction"))
    steps = await engine.apply(
        PERMIT, store, "reject", agent("instructor"), {"reason": "Hors zone constructible"}
    )
    assert steps[0].data == {"reason": "Hors zone constructible"}
    [(seq, kind, params)] = store.documents
    assert (seq, kind) == (1, "decision")
    # The actor's data reaches the action, the declared parameters win, and who asked goes along
    # (the decision prints its signatory, L212-2 CRPA).
    assert params["reason"] == "Hors zone constructible"
    assert params["articles"] == ["Le permis de test est refusé pour le motif indiqué."]
    assert params["requested_by"] == {"name": "Camille Martin", "title": ""}


async def test_a_transition_without_schema_refuses_data(engine: Engine) -> None:
    store = FakeStore(make_case("submitted"))
    with pytest.raises(ValidationFailed) as info:
        await engine.apply(PERMIT, store, "start", agent("instructor"), {"note": "vite"})
    assert info.value.errors == [
        {"field": "payload", "message": "aucune donnée attendue", "type": "extra"}
    ]
    assert store.steps == []


# ----- actions and failure policies ------------------------------------------------------------


class Record(Action):
    key = "test.record"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        self.log.append(str(params["label"]))


class Fail(Action):
    key = "test.fail"

    async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
        raise ActionFailed("le service de courrier ne répond pas")


def record(label: str) -> ActionSpec:
    return ActionSpec(key="test.record", params={"label": label})


def fail(policy: FailurePolicy, failure_state: str | None = None) -> ActionSpec:
    return ActionSpec(key="test.fail", on_failure=policy, failure_state=failure_state)


class Note(BaseModel):
    text: str


def failing_definition() -> Definition:
    def go(name: str, *actions: ActionSpec) -> Transition:
        return Transition(
            name=name,
            title=f"Aller ({name})",
            sources=("start",),
            target="done",
            guard=Guard(roles=("instructor",)),
            actions=actions,
        )

    return Definition(
        key="test.failures",
        version=1,
        title="Politiques d'échec",
        states=(
            State(name="start", title="Départ"),
            State(name="done", title="Fait", terminal=True),
            State(name="error", title="En erreur", terminal=True, public=False),
        ),
        initial_state="start",
        transitions=(
            go("ordered", record("a"), record("b"), record("c")),
            go("stop", record("a"), fail(FailurePolicy.STOP), record("c")),
            go("carry_on", record("a"), fail(FailurePolicy.CONTINUE), record("c")),
            go("divert", record("a"), fail(FailurePolicy.GOTO, "error"), record("c")),
        ),
        payload_schema=Note,
    )


@pytest.fixture
def action_log() -> list[str]:
    return []


@pytest.fixture
def failing_engine(action_log: list[str]) -> Engine:
    actions = default_action_registry()
    actions.register(Record(action_log))
    actions.register(Fail())
    engine = Engine(actions=actions, known_roles=KNOWN_ROLES)
    engine.load(failing_definition())
    return engine


async def test_actions_run_in_declared_order(failing_engine: Engine, action_log: list[str]) -> None:
    d = failing_engine.procedures.get("test.failures")
    store = FakeStore(make_case("start"))
    steps = await failing_engine.apply(d, store, "ordered", agent("instructor"))
    assert action_log == ["a", "b", "c"]
    assert steps[0].failures == []
    assert store.recorded == [("ordered", "start", "done")]


async def test_stop_policy_aborts_the_transition(
    failing_engine: Engine, action_log: list[str]
) -> None:
    d = failing_engine.procedures.get("test.failures")
    store = FakeStore(make_case("start"))
    with pytest.raises(ValidationFailed) as info:
        await failing_engine.apply(d, store, "stop", agent("instructor"))
    assert "le service de courrier ne répond pas" in info.value.detail
    assert info.value.errors == [
        {"field": "test.fail", "message": "le service de courrier ne répond pas", "type": "action"}
    ]
    assert action_log == ["a"]  # nothing after the failure
    assert store.steps == []
    assert store.moves == []
    assert store.case.state == "start"


async def test_continue_policy_records_the_failure_and_goes_on(
    failing_engine: Engine, action_log: list[str]
) -> None:
    d = failing_engine.procedures.get("test.failures")
    store = FakeStore(make_case("start"))
    steps = await failing_engine.apply(d, store, "carry_on", agent("instructor"))
    assert action_log == ["a", "c"]
    assert steps[0].to_state == "done"
    assert list(steps[0].failures) == [
        {"action": "test.fail", "message": "le service de courrier ne répond pas"}
    ]
    assert store.case.state == "done"


async def test_goto_policy_lands_in_the_failure_state(
    failing_engine: Engine, action_log: list[str]
) -> None:
    d = failing_engine.procedures.get("test.failures")
    store = FakeStore(make_case("start"))
    steps = await failing_engine.apply(d, store, "divert", agent("instructor"))
    assert action_log == ["a"]  # the remaining actions belong to the path not taken
    assert store.recorded == [("divert", "start", "error")]
    assert list(steps[0].failures) == [
        {"action": "test.fail", "message": "le service de courrier ne répond pas"}
    ]
    assert steps[0].public is False  # 'error' is an internal state
    assert store.moves == [("start", "error")]


# ----- automatic follow-ups --------------------------------------------------------------------


@pytest.mark.parametrize(("urgent", "follow_up"), [(False, "resume"), (True, "fast_track")])
async def test_pieces_received_is_followed_automatically(
    engine: Engine, urgent: bool, follow_up: str
) -> None:
    counter = agent("counter_agent")
    payload = {"title": "Abri de jardin", "area_m2": 12, "urgent": urgent}
    store = FakeStore(make_case("incomplete", payload=payload))
    steps = await engine.apply(PERMIT, store, "pieces_received", counter)
    assert [(s.transition, s.from_state, s.to_state, s.automatic) for s in steps] == [
        ("pieces_received", "incomplete", "pieces_in", False),
        (follow_up, "pieces_in", "instruction", True),
    ]
    assert [(seq, actor) for seq, _, actor in store.steps] == [(1, counter), (2, SYSTEM_ACTOR)]
    assert steps[0].public is False  # lands in the internal 'pieces_in' state
    assert steps[1].public is True
    assert store.moves == [("incomplete", "pieces_in"), ("pieces_in", "instruction")]
    assert store.case.state == "instruction"


async def test_the_decision_deadline_follows_the_case(engine: Engine) -> None:
    instructor = agent("instructor")
    store = FakeStore(make_case("submitted"))
    await engine.apply(PERMIT, store, "start", instructor)
    await engine.apply(PERMIT, store, "request_pieces", instructor, {"pieces": ["plan"]})
    await engine.apply(PERMIT, store, "pieces_received", instructor)
    await engine.apply(PERMIT, store, "extend", instructor)
    await engine.apply(PERMIT, store, "accept", instructor)
    assert store.deadline_log == [
        ("started", "decision"),
        ("suspended", "decision"),
        ("resumed", "decision"),
        ("extended", "decision +1 mois"),
        ("cancelled", "decision"),
    ]
    assert [kind for _, kind, _ in store.documents] == ["pieces_letter", "decision"]
    assert [seq for seq, _, _ in store.steps] == [1, 2, 3, 4, 5, 6]


def looping_definition() -> Definition:
    system = Guard(system=True)
    return Definition(
        key="test.loop",
        version=1,
        title="Boucle",
        states=(
            State(name="a", title="A"),
            State(name="b", title="B"),
            State(name="c", title="C"),
        ),
        initial_state="a",
        transitions=(
            Transition(
                name="go", title="Go", sources=("a",), target="b", guard=Guard(roles=("admin",))
            ),
            Transition(
                name="ping", title="Ping", sources=("b",), target="c", guard=system, automatic=True
            ),
            Transition(
                name="pong", title="Pong", sources=("c",), target="b", guard=system, automatic=True
            ),
        ),
        payload_schema=Note,
    )


async def test_an_automatic_loop_beyond_the_depth_limit_is_a_definition_error() -> None:
    engine = Engine(actions=default_action_registry(), known_roles=KNOWN_ROLES, max_depth=5)
    d = engine.load(looping_definition())
    store = FakeStore(make_case("a", procedure_key="test.loop"))
    with pytest.raises(DefinitionError) as info:
        await engine.apply(d, store, "go", agent("admin"))
    assert info.value.key == "test.loop@1"
    assert info.value.problems == ["automatic transitions loop beyond depth 5"]


async def test_a_chain_exactly_as_long_as_the_limit_is_accepted() -> None:
    system = Guard(system=True)
    d = Definition(
        key="test.chain",
        version=1,
        title="Chaîne",
        states=(
            State(name="a", title="A"),
            State(name="b", title="B"),
            State(name="c", title="C"),
            State(name="d", title="D", terminal=True),
        ),
        initial_state="a",
        transitions=(
            Transition(
                name="go", title="Go", sources=("a",), target="b", guard=Guard(roles=("admin",))
            ),
            Transition(
                name="bc", title="BC", sources=("b",), target="c", guard=system, automatic=True
            ),
            Transition(
                name="cd", title="CD", sources=("c",), target="d", guard=system, automatic=True
            ),
        ),
        payload_schema=Note,
    )
    engine = Engine(actions=default_action_registry(), known_roles=KNOWN_ROLES, max_depth=2)
    engine.load(d)
    store = FakeStore(make_case("a", procedure_key="test.chain"))
    steps = await engine.apply(d, store, "go", agent("admin"))
    assert [s.transition for s in steps] == ["go", "bc", "cd"]
    assert store.case.state == "d"


# ----- opening a case --------------------------------------------------------------------------


async def test_open_runs_the_on_open_actions_and_records_the_opening(engine: Engine) -> None:
    counter = agent("counter_agent")
    store = FakeStore(make_case("submitted"))
    steps = await engine.open(PERMIT, store, counter)
    assert [(s.transition, s.from_state, s.to_state, s.automatic) for s in steps] == [
        ("open", "", "submitted", False)
    ]
    assert [(seq, kind) for seq, kind, _ in store.documents] == [(1, "recepisse")]
    assert store.moves == [("", "submitted")]
    assert [(seq, actor) for seq, _, actor in store.steps] == [(1, counter)]
    assert store.deadline_log == []  # the decision deadline starts with the instruction


async def test_open_aborts_when_an_on_open_action_fails(
    failing_engine: Engine, action_log: list[str]
) -> None:
    d = failing_engine.procedures.get("test.failures").model_copy(
        update={"version": 2, "on_open": (record("a"), fail(FailurePolicy.STOP))}
    )
    failing_engine.load(d)
    store = FakeStore(make_case("start"))
    with pytest.raises(ValidationFailed, match="n'a pas pu être ouvert"):
        await failing_engine.open(d, store, agent("counter_agent"))
    assert store.steps == []


async def test_declared_action_parameters_win_over_the_actor_payload() -> None:
    """An actor cannot redirect a document request by sending a field named like a parameter."""
    seen: list[dict[str, Any]] = []

    class Spy(Action):
        key = "test.spy"

        async def perform(self, ctx: ActionContext, params: Mapping[str, Any]) -> None:
            seen.append(dict(params))

    class KindPayload(BaseModel):
        kind: str

    registry = default_action_registry()
    registry.register(Spy())
    engine = Engine(actions=registry, known_roles=KNOWN_ROLES)
    definition = Definition(
        key="test.params",
        version=1,
        title="Paramètres",
        states=(State(name="a", title="A"), State(name="b", title="B", terminal=True)),
        initial_state="a",
        transitions=(
            Transition(
                name="go",
                title="Aller",
                sources=("a",),
                target="b",
                guard=Guard(roles=("instructor",)),
                payload_schema=KindPayload,
                actions=(ActionSpec(key="test.spy", params={"kind": "declared"}),),
            ),
        ),
        payload_schema=KindPayload,
    )
    engine.load(definition)
    store = FakeStore(make_case(state="a", procedure_key="test.params"))
    await engine.apply(definition, store, "go", agent("instructor"), {"kind": "injected"})
    assert seen == [{"kind": "declared"}]
