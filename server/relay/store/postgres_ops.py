"""The PostgreSQL backend's queries for runs and events: async functions of a connection,
each called inside the transaction that `postgres_db.Pool.run` opens and commits.

They mirror `relay.store.sqlite_ops`. Where SQLite's one writer serialises everything,
PostgreSQL runs transactions side by side, so three places take row locks on purpose:
claims (`FOR UPDATE SKIP LOCKED`: two workers never lease the same run and never wait
for each other), the event clock (events get their seq in commit order; see the schema)
and wait registration (which takes the event clock too, so that an event and a wait
committed at the same moment always see one another).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow

from relay.errors import ConflictError, InvalidTransition, RunNotFound
from relay.model.events import Event, NewEvent
from relay.model.run import Attempt, EventWait, HistoryEntry, Run, StepRun
from relay.store import rows
from relay.store.base import AppendResult, EventQuery, NewRun, RunQuery
from relay.store.postgres_db import Conn

ACTIVE = "status IN ('pending', 'running', 'waiting')"


def _named(columns: Sequence[str]) -> str:
    return ", ".join(f"%({c})s" for c in columns)


INSERT_DEFINITION = "INSERT INTO definitions VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
# ON CONFLICT DO NOTHING covers every unique key: a second run with the same idempotency
# or trigger key waits for the first one's commit, then inserts nothing.
INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(rows.RUN_COLUMNS)}, trigger_key) "
    f"VALUES ({_named(rows.RUN_COLUMNS)}, %(trigger_key)s) ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_STEP = (
    f"INSERT INTO steps ({', '.join(rows.STEP_COLUMNS)}) VALUES ({_named(rows.STEP_COLUMNS)})"
)
UPDATE_STEP = (
    "UPDATE steps SET name = %(name)s, status = %(status)s, attempts = %(attempts)s, "
    "started_at = %(started_at)s, finished_at = %(finished_at)s, output = %(output)s, "
    "error = %(error)s, wake_at = %(wake_at)s, waiting = %(waiting)s, "
    "gate_passed = %(gate_passed)s, state = %(state)s "
    "WHERE run_id = %(run_id)s AND step_id = %(step_id)s"
)
# As in SQLite: the end of an attempt keeps its recorded start and worker.
INSERT_ATTEMPT = (
    "INSERT INTO attempts VALUES (%(run_id)s, %(step_id)s, %(attempt)s, %(started_at)s, "
    "%(finished_at)s, %(status)s, %(error)s, %(worker)s) "
    "ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET finished_at = excluded.finished_at, "
    "status = excluded.status, error = excluded.error"
)
INSERT_HISTORY = (
    "INSERT INTO history (run_id, step_id, kind, at, data) "
    "VALUES (%(run_id)s, %(step_id)s, %(kind)s, %(at)s, %(data)s)"
)
# The next seq and the event in one statement; the clock row stays locked until commit.
INSERT_EVENT = (
    "WITH clock AS (UPDATE event_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq) "
    "INSERT INTO events (seq, id, type, source, data, correlation_id, idempotency_key, "
    "created_at) SELECT clock.seq, %s, %s, %s, %s, %s, %s, %s FROM clock RETURNING seq"
)
LOCK_EVENT_CLOCK = "SELECT seq FROM event_clock WHERE id = 1 FOR UPDATE"
LAST_SEQ = "SELECT seq FROM event_clock WHERE id = 1"
# Holder's writes to approvals and tasks close them only while still undecided.
INSERT_APPROVAL = (
    "INSERT INTO approvals VALUES (%(id)s, %(run_id)s, %(workflow)s, %(step_id)s, "
    "%(message)s, %(approvers)s, %(channels)s, %(allow_self)s, %(requested_by)s, %(status)s, "
    "%(requested_at)s, %(expires_at)s, %(decided_by)s, %(decided_channel)s, %(decided_at)s, "
    "%(comment)s) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
    "decided_by = excluded.decided_by, decided_channel = excluded.decided_channel, "
    "decided_at = excluded.decided_at, comment = excluded.comment "
    "WHERE approvals.status = 'pending'"
)
INSERT_TASK = (
    "INSERT INTO tasks VALUES (%(id)s, %(run_id)s, %(workflow)s, %(step_id)s, %(to_name)s, "
    "%(task)s, %(context)s, %(status)s, %(created_at)s, %(updated_at)s, %(expires_at)s, "
    "%(claimed_by)s, %(result)s, %(error)s) ON CONFLICT (id) DO UPDATE SET "
    "status = excluded.status, updated_at = excluded.updated_at, result = excluded.result, "
    "error = excluded.error WHERE tasks.status IN ('open', 'claimed')"
)
RING = "UPDATE runs SET signal_seq = signal_seq + 1, wake_at = %s WHERE id = ANY(%s)"
CLAIMABLE_WHERE = (
    f"{ACTIVE} AND (lease_owner IS NULL OR lease_expires_at < %(now)s) "
    "AND (wake_at <= %(now)s OR (wake_at IS NULL AND status != 'waiting')) "
    "AND (%(root)s::text IS NULL OR root_run_id = %(root)s::text)"
)
HAS_CLAIMABLE = f"SELECT 1 FROM runs WHERE {CLAIMABLE_WHERE} LIMIT 1"
# Rows another worker is claiming (or a holder is saving) right now are skipped, not
# waited for: claimers never queue behind each other.
CLAIM = (
    "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = %(until)s WHERE id IN "
    f"(SELECT id FROM runs WHERE {CLAIMABLE_WHERE} ORDER BY created_at LIMIT %(limit)s "
    "FOR UPDATE SKIP LOCKED) RETURNING id"
)
CLAIM_ONE = (
    "UPDATE runs SET lease_owner = %s, lease_expires_at = %s WHERE id = %s "
    f"AND {ACTIVE} AND (lease_owner IS NULL OR lease_expires_at < %s) RETURNING id"
)
LIST_RUNS = (
    "SELECT * FROM runs WHERE (%(status)s::text IS NULL OR status = %(status)s::text) "
    "AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s::text) "
    "AND (%(started_by)s::text IS NULL OR started_by = %(started_by)s::text) "
    "ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s"
)
NEXT_WAKE = (
    "SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_expires_at >= %(now)s "
    f"THEN lease_expires_at ELSE wake_at END) AS t FROM runs WHERE {ACTIVE} "
    "AND (%(root)s::text IS NULL OR root_run_id = %(root)s::text)"
)
REOPEN = (
    "UPDATE runs SET status = 'pending', error = NULL, outputs = NULL, cancel_requested = 0, "
    "cancel_reason = NULL, wake_at = NULL, signal_seq = signal_seq + 1, updated_at = %s, "
    "deadline_at = %s WHERE id = %s AND status IN ('failed', 'cancelled') RETURNING id"
)
LIST_EVENTS = (
    "SELECT * FROM events WHERE (%(type)s::text IS NULL OR type = %(type)s::text) "
    "AND (%(source)s::text IS NULL OR source = %(source)s::text) "
    "AND (%(cid)s::text IS NULL OR correlation_id = %(cid)s::text) AND seq > %(after)s "
)
ADVANCE_CURSOR = (
    "INSERT INTO cursors VALUES (%s, %s) ON CONFLICT (name) "
    "DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq) RETURNING seq"
)


async def one(conn: Conn, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> DictRow | None:
    return await (await conn.execute(sql, params)).fetchone()


async def all_rows(
    conn: Conn, sql: str, params: Sequence[Any] | dict[str, Any] = ()
) -> list[DictRow]:
    return await (await conn.execute(sql, params)).fetchall()


async def many(conn: Conn, sql: str, params: Sequence[Any]) -> None:
    if params:
        async with conn.cursor() as cur:
            await cur.executemany(sql, params)


# runs ------------------------------------------------------------------------------------


async def create_run(conn: Conn, new: NewRun) -> tuple[Run, bool]:
    run = new.run
    existing = await _existing(conn, new)
    if existing is not None:
        return await get_run(conn, existing), False
    await conn.execute(
        INSERT_DEFINITION,
        (run.definition_hash, run.workflow, rows.dumps(new.definition), rows.now_ts()),
    )
    values = rows.run_values(run)
    values["start_seq"] = await last_seq(conn)
    values["trigger_key"] = new.trigger_key
    if new.owner is not None:
        values["lease_owner"] = new.owner
        values["lease_expires_at"] = rows.now_ts() + new.lease_seconds
    if await one(conn, INSERT_RUN, values) is None:  # a concurrent start won
        found = await _existing(conn, new)
        if found is None:
            raise ConflictError(f"a run with id {run.id!r} already exists")
        return await get_run(conn, found), False
    await many(conn, INSERT_STEP, [rows.step_values(run.id, i, s) for i, s in enumerate(run.steps)])
    await many(conn, INSERT_HISTORY, [rows.history_values(h) for h in new.history])
    created = await get_run(conn, run.id)
    for event in new.events:  # last: the event clock stays locked until COMMIT
        await queue_event(conn, event)
    return created, True


async def _existing(conn: Conn, new: NewRun) -> str | None:
    keys = (("idempotency_key", new.run.idempotency_key), ("trigger_key", new.trigger_key))
    for column, key in keys:
        if key is not None:
            row = await one(conn, f"SELECT id FROM runs WHERE {column} = %s", (key,))
            if row is not None:
                return str(row["id"])
    return None


async def get_run(conn: Conn, run_id: str) -> Run:
    row = await one(conn, "SELECT * FROM runs WHERE id = %s", (run_id,))
    if row is None:
        raise RunNotFound(run_id)
    steps = await all_rows(
        conn, "SELECT * FROM steps WHERE run_id = %s ORDER BY position", (run_id,)
    )
    return rows.run_from_row(row, tuple(rows.step_from_row(s) for s in steps))


async def list_runs(conn: Conn, query: RunQuery) -> list[Run]:
    params = rows.run_query_params(query)
    return [rows.run_from_row(r) for r in await all_rows(conn, LIST_RUNS, params)]


async def get_definition(conn: Conn, definition_hash: str) -> dict[str, Any]:
    row = await one(conn, "SELECT body FROM definitions WHERE hash = %s", (definition_hash,))
    if row is None:
        raise KeyError(definition_hash)
    body: dict[str, Any] = rows.loads(row["body"])
    return body


async def history(conn: Conn, run_id: str) -> list[HistoryEntry]:
    found = await all_rows(conn, "SELECT * FROM history WHERE run_id = %s ORDER BY seq", (run_id,))
    return [rows.history_from_row(r) for r in found]


async def attempts(conn: Conn, run_id: str) -> list[Attempt]:
    found = await all_rows(
        conn, "SELECT * FROM attempts WHERE run_id = %s ORDER BY started_at, attempt", (run_id,)
    )
    return [rows.attempt_from_row(r) for r in found]


async def claim_runs(
    conn: Conn, owner: str, lease_seconds: float, limit: int, root: str | None
) -> list[str]:
    now = rows.now_ts()
    params = {"owner": owner, "until": now + lease_seconds, "now": now, "root": root}
    return [str(r["id"]) for r in await all_rows(conn, CLAIM, {**params, "limit": limit})]


async def has_claimable(conn: Conn, root: str | None) -> bool:
    return await one(conn, HAS_CLAIMABLE, {"now": rows.now_ts(), "root": root}) is not None


async def claim_run(conn: Conn, run_id: str, owner: str, lease_seconds: float) -> bool:
    return bool(await ring_claim(conn, [run_id], owner, lease_seconds, ring=False))


async def renew_leases(
    conn: Conn, owner: str, run_ids: Sequence[str], lease_seconds: float
) -> set[str]:
    expires = rows.now_ts() + lease_seconds
    renewed = await all_rows(
        conn,
        "UPDATE runs SET lease_expires_at = %s WHERE id = ANY(%s) AND lease_owner = %s "
        "RETURNING id",
        (expires, sorted(run_ids), owner),
    )
    rest = sorted(set(run_ids) - {r["id"] for r in renewed})
    if not rest:
        return set()
    # A lease this owner released itself (the run finished or parked) is not lost.
    taken = await all_rows(
        conn,
        "SELECT id FROM runs WHERE id = ANY(%s) AND lease_owner IS NOT NULL AND lease_owner != %s",
        (rest, owner),
    )
    return {str(r["id"]) for r in taken}


async def release_leases(conn: Conn, owner: str, run_ids: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
        "WHERE id = ANY(%s) AND lease_owner = %s",
        (sorted(run_ids), owner),
    )


async def next_wake_at(conn: Conn, root: str | None) -> datetime | None:
    row = await one(conn, NEXT_WAKE, {"root": root, "now": rows.now_ts()})
    return None if row is None else rows.dt(row["t"])


async def run_signals(conn: Conn, run_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    found = await all_rows(
        conn,
        "SELECT id, signal_seq, cancel_requested, cancel_reason FROM runs WHERE id = ANY(%s)",
        (list(run_ids),),
    )
    return {
        r["id"]: (
            int(r["signal_seq"]),
            (r["cancel_reason"] or "cancelled") if r["cancel_requested"] else None,
        )
        for r in found
    }


async def request_cancel(conn: Conn, run_id: str, reason: str) -> Run:
    run = await get_run(conn, run_id)
    if run.status.is_final:
        raise InvalidTransition(f"run {run_id!r} is already {run.status.value}; nothing to cancel")
    await conn.execute(
        "UPDATE runs SET cancel_requested = 1, cancel_reason = %s, "
        "signal_seq = signal_seq + 1, wake_at = %s WHERE id = %s",
        (reason, rows.now_ts(), run_id),
    )
    return await get_run(conn, run_id)


async def reopen_run(
    conn: Conn, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
) -> Run:
    """Make a failed or cancelled run pending again, with `steps` reset and a new deadline."""
    if await one(conn, REOPEN, (rows.now_ts(), rows.ts(deadline_at), run_id)) is None:
        run = await get_run(conn, run_id)
        raise InvalidTransition(
            f"run {run_id!r} is {run.status.value}; only a failed or cancelled run can be resumed"
        )
    await many(conn, UPDATE_STEP, [rows.step_values(run_id, 0, s) for s in steps])
    entry = {"run_id": run_id, "step_id": None, "kind": "run.resumed", "at": rows.now_ts(),
             "data": rows.dumps({"by": by, "steps": [s.id for s in steps]})}  # fmt: skip
    await conn.execute(INSERT_HISTORY, entry)
    return await get_run(conn, run_id)


# events ----------------------------------------------------------------------------------


async def insert_event(conn: Conn, new: NewEvent) -> tuple[Event, bool]:
    if new.idempotency_key is not None:
        # Lock the clock first: a concurrent append with the same key waits for this
        # transaction and then finds its event.
        await conn.execute(LOCK_EVENT_CLOCK)
        row = await one(
            conn, "SELECT * FROM events WHERE idempotency_key = %s", (new.idempotency_key,)
        )
        if row is not None:
            return rows.event_from_row(row), True
    event_id, created = rows.uuid7(), rows.now_ts()
    found = await one(
        conn,
        INSERT_EVENT,
        (event_id, new.type, new.source, rows.dumps(new.data), new.correlation_id,
         new.idempotency_key, created),
    )  # fmt: skip
    assert found is not None
    event = Event(
        id=event_id,
        seq=found["seq"],
        type=new.type,
        source=new.source,
        data=new.data,
        correlation_id=new.correlation_id,
        idempotency_key=new.idempotency_key,
        created_at=rows.dt(created),
    )
    return event, False


async def queue_event(conn: Conn, new: NewEvent) -> None:
    """Insert an event whose row the caller does not need (in pipeline mode: no wait)."""
    if new.idempotency_key is not None:
        await insert_event(conn, new)
        return
    await conn.execute(
        INSERT_EVENT,
        (rows.uuid7(), new.type, new.source, rows.dumps(new.data), new.correlation_id, None,
         rows.now_ts()),
    )  # fmt: skip


async def append_event(
    conn: Conn, new: NewEvent, claim_owner: str | None, lease_seconds: float
) -> AppendResult:
    event, duplicate = await insert_event(conn, new)
    if duplicate:
        return AppendResult(event, True, (), ())
    waits = await all_rows(
        conn,
        "SELECT run_id, step_id, match, after_seq FROM event_waits "
        "WHERE type = %s AND matched_seq IS NULL ORDER BY run_id, step_id",
        (event.type,),
    )
    hits = rows.waits_hit(waits, event)
    await many(
        conn,
        "UPDATE event_waits SET matched_seq = %s WHERE run_id = %s AND step_id = %s",
        [(event.seq, run_id, step) for run_id, step in hits],
    )
    woken = tuple(dict.fromkeys(run_id for run_id, _ in hits))
    claimed = await ring_claim(conn, woken, claim_owner, lease_seconds, ring=True)
    return AppendResult(event, False, woken, claimed)


async def ring_claim(
    conn: Conn, run_ids: Sequence[str], owner: str | None, lease_seconds: float, *, ring: bool
) -> tuple[str, ...]:
    """Wake runs (with `ring`); lease the free ones to `owner` so it can drive them."""
    now = rows.now_ts()
    if ring and run_ids:
        await conn.execute(RING, (now, sorted(set(run_ids))))
    if owner is None:
        return ()
    claimed = []
    for run_id in run_ids:
        if await one(conn, CLAIM_ONE, (owner, now + lease_seconds, run_id, now)) is not None:
            claimed.append(run_id)
    return tuple(claimed)


async def list_events(conn: Conn, q: EventQuery) -> list[Event]:
    params = {"type": q.type, "source": q.source, "cid": q.correlation_id,
              "after": q.after_seq or 0, "limit": q.limit}  # fmt: skip
    order = "DESC" if q.newest else "ASC"
    found = await all_rows(conn, f"{LIST_EVENTS} ORDER BY seq {order} LIMIT %(limit)s", params)
    return sorted((rows.event_from_row(r) for r in found), key=lambda e: e.seq)


async def get_event(conn: Conn, seq: int) -> Event | None:
    row = await one(conn, "SELECT * FROM events WHERE seq = %s", (seq,))
    return None if row is None else rows.event_from_row(row)


async def last_seq(conn: Conn) -> int:
    row = await one(conn, LAST_SEQ)
    return 0 if row is None else int(row["seq"])


async def get_wait(conn: Conn, run_id: str, step_id: str) -> EventWait | None:
    row = await one(
        conn, "SELECT * FROM event_waits WHERE run_id = %s AND step_id = %s", (run_id, step_id)
    )
    return None if row is None else rows.wait_from_row(row)


async def advance_cursor(conn: Conn, name: str, seq: int) -> int:
    row = await one(conn, ADVANCE_CURSOR, (name, seq))
    assert row is not None
    return int(row["seq"])


async def get_cursor(conn: Conn, name: str) -> int | None:
    row = await one(conn, "SELECT seq FROM cursors WHERE name = %s", (name,))
    return None if row is None else int(row["seq"])
