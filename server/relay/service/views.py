"""The shapes every surface returns (a run, approvals, tasks, events), as plain
JSON-able dicts: the MCP tools, `relay ... --json` and the HTTP API share them."""

import json
from typing import Any

from relay.errors import Problem
from relay.model.events import Event
from relay.model.run import Approval, Participant, Run, StepRun, StepStatus, Task, WaitKind

# A step output longer than this (as JSON) is cut in run views and pointed to by URI.
OUTPUT_LIMIT = 2_000


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
    """The first step that waits for someone or something: its kind, step and detail."""
    if run.status.is_final:
        return None
    for step in run.steps:
        if step.status is StepStatus.WAITING and step.waiting is not None:
            return {"kind": step.waiting.kind.value, "step": step.id, "detail": step.waiting.detail}
    return None


def is_settled(run: Run) -> bool:
    """Finished, or waiting for someone or something other than the clock: where
    `start_workflow(wait_seconds=...)` stops waiting."""
    waiting = waiting_for(run)
    return run.status.is_final or (waiting is not None and waiting["kind"] != WaitKind.TIMER)


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
        match = detail.get("match") or {}
        data = {k[5:]: v for k, v in match.items() if k.startswith("data.")}
        source = f', source="{match["source"]}"' if "source" in match else ""
        return f'emit_event(type="{detail.get("type")}"{source}, data={json.dumps(data)})'
    if kind == WaitKind.RUN.value:
        return f'get_status(run_id="{detail.get("run_id")}") shows the child run it waits for'
    return f"it resumes by itself at {detail.get('until')}"


def run_view(run: Run, *, limit: int = OUTPUT_LIMIT) -> dict[str, Any]:
    waiting = waiting_for(run)
    return {
        "run_id": run.id,
        "workflow": run.workflow,
        "status": run.status.value,
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
    return {"path": p.path, "line": p.line, "message": p.message}
