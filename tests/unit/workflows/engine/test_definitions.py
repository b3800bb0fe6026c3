"""Checks made when a procedure definition is loaded: a wrong definition never reaches a case.

Every test starts from a small valid definition (``base``) and breaks exactly one thing, then looks
for the message that names the problem, so that the person writing a procedure knows what to fix.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from services.kernel.actor import KNOWN_ROLES
from services.kernel.errors import DefinitionError, NotFound
from tests.support import procedures as test_procedures
from workflows.engine.actions import default_action_registry
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    ActionSpec,
    Definition,
    DocumentKind,
    FailurePolicy,
    Guard,
    SilenceRule,
    State,
    Timer,
    Transition,
    validate_definition,
)
from workflows.engine.runner import Engine
from workflows.procedures import build_engine

pytestmark = pytest.mark.unit

KNOWN_ACTIONS = default_action_registry().keys()
KNOWN_CONDITIONS = frozenset({"always.ok"})
INSTRUCTORS = Guard(roles=("instructor",))
SYSTEM = Guard(system=True)


class Payload(BaseModel):
    subject: str


def base_states() -> tuple[State, ...]:
    return (
        State(name="draft", title="Brouillon"),
        State(name="review", title="En examen"),
        State(name="done", title="Terminé", terminal=True),
        State(name="expired", title="Expiré", terminal=True),
    )


def base_transitions() -> tuple[Transition, ...]:
    return (
        Transition(
            name="submit", title="Soumettre", sources=("draft",), target="review", guard=INSTRUCTORS
        ),
        Transition(
            name="approve",
            title="Approuver",
            sources=("review",),
            target="done",
            guard=INSTRUCTORS,
            actions=(ActionSpec(key="document.request", params={"kind": "decision"}),),
        ),
        Transition(
            name="expire", title="Expirer", sources=("review",), target="expired", guard=SYSTEM
        ),
    )


def base_timer(**overrides: Any) -> Timer:
    fields: dict[str, Any] = {
        "kind": "review_delay",
        "delay": DelaySpec(amount=1, unit=DelayUnit.MONTHS),
        "starts_in": "review",
        "fires": "expire",
        "legal_reference": "test",
    }
    fields.update(overrides)
    return Timer(**fields)


def base(**overrides: Any) -> Definition:
    fields: dict[str, Any] = {
        "key": "test.base",
        "version": 1,
        "title": "Démarche de base",
        "states": base_states(),
        "initial_state": "draft",
        "transitions": base_transitions(),
        "timers": (base_timer(),),
        "documents": (DocumentKind(kind="decision", title="Décision"),),
        "payload_schema": Payload,
        "intake_roles": ("counter_agent",),
    }
    fields.update(overrides)
    return Definition(**fields)


def problems_of(definition: Definition) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        validate_definition(
            definition,
            known_roles=KNOWN_ROLES,
            known_actions=KNOWN_ACTIONS,
            known_conditions=KNOWN_CONDITIONS,
        )
    assert info.value.key == f"{definition.key}@{definition.version}"
    return info.value.problems


def extra_transition(**fields: Any) -> tuple[Transition, ...]:
    defaults: dict[str, Any] = {"title": "Étape", "guard": INSTRUCTORS}
    return (*base_transitions(), Transition(**{**defaults, **fields}))


# ----- the baseline ----------------------------------------------------------------------------


def test_the_baseline_definition_is_valid() -> None:
    validate_definition(
        base(),
        known_roles=KNOWN_ROLES,
        known_actions=KNOWN_ACTIONS,
        known_conditions=KNOWN_CONDITIONS,
    )


# ----- one problem at a time -------------------------------------------------------------------


def test_unknown_initial_state() -> None:
    assert problems_of(base(initial_state="nowhere")) == [
        "initial state 'nowhere' is not a declared state"
    ]


def test_transition_from_an_undeclared_state() -> None:
    d = base(transitions=extra_transition(name="jump", sources=("ghost",), target="done"))
    assert "transition 'jump': unknown source state 'ghost'" in problems_of(d)


def test_transition_to_an_undeclared_state() -> None:
    d = base(transitions=extra_transition(name="jump", sources=("review",), target="limbo"))
    assert problems_of(d) == ["transition 'jump': unknown target state 'limbo'"]


def test_unreachable_state() -> None:
    states = (*base_states(), State(name="orphan", title="Orphelin"))
    d = base(
        states=states,
        transitions=extra_transition(name="leave", sources=("orphan",), target="done"),
    )
    assert problems_of(d) == ["state 'orphan' is unreachable from 'draft'"]


def test_state_reached_only_through_a_goto_failure_is_reachable() -> None:
    states = (*base_states(), State(name="error", title="Erreur", terminal=True))
    transitions = extra_transition(
        name="check",
        sources=("review",),
        target="done",
        actions=(
            ActionSpec(
                key="notify.submitter", on_failure=FailurePolicy.GOTO, failure_state="error"
            ),
        ),
    )
    validate_definition(
        base(states=states, transitions=transitions),
        known_roles=KNOWN_ROLES,
        known_actions=KNOWN_ACTIONS,
    )


def test_timer_firing_an_undeclared_transition() -> None:
    d = base(timers=(base_timer(fires="nope"),))
    assert problems_of(d) == [
        "timer 'review_delay': has no target (transition 'nope' is not declared)"
    ]


def test_timer_whose_transition_does_not_leave_its_start_state() -> None:
    # 'expire' leaves 'review' only: a timer started in 'draft' could never fire it.
    d = base(timers=(base_timer(starts_in="draft"),))
    assert problems_of(d) == [
        "timer 'review_delay': transition 'expire' is not declared from 'draft'"
    ]


def test_timer_whose_transition_the_system_may_not_fire() -> None:
    d = base(timers=(base_timer(fires="approve"),))
    assert problems_of(d) == [
        "timer 'review_delay': transition 'approve' must allow the system actor"
    ]


def test_timer_naming_an_undeclared_state() -> None:
    d = base(timers=(base_timer(suspended_in=("paused",)),))
    assert problems_of(d) == ["timer 'review_delay': unknown state 'paused'"]


def test_guard_naming_an_unknown_role() -> None:
    d = base(
        transitions=extra_transition(
            name="magic", sources=("review",), target="done", guard=Guard(roles=("wizard",))
        )
    )
    assert problems_of(d) == ["transition 'magic': guard names unknown role 'wizard'"]


def test_transition_with_an_empty_guard_is_refused() -> None:
    d = base(
        transitions=extra_transition(
            name="nobody", sources=("review",), target="done", guard=Guard()
        )
    )
    assert problems_of(d) == ["transition 'nobody': has no guard (nobody could fire it)"]


def test_unknown_action_key() -> None:
    d = base(
        transitions=extra_transition(
            name="post",
            sources=("review",),
            target="done",
            actions=(ActionSpec(key="mail.pigeon"),),
        )
    )
    assert problems_of(d) == ["transition 'post': unknown action 'mail.pigeon'"]


def test_unknown_action_in_on_open() -> None:
    assert problems_of(base(on_open=(ActionSpec(key="mail.pigeon"),))) == [
        "on_open: unknown action 'mail.pigeon'"
    ]


def test_unknown_condition() -> None:
    d = base(
        transitions=extra_transition(
            name="auto",
            sources=("review",),
            target="done",
            guard=SYSTEM,
            automatic=True,
            condition="moon.is_full",
        )
    )
    assert problems_of(d) == ["transition 'auto': unknown condition 'moon.is_full'"]


def test_condition_on_a_manual_transition() -> None:
    d = base(
        transitions=extra_transition(
            name="manual", sources=("review",), target="done", condition="always.ok"
        )
    )
    assert problems_of(d) == [
        "transition 'manual': a condition only makes sense on an automatic transition"
    ]


def test_automatic_transition_without_the_system_guard() -> None:
    d = base(
        transitions=extra_transition(
            name="auto", sources=("review",), target="done", automatic=True
        )
    )
    assert problems_of(d) == [
        "transition 'auto': automatic transitions run as the system (guard.system needed)"
    ]


def test_document_request_of_an_undeclared_kind() -> None:
    d = base(on_open=(ActionSpec(key="document.request", params={"kind": "permit"}),))
    assert problems_of(d) == ["on_open: document kind 'permit' is not declared"]


def test_document_request_without_a_kind() -> None:
    d = base(on_open=(ActionSpec(key="document.request"),))
    assert problems_of(d) == ["on_open: document kind None is not declared"]


@pytest.mark.parametrize(
    "action",
    ["deadline.start", "deadline.suspend", "deadline.resume", "deadline.extend", "deadline.cancel"],
)
def test_deadline_action_with_an_undeclared_timer_kind(action: str) -> None:
    d = base(
        transitions=extra_transition(
            name="tick",
            sources=("review",),
            target="done",
            actions=(ActionSpec(key=action, params={"kind": "ghost"}),),
        )
    )
    assert problems_of(d) == ["transition 'tick': timer kind 'ghost' is not declared"]


def test_goto_policy_towards_an_undeclared_state() -> None:
    d = base(
        transitions=extra_transition(
            name="risky",
            sources=("review",),
            target="done",
            actions=(
                ActionSpec(
                    key="notify.submitter", on_failure=FailurePolicy.GOTO, failure_state="abyss"
                ),
            ),
        )
    )
    assert problems_of(d) == [
        "transition 'risky': action 'notify.submitter' fails to unknown state 'abyss'"
    ]


def test_non_terminal_state_without_a_way_out() -> None:
    states = (*base_states(), State(name="stuck", title="Bloqué"))
    d = base(
        states=states,
        transitions=extra_transition(name="park", sources=("review",), target="stuck"),
    )
    assert problems_of(d) == ["state 'stuck' is not terminal but no transition leaves it"]


def test_transition_leaving_a_terminal_state() -> None:
    d = base(transitions=extra_transition(name="reopen", sources=("done",), target="review"))
    assert problems_of(d) == ["transition 'reopen': leaves terminal state 'done'"]


def test_intake_role_unknown() -> None:
    assert problems_of(base(intake_roles=("counter_agent", "janitor"))) == [
        "intake_roles names unknown role 'janitor'"
    ]


def test_duplicate_states() -> None:
    states = (*base_states(), State(name="draft", title="Brouillon bis"))
    assert "state 'draft' declared twice" in problems_of(base(states=states))


def test_duplicate_transitions() -> None:
    d = base(transitions=extra_transition(name="submit", sources=("draft",), target="review"))
    assert problems_of(d) == ["transition 'submit' declared twice"]


def test_duplicate_timers() -> None:
    assert problems_of(base(timers=(base_timer(), base_timer()))) == [
        "timer 'review_delay' declared twice"
    ]


def test_every_problem_is_reported_in_one_error() -> None:
    d = base(
        key="test.broken",
        version=3,
        initial_state="nowhere",
        transitions=(
            *base_transitions(),
            Transition(
                name="magic",
                title="Magie",
                sources=("review",),
                target="done",
                guard=Guard(roles=("wizard",)),
                actions=(ActionSpec(key="mail.pigeon"),),
            ),
        ),
        timers=(base_timer(fires="nope"),),
    )
    with pytest.raises(DefinitionError) as info:
        validate_definition(d, known_roles=KNOWN_ROLES, known_actions=KNOWN_ACTIONS)
    problems = info.value.problems
    assert set(problems) == {
        "initial state 'nowhere' is not a declared state",
        "transition 'magic': guard names unknown role 'wizard'",
        "transition 'magic': unknown action 'mail.pigeon'",
        "timer 'review_delay': has no target (transition 'nope' is not declared)",
    }
    message = str(info.value)
    assert message.startswith("procedure definition 'test.broken@3' is invalid: ")
    assert all(p in message for p in problems)


# ----- Engine.load and the registry ------------------------------------------------------------


def plain_engine() -> Engine:
    return Engine(actions=default_action_registry(), known_roles=KNOWN_ROLES)


def test_engine_load_refuses_an_invalid_definition_and_does_not_register_it() -> None:
    engine = plain_engine()
    with pytest.raises(DefinitionError, match="initial state 'nowhere'"):
        engine.load(base(initial_state="nowhere"))
    with pytest.raises(NotFound):
        engine.procedures.get("test.base")


def test_engine_load_knows_the_registered_conditions() -> None:
    auto = extra_transition(
        name="auto",
        sources=("review",),
        target="done",
        guard=SYSTEM,
        automatic=True,
        condition="always.ok",
    )
    engine = plain_engine()
    with pytest.raises(DefinitionError, match=r"unknown condition 'always\.ok'"):
        engine.load(base(transitions=auto))
    engine.conditions.register("always.ok", lambda case: True)
    assert engine.load(base(transitions=auto)).ref == "test.base@1"


def test_the_core_procedures_load() -> None:
    engine = build_engine()
    keys = [d.key for d in engine.procedures.latest()]
    assert "general.request" in keys
    assert "test.permit" not in keys  # test procedures are an extension, never core


def test_the_test_procedure_loads_with_its_conditions() -> None:
    engine = build_engine(["tests.support.procedures:register"])
    permit = engine.procedures.get("test.permit")
    assert permit is test_procedures.DEFINITION
    assert {"test.urgent", "test.not_urgent"} <= engine.conditions.keys()


def test_loading_the_same_key_and_version_twice_is_refused() -> None:
    engine = build_engine()
    general = engine.procedures.get("general.request")
    with pytest.raises(DefinitionError) as info:
        engine.load(general)
    assert info.value.problems == ["version loaded twice"]
    assert info.value.key == "general.request@1"


def test_registry_serves_the_latest_version_unless_one_is_pinned() -> None:
    engine = plain_engine()
    v1 = engine.load(base())
    extra_state = State(name="archived", title="Archivé", terminal=True)
    v2 = engine.load(
        base(
            version=2,
            title="Démarche de base, version 2",
            states=(*base_states(), extra_state),
            transitions=extra_transition(name="archive", sources=("review",), target="archived"),
        )
    )
    assert engine.procedures.get("test.base") is v2
    assert engine.procedures.get("test.base", 1) is v1
    assert engine.procedures.get("test.base", 2) is v2
    assert engine.procedures.versions("test.base") == [1, 2]
    assert engine.procedures.latest() == [v2]
    # A case pinned to version 1 still sees version 1's rules.
    pinned = engine.procedures.get("test.base", 1)
    assert [t.name for t in pinned.transitions_from("review")] == ["approve", "expire"]
    assert [t.name for t in v2.transitions_from("review")] == ["approve", "expire", "archive"]
    with pytest.raises(KeyError):
        pinned.state("archived")


def test_registry_unknown_key_or_version_is_not_found() -> None:
    engine = plain_engine()
    engine.load(base())
    with pytest.raises(NotFound) as info:
        engine.procedures.get("permis.de.voler")
    assert info.value.detail == "La démarche « permis.de.voler » n'existe pas."
    assert info.value.extra == {"known_procedures": ["test.base"]}
    with pytest.raises(NotFound) as info:
        engine.procedures.get("test.base", 7)
    assert info.value.detail == "La démarche « test.base » n'a pas de version 7."
    assert info.value.extra == {"versions": [1]}


def test_names_must_be_identifiers_so_exports_and_urls_stay_safe() -> None:
    states = (*base_states()[:3], State(name="Expiré bis", title="Expiré", terminal=True))
    transitions = (
        *base_transitions()[:2],
        Transition(
            name="expire", title="Expirer", sources=("review",), target="Expiré bis", guard=SYSTEM
        ),
    )
    problems = problems_of(base(states=states, transitions=transitions))
    assert "state name 'Expiré bis' must be lower-case ASCII letters, digits and _" in problems


def test_a_public_procedure_needs_its_acknowledgement_rules() -> None:
    """R112-11-1 CRPA: every request gets an ARE built from data; without the service in charge,
    the silence rule and its delay, a procedure cannot be published."""
    problems = problems_of(base(public=True))
    assert any("needs its acknowledgement rules" in p for p in problems)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"silence": SilenceRule.ACCEPTANCE}, "a silence rule needs its decision_delay"),
        (
            {
                "silence": SilenceRule.REJECTION,
                "decision_delay": DelaySpec(amount=2, unit=DelayUnit.MONTHS),
            },
            "a silence rule needs its legal_basis",
        ),
        (
            {
                "request_kind": "information",
                "silence": SilenceRule.ACCEPTANCE,
                "decision_delay": DelaySpec(amount=2, unit=DelayUnit.MONTHS),
                "legal_basis": "x",
            },
            "an information request has no silence rule",
        ),
    ],
)
def test_acknowledgement_rules_are_complete(fields: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"request_kind": "demande", "service_code": "urbanisme", **fields}
    problems = problems_of(base(public=True, acknowledgement=Acknowledgement(**values)))
    assert f"acknowledgement: {message}" in problems
