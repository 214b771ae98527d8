"""What lands between a run holder's decision and its commit: outside decisions are
never lost, and a write that never happened is redone without harm.

An outside actor (an approver, a task's participant) writes its own row and rings the
run; the holder's next write is fenced. These tests make each interleaving deterministic
by wrapping the real store so that something happens just before the holder's save.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from engine_harness import eventually, finished, start, waiting_step

from relay.errors import StoreUnavailable
from relay.model.run import ApprovalStatus, TaskStatus
from relay.service.services import Services
from relay.store.base import RunSave, RunStore, SaveResult, Store


class RacingRuns:
    """The real store's runs, except that `race` runs once just before the first save it
    matches."""

    def __init__(self, inner: RunStore, matches: Callable[[RunSave], bool], race: Any) -> None:
        self._inner = inner
        self._matches = matches
        self._race = race
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def save(self, save: RunSave) -> SaveResult:
        if not self.raced and self._matches(save):
            self.raced = True
            await self._race()
        return await self._inner.save(save)


class RacingStore:
    """The real store, its runs racing."""

    def __init__(self, inner: Store, runs: RacingRuns) -> None:
        self._inner = inner
        self.runs = runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _writes_approval(status: ApprovalStatus) -> Callable[[RunSave], bool]:
    return lambda save: any(a.status is status for a in save.approvals)


def _writes_task(status: TaskStatus) -> Callable[[RunSave], bool]:
    return lambda save: any(t.status is status for t in save.tasks)


def _race_in(relay: Services, matches: Callable[[RunSave], bool], race: Any) -> RacingRuns:
    racing = RacingRuns(relay.runtime.store.runs, matches, race)
    relay.runtime.store = RacingStore(relay.runtime.store, racing)
    return racing


async def test_an_approval_granted_as_it_times_out_is_not_overwritten(relay: Services) -> None:
    run = await start(
        relay,
        """
id: photo_finish
steps:
  - {id: gate, action: approval, params: {timeout_minutes: 0.005}}
""",
    )
    await waiting_step(relay, run.id, "gate")
    (approval,) = await relay.store.coordination.list_approvals(ApprovalStatus.PENDING, run.id)

    async def approve() -> None:
        await relay.store.coordination.decide_approval(
            approval.id, ApprovalStatus.APPROVED, by="alice", channel="cli", comment="just in time"
        )

    racing = _race_in(relay, _writes_approval(ApprovalStatus.EXPIRED), approve)
    done = await finished(relay, run.id)
    stored = await relay.store.coordination.get_approval(approval.id)
    assert racing.raced
    assert (stored.status, stored.decided_by) == (ApprovalStatus.APPROVED, "alice")
    assert done.status.value == "completed"
    assert done.step("gate").output["approver"] == "alice"


async def test_a_task_completed_as_it_times_out_is_not_overwritten(relay: Services) -> None:
    run = await start(
        relay,
        """
id: late_task
steps:
  - {id: ask, action: handoff, params: {to: bob, task: answer, timeout_seconds: 0.3}}
""",
    )
    await waiting_step(relay, run.id, "ask")
    (task,) = await relay.store.coordination.list_tasks("bob", TaskStatus.OPEN)

    async def complete() -> None:
        await relay.store.coordination.update_task(
            task.id,
            expect=[TaskStatus.OPEN],
            status=TaskStatus.COMPLETED,
            by="bob",
            result={"answer": 42},
        )

    racing = _race_in(relay, _writes_task(TaskStatus.EXPIRED), complete)
    done = await finished(relay, run.id)
    assert racing.raced
    assert (await relay.store.coordination.get_task(task.id)).status is TaskStatus.COMPLETED
    assert done.status.value == "completed"
    assert done.step("ask").output == {"answer": 42}


async def test_an_approval_decided_as_its_run_is_cancelled_keeps_the_decision(
    relay: Services,
) -> None:
    run = await start(relay, "id: c\nsteps:\n  - {id: gate, action: approval}")
    await waiting_step(relay, run.id, "gate")
    (approval,) = await relay.store.coordination.list_approvals(ApprovalStatus.PENDING, run.id)

    async def approve() -> None:
        await relay.store.coordination.decide_approval(
            approval.id, ApprovalStatus.APPROVED, by="alice", channel="cli", comment=""
        )

    racing = _race_in(relay, _writes_approval(ApprovalStatus.CANCELLED), approve)
    await relay.runs.cancel(run.id, "stop", wait_seconds=0)
    done = await finished(relay, run.id)
    assert racing.raced
    assert done.status.value == "cancelled"
    assert (
        await relay.store.coordination.get_approval(approval.id)
    ).status is ApprovalStatus.APPROVED
    # The engine survived the race and still drives runs.
    after = await start(relay, "id: after\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    assert (await finished(relay, after.id)).status.value == "completed"


async def test_a_parent_that_lost_its_write_finds_its_finished_child_again(
    relay: Services, workflows_dir: Path
) -> None:
    (workflows_dir / "quick_child.yaml").write_text(
        "id: quick_child\nsteps:\n  - {id: a, action: log, params: {message: hi}}\n"
    )
    children: list[str] = []

    def records_the_child(save: RunSave) -> bool:
        waiting = [s for s in save.steps if s.waiting is not None]
        if waiting and waiting[0].waiting and waiting[0].waiting.kind.value == "run":
            children.append(waiting[0].state["child_run_id"])
            return True
        return False

    async def child_finishes_then_the_write_fails() -> None:
        # As if the parent's process died right after starting the child: the child
        # runs to its end, and the parent's record of it is never written.
        await finished(relay, children[0])
        raise StoreUnavailable("the disk went away")

    racing = _race_in(relay, records_the_child, child_finishes_then_the_write_fails)
    run = await start(
        relay,
        """
id: parent
steps:
  - {id: sub, action: run_workflow, params: {workflow: quick_child}}
""",
    )
    done = await finished(relay, run.id)
    assert racing.raced
    assert done.status.value == "completed"
    assert done.step("sub").output["run_id"] == children[0]


async def test_a_worker_that_lost_a_lease_stops_that_run_and_keeps_serving(
    relay: Services, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    run = await start(
        relay,
        f"""
id: stolen
steps:
  - {{id: work, action: shell, params: {{command: "touch {started}; sleep 0.3"}}}}
  - {{id: more, action: log, params: {{message: never here}}}}
""",
    )
    await eventually(lambda: anyio.to_thread.run_sync(started.exists))
    # Another process takes the run over (as if this one had stalled past its lease).
    await relay.store.runs.release_leases(relay.runtime.worker_id, [run.id])
    assert await relay.store.runs.claim_run(run.id, "thief", 60)
    await eventually(lambda: _not_driving(relay, run.id))
    stolen = await relay.store.runs.get_run(run.id)
    assert stolen.lease_owner == "thief"
    assert stolen.step("work").status.value == "running"  # this worker recorded nothing more
    after = await start(relay, "id: after\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    assert (await finished(relay, after.id)).status.value == "completed"


async def _not_driving(relay: Services, run_id: str) -> bool:
    return run_id not in relay.engine.drivers  # type: ignore[union-attr]


async def test_a_ring_while_a_stopped_driver_winds_down_its_attempts_is_ignored(
    relay: Services, tmp_path: Path
) -> None:
    quick_done, stubborn = tmp_path / "quick_done", tmp_path / "stubborn"
    run = await start(
        relay,
        f"""
id: winding_down
steps:
  - {{id: quick, needs: [], action: shell, params: {{command: "sleep 0.3; touch {quick_done}"}}}}
  - id: stubborn
    needs: []
    action: shell
    params: {{command: "trap 'sleep 1; exit 1' TERM; touch {stubborn}; sleep 10 & wait"}}
""",
    )
    await eventually(lambda: anyio.to_thread.run_sync(stubborn.exists))
    await relay.store.runs.release_leases(relay.runtime.worker_id, [run.id])
    assert await relay.store.runs.claim_run(run.id, "thief", 60)
    # `quick` ends, its commit finds the lease lost, and the driver stops while
    # `stubborn` takes a second to die: a ring now reaches a driver on its way out.
    await eventually(lambda: anyio.to_thread.run_sync(quick_done.exists))
    await anyio.sleep(0.1)
    await relay.store.coordination.request_cancel(run.id, "ring")
    await eventually(lambda: _not_driving(relay, run.id))
    after = await start(relay, "id: after\nsteps:\n  - {id: a, action: log, params: {message: a}}")
    assert (await finished(relay, after.id)).status.value == "completed"


async def test_a_step_starts_only_once_the_steps_it_needs_are_recorded_complete(
    relay: Services, tmp_path: Path
) -> None:
    marker = tmp_path / "second_ran"
    seen_during_commit: list[bool] = []

    def records_first_completed(save: RunSave) -> bool:
        return any(s.id == "first" and s.status.value == "completed" for s in save.steps)

    async def slow_disk() -> None:
        # A process killed during this commit must not leave `second`'s side effect
        # behind while `first` is not recorded as completed (it would run again).
        await anyio.sleep(0.5)
        seen_during_commit.append(marker.exists())

    racing = _race_in(relay, records_first_completed, slow_disk)
    run = await start(
        relay,
        f"""
id: ordered_commits
steps:
  - {{id: first, action: log, params: {{message: hi}}}}
  - {{id: second, action: shell, params: {{command: "touch {marker}"}}}}
""",
    )
    done = await finished(relay, run.id)
    assert racing.raced
    assert done.status.value == "completed"
    assert seen_during_commit == [False]
