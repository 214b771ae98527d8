"""Waiting actions: approval gates, events, handoff tasks, durable delays and child runs.

None of them blocks a task while it waits. `suspend` says what to record (an approval
row, a task, an event subscription, a timer) and the run is parked; `resolve` later
reads what happened (a decision, a matched event, a finished task or child run, a
deadline) and says how the step ends.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from relay.engine.actions import ActionSpec
from relay.model.run import (
    Approval,
    ApprovalStatus,
    EventWait,
    Run,
    StepRun,
    StepStatus,
    Task,
    TaskStatus,
    Waiting,
    WaitKind,
)
from relay.model.workflow import ApprovalSpec, Step
from relay.store.base import Store

_PARAMS = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
Channel = Literal["mcp", "elicitation", "slack", "cli", "dashboard"]


class DelayParams(BaseModel):
    model_config = _PARAMS
    seconds: float = Field(ge=0)


class WaitForEventParams(BaseModel):
    model_config = _PARAMS
    type: str = Field(min_length=1)
    match: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _seed_aliases(cls, data: Any) -> Any:
        return _fold(
            data, {"event_type": ("type", 1)}, {"timeout_minutes": ("timeout_seconds", 60)}
        )


class ApprovalParams(BaseModel):
    model_config = _PARAMS
    message: str | None = None
    approvers: list[str] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    allow_self: bool = True
    timeout_minutes: float | None = Field(default=None, gt=0)
    on_timeout: Literal["reject", "approve", "fail"] = "reject"

    @model_validator(mode="before")
    @classmethod
    def _seed_aliases(cls, data: Any) -> Any:
        return _fold(data, {"approval_message": ("message", 1)}, {})


class HandoffParams(BaseModel):
    model_config = _PARAMS
    to: str = Field(min_length=1)
    task: str = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0)


class RunWorkflowParams(BaseModel):
    model_config = _PARAMS
    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


def _fold(
    data: Any, renames: dict[str, tuple[str, int]], scaled: dict[str, tuple[str, int]]
) -> Any:
    """Accept the seed's parameter names: rename, or convert minutes to seconds."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for old, (new, factor) in {**renames, **scaled}.items():
        if old in data and new not in data:
            value = data.pop(old)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            data[new] = value * factor if factor != 1 and is_number else value
    return data


WAITING_ACTIONS: dict[str, type[BaseModel]] = {
    "delay": DelayParams,
    "wait_for_event": WaitForEventParams,
    "approval": ApprovalParams,
    "handoff": HandoffParams,
    "run_workflow": RunWorkflowParams,
}


def waiting_specs() -> list[ActionSpec]:
    return [ActionSpec(name, model, kind="waiting") for name, model in WAITING_ACTIONS.items()]


@dataclass
class Suspension:
    """What to record when a step starts to wait."""

    waiting: Waiting
    wake_at: datetime | None = None
    state: dict[str, Any] = field(default_factory=dict)
    approval: Approval | None = None
    task: Task | None = None
    wait: EventWait | None = None
    attempts: int | None = None  # a new count of the step's attempts (a child run started)


@dataclass(frozen=True)
class Resolution:
    """How a waiting step ends (or, for a passed gate, goes on to its action)."""

    status: StepStatus
    output: Any = None
    error: str | None = None
    gate_passed: bool = False
    approval: Approval | None = None  # an updated approval row to write (expired...)
    task: Task | None = None
    drop_wait: bool = False


def gate_params(step: Step, workflow_name: str) -> ApprovalParams:
    spec = step.approval or ApprovalSpec()
    return ApprovalParams(
        message=spec.message or f"Approve step {step.name!r} of {workflow_name}?",
        approvers=spec.approvers,
        channels=spec.channels,
        allow_self=spec.allow_self,
        timeout_minutes=spec.timeout_minutes,
        on_timeout=spec.on_timeout,
    )


def suspend_approval(run: Run, step: Step, p: ApprovalParams, now: datetime) -> Suspension:
    approval_id = str(uuid.uuid4())
    expires = None if p.timeout_minutes is None else now + timedelta(minutes=p.timeout_minutes)
    message = p.message or f"Approve step {step.name!r} of {run.workflow_name}?"
    approval = Approval(
        id=approval_id,
        run_id=run.id,
        workflow=run.workflow,
        step_id=step.id,
        message=message,
        approvers=tuple(p.approvers),
        channels=tuple(p.channels),
        allow_self=p.allow_self,
        requested_by=run.started_by,
        requested_at=now,
        expires_at=expires,
    )
    detail: dict[str, Any] = {
        "approval_id": approval_id,
        "message": message,
        "approvers": p.approvers,
    }
    if p.channels:  # where it may be decided, so that no surface offers what would be refused
        detail["channels"] = list(p.channels)
    if expires is not None:
        detail["expires_at"] = expires.isoformat()
    return Suspension(
        waiting=Waiting(kind=WaitKind.APPROVAL, step=step.id, detail=detail),
        wake_at=expires,
        state={"approval_id": approval_id, "on_timeout": p.on_timeout},
        approval=approval,
    )


def suspend_event(run: Run, step: Step, p: WaitForEventParams, now: datetime) -> Suspension:
    match = dict(p.match)
    if p.source is not None:
        match.setdefault("source", p.source)
    expires = None if p.timeout_seconds is None else now + timedelta(seconds=p.timeout_seconds)
    detail: dict[str, Any] = {"type": p.type, "match": match}
    if expires is not None:
        detail["expires_at"] = expires.isoformat()
    return Suspension(
        waiting=Waiting(kind=WaitKind.EVENT, step=step.id, detail=detail),
        wake_at=expires,
        state={"timeout_seconds": p.timeout_seconds},
        wait=EventWait(
            run_id=run.id, step_id=step.id, type=p.type, match=match, after_seq=run.start_seq
        ),
    )


def suspend_handoff(run: Run, step: Step, p: HandoffParams, now: datetime) -> Suspension:
    task_id = str(uuid.uuid4())
    expires = None if p.timeout_seconds is None else now + timedelta(seconds=p.timeout_seconds)
    task = Task(
        id=task_id,
        run_id=run.id,
        workflow=run.workflow,
        step_id=step.id,
        to=p.to,
        task=p.task,
        context=p.context,
        created_at=now,
        updated_at=now,
        expires_at=expires,
    )
    detail = {"task_id": task_id, "to": p.to, "task": p.task}
    return Suspension(
        waiting=Waiting(kind=WaitKind.TASK, step=step.id, detail=detail),
        wake_at=expires,
        state={"task_id": task_id},
        task=task,
    )


def suspend_delay(step: Step, p: DelayParams, now: datetime) -> Suspension:
    until = now + timedelta(seconds=p.seconds)
    return Suspension(
        waiting=Waiting(kind=WaitKind.TIMER, step=step.id, detail={"until": until.isoformat()}),
        wake_at=until,
        state={"seconds": p.seconds},
    )


def suspend_child(step: Step, child_id: str, workflow: str, attempt: int) -> Suspension:
    return Suspension(
        waiting=Waiting(
            kind=WaitKind.RUN, step=step.id, detail={"run_id": child_id, "workflow": workflow}
        ),
        state={"child_run_id": child_id},
        attempts=attempt,
    )


async def resolve(store: Store, run_id: str, step: StepRun, now: datetime) -> Resolution | None:
    """How a waiting step ends, or None while it still waits."""
    assert step.waiting is not None
    due = step.wake_at is not None and step.wake_at <= now
    kind = step.waiting.kind
    if kind is WaitKind.TIMER:
        return (
            Resolution(StepStatus.COMPLETED, {"slept_seconds": step.state.get("seconds")})
            if due
            else None
        )
    if kind is WaitKind.EVENT:
        return await _resolve_event(store, run_id, step, due)
    if kind is WaitKind.APPROVAL:
        return await _resolve_approval(store, step, due, now)
    if kind is WaitKind.TASK:
        return await _resolve_task(store, step, due, now)
    return await _resolve_child(store, step)


async def _resolve_event(store: Store, run_id: str, step: StepRun, due: bool) -> Resolution | None:
    wait = await store.events.get_wait(run_id, step.id)
    if wait is not None and wait.matched_seq is not None:
        event = await store.events.get_event(wait.matched_seq)
        if event is not None:
            return Resolution(StepStatus.COMPLETED, event.as_dict(), drop_wait=True)
    if due:
        detail = step.waiting.detail if step.waiting else {}
        return Resolution(
            StepStatus.FAILED,
            error=f"no {detail.get('type')!r} event matching {detail.get('match')} arrived "
            f"within {step.state.get('timeout_seconds')} s",
            drop_wait=True,
        )
    return None


async def _resolve_approval(
    store: Store, step: StepRun, due: bool, now: datetime
) -> Resolution | None:
    approval = await store.coordination.get_approval(step.state["approval_id"])
    if approval.status is ApprovalStatus.PENDING:
        if not due:
            return None
        return _approval_timeout(approval, step, now)
    return _decided(step, approval)


def _decided(step: StepRun, approval: Approval) -> Resolution:
    output = {
        "approved": approval.status is ApprovalStatus.APPROVED,
        "approver": approval.decided_by,
        "channel": approval.decided_channel,
        "comment": approval.comment,
        "decided_at": None if approval.decided_at is None else approval.decided_at.isoformat(),
    }
    if approval.status is ApprovalStatus.APPROVED:
        if step.state.get("gate"):
            return Resolution(StepStatus.PENDING, gate_passed=True)
        return Resolution(StepStatus.COMPLETED, output)
    why = f": {approval.comment}" if approval.comment else ""
    who = f" by {approval.decided_by}" if approval.decided_by else ""
    return Resolution(
        StepStatus.FAILED, output, error=f"approval {approval.status.value}{who}{why}"
    )


def _approval_timeout(approval: Approval, step: StepRun, now: datetime) -> Resolution:
    if step.state.get("on_timeout") != "approve":
        expired = approval.model_copy(update={"status": ApprovalStatus.EXPIRED, "decided_at": now})
        return Resolution(
            StepStatus.FAILED, error="approval timed out with no decision", approval=expired
        )
    decided = approval.model_copy(
        update={
            "status": ApprovalStatus.APPROVED,
            "decided_by": "timeout",
            "decided_channel": "timeout",
            "decided_at": now,
            "comment": "approved automatically when the approval timed out",
        }
    )
    resolution = _decided(step, decided)
    return Resolution(
        resolution.status, resolution.output, gate_passed=resolution.gate_passed, approval=decided
    )


async def _resolve_task(store: Store, step: StepRun, due: bool, now: datetime) -> Resolution | None:
    task = await store.coordination.get_task(step.state["task_id"])
    if task.status is TaskStatus.COMPLETED:
        return Resolution(StepStatus.COMPLETED, task.result)
    if task.status is TaskStatus.FAILED:
        return Resolution(
            StepStatus.FAILED, task.result, error=f"task failed: {task.error or 'no reason given'}"
        )
    if task.status is TaskStatus.CANCELLED:
        return Resolution(StepStatus.FAILED, error="task was cancelled")
    if not due:
        return None
    expired = task.model_copy(update={"status": TaskStatus.EXPIRED, "updated_at": now})
    return Resolution(StepStatus.FAILED, error=f"task for {task.to!r} timed out", task=expired)


async def _resolve_child(store: Store, step: StepRun) -> Resolution | None:
    child = await store.runs.get_run(step.state["child_run_id"])
    if not child.status.is_final:
        return None
    output = {"run_id": child.id, "status": child.status.value, "outputs": child.outputs}
    if child.status.value == "completed":
        return Resolution(StepStatus.COMPLETED, output)
    return Resolution(
        StepStatus.FAILED, output, error=f"child run {child.id} {child.status.value}: {child.error}"
    )
