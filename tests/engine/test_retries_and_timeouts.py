"""Retries with exponential backoff, per-attempt timeouts and the workflow deadline."""

from pathlib import Path

from engine_harness import finished, start, step_statuses

from relay.service.services import Services


async def test_a_step_that_fails_twice_then_succeeds_completes_on_its_third_attempt(
    relay: Services, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    run = await start(
        relay,
        f"""
id: flaky
steps:
  - id: flaky
    action: shell
    retry: {{max_attempts: 5, initial_interval_seconds: 0.01, jitter: 0}}
    params: {{command: "echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]"}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("flaky").attempts == 3
    assert counter.read_text().count("x") == 3
    attempts = await relay.store.runs.attempts(run.id)
    assert [a.status.value for a in attempts] == ["failed", "failed", "completed"]


async def test_a_step_that_keeps_failing_fails_after_max_attempts(relay: Services) -> None:
    run = await start(
        relay,
        """
id: hopeless
steps:
  - id: hopeless
    action: shell
    retry: {max_attempts: 2, initial_interval_seconds: 0.01, jitter: 0}
    params: {command: "exit 7"}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "failed"
    assert done.step("hopeless").attempts == 2


async def test_retry_delays_grow_exponentially_up_to_the_cap(relay: Services) -> None:
    run = await start(
        relay,
        """
id: backoff
steps:
  - id: always
    action: shell
    retry:
      max_attempts: 5
      initial_interval_seconds: 0.05
      backoff_coefficient: 2
      max_interval_seconds: 0.2
      jitter: 0
    params: {command: "exit 1"}
""",
    )
    done = await finished(relay, run.id)
    history = await relay.store.runs.history(run.id)
    delays = [h.data["delay_seconds"] for h in history if h.kind == "step.retrying"]
    assert done.status.value == "failed"
    assert delays == [0.05, 0.1, 0.2, 0.2]


async def test_a_retry_waits_its_delay_before_the_next_attempt(relay: Services) -> None:
    run = await start(
        relay,
        """
id: paced
steps:
  - id: always
    action: shell
    retry: {max_attempts: 2, initial_interval_seconds: 0.3, jitter: 0}
    params: {command: "exit 1"}
""",
    )
    await finished(relay, run.id)
    first, second = await relay.store.runs.attempts(run.id)
    assert first.finished_at is not None
    assert (second.started_at - first.finished_at).total_seconds() >= 0.29


async def test_timeout_seconds_fails_an_attempt_that_runs_too_long(relay: Services) -> None:
    run = await start(
        relay,
        """
id: slow
steps:
  - {id: slow, action: shell, timeout_seconds: 0.3, params: {command: "sleep 10"}}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "failed"
    assert "timed out" in (done.step("slow").error or "")


async def test_the_workflow_deadline_fails_the_run(relay: Services) -> None:
    run = await start(
        relay,
        """
id: late
deadline_seconds: 0.3
steps:
  - {id: slow, action: shell, params: {command: "sleep 10"}}
  - {id: after, action: log, params: {message: never}}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "failed"
    assert "deadline" in (done.error or "")
    assert step_statuses(done) == {"slow": "cancelled", "after": "cancelled"}


async def test_the_workflow_deadline_fails_a_parked_run(relay: Services) -> None:
    run = await start(
        relay,
        """
id: late_wait
deadline_seconds: 0.3
steps:
  - {id: wait, action: wait_for_event, params: {type: never_comes}}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    assert done.status.value == "failed"
    assert "deadline" in (done.error or "")
