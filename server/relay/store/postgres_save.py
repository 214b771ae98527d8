"""The PostgreSQL backend's hot path: a run holder's save.

One step's writes (the fenced run row, its steps, attempts, history, lifecycle events and
the runs it rings) go to the server as ONE statement of data-modifying CTEs over JSON
arrays. Sent in autocommit mode it is its own transaction, notification included: a
step costs one round trip. A save with rarer parts (approvals, tasks, event waits, keyed
events, notifications) runs the same statement in a transaction and those parts after it.
When the fence refuses (the lease was lost or the run was signalled), the statement fails
(`relay_fence_refused`) and whatever it wrote is rolled back.
"""

from typing import Any, NoReturn

from relay.errors import ConflictError, LeaseLost, RunNotFound
from relay.model.events import Event, matches
from relay.model.run import EventWait
from relay.store import postgres_outbox, rows
from relay.store.base import RunSave, SaveResult
from relay.store.postgres_db import Conn
from relay.store.postgres_ops import (
    INSERT_APPROVAL,
    INSERT_TASK,
    LOCK_EVENT_CLOCK,
    all_rows,
    insert_event,
    many,
    one,
)

# {assignments} is the run's changed columns, each `name = %(name)s`. Every CTE reads the
# statement's one snapshot, so none of them sees another's rows: they touch different
# tables (the ring excludes the saved run itself).
SAVE = """
WITH patch AS (
    UPDATE runs SET {assignments} WHERE id = %(run_id)s AND lease_owner = %(owner)s
    AND (%(expect)s::bigint IS NULL OR signal_seq = %(expect)s::bigint)
    RETURNING signal_seq
), step_rows AS (
    UPDATE steps AS t SET name = s.name, status = s.status, attempts = s.attempts,
        started_at = s.started_at, finished_at = s.finished_at, output = s.output,
        error = s.error, wake_at = s.wake_at, waiting = s.waiting,
        gate_passed = s.gate_passed, state = s.state
    FROM jsonb_populate_recordset(NULL::steps, %(steps)s::jsonb) AS s
    WHERE t.run_id = s.run_id AND t.step_id = s.step_id
), attempt_rows AS (
    INSERT INTO attempts
    SELECT * FROM jsonb_populate_recordset(NULL::attempts, %(attempts)s::jsonb)
    ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
        finished_at = excluded.finished_at, status = excluded.status, error = excluded.error
), history_rows AS (
    INSERT INTO history (run_id, step_id, kind, at, data)
    SELECT run_id, step_id, kind, at, data
    FROM jsonb_populate_recordset(NULL::history, %(history)s::jsonb)
), clock AS (
    UPDATE event_clock SET seq = seq + %(events_count)s
    WHERE id = 1 AND %(events_count)s > 0 RETURNING seq
), event_rows AS (
    INSERT INTO events (seq, id, type, source, data, correlation_id, created_at)
    SELECT clock.seq - %(events_count)s + e.ordinality, e.id, e.type, e.source, e.data,
        e.correlation_id, e.created_at
    FROM clock, jsonb_populate_recordset(NULL::events, %(events)s::jsonb) WITH ORDINALITY AS e
), dropped_waits AS (
    DELETE FROM event_waits WHERE run_id = %(run_id)s AND step_id = ANY(%(drop_waits)s)
), ring AS (
    UPDATE runs SET signal_seq = signal_seq + 1, wake_at = %(now)s
    WHERE id = ANY(%(ring)s) AND id != %(run_id)s
)
SELECT COALESCE((SELECT signal_seq FROM patch), relay_fence_refused()) AS signal_seq,
    pg_notify(%(channel)s, %(payload)s)
"""
UPSERT_WAIT = (
    "INSERT INTO event_waits VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, step_id) "
    "DO UPDATE SET type = excluded.type, match = excluded.match, "
    "after_seq = excluded.after_seq, matched_seq = excluded.matched_seq"
)


def is_plain(s: RunSave) -> bool:
    """Only the parts the one statement writes (the common case: a step's progress)."""
    keyed = any(e.idempotency_key is not None for e in s.events)
    return not (keyed or s.approvals or s.tasks or s.waits or s.outbox)


async def save_plain(conn: Conn, s: RunSave, token: str, channel: str, payload: str) -> int:
    """The one statement (on a connection in autocommit mode); the run's signal_seq."""
    row = await one(conn, *_core(s, token, channel, payload))
    assert row is not None  # a refused fence raised
    return int(row["signal_seq"])


async def save(conn: Conn, s: RunSave, token: str, channel: str, payload: str) -> SaveResult:
    """The statement and the rarer parts, in the caller's transaction: those that take the
    event clock (events, waits) last, so that its lock is held for as short as can be."""
    await many(conn, INSERT_APPROVAL, [rows.approval_values(a) for a in s.approvals])
    await many(conn, INSERT_TASK, [rows.task_values(t) for t in s.tasks])
    if s.outbox:
        await postgres_outbox.enqueue_all(conn, s.outbox)
    row = await one(conn, *_core(s, token, channel, payload))
    assert row is not None  # a refused fence raised
    for event in s.events:
        if event.idempotency_key is not None:
            await insert_event(conn, event)
    matched: dict[str, Event] = {}
    for wait in s.waits:
        found = await _register_wait(conn, wait)
        if found is not None:
            matched[wait.step_id] = found
    return SaveResult(signal_seq=int(row["signal_seq"]), matched=matched)


def _core(s: RunSave, token: str, channel: str, payload: str) -> tuple[str, dict[str, Any]]:
    now = rows.now_ts()
    values = {k: rows.RUN_PATCH_ENCODERS[k](v) for k, v in s.run.items()}
    values["updated_at"] = now
    values["last_save"] = token  # read back after a COMMIT whose answer was lost
    if s.release:
        values["lease_owner"] = None
        values["lease_expires_at"] = None
    events = [
        {"id": rows.uuid7(), "type": e.type, "source": e.source, "data": rows.dumps(e.data),
         "correlation_id": e.correlation_id, "created_at": now}
        for e in s.events
        if e.idempotency_key is None
    ]  # fmt: skip
    params = {
        **values,
        "run_id": s.run_id,
        "owner": s.owner,
        "expect": s.expect_signal,
        "steps": rows.dumps([rows.step_values(s.run_id, 0, st) for st in s.steps]),
        "attempts": rows.dumps([rows.attempt_values(a) for a in s.attempts]),
        "history": rows.dumps([rows.history_values(h) for h in s.history]),
        "events": rows.dumps(events),
        "events_count": len(events),
        "now": now,
        "ring": sorted(set(s.ring_runs)),
        "drop_waits": list(s.drop_waits),
        "channel": channel,
        "payload": payload,
    }
    assignments = ", ".join(f"{k} = %({k})s" for k in values)
    return SAVE.format(assignments=assignments), params


async def saved(conn: Conn, run_id: str, token: str) -> int | None:
    """Did the save with this token commit? (asked after a connection broke in COMMIT)
    Its run's signal_seq if it did."""
    row = await one(
        conn, "SELECT signal_seq FROM runs WHERE id = %s AND last_save = %s", (run_id, token)
    )
    return None if row is None else int(row["signal_seq"])


async def refused(conn: Conn, s: RunSave) -> NoReturn:
    """Why the fence refused: the lease moved, or someone rang the run."""
    row = await one(conn, "SELECT lease_owner FROM runs WHERE id = %s", (s.run_id,))
    if row is None:
        raise RunNotFound(s.run_id)
    if row["lease_owner"] != s.owner:
        raise LeaseLost(s.run_id)
    raise ConflictError(f"run {s.run_id!r} was signalled meanwhile")


async def _register_wait(conn: Conn, wait: EventWait) -> Event | None:
    """Insert a wait, looking back first: an event that already arrived satisfies it.
    The event clock's lock orders this against concurrent appends (see postgres_ops)."""
    await conn.execute(LOCK_EVENT_CLOCK)
    found = await all_rows(
        conn,
        "SELECT * FROM events WHERE type = %s AND seq > %s ORDER BY seq",
        (wait.type, wait.after_seq),
    )
    event = next(
        (e for e in map(rows.event_from_row, found) if matches(wait.match, e.as_dict())), None
    )
    await conn.execute(
        UPSERT_WAIT,
        (wait.run_id, wait.step_id, wait.type, rows.dumps(wait.match), wait.after_seq,
         None if event is None else event.seq),
    )  # fmt: skip
    return event


async def save_batch(conn: Conn, batch: list[tuple[RunSave, str, str]], channel: str) -> list[int]:
    """Several runs' plain saves in ONE transaction (on a connection in autocommit mode,
    so BEGIN and COMMIT are explicit), sent in one pipeline: one round trip and one WAL
    flush for all. Each save's signal_seq; a refused fence fails the whole transaction."""
    async with conn.pipeline():
        await conn.execute("BEGIN")
        cursors = [
            await conn.execute(*_core(s, token, channel, payload)) for s, token, payload in batch
        ]
        await conn.execute("COMMIT")
    seqs = []
    for cursor in cursors:
        row = await cursor.fetchone()
        assert row is not None
        seqs.append(int(row["signal_seq"]))
    return seqs
