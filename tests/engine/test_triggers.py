"""Event and schedule triggers start exactly one run per event or tick."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine_harness import finished, start

from relay.service.services import Services

ON_DEPLOY = """
id: on_deploy
on:
  - event: deploy_requested
    match: {data.env: prod}
    inputs: {version: "${{ event.data.version }}"}
inputs: {version: {type: string}}
steps:
  - {id: say, action: log, params: {message: "deploying ${{ inputs.version }}"}}
"""

EVERY_MINUTE = """
id: cron
on:
  - schedule: "* * * * *"
steps:
  - {id: tick, action: log, params: {message: tick}}
"""


async def test_an_event_trigger_starts_one_run_per_matching_event(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "on_deploy.yaml").write_text(ON_DEPLOY)
    staging = await relay.events.emit("deploy_requested", {"env": "staging", "version": "0"})
    prod = await relay.events.emit("deploy_requested", {"env": "prod", "version": "1.2"})
    assert staging.started_runs == []
    (run_id,) = prod.started_runs
    done = await finished(relay, run_id)
    assert done.inputs == {"version": "1.2"}
    assert done.trigger_event is not None
    assert done.trigger_event["seq"] == prod.event.seq
    assert done.step("say").output == {"message": "deploying 1.2"}


async def test_an_event_trigger_fires_once_even_when_the_log_is_matched_again(
    relay: Services, workflows_dir: Path, open_other
) -> None:
    (workflows_dir / "on_deploy.yaml").write_text(ON_DEPLOY)
    async with open_other(participant="no_engine") as other:
        await other.events.emit("deploy_requested", {"env": "prod", "version": "2"})
        # The worker's trigger loop and a second catch-up both see the event.
        await other.triggers.catch_up()
        await relay.triggers.catch_up()
    runs = await relay.runs.list_runs(workflow="on_deploy")
    assert len(runs) == 1


async def test_a_schedule_fires_once_per_tick_from_two_relays_on_one_file(
    relay: Services, workflows_dir: Path, open_other
) -> None:
    (workflows_dir / "cron.yaml").write_text(EVERY_MINUTE)
    since = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)
    until = since + timedelta(minutes=1)  # exactly one tick: 12:01:00
    async with open_other(participant="second") as second:
        first_started = await relay.triggers.fire_schedules(since, until)
        second_started = await second.triggers.fire_schedules(since, until)
        again = await second.triggers.fire_schedules(since, until)
    assert len(first_started) == 1
    assert second_started == []
    assert again == []
    runs = await relay.runs.list_runs(workflow="cron")
    assert [r.id for r in runs] == first_started


async def test_each_cron_tick_starts_its_own_run(relay: Services, workflows_dir: Path) -> None:
    (workflows_dir / "cron.yaml").write_text(EVERY_MINUTE)
    t0 = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)
    first = await relay.triggers.fire_schedules(t0, t0 + timedelta(minutes=1))
    second = await relay.triggers.fire_schedules(
        t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)
    )
    assert len(first) == 1
    assert len(second) == 1
    assert first != second


async def test_a_workflow_added_later_is_not_triggered_by_events_already_in_the_log(
    relay: Services, workflows_dir: Path
) -> None:
    await relay.events.emit("deploy_requested", {"env": "prod", "version": "old"})
    await relay.triggers.catch_up()  # nothing listens yet
    (workflows_dir / "on_deploy.yaml").write_text(ON_DEPLOY)
    await relay.triggers.catch_up()
    new = await relay.events.emit("deploy_requested", {"env": "prod", "version": "new"})
    await relay.triggers.catch_up()
    runs = await relay.runs.list_runs(workflow="on_deploy")
    assert [r.id for r in runs] == new.started_runs
    assert runs[0].inputs == {"version": "new"}


async def test_events_no_process_matched_are_caught_up_once(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "on_done.yaml").write_text(
        """
id: on_done
on:
  - event: workflow.completed
    match: {data.workflow: first}
steps:
  - {id: say, action: log, params: {message: after first}}
"""
    )
    await relay.triggers.catch_up()
    run = await start(relay, "id: first\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    await finished(relay, run.id)
    # workflow.completed is appended by the engine's own commit, not through emit():
    # the trigger loop's catch-up is what starts the triggered run.
    for _ in range(2):
        await relay.triggers.catch_up()
    (triggered,) = await relay.runs.list_runs(workflow="on_done")
    assert (await finished(relay, triggered.id)).status.value == "completed"


async def test_a_schedule_that_cannot_start_does_not_block_the_others(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "a_broken.yaml").write_text(
        """
id: a_broken
inputs: {n: {type: integer}}
on:
  - schedule: "* * * * *"
    inputs: {n: "${{ event.data.tick }}"}
steps:
  - {id: tick, action: log, params: {message: "${{ inputs.n }}"}}
"""
    )
    (workflows_dir / "cron.yaml").write_text(EVERY_MINUTE)
    since = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)
    started = await relay.triggers.fire_schedules(since, since + timedelta(minutes=1))
    assert [r.id for r in await relay.runs.list_runs(workflow="cron")] == started
    assert await relay.runs.list_runs(workflow="a_broken") == []
