"""The store's writes of a run's own rows: creating a run, and its lease holder's saves.
Written once for both backends.

A save is fenced: it writes only while `owner` holds the run's lease and (unless
`expect_signal` is None) nobody rang the run since the holder last looked, checked in
the same statement that writes the run's row. Its core (`Dialect.save_core`: the run
row, steps, attempts, history, unkeyed events, dropped waits, rings) is
`write_core` here, one statement after another, except on PostgreSQL, where it is one
statement of data-modifying CTEs so that a step's progress costs one round trip
(`relay.store.postgres_save`). Either raises FenceRefused when the fence refuses, and
`refused` then tells why.
"""

from typing import Any, NoReturn

from relay.errors import ConflictError, FenceRefused, LeaseLost, RunNotFound
from relay.model.run import Run
from relay.store import events, outbox, rows, runs
from relay.store.base import NewRun, RunSave, SaveResult
from relay.store.sql import Connection

INSERT_DEFINITION = "INSERT INTO definitions VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
# ON CONFLICT DO NOTHING covers every unique key: a second run with the same idempotency
# or trigger key waits for the first one's commit (on PostgreSQL; SQLite's one writer
# runs them one after the other), then inserts nothing.
INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(rows.RUN_COLUMNS)}, trigger_key) "
    f"VALUES ({', '.join(':' + c for c in rows.RUN_COLUMNS)}, :trigger_key) "
    "ON CONFLICT DO NOTHING"
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
FENCE = (
    " WHERE id = :run_id AND lease_owner = :owner "
    "AND (CAST(:expect AS BIGINT) IS NULL OR signal_seq = CAST(:expect AS BIGINT)) "
    "RETURNING signal_seq"
)
DROP_WAIT = "DELETE FROM event_waits WHERE run_id = ? AND step_id = ?"


async def create_run(c: Connection, new: NewRun) -> tuple[Run, bool]:
    """Create a run, or find the one with its idempotency or trigger key: (run, created)."""
    run = new.run
    existing = await _existing(c, new)
    if existing is not None:
        return await runs.get_run(c, existing), False
    await c.execute(
        INSERT_DEFINITION,
        (run.definition_hash, run.workflow, rows.dumps(new.definition), rows.now_ts()),
    )
    values = rows.run_values(run)
    values["start_seq"] = await events.last_seq(c)
    values["trigger_key"] = new.trigger_key
    if new.owner is not None:
        values["lease_owner"] = new.owner
        values["lease_expires_at"] = rows.now_ts() + new.lease_seconds
    if not await c.execute(INSERT_RUN, values):  # a concurrent start won
        found = await _existing(c, new)
        if found is None:
            raise ConflictError(f"a run with id {run.id!r} already exists")
        return await runs.get_run(c, found), False
    await c.many(
        runs.INSERT_STEP, [rows.step_values(run.id, i, s) for i, s in enumerate(run.steps)]
    )
    await c.many(runs.INSERT_HISTORY, [rows.history_values(h) for h in new.history])
    if new.owner is None:  # nobody drives it yet: engines should look
        await c.ring_doorbell()
    created = await runs.get_run(c, run.id)
    for event in new.events:  # last: on PostgreSQL the event clock stays locked until COMMIT
        await events.insert_event(c, event)
    return created, True


async def _existing(c: Connection, new: NewRun) -> str | None:
    keys = (("idempotency_key", new.run.idempotency_key), ("trigger_key", new.trigger_key))
    for column, key in keys:
        if key is not None:
            row = await c.one(f"SELECT id FROM runs WHERE {column} = ?", (key,))
            if row is not None:
                return str(row["id"])
    return None


def is_plain(s: RunSave) -> bool:
    """Only the parts of a save's core (the common case: a step's progress)."""
    keyed = any(e.idempotency_key is not None for e in s.events)
    return not (keyed or s.approvals or s.tasks or s.waits or s.outbox)


async def save(c: Connection, s: RunSave, token: str) -> SaveResult:
    """A whole save in one transaction: the parts that take PostgreSQL's event clock
    (keyed events, waits) last, so that its lock is held as briefly as can be. `token`
    marks the save where a lost commit is looked up (PostgreSQL)."""
    await c.many(INSERT_APPROVAL, [rows.approval_values(a) for a in s.approvals])
    await c.many(INSERT_TASK, [rows.task_values(t) for t in s.tasks])
    await outbox.enqueue_all(c, s.outbox)
    signal_seq = await c.dialect.save_core(c, s, token)
    for event in s.events:
        if event.idempotency_key is not None:
            await events.insert_event(c, event)
    matched = {}
    for wait in s.waits:
        found = await events.register_wait(c, wait)
        if found is not None:
            matched[wait.step_id] = found
    return SaveResult(signal_seq=signal_seq, matched=matched)


def patch_values(s: RunSave, now: float) -> dict[str, Any]:
    """The run row's changed columns (their names are the parameters' names)."""
    values = {k: rows.RUN_PATCH_ENCODERS[k](v) for k, v in s.run.items()}
    values["updated_at"] = now
    if s.release:
        values["lease_owner"] = None
        values["lease_expires_at"] = None
    return values


def rung(s: RunSave) -> list[str]:
    """The runs a save rings: not itself (its own row is the one it writes)."""
    return sorted(set(s.ring_runs) - {s.run_id})


async def write_core(c: Connection, s: RunSave, token: str) -> int:
    """A save's core as one statement after another; the run's signal_seq."""
    values = patch_values(s, rows.now_ts())
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    fenced = {**values, "run_id": s.run_id, "owner": s.owner, "expect": s.expect_signal}
    row = await c.one("UPDATE runs SET " + assignments + FENCE, fenced)
    if row is None:
        raise FenceRefused(f"run {s.run_id!r} is not {s.owner!r}'s to write now")
    await c.many(runs.UPDATE_STEP, [rows.step_values(s.run_id, 0, st) for st in s.steps])
    await c.many(INSERT_ATTEMPT, [rows.attempt_values(a) for a in s.attempts])
    await c.many(runs.INSERT_HISTORY, [rows.history_values(h) for h in s.history])
    for event in s.events:
        if event.idempotency_key is None:
            await events.insert_event(c, event)
    await c.many(DROP_WAIT, [(s.run_id, step) for step in s.drop_waits])
    await runs.ring(c, rung(s), doorbell=s.rings_doorbell)
    return int(row["signal_seq"])


async def refused(c: Connection, s: RunSave) -> NoReturn:
    """Why a save's fence refused: the lease moved, or someone rang the run."""
    row = await c.one("SELECT lease_owner FROM runs WHERE id = ?", (s.run_id,))
    if row is None:
        raise RunNotFound(s.run_id)
    if row["lease_owner"] != s.owner:
        raise LeaseLost(s.run_id)
    raise ConflictError(f"run {s.run_id!r} was signalled meanwhile")
