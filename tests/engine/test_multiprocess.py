"""Several real processes on one SQLite file: takeover after a crash, signals from
another process, triggers, approvals, where steps run, and no lock errors."""

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from engine_harness import eventually, finished, start, step_statuses
from fixture_types import MakeSettings, Spawn, StartWorker

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services
from relay.service.triggers import trigger_cursor

pytestmark = pytest.mark.slow

# Leases lapse fast so that a killed worker's runs are taken over within about a second.
LEASE_SECONDS = 1.0


@pytest.fixture
def backend() -> str:
    """These processes share one SQLite file (PostgreSQL's: test_postgres_processes.py)."""
    return "sqlite"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(lease_seconds=LEASE_SECONDS)


@pytest.fixture
async def relay(settings: Settings) -> AsyncIterator[Services]:
    """This test process's view of the store: it drives nothing itself."""
    async with open_relay(settings, Role.CLIENT, participant="pytest") as relay:
        yield relay


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def _has_line(path: Path, word: str, count: int = 1) -> bool:
    return _lines(path).count(word) >= count


async def test_a_killed_workers_run_is_taken_over_and_completed_steps_never_rerun(
    relay: Services, start_worker: StartWorker, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    run = await start(
        relay,
        f"""
id: crashy
steps:
  - {{id: before, action: shell, params: {{command: "echo before >> {effects}"}}}}
  - id: slow
    action: shell
    params: {{command: "echo slow >> {effects}; [ $(grep -c slow {effects}) -ge 2 ] || sleep 10"}}
  - {{id: wait, action: wait_for_event, params: {{type: go}}}}
  - {{id: after, action: shell, params: {{command: "echo after >> {effects}"}}}}
""",
    )
    first = start_worker("first")
    await eventually(lambda: _has_line(effects, "slow"))
    first.kill()  # mid-step: `slow` is running and holds the lease

    second = start_worker("second")
    await eventually(lambda: _waiting_at(relay, run.id, "wait"))
    second.kill()  # mid-wait: the run is parked on its event

    start_worker("third")
    await relay.events.emit("go")
    done = await finished(relay, run.id)
    attempts = [
        (a.step_id, a.attempt, a.status.value) for a in await relay.store.runs.attempts(run.id)
    ]
    history = [(h.kind, h.step_id, h.data) for h in await relay.store.runs.history(run.id)]
    assert done.status.value == "completed", done.error
    assert sorted(_lines(effects)) == ["after", "before", "slow", "slow"], history
    assert ("slow", 1, "failed") in attempts
    assert ("slow", 2, "completed") in attempts
    assert [a for a in attempts if a[0] != "slow"] == [
        ("before", 1, "completed"),
        ("after", 1, "completed"),
    ]


async def _waiting_at(relay: Services, run_id: str, step_id: str) -> bool:
    run = await relay.store.runs.get_run(run_id)
    return run.step(step_id).status.value == "waiting"


async def test_an_event_emitted_by_another_process_completes_a_waiting_run(
    relay: Services, start_worker: StartWorker, spawn: Spawn, settings: Settings
) -> None:
    start_worker("runner")
    run = await start(
        relay,
        """
id: cross
steps:
  - {id: wait, action: wait_for_event, params: {type: build_done, match: {data.ok: true}}}
""",
    )
    await eventually(lambda: _waiting_at(relay, run.id, "wait"))
    emitter = spawn("emit", str(settings.home), "build_done", "1", '{"ok": true}')
    (seq,) = json.loads(emitter.read_line())
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("wait").output["seq"] == seq


async def test_an_event_trigger_fires_exactly_once_with_two_workers_running(
    relay: Services, start_worker: StartWorker, workflows_dir: Path
) -> None:
    (workflows_dir / "triggered.yaml").write_text(
        """
id: triggered
on:
  - event: deploy_requested
    match: {data.env: prod}
steps:
  - {id: say, action: log, params: {message: deploying}}
"""
    )
    start_worker("one")
    start_worker("two")
    emitted = await relay.events.emit("deploy_requested", {"env": "prod"})

    async def both_caught_up() -> bool:
        cursor = await relay.store.events.get_cursor(trigger_cursor("triggered"))
        return cursor is not None and cursor >= emitted.event.seq

    await eventually(both_caught_up)
    await anyio.sleep(0.3)  # a late duplicate would start by now
    runs = await relay.runs.list_runs(workflow="triggered")
    assert len(runs) == 1
    assert (await finished(relay, runs[0].id)).status.value == "completed"


async def test_an_approval_from_another_process_unblocks_the_run(
    relay: Services, start_worker: StartWorker, spawn: Spawn, settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "shipped"
    start_worker("runner")
    run = await start(
        relay,
        f"""
id: gated
steps:
  - {{id: ship, action: shell, requires_approval: true, params: {{command: "touch {marker}"}}}}
""",
    )
    await eventually(lambda: _waiting_at(relay, run.id, "ship"))
    approver = spawn("approve", str(settings.home), run.id, "ship", "alice")
    assert json.loads(approver.read_line())["approved"] is True
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert marker.exists()


async def test_shell_steps_run_in_the_directory_the_run_was_started_from(
    relay: Services, start_worker: StartWorker, tmp_path: Path
) -> None:
    started_in, worker_in = tmp_path / "A", tmp_path / "B"
    started_in.mkdir()
    worker_in.mkdir()
    run = await start(
        relay,
        """
id: where
steps:
  - {id: here, action: shell, params: {command: pwd}}
""",
        cwd=str(started_in),
    )
    start_worker("elsewhere", cwd=worker_in)
    done = await finished(relay, run.id)
    assert done.step("here").output["stdout"].strip() == str(started_in)


async def test_a_run_taken_over_after_a_crash_keeps_its_working_directory(
    relay: Services, start_worker: StartWorker, tmp_path: Path
) -> None:
    started_in, worker_in = tmp_path / "A", tmp_path / "B"
    started_in.mkdir()
    worker_in.mkdir()
    run = await start(
        relay,
        """
id: where2
steps:
  - {id: nap, action: shell, params: {command: "touch napping; sleep 10"}}
""",
        cwd=str(started_in),
    )
    run_in_a = start_worker("first", cwd=started_in)
    await eventually(lambda: anyio.to_thread.run_sync((started_in / "napping").exists))
    run_in_a.kill()
    (started_in / "napping").unlink()
    relay_patch = "id: where2"  # noqa: F841 - the snapshot, not this text, is what runs
    start_worker("second", cwd=worker_in)
    await eventually(lambda: anyio.to_thread.run_sync((started_in / "napping").exists))
    assert not (worker_in / "napping").exists()
    await relay.runs.cancel(run.id, wait_seconds=0)
    assert step_statuses(await finished(relay, run.id)) == {"nap": "cancelled"}


async def test_processes_emitting_concurrently_never_see_a_lock_error(
    spawn: Spawn, settings: Settings, relay: Services
) -> None:
    emitters = [spawn("emit", str(settings.home), "load", "200") for _ in range(3)]
    results = [json.loads(e.read_line(timeout=60)) for e in emitters]
    seqs = [seq for result in results for seq in result]
    assert all(len(result) == 200 for result in results)
    assert len(set(seqs)) == 600
    assert all(result == sorted(result) for result in results)
    assert all("locked" not in e.stderr() for e in emitters)
    assert len(await relay.events.list_events(type="load", limit=1000)) == 600


async def test_a_cancel_from_another_process_stops_the_step_a_worker_runs(
    relay: Services, start_worker: StartWorker, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    start_worker("runner")
    run = await start(
        relay,
        f"""
id: long
steps:
  - {{id: sleepy, action: shell, params: {{command: "echo $$ > {pid_file}; exec sleep 30"}}}}
""",
    )
    await eventually(
        lambda: anyio.to_thread.run_sync(
            lambda: pid_file.read_text().strip() if pid_file.exists() else ""
        )
    )
    pid = int(pid_file.read_text())
    await relay.runs.cancel(run.id, "from elsewhere", wait_seconds=0)
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "cancelled"
    assert "from elsewhere" in (done.error or "")
    # The worker stops the step as soon as it hears of the cancel (or, if its lease
    # lapsed under load and this process finished the cancel, at its next renewal).
    await eventually(lambda: _gone(pid), within_seconds=5)


async def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
