"""The SQLite backend's query for analytics: the timings of runs created since a time,
with their steps' timings, in two indexed reads (no outputs, inputs or state)."""

import sqlite3
from datetime import datetime

from relay.model.run import RunStatus, StepStatus
from relay.store import rows
from relay.store.base import RunTiming, StepTiming

RUNS = (
    "SELECT id, workflow, status, created_at, updated_at FROM runs "
    "WHERE created_at >= ? ORDER BY created_at, id"
)
STEPS = (
    "SELECT s.run_id, s.step_id, s.status, s.started_at, s.finished_at "
    "FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.created_at >= ? ORDER BY s.position"
)


def run_timings(conn: sqlite3.Connection, since: datetime) -> list[RunTiming]:
    conn.row_factory = sqlite3.Row
    start = since.timestamp()
    steps: dict[str, list[StepTiming]] = {}
    for row in conn.execute(STEPS, (start,)):
        steps.setdefault(row["run_id"], []).append(
            StepTiming(
                step_id=row["step_id"],
                status=StepStatus(row["status"]),
                started_at=rows.dt(row["started_at"]),
                finished_at=rows.dt(row["finished_at"]),
            )
        )
    return [
        RunTiming(
            run_id=row["id"],
            workflow=row["workflow"],
            status=RunStatus(row["status"]),
            created_at=rows.dt(row["created_at"]) or since,
            updated_at=rows.dt(row["updated_at"]) or since,
            steps=tuple(steps.get(row["id"], ())),
        )
        for row in conn.execute(RUNS, (start,))
    ]
