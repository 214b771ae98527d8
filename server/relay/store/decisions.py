"""What the store records when an approval is decided or a task changes hands: the
change itself, its history entry, its event and its refusal, as values for the SQL of
`relay.store.coordination`."""

from dataclasses import dataclass
from typing import Any

from relay.errors import ConflictError
from relay.model.events import NewEvent
from relay.model.run import Approval, ApprovalStatus, Task, TaskStatus
from relay.store import rows


@dataclass(frozen=True)
class Decision:
    approval_id: str
    status: ApprovalStatus
    by: str
    channel: str
    comment: str


@dataclass(frozen=True)
class TaskChange:
    task_id: str
    expect: tuple[TaskStatus, ...]
    status: TaskStatus
    by: str
    result: Any
    error: str | None


def already_decided(approval: Approval) -> ConflictError:
    """The refusal of a decision that came second (the first decision wins)."""
    by = f" by {approval.decided_by} via {approval.decided_channel}" if approval.decided_by else ""
    return ConflictError(
        f"approval for step {approval.step_id!r} of run {approval.run_id!r} was already "
        f"{approval.status.value}{by}"
    )


def decision_history(approval: Approval, d: Decision, now: float) -> dict[str, Any]:
    """The run's history row (INSERT_HISTORY's parameters) for a decision."""
    data = {"status": d.status.value, "by": d.by, "channel": d.channel, "comment": d.comment}
    return {"run_id": approval.run_id, "step_id": approval.step_id, "kind": "approval.decided",
            "at": now, "data": rows.dumps(data)}  # fmt: skip


def decision_event(approval: Approval, d: Decision) -> NewEvent:
    """The `approval.decided` event every participant can wait on."""
    return NewEvent(
        type="approval.decided",
        source=d.by,
        correlation_id=approval.run_id,
        data={
            "run_id": approval.run_id,
            "workflow": approval.workflow,
            "step": approval.step_id,
            "approved": d.status is ApprovalStatus.APPROVED,
            "status": d.status.value,
            "approver": d.by,
            "channel": d.channel,
            "comment": d.comment,
        },
    )


def check_task_change(task: Task, ch: TaskChange) -> None:
    """Refuse a change of a task that is no longer in a state the change expects."""
    if task.status not in ch.expect:
        who = f" by {task.claimed_by}" if task.claimed_by else ""
        raise ConflictError(f"task {ch.task_id!r} is already {task.status.value}{who}")


def task_update(task: Task, ch: TaskChange, now: float) -> tuple[Any, ...]:
    """The task row's new (status, claimed_by, result, error, updated_at, id)."""
    claimed_by = ch.by if ch.status is TaskStatus.CLAIMED else (task.claimed_by or ch.by)
    result = None if ch.result is None else rows.dumps(ch.result)
    return (ch.status.value, claimed_by, result, ch.error, now, ch.task_id)


def task_history(task: Task, ch: TaskChange, now: float) -> dict[str, Any]:
    """The run's history row (INSERT_HISTORY's parameters) for a task's change."""
    return {"run_id": task.run_id, "step_id": task.step_id, "kind": f"task.{ch.status.value}",
            "at": now, "data": rows.dumps({"task_id": task.id, "by": ch.by})}  # fmt: skip
