"""Timer lateness: how long after its due time a `delay`, a retry's backoff, an approval's
timeout and a wait's timeout end their step. The target is 20 ms.

`in_process`: one serving process parks the run and fires the timer. `across_processes`:
this process drives each run until it parks and never claims one again (an engine that
does not claim); a `relay worker` started beforehand fires the timer. One run at a time,
each with one timer of TIMER_SECONDS (WARMUP_RUNS first, left out), on a fresh RELAY_HOME
(and on PostgreSQL a fresh schema). Prints ONE JSON object on stdout; progress goes to stderr.

    .venv/bin/python bench/timers.py [--quick] [--database-url URL]
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import anyio
from _harness import fresh_home, load, until

from engine import latency_ms, say
from relay.bootstrap import Role, build_services, open_relay
from relay.config import Settings
from relay.engine.engine import Engine
from relay.model.run import Run
from relay.service.host import Host
from relay.service.services import Services

TIMER_SECONDS = 0.2
WARMUP_RUNS = 2  # per scenario, left out of the figures (imports, connections, caches)

SCENARIOS: dict[str, str] = {
    "delay": f"steps: [{{id: t, action: delay, params: {{seconds: {TIMER_SECONDS}}}}}]",
    "retry_backoff": (
        "steps: [{id: t, action: shell, params: {command: 'exit 1'}, retry: "
        f"{{max_attempts: 2, initial_interval_seconds: {TIMER_SECONDS}, jitter: 0}}}}]"
    ),
    "approval_timeout": (
        "steps: [{id: t, action: approval, params: "
        f"{{timeout_minutes: {TIMER_SECONDS / 60}, on_timeout: reject}}}}]"
    ),
    "wait_for_event_timeout": (
        "steps: [{id: t, action: wait_for_event, params: "
        f"{{type: never, timeout_seconds: {TIMER_SECONDS}}}}}]"
    ),
}


def _seconds(later: datetime | None, earlier: datetime | None) -> float:
    assert later is not None
    assert earlier is not None
    return (later - earlier) / timedelta(seconds=1)


async def lateness(relay: Services, scenario: str, run: Run) -> float:
    """Seconds between the timer's due time and the moment it ended or restarted the step."""
    step = run.step("t")
    if scenario == "retry_backoff":
        first, second = await relay.store.runs.attempts(run.id)
        return _seconds(second.started_at, first.finished_at) - TIMER_SECONDS
    if scenario == "approval_timeout":
        (approval,) = await relay.store.coordination.list_approvals(None, run.id)
        return _seconds(step.finished_at, approval.expires_at)
    return _seconds(step.finished_at, step.started_at) - TIMER_SECONDS


async def sample(relay: Services, scenario: str, count: int) -> dict[str, Any]:
    workflow = load(relay, f"id: {scenario}\n{SCENARIOS[scenario]}")
    late = []
    for _ in range(WARMUP_RUNS + count):
        run, _ = await relay.runs.start_run(workflow)
        done = await until(relay, run.id, lambda r: r.status.is_final)
        late.append(await lateness(relay, scenario, done))
    return latency_ms(late[WARMUP_RUNS:])


@asynccontextmanager
async def parker(settings: Settings) -> AsyncIterator[Services]:
    """A Services whose engine drives the runs it starts until they park, and never claims."""
    async with (
        open_relay(settings, Role.CLIENT, participant="parker") as client,
        Engine(client.runtime, claim=False) as engine,
    ):
        host = Host(client.runtime, engine)
        yield build_services(settings, host, client.workflows.catalog)


@asynccontextmanager
async def other_worker(settings: Settings, relay: Services) -> AsyncIterator[None]:
    """A `relay worker` process on the same store, once its heartbeat is recorded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(RELAY_HOME=str(settings.home), RELAY_PARTICIPANT="other")
    if settings.database_url:
        env["RELAY_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "relay", "worker"]
    async with await anyio.open_process(command, env=env, stderr=subprocess.DEVNULL) as proc:
        try:
            with anyio.fail_after(30):
                while True:
                    generation = relay.store.feed.generation()
                    if await relay.presence.live_workers():
                        break
                    await relay.store.feed.wait_changed(generation, 1.0)
            yield
        finally:
            proc.terminate()
            with anyio.fail_after(10):
                await proc.wait()


async def measure(settings_for: Callable[[], Any], count: int) -> dict[str, Any]:
    report: dict[str, Any] = {"in_process": {}, "across_processes": {}}
    with settings_for() as settings:
        async with open_relay(settings, Role.SERVER, participant="bench") as relay:
            for scenario in SCENARIOS:
                say(f"in process: {scenario}")
                report["in_process"][scenario] = await sample(relay, scenario, count)
    with settings_for() as settings:
        async with parker(settings) as relay, other_worker(settings, relay):
            for scenario in SCENARIOS:
                say(f"across processes: {scenario}")
                report["across_processes"][scenario] = await sample(relay, scenario, count)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="relay timer lateness (JSON on stdout)")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="5 timers per scenario, not 20")
    args = parser.parse_args()
    count = 5 if args.quick else 20
    report = anyio.run(measure, lambda: fresh_home(args.database_url, "FULL"), count)
    print(
        json.dumps(
            {
                "backend": "postgresql" if args.database_url else "sqlite (synchronous=FULL)",
                "timer_seconds": TIMER_SECONDS,
                "definition": "lateness: the step's end (or the retry's start) minus the "
                "timer's due time; one run at a time",
                "target_ms": 20,
                **report,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
