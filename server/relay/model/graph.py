"""A workflow's step graph as a Mermaid flowchart.

One node per step, in file order, labelled with its name and action; approval gates are
hexagons marked "approval gate", and conditional steps show their `if:` and get dotted
incoming edges. Node ids are `s1`, `s2`... rather than step
ids, because step ids may be Mermaid keywords (`end`) or contain `.` and `-`.
"""

from relay.model.workflow import Step, Workflow

# Mermaid reads these as markup inside a quoted label; its entity codes are safe.
_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "{": "#123;",
    "}": "#125;",
    "\n": " ",
}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def _is_gate(step: Step) -> bool:
    return step.requires_approval or step.action == "approval"


def _node(node_id: str, step: Step) -> str:
    label = f"{_escape(step.name)}<br/><small>{_escape(step.action)}</small>"
    if step.if_ is not None:
        label += f"<br/><small>if: {_escape(step.if_)}</small>"
    if _is_gate(step):
        return f'    {node_id}{{{{"{label}<br/><small>approval gate</small>"}}}}'
    return f'    {node_id}["{label}"]'


def to_mermaid(workflow: Workflow) -> str:
    """Mermaid `flowchart TD` source for `workflow` (deterministic for a definition)."""
    node_ids = {step.id: f"s{index}" for index, step in enumerate(workflow.steps, start=1)}
    lines = ["flowchart TD"]
    lines += [_node(node_ids[step.id], step) for step in workflow.steps]
    for step in workflow.steps:
        arrow = "-.->" if step.if_ is not None else "-->"
        for need in workflow.dependencies()[step.id]:
            if need in node_ids:
                lines.append(f"    {node_ids[need]} {arrow} {node_ids[step.id]}")
    return "\n".join(lines) + "\n"


def step_depths(workflow: Workflow) -> dict[str, int]:
    """Each step's layer for drawing: 0 without dependencies, else one more than its
    deepest dependency (steps listed in topological order)."""
    needs = workflow.dependencies()
    depths: dict[str, int] = {}
    for step_id in workflow.topological_order():
        known = [depths[n] for n in needs[step_id] if n in depths]
        depths[step_id] = 1 + max(known) if known else 0
    return depths
