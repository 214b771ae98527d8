"""What the service tells about runs and participants, on both backends: attempts count
from 1 once a step has started, and everyone a task is addressed to is a participant."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.model.run import RunStatus
from relay.service.services import Services
from relay.service.views import run_view

WORKFLOWS = {
    "gate.yaml": """
id: gate
steps:
  - {id: ok, action: approval, params: {message: "ship it?"}}
  - {id: ship, action: log, params: {message: shipped}}
""",
    "review.yaml": """
id: review
steps:
  - {id: ask, action: handoff, params: {to: pycharm, task: "review a.py"}}
""",
}


@pytest.fixture
async def relay(tmp_path: Path, database_url: str | None) -> AsyncIterator[Services]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    for name, text in WORKFLOWS.items():
        (folder / name).write_text(text)
    settings = Settings(
        home=tmp_path / "home", workflows_path=str(folder), database_url=database_url
    )
    async with open_relay(settings, Role.RUNNER, participant="cli") as relay:
        yield relay


async def test_a_started_wait_counts_as_the_first_attempt(relay: Services) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.resolve("gate"))
    waiting = await relay.runs.wait_run(run.id, 20, until=lambda r: r.status is RunStatus.WAITING)
    await relay.coordination.approve(run.id)
    done = await relay.runs.wait_run(run.id, 20, until=lambda r: r.status.is_final)

    at_gate = {s["id"]: s["attempts"] for s in run_view(waiting)["steps"]}
    finished = {s["id"]: s["attempts"] for s in run_view(done)["steps"]}
    assert at_gate == {"ok": 1, "ship": 0}
    assert finished == {"ok": 1, "ship": 1}


async def test_a_participant_only_addressed_by_a_task_is_listed(relay: Services) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.resolve("review"))
    await relay.runs.wait_run(run.id, 20, until=lambda r: r.status is RunStatus.WAITING)

    listed = {p.name: p for p in await relay.presence.list_participants(addressed=True)}
    seen = {p.name for p in await relay.presence.list_participants()}

    assert listed["pycharm"].last_seen is None
    assert listed["pycharm"].open_tasks == 1
    assert listed["cli"].last_seen is not None
    assert "pycharm" not in seen  # MCP's list_participants: only those seen
