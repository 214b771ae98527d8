"""Several `relay worker` processes on one PostgreSQL database: they share the work, take
over from a killed one, carry on through a restart of PostgreSQL, and fire each trigger
once. Steps append `run step pid` to a file, so executions are counted outside the store.

Each test has a schema of its own on TEST_POSTGRES_URL (skipped when it is unset). The
restart test restarts the machine's PostgreSQL: deselect it with `-m "not pg_restart"`.
"""

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from engine_harness import eventually

from pg_fixtures import postgres_schema
from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.model.run import Run
from relay.service.services import Services
from relay.service.triggers import trigger_cursor

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HERE = Path(__file__).parent
STEPS = 10


def ten_steps(effects: Path, pause: float) -> str:
    steps = "\n".join(
        f"  - {{id: s{i}, action: python, params: {{function: 'sample_functions:record', "
        f"args: {{path: '{effects}', run: '${{{{ run.id }}}}', step: s{i}, pause: {pause}}}}}}}"
        for i in range(STEPS)
    )
    return f"id: tensteps\nsteps:\n{steps}\n"


TRIGGERED = """
id: triggered
on:
  - event: deploy_requested
    match: {data.env: prod}
steps:
  - {id: say, action: log, params: {message: deploying}}
"""
SCHEDULED = """
id: scheduled
on:
  - schedule: "* * * * *"
steps:
  - {id: tick, action: log, params: {message: tick}}
"""


class Worker:
    """A `relay worker` process on the test's database; its stderr goes to a file."""

    def __init__(self, name: str, url: str, tmp: Path, workflows: Path, lease: float) -> None:
        self.log = tmp / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        env.update(
            RELAY_DATABASE_URL=url,
            RELAY_HOME=str(tmp / f"home-{name}"),
            RELAY_WORKFLOWS_PATH=str(workflows),
            RELAY_PARTICIPANT=name,
            RELAY_LEASE_SECONDS=str(lease),
            PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        )
        with self.log.open("w") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "relay", "worker"],
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.log.read_text()}")
        return "is running" in self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    return folder


def settings_for(url: str, tmp: Path, workflows: Path, lease: float) -> Settings:
    return Settings(
        home=tmp / "home",
        database_url=url,
        workflows_path=str(workflows),
        lease_seconds=lease,
    )


class Cluster:
    def __init__(self, url: str, tmp: Path, workflows: Path) -> None:
        self.url, self.tmp, self.workflows = url, tmp, workflows
        self.workers: list[Worker] = []
        self.effects = tmp / "effects"

    async def start(self, count: int, lease: float) -> list[Worker]:
        new = [
            Worker(f"w{len(self.workers) + i}", self.url, self.tmp, self.workflows, lease)
            for i in range(count)
        ]
        self.workers += new
        for worker in new:
            await eventually(lambda w=worker: anyio.to_thread.run_sync(w.ready), 30)
        return new

    def executions(self) -> list[tuple[str, str, int]]:
        if not self.effects.exists():
            return []
        lines = self.effects.read_text().splitlines()
        return [(run, step, int(pid)) for run, step, pid in (line.split() for line in lines)]


@pytest.fixture
def cluster(database: str, tmp_path: Path, workflows: Path) -> Iterator[Cluster]:
    made = Cluster(database, tmp_path, workflows)
    yield made
    for worker in made.workers:
        worker.stop()


@pytest.fixture
async def observer(cluster: Cluster) -> AsyncIterator[Services]:
    """This test process's view of the database: it starts runs and drives none."""
    settings = settings_for(cluster.url, cluster.tmp, cluster.workflows, 15.0)
    async with open_relay(settings, Role.CLIENT, participant="pytest") as relay:
        yield relay


async def start_runs(relay: Services, cluster: Cluster, count: int, pause: float) -> list[str]:
    (cluster.workflows / "tensteps.yaml").write_text(ten_steps(cluster.effects, pause))
    workflow = relay.workflows.resolve("tensteps")
    return [(await relay.runs.start_run(workflow, {}))[0].id for _ in range(count)]


async def all_finished(relay: Services, run_ids: list[str], within: float) -> list[Run]:
    """Every run once final; fails the test after `within` seconds."""
    wanted = set(run_ids)
    with anyio.fail_after(within):
        while True:
            generation = relay.store.feed.generation()
            runs = [r for r in await relay.runs.list_runs(limit=1000) if r.id in wanted]
            if len(runs) == len(wanted) and all(r.status.is_final for r in runs):
                return runs
            await relay.store.feed.wait_changed(generation, 1.0)


def assert_all_completed(runs: list[Run]) -> None:
    failed = [(r.id, r.status.value, r.error) for r in runs if r.status.value != "completed"]
    assert not failed, failed[:5]


async def test_three_workers_run_300_ten_step_runs_each_step_once_spread_over_all(
    cluster: Cluster, observer: Services
) -> None:
    workers = await cluster.start(3, lease=15.0)
    run_ids = await start_runs(observer, cluster, 300, pause=0.0)
    runs = await all_finished(observer, run_ids, within=240)

    assert_all_completed(runs)
    executions = cluster.executions()
    per_step = Counter((run, step) for run, step, _ in executions)
    assert len(per_step) == 300 * STEPS
    assert set(per_step.values()) == {1}, [k for k, n in per_step.items() if n > 1][:5]
    runs_per_pid = Counter(pid for _, step, pid in executions if step == "s0")
    assert set(runs_per_pid) == {w.proc.pid for w in workers}, runs_per_pid


async def test_a_killed_workers_runs_are_taken_over_when_its_lease_lapses(
    cluster: Cluster, observer: Services
) -> None:
    # Short enough to keep the test short, long enough that a live worker's renewals (every
    # third of it) do not miss it on a busy machine: then only the killed one's runs move.
    workers = await cluster.start(3, lease=4.0)
    run_ids = await start_runs(observer, cluster, 60, pause=0.05)
    victim = workers[0]

    async def victim_is_busy() -> bool:
        return sum(pid == victim.proc.pid for _, _, pid in cluster.executions()) >= 5

    await eventually(victim_is_busy, 60)
    victim.kill()  # mid-step: it holds leases and is executing steps
    runs = await all_finished(observer, run_ids, within=120)

    assert_all_completed(runs)
    executions = cluster.executions()
    per_step = Counter((run, step) for run, step, _ in executions)
    assert len(per_step) == 60 * STEPS
    # A run of the killed worker (it held each run it executed a step of until the run
    # ended) was finished by another: it was taken over.
    touched = {run for run, _, pid in executions if pid == victim.proc.pid}
    ended_elsewhere = {
        run for run, step, pid in executions if step == f"s{STEPS - 1}" and pid != victim.proc.pid
    }
    assert touched & ended_elsewhere
    # A step the killed worker had completed never runs again; one it was executing runs
    # again, once, on another worker.
    assert max(per_step.values()) <= 2
    for run, step in (key for key, n in per_step.items() if n > 1):
        pids = [pid for r, s, pid in executions if (r, s) == (run, step)]
        assert pids[0] == victim.proc.pid != pids[1], (run, step, pids)


@pytest.mark.pg_restart
@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None,
    reason="pg_ctlcluster (Debian's postgresql-common) is not installed: "
    "this test restarts the local PostgreSQL server with it",
)
async def test_runs_in_flight_complete_after_postgresql_restarts_each_step_once(
    cluster: Cluster, observer: Services
) -> None:
    await cluster.start(3, lease=20.0)
    run_ids = await start_runs(observer, cluster, 30, pause=0.05)
    await eventually(lambda: anyio.to_thread.run_sync(lambda: len(cluster.executions()) >= 30))
    in_flight = len(cluster.executions())
    await anyio.to_thread.run_sync(restart_postgresql)
    runs = await all_finished(observer, run_ids, within=120)

    assert_all_completed(runs)
    per_step = Counter((run, step) for run, step, _ in cluster.executions())
    assert in_flight < 30 * STEPS  # the restart came mid-way
    assert len(per_step) == 30 * STEPS
    assert set(per_step.values()) == {1}, [k for k, n in per_step.items() if n > 1][:5]


def restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.timeout(150)  # cron ticks by the minute: up to 60 s pass before the next one
async def test_an_event_trigger_and_a_cron_trigger_each_fire_once_with_three_workers(
    cluster: Cluster, observer: Services
) -> None:
    (cluster.workflows / "triggered.yaml").write_text(TRIGGERED)
    (cluster.workflows / "scheduled.yaml").write_text(SCHEDULED)
    await cluster.start(3, lease=15.0)
    all_ready = datetime.now(UTC)
    emitted = await observer.events.emit("deploy_requested", {"env": "prod"})

    async def caught_up() -> bool:
        cursor = await observer.store.events.get_cursor(trigger_cursor("triggered"))
        return cursor is not None and cursor >= emitted.event.seq

    async def ticked() -> list[Run]:
        runs = await observer.runs.list_runs(workflow="scheduled", limit=100)
        return [r for r in runs if _tick(r) > all_ready]

    await eventually(caught_up)
    ticks = await eventually(ticked, 75)  # the next minute, in the workers' time
    # Each worker fires a tick at most once a second: give them two more looks.
    await anyio.sleep(2.5)
    triggered = await observer.runs.list_runs(workflow="triggered", limit=100)
    scheduled = await observer.runs.list_runs(workflow="scheduled", limit=100)
    assert len(triggered) == 1
    assert Counter(_tick(r) for r in scheduled).most_common(1)[0][1] == 1
    assert _tick(ticks[0]) in {_tick(r) for r in scheduled}


def _tick(run: Run) -> datetime:
    event: dict[str, Any] = run.trigger_event or {}
    return datetime.fromisoformat(event["data"]["tick"])
