"""Every file in workflows/ loads, and each one that needs no outside party runs to completion."""

import os
from pathlib import Path

import pytest

from relay.bootstrap import Role, build_registry, open_relay
from relay.config import Settings
from relay.model.loading import load_workflow_file
from relay.model.run import RunStatus

WORKFLOWS = sorted((Path(__file__).parents[1] / "workflows").glob("*.yaml"))
WAITS_FOR_SOMEONE = {"approval", "handoff", "wait_for_event"}


def _needs_outside_party(path: Path) -> bool:
    workflow = load_workflow_file(
        path, catalog=build_registry(Settings(home=Path("/nonexistent"))), environ=dict(os.environ)
    )
    return any(s.action in WAITS_FOR_SOMEONE or s.requires_approval for s in workflow.steps)


def test_there_are_example_workflows() -> None:
    assert {p.stem for p in WORKFLOWS} >= {"hello", "ci_pipeline", "cross_chat", "fan_out"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_loads(path: Path) -> None:
    workflow = load_workflow_file(
        path, catalog=build_registry(Settings(home=Path("/nonexistent"))), environ=dict(os.environ)
    )
    assert workflow.steps


@pytest.mark.parametrize(
    "path", [p for p in WORKFLOWS if not _needs_outside_party(p)], ids=lambda p: p.stem
)
async def test_example_workflow_runs_to_completion(path: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", workflows_path=str(path.parent))
    async with open_relay(settings, Role.RUNNER, participant="test") as relay:
        run, _ = await relay.runs.start_run(relay.workflows.resolve(str(path)), {})
        for _ in range(60):
            run = await relay.runs.wait_run(run.id, 1.0)
            if run.status.is_final:
                break
    assert run.status is RunStatus.COMPLETED, run.error
    assert all(s.status.value in ("completed", "skipped") for s in run.steps)


async def test_ci_pipeline_deploys_after_approval(tmp_path: Path) -> None:
    path = Path(__file__).parents[1] / "workflows" / "ci_pipeline.yaml"
    settings = Settings(home=tmp_path / "home", workflows_path=str(path.parent))
    target = tmp_path / "deployed"
    async with open_relay(settings, Role.RUNNER, participant="test") as relay:
        run, _ = await relay.runs.start_run(
            relay.workflows.resolve("ci-pipeline"), {"target": str(target)}
        )
        for _ in range(60):
            run = await relay.runs.wait_run(run.id, 1.0)
            if any(s.id == "gate" and s.status.value == "waiting" for s in run.steps):
                break
        await relay.coordination.approve(
            run.id, approver="reviewer", comment="ship it", channel="cli"
        )
        for _ in range(60):
            run = await relay.runs.wait_run(run.id, 1.0)
            if run.status.is_final:
                break
    assert run.status is RunStatus.COMPLETED, run.error
    assert (target / "VERSION").read_text().strip() == "1.0.0"
    assert run.outputs is not None
    assert run.outputs["approved_by"] == "reviewer"
    assert run.outputs["deployed"] is True
