"""Analytics per workflow: the page and the API show figures that match the runs in the
store, computed here independently from the runs themselves."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from dashboard_harness import client_of
from starlette.applications import Starlette

from relay.model.run import Run, RunStatus, StepStatus
from relay.service.analytics import nearest_rank
from relay.service.services import Services
from relay.service.views import waiting_for


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank, by its definition: the smallest value that at least `fraction` of
    the values are at or below."""
    if not values:
        return None
    return min(v for v in values if sum(x <= v for x in values) >= fraction * len(values))


def expected(runs: list[Run]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for workflow in {r.workflow for r in runs}:
        mine = [r for r in runs if r.workflow == workflow]
        done = [r for r in mine if r.status is RunStatus.COMPLETED]
        final = [r for r in mine if r.status.is_final]
        durations = [(r.updated_at - r.created_at).total_seconds() for r in done]
        steps: dict[str, list[float]] = {}
        for run in mine:
            for step in run.steps:
                if step.status is StepStatus.COMPLETED and step.started_at and step.finished_at:
                    took = (step.finished_at - step.started_at).total_seconds()
                    steps.setdefault(step.id, []).append(took)
        means = {k: sum(v) / len(v) for k, v in steps.items()}
        figures[workflow] = {
            "runs": len(mine),
            "completed": len(done),
            "failed": sum(r.status is RunStatus.FAILED for r in mine),
            "cancelled": sum(r.status is RunStatus.CANCELLED for r in mine),
            "success_rate": len(done) / len(final) if final else None,
            "p50_seconds": percentile(durations, 0.5),
            "p95_seconds": percentile(durations, 0.95),
            "slowest": sorted(means, key=lambda k: -means[k])[:5],
            "means": means,
        }
    return figures


def shown(html: str) -> dict[str, dict[str, Any]]:
    """Each workflow's figures as the analytics page shows them (its data-value's)."""
    found: dict[str, dict[str, Any]] = {}
    for section in html.split('<section class="card" data-workflow="')[1:]:
        name = section.split('"')[0]
        values = dict(re.findall(r'data-figure="(\w+)" data-value="([^"]*)"', section))
        slow = re.findall(r'data-slow-step="([^"]+)" data-mean="([^"]+)"', section)
        found[name] = {
            **{k: (float(v) if v else None) for k, v in values.items()},
            "slowest": [step for step, _ in slow],
            "means": {step: float(mean) for step, mean in slow},
        }
    return found


async def start(relay: Services, workflow: str, **inputs: object) -> str:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow=workflow), inputs)
    return run.id


async def test_the_analytics_page_matches_the_runs_in_the_store(
    open_app: Starlette, relay: Services
) -> None:
    ids = [await start(relay, "steps", pause=p) for p in (0.02, 0.05, 0.1, 0.2, 0.3)]
    ids += [await start(relay, "fails") for _ in range(2)]
    gated = [await start(relay, "gated") for _ in range(3)]
    for run_id in gated:
        await relay.runs.wait_run(run_id, 20, until=lambda r: waiting_for(r) is not None)
    await relay.coordination.approve(gated[0])
    await relay.runs.cancel(gated[1], "enough")
    for run_id in [*ids, *gated[:2]]:
        await relay.runs.wait_run(run_id, 20, until=lambda r: r.status.is_final)
    runs = [await relay.runs.get_run(r.id) for r in await relay.runs.list_runs(limit=1000)]

    async with client_of(open_app) as http:
        html = (await http.get("/ui/analytics?days=7")).text
        api = (await http.get("/api/analytics?days=7")).json()

    want, page = expected(runs), shown(html)
    assert set(page) == {"steps", "fails", "gated"}
    for workflow, figures in want.items():
        got = page[workflow]
        for key in ("runs", "completed", "failed", "cancelled"):
            assert got[key] == figures[key], (workflow, key)
        for key in ("success_rate", "p50_seconds", "p95_seconds"):
            assert got[key] == pytest.approx(figures[key]), (workflow, key)
        assert got["slowest"] == figures["slowest"], workflow
        assert got["means"] == pytest.approx(figures["means"]), workflow
    assert want["steps"]["success_rate"] == 1.0
    assert want["gated"]["success_rate"] == 0.5  # one completed, one cancelled, one waiting
    assert want["steps"]["slowest"][0] == "middle"  # the delay
    today = datetime.now(UTC).date().isoformat()
    per_day = {w["workflow"]: w["per_day"] for w in api["workflows"]}
    assert [d["day"] for d in per_day["steps"]][-1] == today
    assert len(per_day["steps"]) == 7
    assert {w: days[-1]["runs"] for w, days in per_day.items()} == {
        "steps": 5,
        "fails": 2,
        "gated": 3,
    }
    assert sum(d["runs"] for d in per_day["steps"][:-1]) == 0


@pytest.mark.parametrize(
    ("values", "fraction", "rank"),
    [([], 0.5, None), ([3.0], 0.95, 3.0), ([4.0, 1.0, 3.0, 2.0], 0.5, 2.0), ([1, 2, 3], 0.95, 3)],
)
def test_nearest_rank(values: list[float], fraction: float, rank: float | None) -> None:
    assert nearest_rank(values, fraction) == rank == percentile(values, fraction)
