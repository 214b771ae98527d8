"""The seed's three workflow files: they load with one clear error per action relay lacks,
and run once a plugin provides those actions."""

import json
import os
from pathlib import Path

import pytest

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.engine.actions import ActionRegistry
from relay.engine.builtin_actions import builtin_specs
from relay.engine.waiting import waiting_specs
from relay.errors import InvalidWorkflow
from relay.model.loading import load_workflow_file
from relay.model.run import RunStatus

SEED = Path(__file__).parents[1].parent / "shared" / "seed" / "workflows"
MISSING = {
    "automated_testing_pipeline.yaml": {
        "run_tests",
        "generate_report",
        "request_approval",
        "deploy",
        "health_check",
        "notify",
    },
    "nba_data_synthesis.yaml": {
        "mcp_query_database",
        "mcp_fetch_s3_data",
        "deepseek_synthesis",
        "claude_synthesis",
        "generate_report",
        "notify",
    },
    "cross_chat_coordination.yaml": {
        "notify",
        "process_results",
        "trigger_external",
        "mcp_gather_context",
        "claude_synthesis",
    },
}


@pytest.fixture
def seed() -> Path:
    if not SEED.is_dir():
        pytest.skip(
            "the seed workflows are not present next to this repository "
            "(../shared/seed/workflows); these tests load them"
        )
    return SEED


def _builtins_only() -> ActionRegistry:
    registry = ActionRegistry()
    for spec in [*builtin_specs(), *waiting_specs()]:
        registry.add(spec)
    return registry


@pytest.mark.parametrize("name", sorted(MISSING))
def test_seed_file_reports_each_missing_action_once(seed: Path, name: str) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        load_workflow_file(seed / name, catalog=_builtins_only(), environ={})
    problems = caught.value.problems
    named = [a for p in problems for a in MISSING[name] if f"action {a!r}" in p.message]
    assert sorted(named) == sorted(MISSING[name])
    assert len(problems) == len(MISSING[name])
    for problem in problems:
        assert problem.line is not None
        assert problem.step is not None
        assert "RELAY_PLUGINS" in problem.message or "not available" in problem.message


async def test_seed_pipeline_runs_once_a_plugin_provides_its_actions(
    seed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("SEED_PLUGIN_LOG", str(log))
    settings = Settings(home=tmp_path / "home", workflows_path=str(seed), plugins="seed_plugin")
    async with open_relay(settings, Role.RUNNER, participant="test") as relay:
        workflow = relay.workflows.resolve(str(seed / "automated_testing_pipeline.yaml"))
        run, _ = await relay.runs.start_run(workflow)
        for _ in range(30):
            run = await relay.runs.wait_run(run.id, 1.0)
            if any(s.status.value == "waiting" for s in run.steps):
                break
        gate = next(s for s in run.steps if s.status.value == "waiting")
        assert gate.id == "deployment_approval"
        await relay.coordination.approve(run.id, approver="release-manager", channel="cli")
        for _ in range(30):
            run = await relay.runs.wait_run(run.id, 1.0)
            if run.status.is_final:
                break
    assert run.status is RunStatus.COMPLETED, run.error
    calls = [json.loads(line)["action"] for line in log.read_text().splitlines()]
    assert calls == [
        "run_tests",
        "run_tests",
        "generate_report",
        "request_approval",
        "deploy",
        "health_check",
        "notify",
    ]
    assert os.environ["SEED_PLUGIN_LOG"] == str(log)
