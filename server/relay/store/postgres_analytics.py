"""The PostgreSQL backend's query for analytics: the timings of runs created since a time,
with their steps' timings, in one indexed read (one snapshot: no run without its steps)."""

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from relay.model.run import RunStatus, StepStatus
from relay.store import rows
from relay.store.base import RunTiming, StepTiming

if TYPE_CHECKING:
    from relay.store.postgres_db import Conn

RUNS_WITH_STEPS = (
    "SELECT r.id, r.workflow, r.status, r.created_at, r.updated_at, s.step_id, "
    "s.status AS step_status, s.started_at, s.finished_at "
    "FROM runs r LEFT JOIN steps s ON s.run_id = r.id WHERE r.created_at >= %s "
    "ORDER BY r.created_at, r.id, s.position"
)


async def run_timings(conn: "Conn", since: datetime) -> list[RunTiming]:
    found = await (await conn.execute(RUNS_WITH_STEPS, (since.timestamp(),))).fetchall()
    runs: dict[str, RunTiming] = {}
    steps: dict[str, list[StepTiming]] = {}
    for row in found:
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
