"""Runs and their steps as the engine and every surface see them: plain, validated data."""

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relay.model.workflow import Workflow


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_RUN


_FINAL_RUN = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STEP


_FINAL_STEP = {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}


class WaitKind(StrEnum):
    APPROVAL = "approval"
    EVENT = "event"
    TASK = "task"
    TIMER = "timer"
    RUN = "run"


class Waiting(BaseModel):
    """What a waiting step waits for; `detail` is shown to people and models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: WaitKind
    step: str
    detail: dict[str, Any] = Field(default_factory=dict)


class StepRun(BaseModel):
    """One step of one run: its durable state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: str | None = None
    wake_at: datetime | None = None  # retry backoff, delay, or a wait's deadline
    waiting: Waiting | None = None
    gate_passed: bool = False  # the approval gate before the action was granted
    state: dict[str, Any] = Field(default_factory=dict)  # a waiting action's private state

    @property
    def attempt_count(self) -> int:
        """Attempts as people count them: from 1 once the step has started, a wait or an
        approval (which runs no action, so records no attempt) counting as the first."""
        return max(self.attempts, 1) if self.started_at is not None else self.attempts

    @property
    def attempts_since_resume(self) -> int:
        """Attempts that count against the retry budget: a resume gives a fresh one, while
        `attempts` keeps counting (attempt numbers stay unique in the run's record)."""
        return self.attempts - int(self.state.get(_RETRY_BASE, 0))

    def carried_state(self) -> dict[str, Any]:
        """What of `state` outlives a wait or a gate (the retry budget's base)."""
        return {k: v for k, v in self.state.items() if k == _RETRY_BASE}

    def reopened(self) -> "StepRun":
        """This step as a resume leaves it: pending, with a fresh retry budget."""
        return self.model_copy(
            update={
                "status": StepStatus.PENDING,
                "error": None,
                "wake_at": None,
                "waiting": None,
                "finished_at": None,
                "state": {_RETRY_BASE: self.attempts},
            }
        )


_RETRY_BASE = "retry_base"  # in StepRun.state: `attempts` when the run was last resumed


class Run(BaseModel):
    """A run of a workflow definition snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    workflow: str
    workflow_name: str
    definition_hash: str
    status: RunStatus = RunStatus.PENDING
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_by: str = "unknown"
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None
    parent_step: str | None = None
    root_run_id: str | None = None
    trigger_event: dict[str, Any] | None = None
    idempotency_key: str | None = None
    start_seq: int = 0  # the event log's last seq when the run was created: waits look back to it
    deadline_at: datetime | None = None
    wake_at: datetime | None = None
    signal_seq: int = 0  # bumped by every outside actor (approval, event, task, cancel)
    cancel_requested: bool = False
    cancel_reason: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    steps: tuple[StepRun, ...] = ()

    def step(self, step_id: str) -> StepRun:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class Attempt(BaseModel):
    """One attempt at running a step's action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    step_id: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None
    status: StepStatus = StepStatus.RUNNING
    error: str | None = None
    worker: str | None = None


class HistoryEntry(BaseModel):
    """One line of a run's append-only history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    kind: str  # e.g. run.started, step.started, step.completed, approval.decided
    at: datetime
    step_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    seq: int | None = None


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Approval(BaseModel):
    """An approval gate: who may decide, and the first decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    run_id: str
    workflow: str
    step_id: str
    message: str
    approvers: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    allow_self: bool = True
    requested_by: str = "unknown"
    status: ApprovalStatus = ApprovalStatus.PENDING
    requested_at: datetime
    expires_at: datetime | None = None
    decided_by: str | None = None
    decided_channel: str | None = None
    decided_at: datetime | None = None
    comment: str = ""


class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Task(BaseModel):
    """Work handed to a participant by a `handoff` step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    run_id: str
    workflow: str
    step_id: str
    to: str
    task: str
    context: dict[str, Any] = Field(default_factory=dict)
    status: TaskStatus = TaskStatus.OPEN
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    claimed_by: str | None = None
    result: Any = None
    error: str | None = None


class EventWait(BaseModel):
    """A `wait_for_event` step's subscription; the event log fills `matched_seq`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    step_id: str
    type: str
    match: dict[str, Any] = Field(default_factory=dict)
    after_seq: int = 0
    matched_seq: int | None = None


class Participant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    last_seen: datetime | None  # None: never seen, only addressed by tasks
    open_tasks: int = 0


def new_run(
    workflow: Workflow,
    inputs: dict[str, Any],
    *,
    started_by: str,
    cwd: str | None,
    env: dict[str, str] | None = None,
    parent: tuple[str, str, str] | None = None,
    idempotency_key: str | None = None,
    trigger_event: dict[str, Any] | None = None,
) -> Run:
    """A fresh run of `workflow`, every step pending."""
    now = datetime.now(UTC)
    run_id = uuid.uuid4().hex[:12]
    deadline = (
        None
        if workflow.deadline_seconds is None
        else now + timedelta(seconds=workflow.deadline_seconds)
    )
    return Run(
        id=run_id,
        workflow=workflow.id,
        workflow_name=workflow.name,
        definition_hash=workflow.definition_hash(),
        status=RunStatus.PENDING,
        inputs=inputs,
        created_at=now,
        updated_at=now,
        started_by=started_by,
        cwd=cwd,
        env=env or {},
        parent_run_id=parent[0] if parent else None,
        parent_step=parent[1] if parent else None,
        root_run_id=parent[2] if parent else run_id,
        trigger_event=trigger_event,
        idempotency_key=idempotency_key,
        deadline_at=deadline,
        steps=tuple(StepRun(id=s.id, name=s.name) for s in workflow.steps),
    )
