"""The PostgreSQL backend's hot path: a run holder's save.

A save's core (the fenced run row, its steps, attempts, history, unkeyed events and the
runs it rings) goes to the server as ONE statement of data-modifying CTEs over JSON
arrays. Sent in autocommit mode it is its own transaction, notification included: a
step's progress costs one round trip. The plain saves of concurrent runs share one
transaction, round trip and WAL flush (group commit, `relay.store.group_commit`). A save
with rarer parts runs `relay.store.saves.save`, this statement as its core, in a
transaction. When the fence refuses, the statement fails (`relay_fence_refused`) and
whatever it wrote is rolled back.

When PostgreSQL goes away, a save waits for it (up to SAVE_RETRY_SECONDS) instead of
failing: its writes are fenced by the lease, so a late save is safe, and an engine keeps
the outcome of a step it has already executed rather than executing it again. A save
whose COMMIT was cut off (UnsureCommit) is looked up by its token in `runs.last_save`
before it is repeated, so it is never applied twice.
"""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from relay.errors import BatchRefused, StoreUnavailable, UnsureCommit
from relay.model.events import Event
from relay.store import rows, saves
from relay.store.base import RunSave, SaveResult
from relay.store.group_commit import SaveBatcher
from relay.store.postgres_db import CHANGED, RANG, PgConnection, Pool
from relay.store.sql import Connection

T = TypeVar("T")
SAVE_RETRY_SECONDS = 30.0
SAVE_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)

# {assignments} is the run's changed columns, each `name = :name`. Every CTE reads the
# statement's one snapshot, so none of them sees another's rows: they touch different
# tables (the ring excludes the saved run itself).
SAVE = """
WITH patch AS (
    UPDATE runs SET {assignments} WHERE id = :run_id AND lease_owner = :owner
    AND (CAST(:expect AS BIGINT) IS NULL OR signal_seq = CAST(:expect AS BIGINT))
    RETURNING signal_seq
), step_rows AS (
    UPDATE steps AS t SET name = s.name, status = s.status, attempts = s.attempts,
        started_at = s.started_at, finished_at = s.finished_at, output = s.output,
        error = s.error, wake_at = s.wake_at, waiting = s.waiting,
        gate_passed = s.gate_passed, state = s.state
    FROM jsonb_populate_recordset(NULL::steps, CAST(:steps AS jsonb)) AS s
    WHERE t.run_id = s.run_id AND t.step_id = s.step_id
), attempt_rows AS (
    INSERT INTO attempts
    SELECT * FROM jsonb_populate_recordset(NULL::attempts, CAST(:attempts AS jsonb))
    ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
        finished_at = excluded.finished_at, status = excluded.status, error = excluded.error
), history_rows AS (
    INSERT INTO history (run_id, step_id, kind, at, data)
    SELECT run_id, step_id, kind, at, data
    FROM jsonb_populate_recordset(NULL::history, CAST(:history AS jsonb))
), clock AS (
    UPDATE event_clock SET seq = seq + :events_count
    WHERE id = 1 AND :events_count > 0 RETURNING seq
), event_rows AS (
    INSERT INTO events (seq, id, type, source, data, correlation_id, created_at)
    SELECT clock.seq - :events_count + e.ordinality, e.id, e.type, e.source, e.data,
        e.correlation_id, e.created_at
    FROM clock, jsonb_populate_recordset(NULL::events, CAST(:events AS jsonb))
        WITH ORDINALITY AS e
), dropped_waits AS (
    DELETE FROM event_waits WHERE run_id = :run_id AND step_id = ANY(:drop_waits)
), ring AS (
    UPDATE runs SET signal_seq = signal_seq + 1, wake_at = :now WHERE id = ANY(:ring)
)
SELECT COALESCE((SELECT signal_seq FROM patch), relay_fence_refused()) AS signal_seq,
    pg_notify(:channel, :payload)
"""


def statement(s: RunSave, token: str, channel: str) -> tuple[str, dict[str, Any]]:
    """The one statement of a save's core, and its parameters."""
    now = rows.now_ts()
    values = saves.patch_values(s, now)
    values["last_save"] = token  # read back after a COMMIT whose answer was lost
    events = [
        {"id": rows.uuid7(), "type": e.type, "source": e.source, "data": rows.dumps(e.data),
         "correlation_id": e.correlation_id, "created_at": now}
        for e in s.events
        if e.idempotency_key is None
    ]  # fmt: skip
    ring = saves.rung(s)
    rings = bool(ring) or s.rings_doorbell
    params = {
        **values, "run_id": s.run_id, "owner": s.owner, "expect": s.expect_signal,
        "steps": rows.dumps([rows.step_values(s.run_id, 0, st) for st in s.steps]),
        "attempts": rows.dumps([rows.attempt_values(a) for a in s.attempts]),
        "history": rows.dumps([rows.history_values(h) for h in s.history]),
        "events": rows.dumps(events), "events_count": len(events), "now": now, "ring": ring,
        "drop_waits": list(s.drop_waits), "channel": channel,
        "payload": RANG if rings else CHANGED,
    }  # fmt: skip
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    return SAVE.replace("{assignments}", assignments), params


async def core(c: Connection, s: RunSave, token: str, *, channel: str) -> int:
    """`Dialect.save_core`: the one statement; the run's signal_seq."""
    if saves.rung(s) or s.rings_doorbell:
        await c.ring_doorbell()
    row = await c.one(*statement(s, token, channel))
    assert row is not None  # a refused fence raised
    return int(row["signal_seq"])


async def save_batch(c: PgConnection, batch: list[tuple[RunSave, str]], channel: str) -> list[int]:
    """Several runs' plain saves in ONE transaction (on a connection in autocommit mode,
    so BEGIN and COMMIT are explicit), sent in one pipeline: one round trip and one WAL
    flush for all. Each save's signal_seq; a refused fence fails the whole transaction."""
    if any(saves.rung(s) or s.rings_doorbell for s, _ in batch):
        await c.ring_doorbell()
    async with c.raw.pipeline():
        await c.raw.execute("BEGIN")
        cursors = []
        for s, token in batch:
            text, params = statement(s, token, channel)
            cursors.append(await c.raw.execute(c.dialect.sql(text), params))
        await c.raw.execute("COMMIT")
    seqs = []
    for cursor in cursors:
        row = await cursor.fetchone()
        assert row is not None
        seqs.append(int(row["signal_seq"]))
    return seqs


class Saves:
    """`Database.save` on PostgreSQL: group commit, retries, lost-commit lookups."""

    def __init__(self, pool: Pool, channel: str) -> None:
        self._pool, self._channel = pool, channel
        self._batcher = SaveBatcher(self._plain, self._batch)

    async def save(self, s: RunSave) -> SaveResult:
        token, matched = rows.uuid7(), dict[str, Event]()
        give_up = time.monotonic() + SAVE_RETRY_SECONDS

        async def once() -> SaveResult:
            try:
                return await self._once(s, token, matched)
            except UnsureCommit:  # did it land? (asked until the server is back)
                signal_seq = await _retrying(give_up, lambda: self._saved(s.run_id, token))
                if signal_seq is not None:
                    return SaveResult(signal_seq=signal_seq, matched=matched)
                raise

        return await _retrying(give_up, once)

    async def _once(self, s: RunSave, token: str, matched: dict[str, Event]) -> SaveResult:
        if saves.is_plain(s):  # a step's progress: one round trip
            try:
                signal_seq = await self._batcher.submit(s, token)
            except BatchRefused:  # another save of its batch was: this one goes alone
                signal_seq = await self._plain(s, token)
            return SaveResult(signal_seq=signal_seq, matched={})

        async def apply(c: Connection) -> SaveResult:
            result = await saves.save(c, s, token)
            matched.update(result.matched)
            return result

        return await self._pool.run(apply, write=True)

    async def _plain(self, s: RunSave, token: str) -> int:
        return await self._pool.run(
            lambda c: core(c, s, token, channel=self._channel), write=True, single=True
        )

    async def _batch(self, batch: list[tuple[RunSave, str]]) -> list[int]:
        return await self._pool.run(
            lambda c: save_batch(c, batch, self._channel), write=True, single=True
        )

    async def _saved(self, run_id: str, token: str) -> int | None:
        """The run's signal_seq if the save with this token committed."""
        lookup = "SELECT signal_seq FROM runs WHERE id = ? AND last_save = ?"
        row = await self._pool.run(lambda c: c.one(lookup, (run_id, token)), write=False)
        return None if row is None else int(row["signal_seq"])


async def _retrying(give_up: float, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` again while the store is unavailable, until `give_up` (monotonic)."""
    for attempt in itertools.count():
        try:
            return await call()
        except StoreUnavailable:
            if time.monotonic() > give_up:
                raise
        await asyncio.sleep(SAVE_RETRY_DELAYS[min(attempt, len(SAVE_RETRY_DELAYS) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover
