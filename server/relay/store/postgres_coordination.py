"""The PostgreSQL backend's queries for approvals, tasks, participants and workers (they
mirror `relay.store.sqlite_coordination`)."""

from relay.errors import InvalidTransition, TaskNotFound
from relay.model.run import Approval, ApprovalStatus, Participant, Task, TaskStatus
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
from relay.store.postgres_db import Conn
from relay.store.postgres_ops import INSERT_HISTORY, all_rows, insert_event, one, ring_claim

LIST_APPROVALS = (
    "SELECT * FROM approvals WHERE (%(status)s::text IS NULL OR status = %(status)s::text) "
    "AND (%(run)s::text IS NULL OR run_id = %(run)s::text) ORDER BY requested_at"
)
# Decided only while pending: of two approvers at the same moment, the second waits for the
# first one's commit on the row lock and then updates nothing.
DECIDE = (
    "UPDATE approvals SET status = %s, decided_by = %s, decided_channel = %s, "
    "decided_at = %s, comment = %s WHERE id = %s AND status = 'pending' RETURNING id"
)
LIST_TASKS = (
    "SELECT * FROM tasks WHERE (%(to)s::text IS NULL OR to_name = %(to)s::text) "
    "AND (%(status)s::text IS NULL OR status = %(status)s::text) ORDER BY created_at"
)
UPDATE_TASK = (
    "UPDATE tasks SET status = %s, claimed_by = %s, result = %s, error = %s, updated_at = %s "
    "WHERE id = %s"
)
TOUCH_PARTICIPANT = (
    "INSERT INTO participants VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen"
)
LIST_PARTICIPANTS = (
    "SELECT p.name, p.last_seen, (SELECT COUNT(*) FROM tasks t WHERE t.to_name = p.name "
    "AND t.status IN ('open', 'claimed')) AS open_tasks FROM participants p "
    "ORDER BY p.last_seen DESC"
)
HEARTBEAT = (
    "INSERT INTO workers VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"
)


async def get_approval(conn: Conn, approval_id: str) -> Approval:
    row = await one(conn, "SELECT * FROM approvals WHERE id = %s", (approval_id,))
    if row is None:
        raise InvalidTransition(f"no approval with id {approval_id!r}")
    return rows.approval_from_row(row)


async def list_approvals(
    conn: Conn, status: ApprovalStatus | None, run_id: str | None
) -> list[Approval]:
    params = {"status": None if status is None else status.value, "run": run_id}
    return [rows.approval_from_row(r) for r in await all_rows(conn, LIST_APPROVALS, params)]


async def decide_approval(
    conn: Conn, d: Decision, claim_owner: str | None, lease_seconds: float
) -> Approval:
    now = rows.now_ts()
    decided = await one(
        conn, DECIDE, (d.status.value, d.by, d.channel, now, d.comment, d.approval_id)
    )
    approval = await get_approval(conn, d.approval_id)
    if decided is None:
        raise already_decided(approval)
    await conn.execute(INSERT_HISTORY, decision_history(approval, d, now))
    await insert_event(conn, decision_event(approval, d))
    await ring_claim(conn, (approval.run_id,), claim_owner, lease_seconds, ring=True)
    return approval


async def get_task(conn: Conn, task_id: str) -> Task:
    row = await one(conn, "SELECT * FROM tasks WHERE id = %s", (task_id,))
    if row is None:
        raise TaskNotFound(task_id)
    return rows.task_from_row(row)


async def list_tasks(conn: Conn, to: str | None, status: TaskStatus | None) -> list[Task]:
    params = {"to": to, "status": None if status is None else status.value}
    return [rows.task_from_row(r) for r in await all_rows(conn, LIST_TASKS, params)]


async def update_task(
    conn: Conn, ch: TaskChange, claim_owner: str | None, lease_seconds: float
) -> Task:
    # FOR UPDATE: two participants claiming at once are served one after the other.
    row = await one(conn, "SELECT * FROM tasks WHERE id = %s FOR UPDATE", (ch.task_id,))
    if row is None:
        raise TaskNotFound(ch.task_id)
    task = rows.task_from_row(row)
    check_task_change(task, ch)
    now = rows.now_ts()
    await conn.execute(UPDATE_TASK, task_update(task, ch, now))
    await conn.execute(INSERT_HISTORY, task_history(task, ch, now))
    if ch.status is not TaskStatus.CLAIMED:
        await ring_claim(conn, (task.run_id,), claim_owner, lease_seconds, ring=True)
    return await get_task(conn, ch.task_id)


async def touch_participant(conn: Conn, name: str) -> None:
    await conn.execute(TOUCH_PARTICIPANT, (name, rows.now_ts()))


async def list_participants(conn: Conn) -> list[Participant]:
    return [
        Participant(name=r["name"], last_seen=rows.dt(r["last_seen"]), open_tasks=r["open_tasks"])
        for r in await all_rows(conn, LIST_PARTICIPANTS)
    ]


async def heartbeat(conn: Conn, worker_id: str, participant: str, pid: int, host: str) -> None:
    now = rows.now_ts()
    await conn.execute(HEARTBEAT, (worker_id, participant, pid, host, now, now))


async def forget_worker(conn: Conn, worker_id: str) -> None:
    await conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))


async def live_workers(conn: Conn, seen_within_seconds: float) -> list[str]:
    found = await all_rows(
        conn,
        "SELECT id FROM workers WHERE last_seen >= %s ORDER BY id",
        (rows.now_ts() - seen_within_seconds,),
    )
    return [str(r["id"]) for r in found]
