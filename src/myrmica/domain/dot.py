"""The task graph as Graphviz DOT, optionally coloured by each task's state."""

from __future__ import annotations

from collections.abc import Mapping

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.methods import is_action

STATE_COLOURS = {
    "COMPLETED": "palegreen", "FAILED": "salmon", "EXECUTING": "lightskyblue", "READY": "lightyellow",
    "PAUSED": "khaki", "CANCELLED": "lightgrey", "MANUAL_APPROVAL_REQUIRED": "orange",
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def definition_dot(spec: JobDefinitionSpec, states: Mapping[str, str] | None = None) -> str:
    lines = [f"digraph {_quote(spec.job_type)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];']
    for task in spec.tasks:
        state = (states or {}).get(task.task_type)
        parts = [task.task_type, task.method.value] + ([state] if state else [])
        label = '"' + "\\n".join(_quote(part)[1:-1] for part in parts) + '"'
        colour = STATE_COLOURS.get(state or "", "white")
        lines.append(f"  {_quote(task.task_type)} [label={label}, fillcolor={colour}];")
    for task in spec.tasks:
        for key, target in task.on_exit_code.items():
            if is_action(target):
                action_node = f"{task.task_type}:{target}"
                lines.append(f"  {_quote(action_node)} [label={_quote(target)}, shape=plaintext, style=\"\"];")
                lines.append(f"  {_quote(task.task_type)} -> {_quote(action_node)} [label={_quote(key)}];")
            else:
                lines.append(f"  {_quote(task.task_type)} -> {_quote(target)} [label={_quote(key)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
