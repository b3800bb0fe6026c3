"""Exports of a definition: JSON for agents' tools, Mermaid for people reading the procedure."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import BaseModel

from tests.support import procedures as test_procedures
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import Definition, Guard, State, Timer, Transition
from workflows.engine.export import to_json, to_mermaid

pytestmark = pytest.mark.unit

PERMIT = test_procedures.DEFINITION


def transition_json(name: str) -> dict[str, object]:
    (found,) = [t for t in to_json(PERMIT)["transitions"] if t["name"] == name]
    return found


# ----- JSON ------------------------------------------------------------------------------------


def test_json_export_is_plain_json() -> None:
    exported = to_json(PERMIT)
    assert json.loads(json.dumps(exported)) == exported
    assert exported["key"] == "test.permit"
    assert exported["version"] == 1
    assert exported["initial_state"] == "submitted"
    assert exported["intake_roles"] == ["counter_agent", "instructor"]


def test_json_export_lists_every_state_with_its_visibility() -> None:
    states = {s["name"]: s for s in to_json(PERMIT)["states"]}
    assert list(states) == [s.name for s in PERMIT.states]
    assert states["pieces_in"]["public"] is False
    assert states["submitted"] == {
        "name": "submitted",
        "title": "Déposé",
        "public": True,
        "terminal": False,
        "public_title": None,
    }
    assert states["accepted"]["terminal"] is True


def test_json_export_gives_transitions_with_their_guards() -> None:
    assert transition_json("start")["guard"] == {
        "roles": ["instructor"],
        "relations": [],
        "system": False,
    }
    assert transition_json("withdraw")["guard"] == {
        "roles": ["instructor"],
        "relations": ["assignee"],
        "system": False,
    }
    resume = transition_json("resume")
    assert resume["guard"] == {"roles": [], "relations": [], "system": True}
    assert resume["automatic"] is True
    assert resume["condition"] == "test.not_urgent"
    assert transition_json("withdraw")["sources"] == ["submitted", "incomplete", "instruction"]
    assert transition_json("accept")["actions"] == [
        {
            "key": "document.request",
            "params": {
                "kind": "decision",
                "visas": ["la demande de permis de test"],
                "articles": ["Le permis de test est accordé."],
            },
            "on_failure": "stop",
            "failure_state": None,
        }
    ]


def test_json_export_gives_timers_with_delay_and_legal_reference() -> None:
    (timer,) = to_json(PERMIT)["timers"]
    assert timer["kind"] == "decision"
    assert timer["delay"]["amount"] == 2
    assert timer["delay"]["unit"] == "months"
    assert timer["fires"] == "tacit_acceptance"
    assert timer["suspended_in"] == ["incomplete", "pieces_in"]
    assert timer["legal_reference"] == "test: silence vaut acceptance après 2 mois"


def test_json_export_gives_payload_json_schemas() -> None:
    reject_schema = transition_json("reject")["payload_schema"]
    assert reject_schema["type"] == "object"
    assert reject_schema["required"] == ["reason"]
    assert reject_schema["properties"]["reason"]["minLength"] == 3
    assert transition_json("start")["payload_schema"] is None

    intake_schema = to_json(PERMIT)["payload_schema"]
    assert set(intake_schema["properties"]) == {"title", "area_m2", "urgent"}
    assert set(intake_schema["required"]) == {"title", "area_m2"}
    assert intake_schema["properties"]["area_m2"]["minimum"] == 1
    assert intake_schema["additionalProperties"] is False


def test_json_export_lists_documents_and_on_open_actions() -> None:
    exported = to_json(PERMIT)
    assert [d["kind"] for d in exported["documents"]] == [
        "are",
        "recepisse",
        "pieces_letter",
        "decision",
    ]
    assert [(a["key"], a["params"]) for a in exported["on_open"]] == [
        ("document.request", {"kind": "recepisse"})
    ]


# ----- Mermaid ---------------------------------------------------------------------------------


def test_mermaid_is_a_state_diagram_starting_at_the_initial_state() -> None:
    lines = to_mermaid(PERMIT).splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1].strip() == "[*] --> submitted"


def test_mermaid_has_one_line_per_transition_source() -> None:
    lines = [line.strip() for line in to_mermaid(PERMIT).splitlines()]
    for src in ("submitted", "incomplete", "instruction"):
        assert lines.count(f"{src} --> withdrawn: Retirer la demande") == 1
    assert lines.count("submitted --> incomplete: Demander des pièces") == 1
    assert lines.count("instruction --> incomplete: Demander des pièces") == 1
    transition_lines = [
        line for line in lines if "-->" in line and "[*]" not in line and "(2 mois)" not in line
    ]
    assert len(transition_lines) == sum(len(t.sources) for t in PERMIT.transitions)


def test_mermaid_marks_internal_states_automatic_transitions_and_timers() -> None:
    text = to_mermaid(PERMIT)
    assert 'state "Pièces reçues (interne)" as pieces_in' in text
    assert 'state "En instruction" as instruction' in text
    assert "pieces_in --> instruction: Reprendre l'instruction [auto]" in text
    assert "instruction --> tacit_accepted: decision (2 mois)" in text


def test_mermaid_sends_terminal_states_to_the_end() -> None:
    lines = [line.strip() for line in to_mermaid(PERMIT).splitlines()]
    ends = sorted(line.split(" --> ")[0] for line in lines if line.endswith("--> [*]"))
    assert ends == sorted(s.name for s in PERMIT.states if s.terminal)


class Empty(BaseModel):
    pass


def awkward_definition() -> Definition:
    return Definition(
        key="test.awkward",
        version=1,
        title="Titres difficiles",
        states=(
            State(name="open", title='Dossier "urgent" : à voir'),
            State(name="closed", title="Clos\nfin", terminal=True),
        ),
        initial_state="open",
        transitions=(
            Transition(
                name="close",
                title='Étape 1 : dire "non"',
                sources=("open",),
                target="closed",
                guard=Guard(roles=("instructor",)),
            ),
            Transition(
                name="lapse",
                title="Délai : expiré",
                sources=("open",),
                target="closed",
                guard=Guard(system=True),
            ),
        ),
        timers=(
            Timer(
                kind="délai:légal",
                delay=DelaySpec(amount=15, unit=DelayUnit.DAYS, franc=True),
                starts_in="open",
                fires="lapse",
            ),
        ),
        payload_schema=Empty,
    )


def test_mermaid_labels_with_quotes_colons_and_newlines_stay_valid() -> None:
    text = to_mermaid(awkward_definition())
    lines = text.splitlines()
    # A newline in a title does not split a statement.
    assert len(lines) == 1 + 1 + 2 + 2 + 1 + 1  # header, start, states, transitions, timer, end
    state_decl = re.compile(r'^    state "([^"]*)" as [a-z_]+$')
    arrow = re.compile(r"^    [a-z_]+ --> [a-z_]+: ([^:]*)$")
    end = re.compile(r"^    (\[\*\] --> [a-z_]+|[a-z_]+ --> \[\*\])$")
    for line in lines[1:]:
        assert state_decl.match(line) or arrow.match(line) or end.match(line), line
    labels = [m.group(1) for line in lines if (m := arrow.match(line))]
    assert labels == [
        "Étape 1  - dire 'non'",
        "Délai  - expiré",
        "délai -légal (15 jours francs)",
    ]
    assert "state \"Dossier 'urgent'  - à voir\" as open" in text
