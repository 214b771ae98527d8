"""`relay serve` stopped as Claude Code stops it: SIGINT, then SIGTERM 100 ms later, then
SIGKILL 400 ms after that. It must be gone before the SIGTERM, with its leases handed
back, so that another live process takes its runs over at once."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from e2e_harness import Home
from raw_stdio import LEGACY, RawStdio

from relay.model.run import Run, StepStatus

pytestmark = pytest.mark.slow

# Claude Code's SIGTERM follows its SIGINT after this long: relay must have exited.
TARGET_SECONDS = 0.1
# A loaded machine (CI) can stall one fsync for longer than the target; the best of a few
# stops shows what relay does, and every stop must still beat the SIGKILL.
TRIES = 3
SIGKILL_AFTER_SECONDS = 0.5
LONG_LEASE = {"RELAY_LEASE_SECONDS": "60"}  # a takeover in time needs the lease handed back

SLOW = """\
id: slowest
steps:
  - {id: work, action: shell, params: {command: "sleep 30"}}
"""


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home.create(tmp_path)
    (home.root / "workflows" / "slowest.yaml").write_text(SLOW)
    return home


async def stop_time_of_a_busy_server(home: Home) -> tuple[float, str]:
    """Start a server with a running and a waiting run, SIGINT it: (seconds to exit,
    the running run's id)."""
    argv = [sys.executable, "-m", "relay", "serve"]
    env = home.env("claude_code", **LONG_LEASE)
    async with await anyio.open_process(argv, env=env, cwd=home.root, stderr=None) as process:
        client = RawStdio(process, LEGACY)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.read_forever)
            await client.handshake()
            running = await client.call("start_workflow", workflow="slowest")
            waiting = await client.call("start_workflow", workflow="gated", wait_seconds=10)
            assert waiting["waiting_for"]["kind"] == "approval", waiting
            async with home.relay() as relay:
                run = await relay.runs.wait_run(running["run_id"], 10, until=is_running)
                assert is_running(run), run
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(SIGKILL_AFTER_SECONDS):
                await process.wait()
            stopped = time.monotonic() - started
            tg.cancel_scope.cancel()
    assert process.returncode == 0
    return stopped, running["run_id"]


def is_running(run: Run) -> bool:
    return any(s.status is StepStatus.RUNNING for s in run.steps)


def is_held_by(participant: str) -> Callable[[Run], bool]:
    return lambda run: (run.lease_owner or "").startswith(f"{participant}-")


async def test_sigint_stops_a_busy_server_in_time_and_another_takes_its_run_at_once(
    home: Home,
) -> None:
    argv = [sys.executable, "-m", "relay", "worker"]
    env = home.env("pycharm", **LONG_LEASE)
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": None}
    async with await anyio.open_process(argv, env=env, cwd=home.root, **quiet) as other:
        stops = []
        for _ in range(TRIES):
            stopped, run_id = await stop_time_of_a_busy_server(home)
            stops.append(stopped)
            if stopped <= TARGET_SECONDS:
                break
        assert min(stops) <= TARGET_SECONDS, stops
        async with home.relay() as relay:
            # The lease was 60 s: only a lease handed back explains a takeover this soon.
            taken = await relay.runs.wait_run(run_id, 2, until=is_held_by("pycharm"))
        assert is_held_by("pycharm")(taken), taken.lease_owner
        other.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            await other.wait()
