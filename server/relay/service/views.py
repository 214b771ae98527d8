"""The shapes every surface returns (a run, approvals, tasks, events), as plain
JSON-able dicts: the MCP tools, `relay ... --json` and the HTTP API share them."""

import json
from datetime import UTC, datetime
from typing import Any

from relay.errors import Problem
from relay.model.events import Event
from relay.model.run import (
    Approval,
    Participant,
    Run,
    RunStatus,
    StepRun,
    StepStatus,
    Task,
    WaitKind,
)
from relay.service.wording import awaited_event

# A step output longer than this (as JSON) is cut in run views and pointed to by URI.
OUTPUT_LIMIT = 2_000
# In a run's brief (what tools return), a step's output is cut shorter: the whole of it
# is one resource read away.
BRIEF_OUTPUT_LIMIT = 300


def iso(value: Any) -> str | None:
    """A datetime as ISO 8601 text (None stays None)."""
    return None if value is None else value.isoformat()


def short_output(run_id: str, step_id: str, output: Any, limit: int = OUTPUT_LIMIT) -> Any:
    text = json.dumps(output, default=str)
    if len(text) <= limit:
        return output
    return {
        "truncated": True,
        "preview": text[:limit],
        "size": len(text),
        "full": f"relay://runs/{run_id}/steps/{step_id}/output",
    }


def step_view(run: Run, step: StepRun, limit: int = OUTPUT_LIMIT) -> dict[str, Any]:
    return {
        "id": step.id,
        "name": step.name,
        "status": step.status.value,
        "attempts": step.attempt_count,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "output": short_output(run.id, step.id, step.output, limit),
        "error": step.error,
    }


def waiting_for(run: Run) -> dict[str, Any] | None:
    """What the run waits for: the first step that waits for someone or something (an
    approval, an event, a task, a child run); else, when no step is running, the first
    timer (a `delay`, a retry's backoff). Its kind, step and detail."""
    if run.status.is_final:
        return None
    waiting = [s for s in run.steps if s.status is StepStatus.WAITING and s.waiting is not None]
    for step in waiting:
        assert step.waiting is not None
        if step.waiting.kind is not WaitKind.TIMER:
            return _wait_view(step.id, step.waiting.kind, step.waiting.detail)
    if any(s.status is StepStatus.RUNNING for s in run.steps):
        return None
    for step in waiting:
        assert step.waiting is not None
        return _wait_view(step.id, step.waiting.kind, step.waiting.detail)
    for step in run.steps:
        if step.status is StepStatus.PENDING and step.wake_at is not None and step.attempts:
            detail = {"until": step.wake_at.isoformat(), "retry": step.attempts + 1}
            return _wait_view(step.id, WaitKind.TIMER, detail)
    return None


def _wait_view(step_id: str, kind: WaitKind, detail: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind.value, "step": step_id, "detail": detail}


def shown_status(run: Run, waiting: dict[str, Any] | None) -> str:
    """The run's status as people and models read it: a run that waits for something
    is `waiting`, even while its driver still holds it."""
    return RunStatus.WAITING.value if waiting is not None else run.status.value


def next_hint(run: Run, waiting: dict[str, Any] | None) -> str | None:
    """One line naming the call that would unblock the run."""
    if run.status.is_final:
        if run.status.value in ("failed", "cancelled"):
            return f'resume_workflow(run_id="{run.id}") retries it from its failed steps'
        return None
    if waiting is None:
        return f'get_status(run_id="{run.id}", wait_seconds=30) to follow it'
    kind, detail, step = waiting["kind"], waiting["detail"], waiting["step"]
    if kind == WaitKind.APPROVAL.value:
        who = f" (approvers: {', '.join(detail['approvers'])})" if detail.get("approvers") else ""
        return f'approve(run_id="{run.id}", step="{step}") or approved=False to reject{who}'
    if kind == WaitKind.TASK.value:
        task_id = detail.get("task_id")
        who = detail.get("to")
        return f'participant {who!r} should complete_task(task_id="{task_id}", result={{...}})'

    if kind == WaitKind.EVENT.value:
        return awaited_event(detail).emit_call()
    if kind == WaitKind.RUN.value:
        return f'get_status(run_id="{detail.get("run_id")}") shows the child run it waits for'
    if "retry" in detail:
        return f"step {step!r} is tried again (attempt {detail['retry']}) at {detail['until']}"
    return f"it resumes by itself at {detail.get('until')}"


def run_view(run: Run, *, limit: int = OUTPUT_LIMIT) -> dict[str, Any]:
    waiting = waiting_for(run)
    return {
        "run_id": run.id,
        "workflow": run.workflow,
        "status": shown_status(run, waiting),
        "inputs": run.inputs,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "started_by": run.started_by,
        "steps": [step_view(run, s, limit) for s in run.steps],
        "waiting_for": waiting,
        "next": next_hint(run, waiting),
        "outputs": run.outputs,
        "error": run.error,
        "parent_run_id": run.parent_run_id,
    }


def run_state(run: Run) -> dict[str, Any]:
    """Where a run stands, without its steps: what a decision or an event reports about
    the run it moved on."""
    waiting = waiting_for(run)
    return {
        "run_id": run.id,
        "workflow": run.workflow,
        "status": shown_status(run, waiting),
        "waiting_for": waiting,
        "next": next_hint(run, waiting),
        "outputs": run.outputs,
        "error": run.error,
    }


def stamp(value: datetime | None) -> str | None:
    """A datetime for a model to read: UTC, to the second (`2026-12-02T01:07:44Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def run_brief(run: Run) -> dict[str, Any]:
    """The run as tools return it (get_status, start_workflow...): what a model needs to
    act, nothing empty or repeated. Each step keeps its status and a short output; the
    whole run, full outputs included, is the `relay://runs/{run_id}` resource."""
    waiting = waiting_for(run)
    brief: dict[str, Any] = {
        "run_id": run.id,
        "workflow": run.workflow,
        "status": shown_status(run, waiting),
        "inputs": run.inputs,
        "created_at": stamp(run.created_at),
        "updated_at": stamp(run.updated_at),
        "started_by": run.started_by,
        "steps": [step_brief(run, s) for s in run.steps],
        "waiting_for": waiting,
        "next": next_hint(run, waiting),
        "outputs": run.outputs,
        "error": run.error,
        "parent_run_id": run.parent_run_id,
    }
    return {key: value for key, value in brief.items() if value not in (None, {})}


def step_brief(run: Run, step: StepRun) -> dict[str, Any]:
    brief: dict[str, Any] = {"id": step.id, "status": step.status.value}
    if step.name != step.id:
        brief["name"] = step.name
    if step.attempts > 1:
        brief["attempts"] = step.attempts
    if step.started_at is not None and step.finished_at is not None:
        seconds = round((step.finished_at - step.started_at).total_seconds(), 1)
        if seconds:  # a step that took no time says nothing by it
            brief["seconds"] = seconds
    if step.output is not None:
        brief["output"] = short_output(run.id, step.id, step.output, BRIEF_OUTPUT_LIMIT)
    if step.error:
        brief["error"] = step.error
    return brief


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "workflow": run.workflow,
        "status": run.status.value,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "started_by": run.started_by,
        "error": run.error,
    }


def approval_view(a: Approval) -> dict[str, Any]:
    return {
        "approval_id": a.id,
        "run_id": a.run_id,
        "workflow": a.workflow,
        "step": a.step_id,
        "message": a.message,
        "approvers": list(a.approvers),
        "status": a.status.value,
        "requested_at": iso(a.requested_at),
        "expires_at": iso(a.expires_at),
        "decided_by": a.decided_by,
        "channel": a.decided_channel,
        "decided_at": iso(a.decided_at),
        "comment": a.comment,
    }


def task_view(t: Task) -> dict[str, Any]:
    return {
        "task_id": t.id,
        "run_id": t.run_id,
        "workflow": t.workflow,
        "step": t.step_id,
        "to": t.to,
        "task": t.task,
        "context": t.context,
        "status": t.status.value,
        "created_at": iso(t.created_at),
        "claimed_by": t.claimed_by,
        "result": t.result,
        "error": t.error,
    }


def event_view(e: Event) -> dict[str, Any]:
    return e.as_dict()


def participant_view(p: Participant) -> dict[str, Any]:
    return {"name": p.name, "last_seen": iso(p.last_seen), "open_tasks": p.open_tasks}


def problem_view(p: Problem) -> dict[str, Any]:
    """A definition problem as the MCP tools report it."""
    return {"path": p.path, "line": p.line, "message": p.message, "step": p.step}
