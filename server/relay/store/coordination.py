"""The store's operations by outside actors on what a run waits for: deciding its
approvals and moving its tasks. Written once for both backends; what a decision or a
task's change records is built in `relay.store.decisions`.

Each writes only its own rows (the approval, the task, the history entry, the event) and
rings the run, which its lease holder then reads: a decision is made once (of two at the
same moment, the second waits for the first one's row lock on PostgreSQL, or for the one
writer on SQLite, and then changes nothing), and a task is read `{for_update}` so that
two participants claiming it at once are served one after the other.
"""

from collections.abc import Sequence

from relay.errors import InvalidTransition, TaskNotFound
from relay.model.notification import NewNotification
from relay.model.run import Approval, ApprovalStatus, Task, TaskStatus
from relay.store import events, outbox, rows, runs
from relay.store.decisions import (
    Decision,
    TaskChange,
    already_decided,
    check_task_change,
    decision_event,
    decision_history,
    task_history,
    task_update,
)
from relay.store.sql import Connection

LIST_APPROVALS = (
    "SELECT * FROM approvals WHERE (CAST(:status AS TEXT) IS NULL OR status = CAST(:status AS "
    "TEXT)) AND (CAST(:run AS TEXT) IS NULL OR run_id = CAST(:run AS TEXT)) ORDER BY requested_at"
)
DECIDE = (
    "UPDATE approvals SET status = ?, decided_by = ?, decided_channel = ?, decided_at = ?, "
    "comment = ? WHERE id = ? AND status = 'pending'"
)
LIST_TASKS = (
    "SELECT * FROM tasks WHERE (CAST(:to AS TEXT) IS NULL OR to_name = CAST(:to AS TEXT)) "
    "AND (CAST(:status AS TEXT) IS NULL OR status = CAST(:status AS TEXT)) ORDER BY created_at"
)
UPDATE_TASK = (
    "UPDATE tasks SET status = ?, claimed_by = ?, result = ?, error = ?, updated_at = ? "
    "WHERE id = ?"
)


async def get_approval(c: Connection, approval_id: str) -> Approval:
    row = await c.one("SELECT * FROM approvals WHERE id = ?", (approval_id,))
    if row is None:
        raise InvalidTransition(f"no approval with id {approval_id!r}")
    return rows.approval_from_row(row)


async def list_approvals(
    c: Connection, status: ApprovalStatus | None, run_id: str | None
) -> list[Approval]:
    params = {"status": None if status is None else status.value, "run": run_id}
    return [rows.approval_from_row(r) for r in await c.all(LIST_APPROVALS, params)]


async def decide_approval(
    c: Connection,
    d: Decision,
    claim_owner: str | None,
    lease_seconds: float,
    notices: Sequence[NewNotification] = (),
) -> Approval:
    """Record the first decision (ConflictError for a later one), its history entry, its
    event and its notices; ring the run and lease it to `claim_owner` if it is free."""
    now = rows.now_ts()
    decided = await c.execute(
        DECIDE, (d.status.value, d.by, d.channel, now, d.comment, d.approval_id)
    )
    approval = await get_approval(c, d.approval_id)
    if not decided:
        raise already_decided(approval)
    await c.execute(runs.INSERT_HISTORY, decision_history(approval, d, now))
    await events.insert_event(c, decision_event(approval, d))
    await runs.ring(c, (approval.run_id,))
    await runs.lease_free(c, (approval.run_id,), claim_owner, lease_seconds)
    await outbox.enqueue_all(c, notices)
    return approval


async def get_task(c: Connection, task_id: str) -> Task:
    row = await c.one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        raise TaskNotFound(task_id)
    return rows.task_from_row(row)


async def list_tasks(c: Connection, to: str | None, status: TaskStatus | None) -> list[Task]:
    params = {"to": to, "status": None if status is None else status.value}
    return [rows.task_from_row(r) for r in await c.all(LIST_TASKS, params)]


async def update_task(
    c: Connection, ch: TaskChange, claim_owner: str | None, lease_seconds: float
) -> Task:
    """Move a task from one of the expected statuses (ConflictError otherwise); a task
    that is done or failed rings its run."""
    row = await c.one("SELECT * FROM tasks WHERE id = ? {for_update}", (ch.task_id,))
    if row is None:
        raise TaskNotFound(ch.task_id)
    task = rows.task_from_row(row)
    check_task_change(task, ch)
    now = rows.now_ts()
    await c.execute(UPDATE_TASK, task_update(task, ch, now))
    await c.execute(runs.INSERT_HISTORY, task_history(task, ch, now))
    if ch.status is not TaskStatus.CLAIMED:
        await runs.ring(c, (task.run_id,))
        await runs.lease_free(c, (task.run_id,), claim_owner, lease_seconds)
    return await get_task(c, ch.task_id)
