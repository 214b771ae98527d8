"""How a run reads as text: its steps as symbol lines, the hint that unblocks it, and
the summary at the end. Shared by the live display, `relay status` and `relay run`."""

import json
from collections import Counter
from typing import Any, TextIO

from relay.cli.output import local_time, short
from relay.model.run import Run, RunStatus, StepRun, StepStatus, WaitKind
from relay.service.follow import NOT_PICKED_UP
from relay.service.views import waiting_for
from relay.service.wording import (
    SHELL_CHANNEL,
    awaited_event,
    decidable_through,
    seconds_text,
    unblock_command,
)

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


def symbols_for(stream: TextIO) -> dict[StepStatus, str]:
    """Unicode symbols where the stream can encode them, ASCII elsewhere."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return SYMBOLS if encoding.startswith("utf") else ASCII_SYMBOLS


def failed_attempt(step: StepRun) -> tuple[int, str] | None:
    """While a step is retried: the attempt that failed last, and its error."""
    if step.error is None:
        return None
    if step.status is StepStatus.PENDING and step.attempts > 0:
        return step.attempts, step.error  # its retry is due later
    if step.status is StepStatus.RUNNING and step.attempts > 1:
        return step.attempts - 1, step.error  # its retry has begun
    return None


def retry_text(attempt: int, error: str) -> str:
    return f"attempt {attempt} failed: {short(error)}; retrying"


def step_state(step: StepRun) -> str:
    """`completed`, `running (attempt 2)`, `waiting (approval)`, `failed: <error>`."""
    failure = failed_attempt(step)
    if step.status is StepStatus.PENDING and failure is not None:
        return retry_text(*failure)
    text = step.status.value
    if step.status is StepStatus.WAITING and step.waiting is not None:
        text += f" ({step.waiting.kind.value})"
    if step.attempt_count > 1:
        text += f" (attempt {step.attempt_count})"
    if step.error and step.status is StepStatus.FAILED:
        text += f": {short(step.error)}"
    return text


def step_lines(run: Run, symbols: dict[StepStatus, str]) -> list[str]:
    width = max((len(s.id) for s in run.steps), default=0)
    return [f"  {symbols[s.status]} {s.id.ljust(width)}  {step_state(s)}" for s in run.steps]


def hint_lines(run: Run) -> list[str]:
    """What a waiting run waits for, and the `relay` command that gives it that."""
    waiting = waiting_for(run)
    if waiting is None:
        return []
    lines = [f"waiting for {waiting['kind']} at step {waiting['step']}{_what(waiting)}"]
    command = unblock_command(run.id, waiting)
    if command is not None:
        how = "follow it with" if waiting["kind"] == WaitKind.RUN.value else "from a shell"
        tail = "   (add --reject to reject)" if waiting["kind"] == WaitKind.APPROVAL.value else ""
        lines.append(f"  {how}: {command}{tail}")
    return lines


def _what(waiting: dict[str, Any]) -> str:
    """The rest of the waiting line: the gate's message, the task, the event's match..."""
    kind, detail = waiting["kind"], waiting["detail"]
    if kind == WaitKind.APPROVAL.value:
        who = f" (approvers: {', '.join(detail['approvers'])})" if detail.get("approvers") else ""
        only = ""
        if not decidable_through(detail, SHELL_CHANNEL):
            only = f"; it can be decided only through {', '.join(detail['channels'])}"
        return f": {short(detail.get('message', ''))}{who}{only}"
    if kind == WaitKind.TASK.value:
        return (
            f": {detail.get('to')} is to do {short(detail.get('task', ''))!r}; "
            "the result (JSON) becomes the step's output"
        )
    if kind == WaitKind.EVENT.value:
        event = awaited_event(detail)
        match = f" matching {json.dumps(detail['match'])}" if detail.get("match") else ""
        if event.unsettable:
            match += f"; no emitted event can match {', '.join(event.unsettable)}"
        return f": {event.type}{match}"
    if kind == WaitKind.RUN.value:
        return f": child run {detail.get('run_id')} ({detail.get('workflow')}) must finish"
    return f": it goes on by itself at {local_time(detail.get('until'))}"


def state_lines(state: dict[str, Any]) -> list[str]:
    """Where a run stands after a decision or an event moved it (`Runs.state_after`),
    for people: its status, or what it waits for and the command that unblocks it."""
    run_id, workflow, waiting = state["run_id"], state["workflow"], state.get("waiting_for")
    hint: str = state.get("next") or ""
    if hint.startswith(NOT_PICKED_UP):
        return [f"run {run_id} ({workflow}): {hint}"]
    if waiting is None:
        error = f": {state['error']}" if state.get("error") else ""
        return [f"run {run_id} ({workflow}) is {state['status']}{error}"]
    lines = [f"run {run_id} ({workflow}) waits for {waiting['kind']} at step {waiting['step']}"]
    command = unblock_command(run_id, waiting)
    if command is not None:
        lines.append(f"  from a shell: {command}")
    return lines


def headline(run: Run) -> str:
    took = (run.updated_at - run.created_at).total_seconds()
    counts = Counter(s.status.value for s in run.steps)
    tally = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no steps"
    return f"run {run.id} ({run.workflow}) {run.status.value} after {seconds_text(took)}: {tally}"


def summary_lines(run: Run) -> list[str]:
    """The end of `relay run`: the outcome, and for a failure what failed and why."""
    lines = [headline(run)]
    failed = [s for s in run.steps if s.status is StepStatus.FAILED]
    if run.status is RunStatus.FAILED:
        for step in failed:
            count = step.attempt_count
            attempts = f"{count} attempt{'s' if count != 1 else ''}"
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
