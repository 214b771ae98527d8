"""The store's operations on runs: reading them, leasing them to engines, and the signals
outside actors send them (a ring, a cancel, a resume). Written once for both backends,
as functions of a transaction's `Connection` (see `relay.store.sql`).

Claims take their rows `{skip_locked}`: on PostgreSQL two workers never lease the same
run and never wait for each other (rows another worker is claiming are skipped); SQLite's
one writer serialises claims anyway. Statements that touch several runs name them in
sorted order (`{in_ids}`), so that concurrent transactions lock rows in one order.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from relay.errors import InvalidTransition, RunNotFound
from relay.model.run import Attempt, HistoryEntry, Run, RunStatus, StepRun, StepStatus
from relay.store import rows
from relay.store.base import RunQuery, RunTiming, StepTiming
from relay.store.sql import Connection

ACTIVE = "status IN ('pending', 'running', 'waiting')"
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
INSERT_HISTORY = (
    "INSERT INTO history (run_id, step_id, kind, at, data) "
    "VALUES (:run_id, :step_id, :kind, :at, :data)"
)
RING = "UPDATE runs SET signal_seq = signal_seq + 1, wake_at = :now WHERE id {in_ids}"
LEASE_FREE = (
    f"UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND {ACTIVE} "
    "AND (lease_owner IS NULL OR lease_expires_at < ?)"
)
# A run whose holder is gone (lease lapsed) or that nobody holds, and that has work now.
CLAIMABLE = (
    ACTIVE + " AND (lease_owner IS NULL OR lease_expires_at < :now) "
    "AND (wake_at <= :now OR (wake_at IS NULL AND status != 'waiting')) "
    "AND (CAST(:root AS TEXT) IS NULL OR root_run_id = CAST(:root AS TEXT))"
)
HAS_CLAIMABLE = "SELECT 1 FROM runs WHERE " + CLAIMABLE + " LIMIT 1"
CLAIM = (
    "UPDATE runs SET lease_owner = :owner, lease_expires_at = :until WHERE id IN "
    "(SELECT id FROM runs WHERE " + CLAIMABLE + " ORDER BY created_at LIMIT :limit "
    "{skip_locked}) RETURNING id, created_at"
)
RENEW = (
    "UPDATE runs SET lease_expires_at = :until WHERE id {in_ids} AND lease_owner = :owner "
    "RETURNING id"
)
# A lease this owner released itself (the run finished or parked) is not lost.
TAKEN = (
    "SELECT id FROM runs WHERE id {in_ids} AND lease_owner IS NOT NULL AND lease_owner != :owner"
)
RELEASE = (
    "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
    "WHERE id {in_ids} AND lease_owner = :owner"
)
LIST_RUNS = (
    "SELECT * FROM runs WHERE (CAST(:status AS TEXT) IS NULL OR status = CAST(:status AS TEXT)) "
    "AND (CAST(:workflow AS TEXT) IS NULL OR workflow = CAST(:workflow AS TEXT)) "
    "AND (CAST(:started_by AS TEXT) IS NULL OR started_by = CAST(:started_by AS TEXT)) "
    "ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
)
# When an active run may next become claimable: a held run when its lease would lapse
# (its holder handles its wake-ups), any other at its `wake_at`.
NEXT_WAKE = (
    "SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_expires_at >= :now "
    f"THEN lease_expires_at ELSE wake_at END) AS t FROM runs WHERE {ACTIVE} "
    "AND (CAST(:root AS TEXT) IS NULL OR root_run_id = CAST(:root AS TEXT))"
)
SIGNALS = "SELECT id, signal_seq, cancel_requested, cancel_reason FROM runs WHERE id {in_ids}"
CANCEL = (
    "UPDATE runs SET cancel_requested = 1, cancel_reason = ?, signal_seq = signal_seq + 1, "
    "wake_at = ? WHERE id = ?"
)
REOPEN = (
    "UPDATE runs SET status = 'pending', error = NULL, outputs = NULL, cancel_requested = 0, "
    "cancel_reason = NULL, wake_at = NULL, signal_seq = signal_seq + 1, updated_at = ?, "
    "deadline_at = ? WHERE id = ? AND status IN ('failed', 'cancelled')"
)
# Analytics: one read (one snapshot: no run without its steps), no inputs, outputs or state.
TIMINGS = (
    "SELECT r.id, r.workflow, r.status, r.created_at, r.updated_at, s.step_id, "
    "s.status AS step_status, s.started_at, s.finished_at "
    "FROM runs r LEFT JOIN steps s ON s.run_id = r.id WHERE r.created_at >= ? "
    "ORDER BY r.created_at, r.id, s.position"
)


# reading -----------------------------------------------------------------------------------


async def get_run(c: Connection, run_id: str) -> Run:
    row = await c.one("SELECT * FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise RunNotFound(run_id)
    steps = await c.all("SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
    return rows.run_from_row(row, tuple(rows.step_from_row(s) for s in steps))


async def list_runs(c: Connection, query: RunQuery) -> list[Run]:
    return [rows.run_from_row(r) for r in await c.all(LIST_RUNS, rows.run_query_params(query))]


async def get_definition(c: Connection, definition_hash: str) -> dict[str, Any]:
    row = await c.one("SELECT body FROM definitions WHERE hash = ?", (definition_hash,))
    if row is None:
        raise KeyError(definition_hash)
    body: dict[str, Any] = rows.loads(row["body"])
    return body


async def history(c: Connection, run_id: str) -> list[HistoryEntry]:
    found = await c.all("SELECT * FROM history WHERE run_id = ? ORDER BY seq", (run_id,))
    return [rows.history_from_row(r) for r in found]


async def attempts(c: Connection, run_id: str) -> list[Attempt]:
    found = await c.all(
        "SELECT * FROM attempts WHERE run_id = ? ORDER BY started_at, attempt", (run_id,)
    )
    return [rows.attempt_from_row(r) for r in found]


async def run_timings(c: Connection, since: datetime) -> list[RunTiming]:
    """The runs created since `since`, in creation order, each with its steps' times."""
    runs: dict[str, RunTiming] = {}
    steps: dict[str, list[StepTiming]] = {}
    for row in await c.all(TIMINGS, (since.timestamp(),)):
        if row["id"] not in runs:
            runs[row["id"]] = RunTiming(
                run_id=row["id"],
                workflow=row["workflow"],
                status=RunStatus(row["status"]),
                created_at=rows.dt(row["created_at"]) or since,
                updated_at=rows.dt(row["updated_at"]) or since,
            )
            steps[row["id"]] = []
        if row["step_id"] is not None:
            steps[row["id"]].append(
                StepTiming(
                    step_id=row["step_id"],
                    status=StepStatus(row["step_status"]),
                    started_at=rows.dt(row["started_at"]),
                    finished_at=rows.dt(row["finished_at"]),
                )
            )
    return [replace(run, steps=tuple(steps[run_id])) for run_id, run in runs.items()]


# leases ------------------------------------------------------------------------------------


async def claim_runs(
    c: Connection, owner: str, lease_seconds: float, limit: int, root: str | None
) -> list[str]:
    """Lease up to `limit` claimable runs to `owner`, oldest first."""
    now = rows.now_ts()
    params = {"owner": owner, "until": now + lease_seconds, "now": now, "root": root}
    found = await c.all(CLAIM, {**params, "limit": limit})
    return [str(r["id"]) for r in sorted(found, key=lambda r: (r["created_at"], r["id"]))]


async def has_claimable(c: Connection, root: str | None) -> bool:
    return await c.one(HAS_CLAIMABLE, {"now": rows.now_ts(), "root": root}) is not None


async def claim_run(c: Connection, run_id: str, owner: str, lease_seconds: float) -> bool:
    """Lease one run if it is active and nobody live holds it."""
    return bool(await lease_free(c, [run_id], owner, lease_seconds))


async def lease_free(
    c: Connection, run_ids: Sequence[str], owner: str | None, lease_seconds: float
) -> tuple[str, ...]:
    """Lease those of the runs that are active and free to `owner` (none without one)."""
    if owner is None:
        return ()
    now = rows.now_ts()
    claimed = []
    for run_id in run_ids:
        if await c.execute(LEASE_FREE, (owner, now + lease_seconds, run_id, now)):
            claimed.append(run_id)
    return tuple(claimed)


async def renew_leases(
    c: Connection, owner: str, run_ids: Sequence[str], lease_seconds: float
) -> set[str]:
    """Extend `owner`'s leases; returns the ids of those another owner holds now."""
    until = rows.now_ts() + lease_seconds
    ids = c.dialect.ids(sorted(set(run_ids)))
    renewed = await c.all(RENEW, {"until": until, "ids": ids, "owner": owner})
    rest = sorted(set(run_ids) - {r["id"] for r in renewed})
    if not rest:
        return set()
    taken = await c.all(TAKEN, {"ids": c.dialect.ids(rest), "owner": owner})
    return {str(r["id"]) for r in taken}


async def release_leases(c: Connection, owner: str, run_ids: Sequence[str]) -> None:
    """Hand runs back (a stopping process, a paused driver): other engines hear the
    doorbell and take them over at once, not when their next look comes."""
    await c.execute(RELEASE, {"ids": c.dialect.ids(sorted(set(run_ids))), "owner": owner})
    await c.ring_doorbell()


async def next_wake_at(c: Connection, root: str | None) -> datetime | None:
    row = await c.one(NEXT_WAKE, {"root": root, "now": rows.now_ts()})
    return None if row is None else rows.dt(row["t"])


# signals -----------------------------------------------------------------------------------


async def ring(c: Connection, run_ids: Sequence[str], *, doorbell: bool = False) -> None:
    """Wake runs: their signal_seq moves (a holder's fenced save then fails and it looks
    again) and they are due now; engines hear the doorbell (with `doorbell`, even when no
    run is rung: a run parked with a wake time that engines have not counted yet)."""
    if run_ids:
        await c.execute(RING, {"now": rows.now_ts(), "ids": c.dialect.ids(sorted(set(run_ids)))})
    if run_ids or doorbell:
        await c.ring_doorbell()


async def run_signals(c: Connection, run_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """Each run's signal_seq, and its cancel reason when a cancel was requested."""
    found = await c.all(SIGNALS, {"ids": c.dialect.ids(sorted(set(run_ids)))})
    return {
        r["id"]: (
            int(r["signal_seq"]),
            (r["cancel_reason"] or "cancelled") if r["cancel_requested"] else None,
        )
        for r in found
    }


async def request_cancel(c: Connection, run_id: str, reason: str) -> Run:
    run = await get_run(c, run_id)
    if run.status.is_final:
        raise InvalidTransition(f"run {run_id!r} is already {run.status.value}; nothing to cancel")
    await c.execute(CANCEL, (reason, rows.now_ts(), run_id))
    await c.ring_doorbell()
    return await get_run(c, run_id)


async def reopen_run(
    c: Connection, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
) -> Run:
    """Make a failed or cancelled run pending again, with `steps` reset and a new deadline."""
    if not await c.execute(REOPEN, (rows.now_ts(), rows.ts(deadline_at), run_id)):
        run = await get_run(c, run_id)
        raise InvalidTransition(
            f"run {run_id!r} is {run.status.value}; only a failed or cancelled run can be resumed"
        )
    await c.many(UPDATE_STEP, [rows.step_values(run_id, 0, s) for s in steps])
    entry = {"run_id": run_id, "step_id": None, "kind": "run.resumed", "at": rows.now_ts(),
             "data": rows.dumps({"by": by, "steps": [s.id for s in steps]})}  # fmt: skip
    await c.execute(INSERT_HISTORY, entry)
    await c.ring_doorbell()
    return await get_run(c, run_id)
