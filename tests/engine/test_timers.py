"""Timers are on time: a `delay`, a retry's backoff and an approval's or a wait's timeout
fire at their due time, in the process that parked the run and in another live process,
on both backends.

The target is 20 ms late at most; `bench/timers.py` measures it. The assertions allow
LATE_SECONDS, loose enough for a loaded 2-core machine (a PostgreSQL commit there can
wait over half a second for the WAL to be flushed while other tests create schemas), yet
below the 0.6 s or more by which a short timer was late when it waited for the engine's
one-second idle poll.
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from engine_harness import eventually, finished, start
from fixture_types import StartWorker

from relay.bootstrap import Role, build_services, open_relay
from relay.config import Settings
from relay.engine.engine import Engine
from relay.model.run import Run, RunStatus, StepRun
from relay.service.host import Host
from relay.service.services import Services

LATE_SECONDS = 0.4  # the target is 0.02 s
TIMER_SECONDS = 0.15  # short: a timer that waited for the idle poll was ~0.85 s late

THREE_DELAYS = """
id: three_delays
steps:
  - {id: a, action: delay, params: {seconds: 0.3}}
  - {id: b, action: delay, params: {seconds: 0.3}}
  - {id: c, action: delay, params: {seconds: 0.3}}
"""


def _seconds(delta: timedelta) -> float:
    return delta / timedelta(seconds=1)


def _late(step: StepRun, due_after_seconds: float) -> float:
    """How long after its due time the step's timer ended it."""
    assert step.started_at is not None
    assert step.finished_at is not None
    return _seconds(step.finished_at - step.started_at) - due_after_seconds


async def test_three_delays_of_0_3_s_take_under_1_1_s(relay: Services) -> None:
    began = time.monotonic()
    run = await start(relay, THREE_DELAYS)
    done = await finished(relay, run.id)
    took = time.monotonic() - began
    assert done.status is RunStatus.COMPLETED
    assert took < 1.1, f"three 0.3 s delays took {took:.2f} s (the target: under 1.1 s)"
    for step in done.steps:
        assert _late(step, 0.3) < LATE_SECONDS, step


async def _finished(relay: Services, *steps: str) -> Run:
    """A run of these steps (YAML flow mappings), once it has ended."""
    run = await start(relay, "id: timed\nsteps:\n" + "".join(f"  - {s}\n" for s in steps))
    return await finished(relay, run.id)


async def test_a_retry_starts_when_its_backoff_ends(relay: Services) -> None:
    retry = f"{{max_attempts: 2, initial_interval_seconds: {TIMER_SECONDS}, jitter: 0}}"
    done = await _finished(
        relay, f"{{id: twice, action: shell, retry: {retry}, params: {{command: 'exit 1'}}}}"
    )
    first, second = await relay.store.runs.attempts(done.id)
    assert done.status is RunStatus.FAILED
    assert first.finished_at is not None
    late = _seconds(second.started_at - first.finished_at) - TIMER_SECONDS
    assert -0.01 < late < LATE_SECONDS


async def test_an_approval_times_out_on_time(relay: Services) -> None:
    params = f"{{timeout_minutes: {TIMER_SECONDS / 60}, on_timeout: reject}}"
    done = await _finished(relay, f"{{id: gate, action: approval, params: {params}}}")
    (approval,) = await relay.store.coordination.list_approvals(None, done.id)
    gate = done.step("gate")
    assert approval.status.value == "expired"
    assert approval.expires_at is not None
    assert gate.finished_at is not None
    assert 0 <= _seconds(gate.finished_at - approval.expires_at) < LATE_SECONDS


async def test_a_wait_for_an_event_times_out_on_time(relay: Services) -> None:
    params = f"{{type: never_comes, timeout_seconds: {TIMER_SECONDS}}}"
    done = await _finished(relay, f"{{id: wait, action: wait_for_event, params: {params}}}")
    assert done.step("wait").status.value == "failed"
    assert 0 <= _late(done.step("wait"), TIMER_SECONDS) < LATE_SECONDS


async def test_a_delay_beside_a_running_step_ends_on_time(relay: Services) -> None:
    """The run is not parked while a step runs: the driver's own timer ends the delay."""
    done = await _finished(
        relay,
        f"{{id: pause, action: delay, params: {{seconds: {TIMER_SECONDS}}}}}",
        "{id: busy, action: shell, needs: [], params: {command: 'sleep 1'}}",
    )
    assert 0 <= _late(done.step("pause"), TIMER_SECONDS) < LATE_SECONDS


# across processes -----------------------------------------------------------------------

# Due times half a second apart: a process that looked for due runs once a second could
# fire at most two of the three within LATE_SECONDS.
SPREAD_DELAYS = (0.4, 0.9, 1.4)


def _one_delay(seconds: float) -> str:
    """A delay, then a step whose attempt records the worker that carried the run on."""
    return f"""
id: pause_{int(seconds * 100)}
steps:
  - {{id: pause, action: delay, params: {{seconds: {seconds}}}}}
  - {{id: after, action: log, params: {{message: woken}}}}
"""


@asynccontextmanager
async def _parker(settings: Settings) -> AsyncIterator[Services]:
    """Services whose engine drives the runs it starts until they park, and never claims."""
    async with (
        open_relay(settings, Role.CLIENT, participant="parker") as client,
        Engine(client.runtime, claim=False) as engine,
    ):
        host = Host(client.runtime, engine)
        yield build_services(settings, host, client.workflows.catalog)


async def _parked(relay: Services, run_id: str) -> Run | None:
    run = await relay.store.runs.get_run(run_id)
    return run if run.status is RunStatus.WAITING and run.lease_owner is None else None


async def test_timers_of_runs_parked_by_one_process_fire_on_time_in_another(
    settings: Settings, start_worker: StartWorker
) -> None:
    """This process drives the runs until they park and never claims one again; the
    other process (already asleep on the store before the runs exist) fires them."""
    start_worker("other")
    async with _parker(settings) as parker:
        runs = [await start(parker, _one_delay(s)) for s in SPREAD_DELAYS]
        for run in runs:
            await eventually(lambda run=run: _parked(parker, run.id))
        done = [await finished(parker, run.id) for run in runs]
        for run, seconds in zip(done, SPREAD_DELAYS, strict=True):
            assert run.status is RunStatus.COMPLETED
            (after,) = await parker.store.runs.attempts(run.id)
            assert after.worker.startswith("other-")
            assert 0 <= _late(run.step("pause"), seconds) < LATE_SECONDS, run.step("pause")
