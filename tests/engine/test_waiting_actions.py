"""Waiting actions: events (with look-back), durable delays, handoffs and child runs."""

from pathlib import Path

from engine_harness import eventually, finished, start, waiting_step

from relay.service.services import Services

WAIT_DEPLOY = """
id: waiter
steps:
  - id: wait
    action: wait_for_event
    params: {type: deployed, match: {data.env: prod}}
"""


async def test_wait_for_event_completes_with_the_matching_event(relay: Services) -> None:
    run = await start(relay, WAIT_DEPLOY)
    await waiting_step(relay, run.id, "wait")
    await relay.events.emit("deployed", {"env": "staging"})
    await relay.events.emit("other", {"env": "prod"})
    emitted = await relay.events.emit("deployed", {"env": "prod", "version": 7})
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("wait").output["seq"] == emitted.event.seq
    assert done.step("wait").output["data"] == {"env": "prod", "version": 7}


async def test_an_event_that_arrives_before_the_step_is_reached_still_counts(
    relay: Services, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    run = await start(
        relay,
        f"""
id: late_waiter
steps:
  - id: busy
    action: shell
    params: {{command: "for i in $(seq 200); do [ -e {go} ] && exit 0; sleep 0.02; done; exit 1"}}
  - id: wait
    action: wait_for_event
    params: {{type: deployed, match: {{data.env: prod}}}}
""",
    )
    emitted = await relay.events.emit("deployed", {"env": "prod"})
    go.touch()
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("wait").output["seq"] == emitted.event.seq


async def test_an_event_emitted_before_the_run_started_does_not_count(relay: Services) -> None:
    await relay.events.emit("deployed", {"env": "prod"})
    run = await start(
        relay,
        """
id: strict_waiter
steps:
  - id: wait
    action: wait_for_event
    params: {type: deployed, match: {data.env: prod}, timeout_seconds: 0.3}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "failed"
    assert done.step("wait").status.value == "failed"


async def test_wait_for_event_times_out_and_fails_the_step(relay: Services) -> None:
    run = await start(
        relay,
        """
id: impatient
steps:
  - id: wait
    action: wait_for_event
    params: {type: never_comes, timeout_seconds: 0.2}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "failed"
    assert "never_comes" in (done.step("wait").error or "")


async def test_wait_for_event_matches_on_the_source(relay: Services) -> None:
    run = await start(
        relay,
        """
id: from_ci
steps:
  - {id: wait, action: wait_for_event, params: {event_type: built, source: ci}}
""",
    )
    await waiting_step(relay, run.id, "wait")
    await relay.events.emit("built", source="laptop")
    emitted = await relay.events.emit("built", source="ci")
    done = await finished(relay, run.id)
    assert done.step("wait").output["seq"] == emitted.event.seq


async def test_a_delay_parks_the_run_and_resumes_it_when_due(relay: Services) -> None:
    run = await start(
        relay,
        """
id: nap
steps:
  - {id: nap, action: delay, params: {seconds: 0.3}}
  - {id: after, action: log, params: {message: awake}}
""",
    )
    parked = await waiting_step(relay, run.id, "nap")
    done = await finished(relay, run.id)
    slept = done.step("nap").finished_at - parked.step("nap").started_at  # type: ignore[operator]
    assert parked.step("nap").waiting.kind.value == "timer"  # type: ignore[union-attr]
    assert done.status.value == "completed"
    assert done.step("nap").output == {"slept_seconds": 0.3}
    assert slept.total_seconds() >= 0.29


async def test_a_waiting_run_is_parked_with_its_lease_released(relay: Services) -> None:
    run = await start(relay, WAIT_DEPLOY)
    await waiting_step(relay, run.id, "wait")

    async def parked() -> bool:
        current = await relay.store.runs.get_run(run.id)
        return current.status.value == "waiting" and current.lease_owner is None

    await eventually(parked)
    assert run.id not in relay.engine.drivers  # type: ignore[union-attr]


async def test_a_handoff_step_outputs_the_result_of_the_completed_task(
    relay: Services, open_other
) -> None:
    run = await start(
        relay,
        """
id: review
steps:
  - id: ask
    action: handoff
    params: {to: pycharm, task: "Review the diff", context: {pr: 12}}
  - {id: after, action: log, params: {message: "verdict ${{ steps.ask.output.verdict }}"}}
""",
    )
    await waiting_step(relay, run.id, "ask")
    async with open_other(participant="pycharm") as pycharm:
        (task,) = await pycharm.coordination.list_tasks()
        assert (task.to, task.task, task.context) == ("pycharm", "Review the diff", {"pr": 12})
        claimed = await pycharm.coordination.claim_task(task.id)
        assert claimed.claimed_by == "pycharm"
        await pycharm.coordination.complete_task(task.id, {"verdict": "ship"})
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("ask").output == {"verdict": "ship"}
    assert done.step("after").output == {"message": "verdict ship"}


async def test_a_failed_handoff_task_fails_the_step(relay: Services) -> None:
    run = await start(
        relay,
        """
id: review2
steps:
  - {id: ask, action: handoff, params: {to: pytest, task: "Try"}}
""",
    )
    await waiting_step(relay, run.id, "ask")
    (task,) = await relay.coordination.list_tasks()
    await relay.coordination.complete_task(task.id, failed=True, error="could not")
    done = await finished(relay, run.id)
    assert done.status.value == "failed"
    assert "could not" in (done.step("ask").error or "")


CHILD_OK = """
id: child
inputs: {n: {type: integer}}
steps:
  - {id: double, action: log, params: {message: "n*2=${{ inputs.n * 2 }}"}}
outputs: {doubled: "${{ steps.double.output.message }}"}
"""
CHILD_FAILS = """
id: bad_child
steps:
  - {id: boom, action: shell, params: {command: "exit 1"}}
"""


async def test_run_workflow_waits_for_the_child_and_outputs_its_result(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "child.yaml").write_text(CHILD_OK)
    run = await start(
        relay,
        """
id: parent
steps:
  - {id: sub, action: run_workflow, params: {workflow: child, inputs: {n: 21}}}
""",
    )
    done = await finished(relay, run.id)
    output = done.step("sub").output
    child = await relay.store.runs.get_run(output["run_id"])
    assert done.status.value == "completed"
    assert output == {"run_id": child.id, "status": "completed", "outputs": {"doubled": "n*2=42"}}
    assert child.parent_run_id == run.id


async def test_a_failing_child_run_fails_the_parent_step(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "bad_child.yaml").write_text(CHILD_FAILS)
    run = await start(
        relay,
        """
id: parent2
steps:
  - {id: sub, action: run_workflow, params: {workflow: bad_child}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "failed"
    assert done.step("sub").status.value == "failed"
    assert done.step("sub").output["status"] == "failed"


async def test_resuming_a_parent_whose_child_failed_starts_a_new_child(
    relay: Services, workflows_dir: Path, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    (workflows_dir / "flaky_child.yaml").write_text(
        "id: flaky_child\nsteps:\n"
        f"  - {{id: check, action: shell, params: {{command: 'test -e {fixed}'}}}}\n"
    )
    run = await start(
        relay,
        """
id: parent3
steps:
  - {id: sub, action: run_workflow, params: {workflow: flaky_child}}
""",
    )
    failed = await finished(relay, run.id)
    fixed.touch()
    await relay.runs.resume(run.id)
    done = await finished(relay, run.id)
    assert failed.step("sub").output["status"] == "failed"
    assert done.status.value == "completed"
    assert done.step("sub").output["run_id"] != failed.step("sub").output["run_id"]


async def test_cancelling_a_parent_cancels_the_child_it_waits_for(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "slow_child.yaml").write_text(
        "id: slow_child\nsteps:\n  - {id: gate, action: approval}\n"
    )
    run = await start(
        relay,
        """
id: parent4
steps:
  - {id: sub, action: run_workflow, params: {workflow: slow_child}}
""",
    )
    parked = await waiting_step(relay, run.id, "sub")
    child_id = parked.step("sub").state["child_run_id"]
    await waiting_step(relay, child_id, "gate")
    await relay.runs.cancel(run.id, "stop all", wait_seconds=0)
    child = await finished(relay, child_id)
    assert (await finished(relay, run.id)).status.value == "cancelled"
    assert child.status.value == "cancelled"
