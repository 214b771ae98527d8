"""Step order: implicit sequence, `needs`, concurrency, `if:`, failure and tolerated failure."""

from pathlib import Path

from engine_harness import finished, start, step_statuses

from relay.service.services import Services


async def test_steps_without_needs_run_one_after_another_in_file_order(relay: Services) -> None:
    run = await start(
        relay,
        """
id: seq
steps:
  - {id: c, action: log, params: {message: c}}
  - {id: a, action: log, params: {message: a}}
  - {id: b, action: log, params: {message: b}}
""",
    )
    done = await finished(relay, run.id)
    history = await relay.store.runs.history(run.id)
    kinds = [(h.step_id, h.kind) for h in history if h.kind in ("step.started", "step.completed")]
    assert done.status.value == "completed"
    assert kinds == [
        ("c", "step.started"),
        ("c", "step.completed"),
        ("a", "step.started"),
        ("a", "step.completed"),
        ("b", "step.started"),
        ("b", "step.completed"),
    ]


async def test_a_step_with_needs_waits_for_every_step_it_names(
    relay: Services, tmp_path: Path
) -> None:
    log = tmp_path / "order.txt"
    run = await start(
        relay,
        f"""
id: needs
steps:
  - {{id: slow, action: shell, needs: [], params: {{command: "sleep 0.3; echo slow >> {log}"}}}}
  - {{id: fast, action: shell, needs: [], params: {{command: "echo fast >> {log}"}}}}
  - {{id: last, action: shell, needs: [slow, fast], params: {{command: "echo last >> {log}"}}}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert log.read_text().split() == ["fast", "slow", "last"]


async def test_independent_steps_run_concurrently(relay: Services, tmp_path: Path) -> None:
    # Each step waits (up to 5 s) for the marker file the other one writes: only steps
    # that run at the same time can both finish.
    a, b = tmp_path / "a.marker", tmp_path / "b.marker"
    wait_for = "for i in $(seq 100); do [ -e {0} ] && exit 0; sleep 0.05; done; exit 1"
    run = await start(
        relay,
        f"""
id: concurrent
steps:
  - id: left
    needs: []
    action: shell
    params: {{command: "touch {a}; {wait_for.format(b)}"}}
  - id: right
    needs: []
    action: shell
    params: {{command: "touch {b}; {wait_for.format(a)}"}}
""",
    )
    done = await finished(relay, run.id)
    assert step_statuses(done) == {"left": "completed", "right": "completed"}


async def test_a_step_whose_condition_is_false_is_skipped(relay: Services) -> None:
    run = await start(
        relay,
        """
id: cond
inputs: {deploy: {type: boolean, default: false}}
steps:
  - {id: maybe, action: log, if: "${{ inputs.deploy }}", params: {message: deploying}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert step_statuses(done) == {"maybe": "skipped"}


async def test_a_skipped_step_counts_as_done_for_its_dependants(relay: Services) -> None:
    run = await start(
        relay,
        """
id: cond2
steps:
  - {id: maybe, action: log, if: "${{ false }}", params: {message: never}}
  - {id: after, action: log, params: {message: "after ${{ steps.maybe.status }}"}}
""",
    )
    done = await finished(relay, run.id)
    assert step_statuses(done) == {"maybe": "skipped", "after": "completed"}
    assert done.step("after").output == {"message": "after skipped"}


async def test_a_failed_step_fails_the_run_and_skips_its_dependants(relay: Services) -> None:
    run = await start(
        relay,
        """
id: fails
steps:
  - {id: boom, action: shell, params: {command: "exit 3"}}
  - {id: after, action: log, params: {message: never}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "failed"
    assert step_statuses(done) == {"boom": "failed", "after": "skipped"}
    assert done.error is not None
    assert "boom" in done.error


async def test_a_sibling_already_running_finishes_before_the_run_fails(
    relay: Services, tmp_path: Path
) -> None:
    marker = tmp_path / "sibling.done"
    run = await start(
        relay,
        f"""
id: sibling
steps:
  - {{id: slow, needs: [], action: shell, params: {{command: "sleep 0.5; touch {marker}"}}}}
  - {{id: boom, needs: [], action: shell, params: {{command: "exit 1"}}}}
  - {{id: after, needs: [boom], action: log, params: {{message: never}}}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "failed"
    assert step_statuses(done) == {"slow": "completed", "boom": "failed", "after": "skipped"}
    assert marker.exists()


async def test_continue_on_failure_leaves_the_run_completed_with_the_step_failed(
    relay: Services,
) -> None:
    run = await start(
        relay,
        """
id: tolerated
steps:
  - {id: flaky, action: shell, continue_on_failure: true, params: {command: "exit 2"}}
  - {id: after, action: log, params: {message: "went on"}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert step_statuses(done) == {"flaky": "failed", "after": "completed"}
    assert done.step("flaky").output["exit_code"] == 2
