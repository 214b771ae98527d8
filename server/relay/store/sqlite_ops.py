"""The SQLite backend's queries: plain functions of a connection, run on the store's
threads (writes inside the writer's transaction, one savepoint each)."""

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

from relay.errors import ConflictError, InvalidTransition, LeaseLost, RunNotFound
from relay.model.events import Event, NewEvent, matches
from relay.model.run import (
    Attempt,
    EventWait,
    HistoryEntry,
    Run,
    StepRun,
)
from relay.store import rows, sqlite_outbox
from relay.store.base import AppendResult, EventQuery, NewRun, RunQuery, RunSave, SaveResult

ACTIVE = ("pending", "running", "waiting")

INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(rows.RUN_COLUMNS)}, trigger_key) "
    f"VALUES ({', '.join(':' + c for c in rows.RUN_COLUMNS)}, :trigger_key)"
)
INSERT_STEP = (
    f"INSERT INTO steps ({', '.join(rows.STEP_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in rows.STEP_COLUMNS)})"
)
UPDATE_STEP = (
    "UPDATE steps SET name = :name, status = :status, attempts = :attempts, "
    "started_at = :started_at, finished_at = :finished_at, output = :output, error = :error, "
    "wake_at = :wake_at, waiting = :waiting, gate_passed = :gate_passed, state = :state "
    "WHERE run_id = :run_id AND step_id = :step_id"
)
# An attempt's row is written when it starts and again when it ends; the end keeps the
# recorded start and worker (the process that ends an attempt may not be the one that
# began it).
INSERT_ATTEMPT = (
    "INSERT INTO attempts VALUES "
    "(:run_id, :step_id, :attempt, :started_at, :finished_at, :status, :error, :worker) "
    "ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET finished_at = excluded.finished_at, "
    "status = excluded.status, error = excluded.error"
)
INSERT_HISTORY = (
    "INSERT INTO history (run_id, step_id, kind, at, data) "
    "VALUES (:run_id, :step_id, :kind, :at, :data)"
)
INSERT_EVENT = (
    "INSERT INTO events (id, type, source, data, correlation_id, idempotency_key, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
# A run's holder creates approvals and tasks, and closes them (expired, cancelled) only
# while they are still undecided: a decision an outside actor made first always stands.
INSERT_APPROVAL = (
    "INSERT INTO approvals VALUES (:id, :run_id, :workflow, :step_id, :message, "
    ":approvers, :channels, :allow_self, :requested_by, :status, :requested_at, :expires_at, "
    ":decided_by, :decided_channel, :decided_at, :comment) "
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
    "decided_by = excluded.decided_by, decided_channel = excluded.decided_channel, "
    "decided_at = excluded.decided_at, comment = excluded.comment "
    "WHERE approvals.status = 'pending'"
)
INSERT_TASK = (
    "INSERT INTO tasks VALUES (:id, :run_id, :workflow, :step_id, :to_name, :task, "
    ":context, :status, :created_at, :updated_at, :expires_at, :claimed_by, :result, :error) "
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
    "updated_at = excluded.updated_at, result = excluded.result, error = excluded.error "
    "WHERE tasks.status IN ('open', 'claimed')"
)
RING = "UPDATE runs SET signal_seq = signal_seq + 1, wake_at = ? WHERE id = ?"
# A run whose holder is gone (lease lapsed) or that nobody holds, and that has work now.
CLAIMABLE = (
    "SELECT id FROM runs WHERE status IN ('pending', 'running', 'waiting') "
    "AND (lease_owner IS NULL OR lease_expires_at < :now) "
    "AND (wake_at <= :now OR (wake_at IS NULL AND status != 'waiting')) "
    "AND (:root IS NULL OR root_run_id = :root) ORDER BY created_at LIMIT :limit"
)


def _one(conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]) -> Any:
    conn.row_factory = sqlite3.Row
    return conn.execute(sql, params).fetchone()


def _all(conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    conn.row_factory = sqlite3.Row
    return conn.execute(sql, params).fetchall()


# runs ------------------------------------------------------------------------------------


def create_run(conn: sqlite3.Connection, new: NewRun) -> tuple[Run, bool]:
    run = new.run
    for column, key in (("idempotency_key", run.idempotency_key), ("trigger_key", new.trigger_key)):
        if key is not None:
            row = _one(conn, f"SELECT id FROM runs WHERE {column} = ?", (key,))
            if row is not None:
                return get_run(conn, row["id"]), False
    conn.execute(
        "INSERT OR IGNORE INTO definitions VALUES (?, ?, ?, ?)",
        (run.definition_hash, run.workflow, rows.dumps(new.definition), rows.now_ts()),
    )
    values = rows.run_values(run)
    values["start_seq"] = last_seq(conn)
    values["trigger_key"] = new.trigger_key
    if new.owner is not None:
        values["lease_owner"] = new.owner
        values["lease_expires_at"] = rows.now_ts() + new.lease_seconds
    conn.execute(INSERT_RUN, values)
    if new.owner is None:
        bump_doorbell(conn)
    conn.executemany(INSERT_STEP, [rows.step_values(run.id, i, s) for i, s in enumerate(run.steps)])
    conn.executemany(INSERT_HISTORY, [rows.history_values(h) for h in new.history])
    for event in new.events:
        insert_event(conn, event)
    return get_run(conn, run.id), True


def get_run(conn: sqlite3.Connection, run_id: str) -> Run:
    row = _one(conn, "SELECT * FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise RunNotFound(run_id)
    steps = _all(conn, "SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
    return rows.run_from_row(row, tuple(rows.step_from_row(s) for s in steps))


def list_runs(conn: sqlite3.Connection, query: RunQuery) -> list[Run]:
    sql = (
        "SELECT * FROM runs WHERE (:status IS NULL OR status = :status) "
        "AND (:workflow IS NULL OR workflow = :workflow) "
        "AND (:started_by IS NULL OR started_by = :started_by) "
        "ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
    )
    params = rows.run_query_params(query)
    return [rows.run_from_row(r) for r in _all(conn, sql, params)]


def get_definition(conn: sqlite3.Connection, definition_hash: str) -> dict[str, Any]:
    row = _one(conn, "SELECT body FROM definitions WHERE hash = ?", (definition_hash,))
    if row is None:
        raise KeyError(definition_hash)
    body: dict[str, Any] = rows.loads(row["body"])
    return body


def history(conn: sqlite3.Connection, run_id: str) -> list[HistoryEntry]:
    found = _all(conn, "SELECT * FROM history WHERE run_id = ? ORDER BY seq", (run_id,))
    return [rows.history_from_row(r) for r in found]


def attempts(conn: sqlite3.Connection, run_id: str) -> list[Attempt]:
    found = _all(
        conn, "SELECT * FROM attempts WHERE run_id = ? ORDER BY started_at, attempt", (run_id,)
    )
    return [rows.attempt_from_row(r) for r in found]


def save(conn: sqlite3.Connection, s: RunSave) -> SaveResult:
    signal_seq = _patch_run(conn, s)
    if s.steps:
        conn.executemany(UPDATE_STEP, [rows.step_values(s.run_id, 0, st) for st in s.steps])
    if s.attempts:
        conn.executemany(INSERT_ATTEMPT, [rows.attempt_values(a) for a in s.attempts])
    if s.history:
        conn.executemany(INSERT_HISTORY, [rows.history_values(h) for h in s.history])
    for event in s.events:
        insert_event(conn, event)
    if s.approvals:
        conn.executemany(INSERT_APPROVAL, [rows.approval_values(a) for a in s.approvals])
    if s.tasks:
        conn.executemany(INSERT_TASK, [rows.task_values(t) for t in s.tasks])
    if s.drop_waits:
        conn.executemany(
            "DELETE FROM event_waits WHERE run_id = ? AND step_id = ?",
            [(s.run_id, step) for step in s.drop_waits],
        )
    matched = {w.step_id: e for w in s.waits if (e := _register_wait(conn, w)) is not None}
    if s.outbox:
        sqlite_outbox.enqueue_all(conn, s.outbox)
    _ring_for(conn, s)
    return SaveResult(signal_seq=signal_seq, matched=matched)


def _ring_for(conn: sqlite3.Connection, s: RunSave) -> None:
    """Ring the runs the save names, and the engines when it needs their attention."""
    if s.ring_runs:
        now = rows.now_ts()
        conn.executemany(RING, [(now, run_id) for run_id in s.ring_runs])
    if s.rings_doorbell:
        bump_doorbell(conn)


def _patch_run(conn: sqlite3.Connection, s: RunSave) -> int:
    """Apply the run's changed fields, fenced (in the same statement) by the lease and
    the expected signal; returns the run's signal_seq."""
    values = {k: rows.RUN_PATCH_ENCODERS[k](v) for k, v in s.run.items()}
    values["updated_at"] = rows.now_ts()
    if s.release:
        values["lease_owner"] = None
        values["lease_expires_at"] = None
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    row = conn.execute(
        f"UPDATE runs SET {assignments} WHERE id = :run_id AND lease_owner = :owner "
        "AND (:expect IS NULL OR signal_seq = :expect) RETURNING signal_seq",
        {**values, "run_id": s.run_id, "owner": s.owner, "expect": s.expect_signal},
    ).fetchone()
    if row is None:
        _refused(conn, s)
    return int(row[0])


def _refused(conn: sqlite3.Connection, s: RunSave) -> NoReturn:
    row = _one(conn, "SELECT lease_owner FROM runs WHERE id = ?", (s.run_id,))
    if row is None:
        raise RunNotFound(s.run_id)
    if row["lease_owner"] != s.owner:
        raise LeaseLost(s.run_id)
    raise ConflictError(f"run {s.run_id!r} was signalled meanwhile")


def _register_wait(conn: sqlite3.Connection, wait: EventWait) -> Event | None:
    """Insert a wait, looking back first: an event that already arrived satisfies it."""
    found = _all(
        conn,
        "SELECT * FROM events WHERE type = ? AND seq > ? ORDER BY seq",
        (wait.type, wait.after_seq),
    )
    event = next(
        (e for e in map(rows.event_from_row, found) if matches(wait.match, e.as_dict())), None
    )
    conn.execute(
        "INSERT OR REPLACE INTO event_waits VALUES (?, ?, ?, ?, ?, ?)",
        (
            wait.run_id,
            wait.step_id,
            wait.type,
            rows.dumps(wait.match),
            wait.after_seq,
            None if event is None else event.seq,
        ),
    )
    return event


def claim_runs(
    conn: sqlite3.Connection, owner: str, lease_seconds: float, limit: int, root: str | None
) -> list[str]:
    now = rows.now_ts()
    ids = [r["id"] for r in _all(conn, CLAIMABLE, {"now": now, "root": root, "limit": limit})]
    conn.executemany(
        "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
        [(owner, now + lease_seconds, run_id) for run_id in ids],
    )
    return ids


def has_claimable(conn: sqlite3.Connection, root: str | None) -> bool:
    found = _all(conn, CLAIMABLE, {"now": rows.now_ts(), "root": root, "limit": 1})
    return bool(found)


def claim_run(conn: sqlite3.Connection, run_id: str, owner: str, lease_seconds: float) -> bool:
    """Lease one run if it is active and nobody live holds it."""
    return bool(_ring_claim(conn, [run_id], owner, lease_seconds, ring=False))


def renew_leases(
    conn: sqlite3.Connection, owner: str, run_ids: Sequence[str], lease_seconds: float
) -> set[str]:
    expires = rows.now_ts() + lease_seconds
    lost = set()
    for run_id in run_ids:
        cursor = conn.execute(
            "UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?",
            (expires, run_id, owner),
        )
        if cursor.rowcount == 0 and _held_by_another(conn, run_id, owner):
            lost.add(run_id)
    return lost


def _held_by_another(conn: sqlite3.Connection, run_id: str, owner: str) -> bool:
    """A lease this owner released itself (the run finished or parked) is not lost."""
    row = conn.execute("SELECT lease_owner FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row is not None and row[0] is not None and row[0] != owner


def release_leases(conn: sqlite3.Connection, owner: str, run_ids: Sequence[str]) -> None:
    conn.executemany(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND lease_owner = ?",
        [(run_id, owner) for run_id in run_ids],
    )


def next_wake_at(conn: sqlite3.Connection, root: str | None) -> datetime | None:
    """When an active run may next become claimable: a held run when its lease would
    lapse (its holder handles its wake-ups), any other at its `wake_at`."""
    row = _one(
        conn,
        "SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_expires_at >= :now "
        "THEN lease_expires_at ELSE wake_at END) AS t FROM runs "
        "WHERE status IN ('pending', 'running', 'waiting') "
        "AND (:root IS NULL OR root_run_id = :root)",
        {"root": root, "now": rows.now_ts()},
    )
    return rows.dt(row["t"])


def run_signals(
    conn: sqlite3.Connection, run_ids: Sequence[str]
) -> dict[str, tuple[int, str | None]]:
    """Each run's signal_seq, and its cancel reason when a cancel was requested."""
    found: dict[str, tuple[int, str | None]] = {}
    for run_id in run_ids:
        row = _one(
            conn,
            "SELECT signal_seq, cancel_requested, cancel_reason FROM runs WHERE id = ?",
            (run_id,),
        )
        if row is not None:
            reason = (row["cancel_reason"] or "cancelled") if row["cancel_requested"] else None
            found[run_id] = (row["signal_seq"], reason)
    return found


def request_cancel(conn: sqlite3.Connection, run_id: str, reason: str) -> Run:
    run = get_run(conn, run_id)
    if run.status.is_final:
        raise InvalidTransition(f"run {run_id!r} is already {run.status.value}; nothing to cancel")
    conn.execute(
        "UPDATE runs SET cancel_requested = 1, cancel_reason = ?, signal_seq = signal_seq + 1, "
        "wake_at = ? WHERE id = ?",
        (reason, rows.now_ts(), run_id),
    )
    bump_doorbell(conn)
    return get_run(conn, run_id)


def reopen_run(
    conn: sqlite3.Connection,
    run_id: str,
    steps: Sequence[StepRun],
    by: str,
    deadline_at: datetime | None,
) -> Run:
    """Make a failed or cancelled run pending again, with `steps` reset and a new deadline."""
    cursor = conn.execute(
        "UPDATE runs SET status = 'pending', error = NULL, outputs = NULL, cancel_requested = 0, "
        "cancel_reason = NULL, wake_at = NULL, signal_seq = signal_seq + 1, updated_at = ?, "
        "deadline_at = ? WHERE id = ? AND status IN ('failed', 'cancelled')",
        (rows.now_ts(), rows.ts(deadline_at), run_id),
    )
    if cursor.rowcount == 0:
        run = get_run(conn, run_id)
        raise InvalidTransition(
            f"run {run_id!r} is {run.status.value}; only a failed or cancelled run can be resumed"
        )
    conn.executemany(UPDATE_STEP, [rows.step_values(run_id, 0, s) for s in steps])
    conn.execute(
        INSERT_HISTORY,
        {
            "run_id": run_id,
            "step_id": None,
            "kind": "run.resumed",
            "at": rows.now_ts(),
            "data": rows.dumps({"by": by, "steps": [s.id for s in steps]}),
        },
    )
    bump_doorbell(conn)
    return get_run(conn, run_id)


# events ----------------------------------------------------------------------------------


def insert_event(conn: sqlite3.Connection, new: NewEvent) -> tuple[Event, bool]:
    if new.idempotency_key is not None:
        row = _one(conn, "SELECT * FROM events WHERE idempotency_key = ?", (new.idempotency_key,))
        if row is not None:
            return rows.event_from_row(row), True
    event_id, created = rows.uuid7(), rows.now_ts()
    seq = conn.execute(
        INSERT_EVENT,
        (
            event_id,
            new.type,
            new.source,
            rows.dumps(new.data),
            new.correlation_id,
            new.idempotency_key,
            created,
        ),
    ).fetchone()[0]
    return Event(
        id=event_id,
        seq=seq,
        type=new.type,
        source=new.source,
        data=new.data,
        correlation_id=new.correlation_id,
        idempotency_key=new.idempotency_key,
        created_at=rows.dt(created),
    ), False


def append_event(
    conn: sqlite3.Connection, new: NewEvent, claim_owner: str | None, lease_seconds: float
) -> AppendResult:
    event, duplicate = insert_event(conn, new)
    if duplicate:
        return AppendResult(event, True, (), ())
    waits = _all(
        conn,
        "SELECT run_id, step_id, match, after_seq FROM event_waits "
        "WHERE type = ? AND matched_seq IS NULL",
        (event.type,),
    )
    hits = rows.waits_hit(waits, event)
    conn.executemany(
        "UPDATE event_waits SET matched_seq = ? WHERE run_id = ? AND step_id = ?",
        [(event.seq, run_id, step) for run_id, step in hits],
    )
    woken = tuple(dict.fromkeys(run_id for run_id, _ in hits))
    claimed = _ring(conn, woken, claim_owner, lease_seconds)
    return AppendResult(event, False, woken, claimed)


def _ring(
    conn: sqlite3.Connection, run_ids: Sequence[str], owner: str | None, lease_seconds: float
) -> tuple[str, ...]:
    """Wake runs; lease the free ones to `owner` so it can drive them without a claim."""
    return _ring_claim(conn, run_ids, owner, lease_seconds, ring=True)


def bump_doorbell(conn: sqlite3.Connection) -> None:
    """Tell every engine (they watch this counter) that a run may need attention."""
    conn.execute(
        "INSERT INTO cursors VALUES ('doorbell', 1) ON CONFLICT(name) DO UPDATE SET seq = seq + 1"
    )


def _ring_claim(
    conn: sqlite3.Connection,
    run_ids: Sequence[str],
    owner: str | None,
    lease_seconds: float,
    *,
    ring: bool,
) -> tuple[str, ...]:
    now = rows.now_ts()
    if ring and run_ids:
        conn.executemany(RING, [(now, run_id) for run_id in run_ids])
        bump_doorbell(conn)
    if owner is None:
        return ()
    claimed = []
    for run_id in run_ids:
        cursor = conn.execute(
            "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? "
            "AND status IN ('pending', 'running', 'waiting') "
            "AND (lease_owner IS NULL OR lease_expires_at < ?)",
            (owner, now + lease_seconds, run_id, now),
        )
        if cursor.rowcount:
            claimed.append(run_id)
    return tuple(claimed)


def list_events(conn: sqlite3.Connection, q: EventQuery) -> list[Event]:
    where = (
        "(:type IS NULL OR type = :type) AND (:source IS NULL OR source = :source) "
        "AND (:cid IS NULL OR correlation_id = :cid) AND seq > :after"
    )
    params = {
        "type": q.type,
        "source": q.source,
        "cid": q.correlation_id,
        "after": q.after_seq or 0,
        "limit": q.limit,
    }
    order = "DESC" if q.newest else "ASC"
    found = _all(
        conn, f"SELECT * FROM events WHERE {where} ORDER BY seq {order} LIMIT :limit", params
    )
    events = [rows.event_from_row(r) for r in found]
    return sorted(events, key=lambda e: e.seq)


def get_event(conn: sqlite3.Connection, seq: int) -> Event | None:
    row = _one(conn, "SELECT * FROM events WHERE seq = ?", (seq,))
    return None if row is None else rows.event_from_row(row)


def last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])


def get_wait(conn: sqlite3.Connection, run_id: str, step_id: str) -> EventWait | None:
    row = _one(
        conn, "SELECT * FROM event_waits WHERE run_id = ? AND step_id = ?", (run_id, step_id)
    )
    return None if row is None else rows.wait_from_row(row)


def advance_cursor(conn: sqlite3.Connection, name: str, seq: int) -> int:
    conn.execute(
        "INSERT INTO cursors VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET seq = MAX(seq, excluded.seq)",
        (name, seq),
    )
    return int(conn.execute("SELECT seq FROM cursors WHERE name = ?", (name,)).fetchone()[0])


def get_cursor(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT seq FROM cursors WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])
