"""A run's life: inputs, outputs, lifecycle events, cancel and resume."""

import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from engine_harness import eventually, finished, start, step_statuses, waiting_step

from relay.errors import InvalidTransition, UsageError
from relay.service.services import Services


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_outputs_are_rendered_from_expressions(relay: Services) -> None:
    run = await start(
        relay,
        """
id: outs
inputs: {name: {type: string, default: world}}
steps:
  - {id: greet, action: log, params: {message: "hello ${{ inputs.name }}"}}
  - {id: count, action: shell, params: {command: "echo 3"}}
outputs:
  greeting: "${{ steps.greet.output.message }}"
  ok: "${{ steps.count.output.exit_code == 0 }}"
  run: "${{ run.workflow }}"
""",
        {"name": "relay"},
    )
    done = await finished(relay, run.id)
    assert done.outputs == {"greeting": "hello relay", "ok": True, "run": "outs"}


TYPED = """
id: typed
inputs:
  count: {type: integer}
  label: {type: string, default: x}
steps:
  - {id: one, action: log, params: {message: "${{ inputs.label }}"}}
"""


async def test_inputs_are_validated_and_defaults_filled(relay: Services) -> None:
    run = await start(relay, TYPED, {"count": 2})
    assert run.inputs == {"count": 2, "label": "x"}


async def test_an_unknown_input_is_rejected(relay: Services) -> None:
    with pytest.raises(UsageError, match="unknown input 'colour'"):
        await start(relay, TYPED, {"count": 1, "colour": "red"})


async def test_an_input_of_the_wrong_type_is_rejected(relay: Services) -> None:
    with pytest.raises(UsageError, match="count"):
        await start(relay, TYPED, {"count": "many"})
    assert await relay.runs.list_runs() == []


async def test_lifecycle_events_are_appended_to_the_log(relay: Services) -> None:
    run = await start(
        relay,
        """
id: lifecycle
steps:
  - {id: a, action: log, params: {message: a}}
  - {id: b, action: log, params: {message: b}}
""",
    )
    await finished(relay, run.id)
    events = await relay.events.list_events(correlation_id=run.id, limit=100)
    types = [e.type for e in events]
    assert types == ["workflow.started", "step.completed", "step.completed", "workflow.completed"]
    assert [e.data.get("step") for e in events if e.type == "step.completed"] == ["a", "b"]
    assert all(e.source == "workflow_engine" and e.data["run_id"] == run.id for e in events)


async def test_a_failed_run_appends_step_failed_and_workflow_failed(relay: Services) -> None:
    run = await start(
        relay, "id: f\nsteps:\n  - {id: boom, action: shell, params: {command: 'exit 1'}}"
    )
    await finished(relay, run.id)
    types = [e.type for e in await relay.events.list_events(correlation_id=run.id)]
    assert types == ["workflow.started", "step.failed", "workflow.failed"]


async def test_cancel_kills_a_running_shell_step_and_leaves_the_run_cancelled(
    relay: Services, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    run = await start(
        relay,
        f"""
id: long
steps:
  - {{id: sleepy, action: shell, params: {{command: "echo $$ > {pid_file}; exec sleep 30"}}}}
  - {{id: after, action: log, params: {{message: never}}}}
""",
    )
    await eventually(
        lambda: anyio.to_thread.run_sync(lambda: pid_file.exists() and pid_file.read_text().strip())
    )
    pid = int(pid_file.read_text())
    started = time.monotonic()
    cancelled = await relay.runs.cancel(run.id, "enough")
    await eventually(lambda: anyio.to_thread.run_sync(lambda: not _alive(pid)), within_seconds=1.0)
    assert time.monotonic() - started < 1.0
    done = await finished(relay, cancelled.id, within_seconds=2)
    assert done.status.value == "cancelled"
    assert "enough" in (done.error or "")
    assert step_statuses(done) == {"sleepy": "cancelled", "after": "cancelled"}


async def test_cancelling_a_parked_run_cancels_it_and_its_pending_approval(relay: Services) -> None:
    run = await start(relay, "id: c\nsteps:\n  - {id: gate, action: approval}")
    await waiting_step(relay, run.id, "gate")
    await relay.runs.cancel(run.id, "changed my mind")
    done = await finished(relay, run.id)
    (approval,) = await relay.store.coordination.list_approvals(None, run.id)
    assert done.status.value == "cancelled"
    assert approval.status.value == "cancelled"


async def test_a_run_cancelled_before_any_worker_took_it_never_started(
    open_other: Any,
) -> None:
    async with open_other(participant="cli") as lone:  # no engine: the run stays pending
        run = await start(lone, "id: idle\nsteps:\n  - {id: a, action: log, params: {message: a}}")
        cancelled = await lone.runs.cancel(run.id, "changed my mind")
        kinds = [h.kind for h in await lone.runs.history(run.id)]

    assert cancelled.status.value == "cancelled"
    assert kinds == ["run.created", "step.cancelled", "run.cancelled"]


async def test_a_finished_run_cannot_be_cancelled(relay: Services) -> None:
    run = await start(relay, "id: quick\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    await finished(relay, run.id)
    with pytest.raises(InvalidTransition, match="completed"):
        await relay.runs.cancel(run.id)


async def test_resume_reruns_only_the_failed_steps(relay: Services, tmp_path: Path) -> None:
    effects, fixed = tmp_path / "effects", tmp_path / "fixed"
    run = await start(
        relay,
        f"""
id: resumable
steps:
  - {{id: first, action: shell, params: {{command: "echo first >> {effects}; echo out1"}}}}
  - {{id: second, action: shell, params: {{command: "echo second >> {effects}; [ -e {fixed} ]"}}}}
  - {{id: third, action: shell, params: {{command: "echo third >> {effects}"}}}}
""",
    )
    failed = await finished(relay, run.id)
    assert step_statuses(failed) == {"first": "completed", "second": "failed", "third": "skipped"}
    fixed.touch()
    await relay.runs.resume(run.id)
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert effects.read_text().split() == ["first", "second", "second", "third"]
    assert done.step("first").output == failed.step("first").output
    assert done.step("first").output["stdout"] == "out1\n"
    assert done.step("first").attempts == 1


async def test_a_resumed_step_gets_a_fresh_retry_budget(relay: Services, tmp_path: Path) -> None:
    tries = tmp_path / "tries"
    retry = "retry: {max_attempts: 2, initial_interval_seconds: 0.01}"
    run = await start(
        relay,
        f"""
id: flaky
steps:
  - {{id: call, action: shell, {retry}, params: {{command: "echo x >> {tries}; exit 1"}}}}
""",
    )
    failed = await finished(relay, run.id)
    await relay.runs.resume(run.id)
    again = await finished(relay, run.id)

    assert failed.step("call").attempts == 2
    assert again.status.value == "failed"
    assert again.step("call").attempts == 4  # two more: the budget starts afresh
    assert tries.read_text().split() == ["x"] * 4
    assert [a.attempt for a in await relay.store.runs.attempts(run.id)] == [1, 2, 3, 4]


async def test_a_completed_run_cannot_be_resumed(relay: Services) -> None:
    run = await start(relay, "id: done\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    await finished(relay, run.id)
    with pytest.raises(InvalidTransition, match="only a failed or cancelled run"):
        await relay.runs.resume(run.id)


async def test_a_run_resumed_after_its_deadline_gets_a_new_deadline(
    relay: Services, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts"
    run = await start(
        relay,
        f"""
id: late_then_quick
deadline_seconds: 0.5
steps:
  - id: work
    action: shell
    params: {{command: "echo x >> {attempts}; [ $(wc -l < {attempts}) -ge 2 ] || sleep 10"}}
""",
    )
    late = await finished(relay, run.id, within_seconds=5)
    await relay.runs.resume(run.id)
    done = await finished(relay, run.id, within_seconds=5)
    assert "deadline" in (late.error or "")
    assert done.status.value == "completed", done.error
