"""How a run reads as text: its steps as symbol lines, the hint that unblocks it, and
the summary at the end. Shared by the live display, `relay status` and `relay run`."""

import json
from collections import Counter
from typing import Any, TextIO

from relay.cli.output import local_time, short
from relay.model.run import Run, RunStatus, StepRun, StepStatus
from relay.service.follow import NOT_PICKED_UP
from relay.service.views import run_view

SYMBOLS = {
    StepStatus.PENDING: "·",
    StepStatus.RUNNING: "▶",
    StepStatus.WAITING: "⏸",
    StepStatus.COMPLETED: "✓",
    StepStatus.FAILED: "✗",
    StepStatus.SKIPPED: "↷",
    StepStatus.CANCELLED: "⊘",
}
ASCII_SYMBOLS = {
    StepStatus.PENDING: ".",
    StepStatus.RUNNING: ">",
    StepStatus.WAITING: "~",
    StepStatus.COMPLETED: "+",
    StepStatus.FAILED: "x",
    StepStatus.SKIPPED: "-",
    StepStatus.CANCELLED: "/",
}

# What a person types in a shell to unblock a waiting run, by what it waits for.
SHELL_HINTS = {
    "approval": "relay approve {run_id} --step {step}   (or --reject)",
    "event": "relay emit {type} --data '{data}'",
    "task": "relay complete {task_id} --result '{{...}}'",
}


def symbols_for(stream: TextIO) -> dict[StepStatus, str]:
    """Unicode symbols where the stream can encode them, ASCII elsewhere."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return SYMBOLS if encoding.startswith("utf") else ASCII_SYMBOLS


def step_state(step: StepRun) -> str:
    """`completed`, `running (attempt 2)`, `waiting (approval)`, `failed: <error>`."""
    text = step.status.value
    if step.status is StepStatus.WAITING and step.waiting is not None:
        text += f" ({step.waiting.kind.value})"
    if step.attempts > 1:
        text += f" (attempt {step.attempts})"
    if step.error and step.status is StepStatus.FAILED:
        text += f": {short(step.error)}"
    return text


def step_lines(run: Run, symbols: dict[StepStatus, str]) -> list[str]:
    width = max((len(s.id) for s in run.steps), default=0)
    return [f"  {symbols[s.status]} {s.id.ljust(width)}  {step_state(s)}" for s in run.steps]


def hint_lines(run: Run) -> list[str]:
    """What would unblock a waiting run: the service's hint and the shell command."""
    view = run_view(run)
    waiting: dict[str, Any] | None = view["waiting_for"]
    if waiting is None:
        return []
    lines = [f"waiting for {waiting['kind']} at step {waiting['step']}: {view['next']}"]
    shell = _shell_hint(run.id, waiting)
    if shell:
        lines.append(f"  from a shell: {shell}")
    return lines


def _shell_hint(run_id: str, waiting: dict[str, Any]) -> str | None:
    template = SHELL_HINTS.get(waiting["kind"])
    if template is None:
        return None
    detail: dict[str, Any] = waiting["detail"]
    match = detail.get("match") or {}
    data = {k[5:]: v for k, v in match.items() if k.startswith("data.")}
    return template.format(
        run_id=run_id,
        step=waiting["step"],
        type=detail.get("type"),
        data=json.dumps(data),
        task_id=detail.get("task_id"),
    )


def state_lines(state: dict[str, Any]) -> list[str]:
    """Where a run stands after a decision or an event moved it (`Relay.decided_state`),
    for people: its status, or what it waits for and the command that unblocks it."""
    run_id, workflow, waiting = state["run_id"], state["workflow"], state.get("waiting_for")
    hint: str = state.get("next") or ""
    if hint.startswith(NOT_PICKED_UP):
        return [f"run {run_id} ({workflow}): {hint}"]
    if waiting is None:
        error = f": {state['error']}" if state.get("error") else ""
        return [f"run {run_id} ({workflow}) is {state['status']}{error}"]
    lines = [f"run {run_id} ({workflow}) waits for {waiting['kind']} at step {waiting['step']}"]
    shell = _shell_hint(run_id, waiting)
    if shell:
        lines.append(f"  from a shell: {shell}")
    return lines


def headline(run: Run) -> str:
    took = (run.updated_at - run.created_at).total_seconds()
    counts = Counter(s.status.value for s in run.steps)
    tally = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no steps"
    return f"run {run.id} ({run.workflow}) {run.status.value} after {took:.1f}s: {tally}"


def summary_lines(run: Run) -> list[str]:
    """The end of `relay run`: the outcome, and for a failure what failed and why."""
    lines = [headline(run)]
    failed = [s for s in run.steps if s.status is StepStatus.FAILED]
    if run.status is RunStatus.FAILED:
        for step in failed:
            attempts = f"{step.attempts} attempt{'s' if step.attempts != 1 else ''}"
            lines.append(f"step {step.id} failed after {attempts}:")
            lines.extend(f"  {line}" for line in (step.error or "no error recorded").splitlines())
    if run.error and run.status is not RunStatus.COMPLETED and not failed:
        lines.append(f"error: {run.error}")
    if run.outputs:
        lines.append(f"outputs: {json.dumps(run.outputs, default=str)}")
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        lines.append(f"retry from the failed steps with: relay resume {run.id}")
    return lines


def status_lines(run: Run, symbols: dict[StepStatus, str]) -> list[str]:
    """`relay status`: the run, each step, what it waits for, its error and outputs."""
    lines = [
        f"run {run.id} ({run.workflow}): {run.status.value}",
        f"  started by {run.started_by} at {local_time(run.created_at)}, "
        f"updated {local_time(run.updated_at)}",
        *step_lines(run, symbols),
        *hint_lines(run),
    ]
    if run.error:
        lines.append(f"error: {run.error}")
    if run.outputs:
        lines.append(f"outputs: {json.dumps(run.outputs, default=str)}")
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        lines.append(f"retry from the failed steps with: relay resume {run.id}")
    return lines
