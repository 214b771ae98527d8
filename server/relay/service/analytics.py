"""Analytics per workflow over the last days: runs per day, success rate, p50 and p95
duration, and the slowest steps. Computed from the store's run timings.

Definitions (the dashboard and the API show exactly these):
- a day is a UTC calendar day; the window is today and the `days - 1` days before it;
- success rate = completed / (completed + failed + cancelled) of the window's runs that
  have finished; None while none has;
- a run's duration is `updated_at - created_at` of a completed run (a final run is not
  updated again); p50 and p95 use the nearest-rank method over completed runs;
- a step's duration is `finished_at - started_at` of a completed step (waiting time for
  an approval or an event included); the slowest steps are ranked by their mean.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.errors import UsageError
from relay.model.run import RunStatus, StepStatus
from relay.store.base import RunStore, RunTiming

MAX_DAYS = 366
SLOWEST_STEPS = 5


def nearest_rank(values: Sequence[float], fraction: float) -> float | None:
    """The smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _slowest_steps(runs: Sequence[RunTiming]) -> list[dict[str, Any]]:
    durations: dict[str, list[float]] = {}
    for run in runs:
        for step in run.steps:
            took = _seconds(step.started_at, step.finished_at)
            if step.status is StepStatus.COMPLETED and took is not None:
                durations.setdefault(step.step_id, []).append(took)
    ranked = sorted(durations.items(), key=lambda item: -sum(item[1]) / len(item[1]))
    return [
        {
            "step": step_id,
            "count": len(values),
            "mean_seconds": sum(values) / len(values),
            "max_seconds": max(values),
        }
        for step_id, values in ranked[:SLOWEST_STEPS]
    ]


def _one_workflow(workflow: str, runs: Sequence[RunTiming], days: list[str]) -> dict[str, Any]:
    per_day: dict[str, dict[str, Any]] = {
        day: {"day": day, "runs": 0, "completed": 0, "failed": 0} for day in days
    }
    counts = dict.fromkeys(RunStatus, 0)
    durations: list[float] = []
    for run in runs:
        counts[run.status] += 1
        day = per_day.get(run.created_at.astimezone(UTC).date().isoformat())
        if day is not None:  # None: created after `now` (another machine's clock)
            day["runs"] += 1
            if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                day[run.status.value] += 1
        if run.status is RunStatus.COMPLETED:
            durations.append((run.updated_at - run.created_at).total_seconds())
    finished = sum(counts[s] for s in RunStatus if s.is_final)
    return {
        "workflow": workflow,
        "runs": len(runs),
        "completed": counts[RunStatus.COMPLETED],
        "failed": counts[RunStatus.FAILED],
        "cancelled": counts[RunStatus.CANCELLED],
        "active": len(runs) - finished,
        "success_rate": counts[RunStatus.COMPLETED] / finished if finished else None,
        "p50_seconds": nearest_rank(durations, 0.50),
        "p95_seconds": nearest_rank(durations, 0.95),
        "per_day": list(per_day.values()),
        "slowest_steps": _slowest_steps(runs),
    }


async def workflow_analytics(
    runs: RunStore, days: int = 14, now: datetime | None = None
) -> dict[str, Any]:
    """Figures per workflow for the runs created in the last `days` UTC days."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"days must be between 1 and {MAX_DAYS}")
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    day_names = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    by_workflow: dict[str, list[RunTiming]] = {}
    for run in await runs.run_timings(since):
        by_workflow.setdefault(run.workflow, []).append(run)
    return {
        "days": days,
        "since": since.isoformat(),
        "workflows": [
            _one_workflow(name, runs, day_names) for name, runs in sorted(by_workflow.items())
        ],
    }
