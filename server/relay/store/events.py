"""The store's operations on the event log: appending (which wakes the runs whose waits an
event satisfies), reading, event waits and shared cursors. Written once for both backends.

Events are never deleted, so "after_seq" cursors stay valid forever, and seqs become
visible in commit order (a reader following them never passes over a late commit): on
SQLite because one writer commits at a time, on PostgreSQL because the appending
transaction takes its seq from the event clock's row and holds its lock until it commits
(`Dialect.insert_event`). Registering a wait takes the same lock, so an event and a wait
committed at the same moment always see one another.
"""

from collections.abc import Sequence

from relay.model.events import Event, NewEvent, matches
from relay.model.notification import NewNotification
from relay.model.run import EventWait
from relay.store import outbox, rows, runs
from relay.store.base import AppendResult, EventQuery
from relay.store.sql import Connection

OPEN_WAITS = (
    "SELECT run_id, step_id, match, after_seq FROM event_waits "
    "WHERE type = ? AND matched_seq IS NULL ORDER BY run_id, step_id"
)
MATCH_WAIT = "UPDATE event_waits SET matched_seq = ? WHERE run_id = ? AND step_id = ?"
UPSERT_WAIT = (
    "INSERT INTO event_waits VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_id) "
    "DO UPDATE SET type = excluded.type, match = excluded.match, "
    "after_seq = excluded.after_seq, matched_seq = excluded.matched_seq"
)
LIST_EVENTS = (
    "SELECT * FROM events WHERE (CAST(:type AS TEXT) IS NULL OR type = CAST(:type AS TEXT)) "
    "AND (CAST(:source AS TEXT) IS NULL OR source = CAST(:source AS TEXT)) "
    "AND (CAST(:cid AS TEXT) IS NULL OR correlation_id = CAST(:cid AS TEXT)) "
    "AND seq > :after ORDER BY seq "
)
ADVANCE_CURSOR = (
    "INSERT INTO cursors VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = "
    "CASE WHEN excluded.seq > cursors.seq THEN excluded.seq ELSE cursors.seq END RETURNING seq"
)


async def insert_event(c: Connection, new: NewEvent) -> tuple[Event, bool]:
    """Append one event, or find the one with its idempotency key: (event, duplicate)."""
    if new.idempotency_key is not None:
        if c.dialect.lock_event_clock is not None:
            # The clock first: a concurrent append with the same key waits for this
            # transaction, and then finds its event.
            await c.execute(c.dialect.lock_event_clock)
        row = await c.one("SELECT * FROM events WHERE idempotency_key = ?", (new.idempotency_key,))
        if row is not None:
            return rows.event_from_row(row), True
    created = rows.now_ts()
    values = {"id": rows.uuid7(), "type": new.type, "source": new.source,
              "data": rows.dumps(new.data), "correlation_id": new.correlation_id,
              "idempotency_key": new.idempotency_key, "created_at": created}  # fmt: skip
    found = await c.one(c.dialect.insert_event, values)
    assert found is not None
    event = Event(
        id=str(values["id"]),
        seq=found["seq"],
        type=new.type,
        source=new.source,
        data=new.data,
        correlation_id=new.correlation_id,
        idempotency_key=new.idempotency_key,
        created_at=rows.dt(created),
    )
    return event, False


async def append_event(
    c: Connection,
    new: NewEvent,
    claim_owner: str | None,
    lease_seconds: float,
    notices: Sequence[NewNotification] = (),
) -> AppendResult:
    """Append an event (and queue its notices, unless it is a duplicate); wake the runs
    whose waits it satisfies and lease the free ones among them to `claim_owner`."""
    event, duplicate = await insert_event(c, new)
    if duplicate:
        return AppendResult(event, True, (), ())
    hits = rows.waits_hit(await c.all(OPEN_WAITS, (event.type,)), event)
    await c.many(MATCH_WAIT, [(event.seq, run_id, step) for run_id, step in hits])
    woken = tuple(dict.fromkeys(run_id for run_id, _ in hits))
    await runs.ring(c, woken)
    claimed = await runs.lease_free(c, woken, claim_owner, lease_seconds)
    await outbox.enqueue_all(c, notices)
    return AppendResult(event, False, woken, claimed)


async def register_wait(c: Connection, wait: EventWait) -> Event | None:
    """Insert a wait, looking back first: an event that already arrived satisfies it."""
    if c.dialect.lock_event_clock is not None:
        await c.execute(c.dialect.lock_event_clock)
    found = await c.all(
        "SELECT * FROM events WHERE type = ? AND seq > ? ORDER BY seq", (wait.type, wait.after_seq)
    )
    event = next(
        (e for e in map(rows.event_from_row, found) if matches(wait.match, e.as_dict())), None
    )
    await c.execute(
        UPSERT_WAIT,
        (wait.run_id, wait.step_id, wait.type, rows.dumps(wait.match), wait.after_seq,
         None if event is None else event.seq),
    )  # fmt: skip
    return event


async def list_events(c: Connection, q: EventQuery) -> list[Event]:
    params = {"type": q.type, "source": q.source, "cid": q.correlation_id,
              "after": q.after_seq or 0, "limit": q.limit}  # fmt: skip
    order = "DESC" if q.newest else "ASC"
    found = await c.all(f"{LIST_EVENTS}{order} LIMIT :limit", params)
    return sorted((rows.event_from_row(r) for r in found), key=lambda e: e.seq)


async def get_event(c: Connection, seq: int) -> Event | None:
    row = await c.one("SELECT * FROM events WHERE seq = ?", (seq,))
    return None if row is None else rows.event_from_row(row)


async def last_seq(c: Connection) -> int:
    row = await c.one(c.dialect.last_seq)
    return 0 if row is None else int(row["seq"])


async def get_wait(c: Connection, run_id: str, step_id: str) -> EventWait | None:
    row = await c.one(
        "SELECT * FROM event_waits WHERE run_id = ? AND step_id = ?", (run_id, step_id)
    )
    return None if row is None else rows.wait_from_row(row)


async def advance_cursor(c: Connection, name: str, seq: int) -> int:
    """Move a cursor forward (never back); returns the stored value."""
    row = await c.one(ADVANCE_CURSOR, (name, seq))
    assert row is not None
    return int(row["seq"])


async def get_cursor(c: Connection, name: str) -> int | None:
    row = await c.one("SELECT seq FROM cursors WHERE name = ?", (name,))
    return None if row is None else int(row["seq"])
