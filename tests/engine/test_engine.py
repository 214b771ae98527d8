"""The engine's own duties: claiming, parking, handing leases back, heartbeats."""

from pathlib import Path

import anyio
import pytest
from engine_harness import eventually, finished, start, step_statuses, waiting_step
from fixture_types import OpenRelay

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services


async def test_a_run_started_without_an_engine_is_claimed_by_a_worker(
    settings: Settings, open_other: OpenRelay
) -> None:
    async with open_other(participant="cli") as cli:
        run = await start(cli, "id: r\nsteps:\n  - {id: a, action: log, params: {message: a}}")
        assert run.lease_owner is None
        async with open_relay(settings, Role.SERVER, participant="worker") as worker:
            done = await finished(worker, run.id)
    assert done.status.value == "completed"


async def test_an_engine_hands_its_leases_back_when_it_stops(
    settings: Settings, tmp_path: Path
) -> None:
    started, effects = tmp_path / "started", tmp_path / "effects"
    script = f"echo run >> {effects}; touch {started}; [ $(wc -l < {effects}) -ge 2 ] || sleep 30"
    async with open_relay(settings, Role.SERVER, participant="first") as first:
        run = await start(
            first, f"id: r\nsteps:\n  - {{id: a, action: shell, params: {{command: '{script}'}}}}"
        )
        await eventually(lambda: anyio.to_thread.run_sync(started.exists))
    held = await _lease_owner(settings, run.id)
    async with open_relay(settings, Role.SERVER, participant="second") as second:
        done = await finished(second, run.id)
        attempts = [(a.attempt, a.status.value) for a in await second.store.runs.attempts(run.id)]
    assert held is None
    assert done.status.value == "completed"
    assert attempts == [(1, "failed"), (2, "completed")]


async def _lease_owner(settings: Settings, run_id: str) -> str | None:
    async with open_relay(settings, Role.CLIENT, participant="look") as look:
        return (await look.store.runs.get_run(run_id)).lease_owner


async def test_an_engine_does_not_spin_while_a_woken_run_is_held(
    relay: Services, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    # After the delay the run is woken (its wake_at is in the past) and held while its
    # shell step runs: nothing is claimable, so the claim loop should sleep meanwhile.
    run = await start(
        relay,
        f"""
id: woken
steps:
  - {{id: nap, action: delay, params: {{seconds: 0.05}}}}
  - {{id: work, action: shell, params: {{command: "touch {started}; sleep 1"}}}}
""",
    )
    await eventually(lambda: anyio.to_thread.run_sync(started.exists))
    looks = 0
    has_claimable = relay.runtime.store.runs.has_claimable

    async def counting(root: str | None = None) -> bool:
        nonlocal looks
        looks += 1
        return await has_claimable(root)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(relay.runtime.store.runs, "has_claimable", counting)
        await anyio.sleep(0.5)
    assert looks < 20, f"the claim loop looked {looks} times in 0.5 s"
    assert (await finished(relay, run.id)).status.value == "completed"


async def test_a_serving_worker_is_listed_as_live(relay: Services) -> None:
    assert relay.runtime.worker_id in await eventually(relay.presence.live_workers)


async def test_a_stopped_worker_is_no_longer_listed(settings: Settings, relay: Services) -> None:
    async with open_relay(settings, Role.SERVER, participant="brief") as brief:
        worker_id = brief.runtime.worker_id
        await eventually(lambda: _listed(relay, worker_id))
    assert worker_id not in await relay.presence.live_workers()


async def _listed(relay: Services, worker_id: str) -> bool:
    return worker_id in await relay.presence.live_workers()


async def test_a_parked_run_is_woken_by_an_event_from_a_relay_without_an_engine(
    relay: Services, open_other: OpenRelay
) -> None:
    run = await start(
        relay, "id: w\nsteps:\n  - {id: w, action: wait_for_event, params: {type: go}}"
    )
    await waiting_step(relay, run.id, "w")
    async with open_other(participant="hook") as hook:
        result = await hook.events.emit("go")
    assert result.resumed_runs == [run.id]
    assert step_statuses(await finished(relay, run.id)) == {"w": "completed"}
