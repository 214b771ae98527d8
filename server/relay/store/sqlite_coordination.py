"""The SQLite backend's queries for approvals, tasks, participants and workers."""

import sqlite3

from relay.errors import InvalidTransition, TaskNotFound
from relay.model.run import (
    Approval,
    ApprovalStatus,
    Participant,
    Task,
    TaskStatus,
)
from relay.store import rows
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
from relay.store.sqlite_ops import INSERT_HISTORY, _all, _one, _ring, insert_event

# approvals and tasks ---------------------------------------------------------------------


def get_approval(conn: sqlite3.Connection, approval_id: str) -> Approval:
    row = _one(conn, "SELECT * FROM approvals WHERE id = ?", (approval_id,))
    if row is None:
        raise InvalidTransition(f"no approval with id {approval_id!r}")
    return rows.approval_from_row(row)


def list_approvals(
    conn: sqlite3.Connection, status: ApprovalStatus | None, run_id: str | None
) -> list[Approval]:
    found = _all(
        conn,
        "SELECT * FROM approvals WHERE (:status IS NULL OR status = :status) "
        "AND (:run IS NULL OR run_id = :run) ORDER BY requested_at",
        {"status": None if status is None else status.value, "run": run_id},
    )
    return [rows.approval_from_row(r) for r in found]


def decide_approval(
    conn: sqlite3.Connection, d: Decision, claim_owner: str | None, lease_seconds: float
) -> Approval:
    now = rows.now_ts()
    cursor = conn.execute(
        "UPDATE approvals SET status = ?, decided_by = ?, decided_channel = ?, decided_at = ?, "
        "comment = ? WHERE id = ? AND status = 'pending'",
        (d.status.value, d.by, d.channel, now, d.comment, d.approval_id),
    )
    approval = get_approval(conn, d.approval_id)
    if cursor.rowcount == 0:
        raise already_decided(approval)
    conn.execute(INSERT_HISTORY, decision_history(approval, d, now))
    insert_event(conn, decision_event(approval, d))
    _ring(conn, (approval.run_id,), claim_owner, lease_seconds)
    return approval


def get_task(conn: sqlite3.Connection, task_id: str) -> Task:
    row = _one(conn, "SELECT * FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        raise TaskNotFound(task_id)
    return rows.task_from_row(row)


def list_tasks(conn: sqlite3.Connection, to: str | None, status: TaskStatus | None) -> list[Task]:
    found = _all(
        conn,
        "SELECT * FROM tasks WHERE (:to IS NULL OR to_name = :to) "
        "AND (:status IS NULL OR status = :status) ORDER BY created_at",
        {"to": to, "status": None if status is None else status.value},
    )
    return [rows.task_from_row(r) for r in found]


def update_task(
    conn: sqlite3.Connection, ch: TaskChange, claim_owner: str | None, lease_seconds: float
) -> Task:
    task = get_task(conn, ch.task_id)
    check_task_change(task, ch)
    now = rows.now_ts()
    conn.execute(
        "UPDATE tasks SET status = ?, claimed_by = ?, result = ?, error = ?, updated_at = ? "
        "WHERE id = ?",
        task_update(task, ch, now),
    )
    conn.execute(INSERT_HISTORY, task_history(task, ch, now))
    if ch.status is not TaskStatus.CLAIMED:
        _ring(conn, (task.run_id,), claim_owner, lease_seconds)
    return get_task(conn, ch.task_id)


# participants ----------------------------------------------------------------------------


def touch_participant(conn: sqlite3.Connection, name: str) -> None:
    conn.execute(
        "INSERT INTO participants VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET last_seen = excluded.last_seen",
        (name, rows.now_ts()),
    )


def list_participants(conn: sqlite3.Connection) -> list[Participant]:
    found = _all(
        conn,
        "SELECT p.name, p.last_seen, (SELECT COUNT(*) FROM tasks t WHERE t.to_name = p.name "
        "AND t.status IN ('open', 'claimed')) AS open_tasks FROM participants p "
        "ORDER BY p.last_seen DESC",
    )
    return [
        Participant(name=r["name"], last_seen=rows.dt(r["last_seen"]), open_tasks=r["open_tasks"])
        for r in found
    ]


def heartbeat(
    conn: sqlite3.Connection, worker_id: str, participant: str, pid: int, host: str
) -> None:
    now = rows.now_ts()
    conn.execute(
        "INSERT INTO workers VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen",
        (worker_id, participant, pid, host, now, now),
    )


def forget_worker(conn: sqlite3.Connection, worker_id: str) -> None:
    conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


def live_workers(conn: sqlite3.Connection, seen_within_seconds: float) -> list[str]:
    since = rows.now_ts() - seen_within_seconds
    found = conn.execute("SELECT id FROM workers WHERE last_seen >= ? ORDER BY id", (since,))
    return [r[0] for r in found.fetchall()]
