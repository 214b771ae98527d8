"""The Store's timings for analytics, on both backends: the runs created since a time, in
creation order, each with its steps' times in the workflow's order."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from relay.model.run import Run, RunStatus, StepRun, StepStatus
from relay.store.base import NewRun, RunSave, RunTiming, StepTiming, Store

MakeRun = Callable[..., NewRun]
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def timing_of(run: Run) -> RunTiming:
    """What `run_timings` should say of a run, read from the run itself."""
    steps = tuple(StepTiming(s.id, s.status, s.started_at, s.finished_at) for s in run.steps)
    return RunTiming(run.id, run.workflow, run.status, run.created_at, run.updated_at, steps)


async def test_the_runs_created_since_a_time_with_their_steps_in_order(
    store: Store, make_run: MakeRun
) -> None:
    old = make_run(created_at=START - timedelta(hours=1), updated_at=START - timedelta(hours=1))
    first = make_run(steps=("build", "test", "ship"), created_at=START, updated_at=START)
    later = START + timedelta(minutes=5)
    second = make_run(steps=(), workflow="other", created_at=later, updated_at=later, owner="w1")
    for new in (second, old, first):  # created out of order: listed by creation time
        await store.runs.create_run(new)
    await store.runs.save(RunSave(second.run.id, "w1", None, run={"status": RunStatus.FAILED}))
    took = [
        StepRun(id="build", name="BUILD", status=StepStatus.COMPLETED,
                started_at=START + timedelta(seconds=1), finished_at=START + timedelta(seconds=4)),
        StepRun(id="test", name="TEST", status=StepStatus.RUNNING,
                started_at=START + timedelta(seconds=4)),
    ]  # fmt: skip
    await store.runs.claim_run(first.run.id, "w2", 30.0)
    await store.runs.save(RunSave(first.run.id, "w2", None, steps=took))

    timings = await store.runs.run_timings(START)

    runs = [await store.runs.get_run(new.run.id) for new in (first, second)]
    assert timings == [timing_of(run) for run in runs]
    assert [s.step_id for s in timings[0].steps] == ["build", "test", "ship"]
    assert timings[0].steps[0].finished_at == START + timedelta(seconds=4)
    assert (timings[1].status, timings[1].steps) == (RunStatus.FAILED, ())
    assert await store.runs.run_timings(later + timedelta(seconds=1)) == []
