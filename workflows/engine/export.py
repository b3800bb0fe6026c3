"""Export a definition as JSON (for agents' tools) and as a Mermaid state diagram."""

from __future__ import annotations

from typing import Any

from workflows.engine.definitions import Definition


def to_json(d: Definition) -> dict[str, Any]:
    return {
        "key": d.key,
        "version": d.version,
        "title": d.title,
        "description": d.description,
        "initial_state": d.initial_state,
        "states": [s.model_dump(mode="json") for s in d.states],
        "transitions": [
            {
                "name": t.name,
                "title": t.title,
                "sources": list(t.sources),
                "target": t.target,
                "automatic": t.automatic,
                "condition": t.condition,
                "guard": t.guard.model_dump(mode="json"),
                "actions": [a.model_dump(mode="json") for a in t.actions],
                "payload_schema": (
                    t.payload_schema.model_json_schema() if t.payload_schema is not None else None
                ),
            }
            for t in d.transitions
        ],
        "timers": [t.model_dump(mode="json") for t in d.timers],
        "documents": [doc.model_dump(mode="json") for doc in d.documents],
        "on_open": [a.model_dump(mode="json") for a in d.on_open],
        "intake_roles": list(d.intake_roles),
        "payload_schema": d.payload_schema.model_json_schema(),
    }


def _mermaid_label(text: str) -> str:
    return text.replace('"', "'").replace(":", " -").replace("\n", " ")


def to_mermaid(d: Definition) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {d.initial_state}"]
    for s in d.states:
        suffix = "" if s.public else " (interne)"
        lines.append(f'    state "{_mermaid_label(s.title)}{suffix}" as {s.name}')
    for t in d.transitions:
        label = _mermaid_label(t.title) + (" [auto]" if t.automatic else "")
        for src in t.sources:
            lines.append(f"    {src} --> {t.target}: {label}")
    for timer in d.timers:
        lines.append(
            f"    {timer.starts_in} --> {d.transition(timer.fires).target}: "
            f"{_mermaid_label(timer.kind)} ({_mermaid_label(timer.delay.describe())})"
        )
    for s in d.states:
        if s.terminal:
            lines.append(f"    {s.name} --> [*]")
    return "\n".join(lines) + "\n"
