"""The tools' structured results: pydantic mirrors of `relay.service.views`' dicts.

Each tool returns one of these, so the SDK publishes an `outputSchema` for it. The views
build the data; these models only give it a schema (`extra="forbid"` keeps the two in
step: a key added to a view and not here fails loudly in the tests).
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relay.model.run import Run
from relay.service.views import run_brief


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# workflows --------------------------------------------------------------------------------


class WorkflowStep(_Out):
    id: str
    name: str
    action: str


class WorkflowInfo(_Out):
    id: str
    name: str | None = None
    description: str | None = None
    inputs: dict[str, Any] = Field(description="Declared inputs: type, default, description")
    steps: list[WorkflowStep]
    triggers: list[dict[str, Any]]
    path: str | None = Field(default=None, description="The YAML file it was loaded from")


class FileProblem(_Out):
    path: str
    line: int | None = None
    message: str
    step: str | None = Field(default=None, description="The step it is about, if any")


class WorkflowList(_Out):
    workflows: list[WorkflowInfo]
    errors: list[FileProblem] = Field(description="Files that failed to load, with the reason")


class Validation(_Out):
    valid: bool
    errors: list[FileProblem]
    warnings: list[FileProblem] = Field(
        default_factory=list,
        description="What keeps a valid definition from running where it was given, e.g. "
        "inline steps that run code",
    )
    id: str | None = Field(default=None, description="The workflow's id when it is valid")


# runs -------------------------------------------------------------------------------------


class StepInfo(_Out):
    id: str
    name: str | None = Field(default=None, description="Shown when it differs from the id")
    status: str = Field(description="pending|running|waiting|completed|failed|skipped|cancelled")
    attempts: int | None = Field(default=None, description="Shown once a step has tried twice")
    seconds: float | None = Field(default=None, description="How long it ran, once finished")
    output: Any = Field(
        default=None,
        description="The step's output; a long one is cut to a preview with `full`, the "
        "relay://runs/{run_id}/steps/{step_id}/output resource that holds all of it",
    )
    error: str | None = None


class WaitingFor(_Out):
    kind: Literal["approval", "event", "task", "timer", "run"]
    step: str
    detail: dict[str, Any]


class RunInfo(_Out):
    """A run, as the tools return it: empty fields left out (relay://runs/{run_id} is the
    whole record)."""

    run_id: str
    workflow: str
    status: str = Field(description="pending|running|waiting|completed|failed|cancelled")
    inputs: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    started_by: str
    steps: list[StepInfo]
    waiting_for: WaitingFor | None = Field(
        default=None, description="What the run waits for, if anything"
    )
    next: str | None = Field(
        default=None, description="The one call that would unblock or follow the run"
    )
    outputs: dict[str, Any] | None = None
    error: str | None = None
    parent_run_id: str | None = None


class RunState(_Out):
    """Where a run stands after a decision or an event moved it on."""

    run_id: str
    workflow: str
    status: str = Field(description="pending|running|waiting|completed|failed|cancelled")
    waiting_for: WaitingFor | None = Field(
        default=None, description="What the run waits for now, if anything"
    )
    next: str | None = Field(
        default=None, description="The one call that would unblock or follow the run"
    )
    outputs: dict[str, Any] | None = None
    error: str | None = None


class RunSummary(_Out):
    run_id: str
    workflow: str
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    started_by: str
    error: str | None = None


class RunList(_Out):
    runs: list[RunSummary]


# events -----------------------------------------------------------------------------------


class EventInfo(_Out):
    id: str
    seq: int = Field(description="Position in the shared log; strictly increasing")
    type: str
    source: str
    data: dict[str, Any]
    correlation_id: str | None = None
    idempotency_key: str | None = None
    created_at: str


class Emitted(_Out):
    event: EventInfo
    duplicate: bool = Field(description="True when the idempotency_key was seen before")
    started_runs: list[str] = Field(description="Runs this event started through triggers")
    resumed_runs: list[str] = Field(description="Waiting runs this event satisfied")
    resumed: list[RunState] = Field(
        default_factory=list,
        description="Where those runs stand once the engine acted on the event (up to 2 s)",
    )


class EventWaitResult(_Out):
    event: EventInfo | None = None
    timed_out: bool


class EventList(_Out):
    events: list[EventInfo]
    last_seq: int = Field(description="Pass as after_seq next time to read only newer events")


# approvals, tasks, participants -----------------------------------------------------------


class Decision(_Out):
    run_id: str
    step: str
    approved: bool
    run_status: str = Field(description="The run's status once the engine acted (up to 2 s)")
    run: RunState


class ApprovalInfo(_Out):
    approval_id: str
    run_id: str
    workflow: str
    step: str
    message: str
    approvers: list[str]
    status: str
    requested_at: str | None = None
    expires_at: str | None = None
    decided_by: str | None = None
    channel: str | None = None
    decided_at: str | None = None
    comment: str


class ApprovalList(_Out):
    approvals: list[ApprovalInfo]


class TaskInfo(_Out):
    task_id: str
    run_id: str
    workflow: str
    step: str
    to: str = Field(description="The participant the task is addressed to")
    task: str = Field(description="What to do")
    context: dict[str, Any]
    status: str = Field(description="open|claimed|completed|failed|cancelled|expired")
    created_at: str | None = None
    claimed_by: str | None = None
    result: Any = None
    error: str | None = None


class TaskList(_Out):
    tasks: list[TaskInfo]


class TaskDone(_Out):
    task_id: str
    run_id: str
    run_status: str = Field(description="The run's status once the engine acted (up to 2 s)")
    run: RunState


class ParticipantInfo(_Out):
    name: str
    last_seen: str | None = None
    open_tasks: int


class ParticipantList(_Out):
    participants: list[ParticipantInfo]


class SlackResult(_Out):
    notification_id: str
    delivered: bool
    queued: bool
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None


def run_info(run: Run) -> RunInfo:
    """A run as the tools return it (its brief: long step outputs point to a resource)."""
    return RunInfo.model_validate(run_brief(run))
