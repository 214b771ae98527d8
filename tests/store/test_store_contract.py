"""The Store contract, on a real SQLite file and a real PostgreSQL schema: what every
backend must do."""

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from relay.bootstrap import prepare_home
from relay.config import Settings
from relay.errors import (
    ConflictError,
    InvalidTransition,
    LeaseLost,
    RunNotFound,
    StoreUnavailable,
    TaskNotFound,
)
from relay.model.events import NewEvent
from relay.model.run import (
    Approval,
    ApprovalStatus,
    Attempt,
    EventWait,
    HistoryEntry,
    Run,
    RunStatus,
    StepRun,
    StepStatus,
    Task,
    TaskStatus,
)
from relay.store import connect_store
from relay.store.base import EventQuery, NewRun, RunQuery, RunSave, Store
from relay.store.migrate import migrate, migration_scripts
from relay.store.sqlite import SQLITE, sqlite_path
from relay.store.sqlite_db import SqliteConnection, open_connection, run_to_end

MakeRun = Callable[..., NewRun]


async def _created(store: Store, make_run: MakeRun, **kw: object) -> Run:
    run, is_new = await store.runs.create_run(make_run(**kw))
    assert is_new
    return run


async def _leased(store: Store, make_run: MakeRun, owner: str = "w1", **kw: object) -> Run:
    return await _created(store, make_run, owner=owner, **kw)


def _now() -> datetime:
    return datetime.now(UTC)


def _approval(run: Run, step: str = "a", **kw: object) -> Approval:
    values: dict[str, object] = {
        "id": f"appr-{run.id}-{step}",
        "run_id": run.id,
        "workflow": run.workflow,
        "step_id": step,
        "message": "ok?",
        "requested_at": _now(),
    }
    return Approval(**{**values, **kw})


def _task(run: Run, step: str = "a", **kw: object) -> Task:
    values: dict[str, object] = {
        "id": f"task-{run.id}-{step}",
        "run_id": run.id,
        "workflow": run.workflow,
        "step_id": step,
        "to": "pycharm",
        "task": "review",
        "created_at": _now(),
        "updated_at": _now(),
    }
    return Task(**{**values, **kw})


# runs ------------------------------------------------------------------------------------


async def test_a_created_run_reads_back_with_its_steps(store: Store, make_run: MakeRun) -> None:
    new = make_run(inputs={"n": 1}, cwd="/somewhere", env={"A": "1"})
    created, is_new = await store.runs.create_run(new)
    read = await store.runs.get_run(new.run.id)
    assert is_new
    assert read == created
    assert (read.status, read.inputs, read.cwd, read.env) == (
        RunStatus.PENDING,
        {"n": 1},
        "/somewhere",
        {"A": "1"},
    )
    assert [(s.id, s.name, s.status) for s in read.steps] == [
        ("a", "A", StepStatus.PENDING),
        ("b", "B", StepStatus.PENDING),
    ]
    assert await store.runs.get_definition("hash-1") == {"id": "wf", "steps": []}


async def test_getting_an_unknown_run_raises_run_not_found(store: Store) -> None:
    with pytest.raises(RunNotFound, match="nope"):
        await store.runs.get_run("nope")


async def test_a_run_with_a_known_idempotency_key_is_found_not_created(
    store: Store, make_run: MakeRun
) -> None:
    first = await _created(store, make_run, idempotency_key="k1")
    again, is_new = await store.runs.create_run(make_run(idempotency_key="k1"))
    assert not is_new
    assert again.id == first.id


async def test_a_trigger_key_starts_at_most_one_run(store: Store, make_run: MakeRun) -> None:
    first = await _created(store, make_run, trigger_key="event:wf:0:7")
    again, is_new = await store.runs.create_run(make_run(trigger_key="event:wf:0:7"))
    assert (again.id, is_new) == (first.id, False)


async def test_a_run_records_the_last_event_seq_at_creation(
    store: Store, make_run: MakeRun
) -> None:
    for _ in range(3):
        await store.events.append_event(NewEvent(type="x", source="t"))
    run = await _created(store, make_run)
    assert run.start_seq == 3


async def test_runs_are_listed_newest_first_filtered_and_paged(
    store: Store, make_run: MakeRun
) -> None:
    t0 = _now()
    times = {"created_at": t0, "updated_at": t0}
    first = await _created(store, make_run, started_by="alice", **times)
    times = {"created_at": t0 + timedelta(seconds=1), "updated_at": t0 + timedelta(seconds=1)}
    second = await _created(store, make_run, workflow="other", started_by="bob", **times)
    times = {"created_at": t0 + timedelta(seconds=2), "updated_at": t0 + timedelta(seconds=2)}
    third = await _leased(store, make_run, started_by="bob", **times)
    await store.runs.save(RunSave(third.id, "w1", None, run={"status": RunStatus.FAILED}))

    async def listed(**query: Any) -> list[str]:
        return [r.id for r in await store.runs.list_runs(RunQuery(**query))]

    assert await listed() == [third.id, second.id, first.id]
    assert await listed(workflow="wf") == [third.id, first.id]
    assert await listed(started_by="bob") == [third.id, second.id]
    assert await listed(status=RunStatus.FAILED) == [third.id]
    assert await listed(limit=1, offset=1) == [second.id]
    assert all(r.steps == () for r in await store.runs.list_runs(RunQuery()))  # without steps


async def test_a_runs_attempts_are_listed_in_the_order_they_started_and_end_in_place(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run)
    t0 = _now()
    started = [
        Attempt(run_id=run.id, step_id="b", attempt=1, started_at=t0, worker="w1"),
        Attempt(run_id=run.id, step_id="a", attempt=1, started_at=t0 + timedelta(seconds=1)),
    ]
    await store.runs.save(RunSave(run.id, "w1", None, attempts=started))
    ended = started[0].model_copy(
        update={"finished_at": t0 + timedelta(seconds=2), "status": StepStatus.FAILED,
                "error": "boom", "worker": "w2"}
    )  # fmt: skip
    await store.runs.save(RunSave(run.id, "w1", None, attempts=[ended]))
    found = await store.runs.attempts(run.id)
    assert [(a.step_id, a.status, a.error) for a in found] == [
        ("b", StepStatus.FAILED, "boom"),
        ("a", StepStatus.RUNNING, None),
    ]
    assert found[0].worker == "w1"  # the end keeps the recorded start and worker
    assert found[0].finished_at == t0 + timedelta(seconds=2)


# leases ----------------------------------------------------------------------------------


async def test_two_owners_claiming_at_once_get_disjoint_runs(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    ids = {(await _created(store, make_run)).id for _ in range(20)}
    claimed: dict[str, list[str]] = {}

    async def claim(name: str, s: Store) -> None:
        claimed[name] = await s.runs.claim_runs(name, 30, limit=20)

    async with anyio.create_task_group() as tg:
        tg.start_soon(claim, "w1", store)
        tg.start_soon(claim, "w2", other_store)
    assert not set(claimed["w1"]) & set(claimed["w2"])
    assert set(claimed["w1"]) | set(claimed["w2"]) == ids


async def test_a_leased_run_cannot_be_claimed_by_another_owner(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    assert await other_store.runs.claim_runs("w2", 30, limit=10) == []
    assert not await other_store.runs.claim_run(run.id, "w2", 30)
    assert not await other_store.runs.has_claimable()


async def test_a_lapsed_lease_can_be_claimed_by_another_owner(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1", lease_seconds=0.05)
    await anyio.sleep(0.1)
    assert await other_store.runs.has_claimable()
    assert await other_store.runs.claim_runs("w2", 30, limit=10) == [run.id]
    assert (await store.runs.get_run(run.id)).lease_owner == "w2"


async def test_renewing_keeps_a_lease_and_reports_the_lost_ones(
    store: Store, make_run: MakeRun
) -> None:
    kept = await _leased(store, make_run, owner="w1", lease_seconds=0.2)
    lost = await _leased(store, make_run, owner="w1", lease_seconds=0.05)
    await anyio.sleep(0.1)
    assert await store.runs.claim_runs("w2", 30, limit=10) == [lost.id]
    assert await store.runs.renew_leases("w1", [kept.id, lost.id], 30) == {lost.id}
    renewed = await store.runs.get_run(kept.id)
    assert renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > _now() + timedelta(seconds=20)


async def test_releasing_frees_only_the_owners_own_leases(store: Store, make_run: MakeRun) -> None:
    mine = await _leased(store, make_run, owner="w1")
    theirs = await _leased(store, make_run, owner="w2")
    await store.runs.release_leases("w1", [mine.id, theirs.id])
    assert (await store.runs.get_run(mine.id)).lease_owner is None
    assert (await store.runs.get_run(theirs.id)).lease_owner == "w2"
    assert await store.runs.claim_runs("w3", 30, limit=10) == [mine.id]


async def test_a_parked_run_is_claimable_only_when_due(store: Store, make_run: MakeRun) -> None:
    run = await _leased(store, make_run, owner="w1")
    later = _now() + timedelta(seconds=0.2)
    save = RunSave(run.id, "w1", None, run={"status": RunStatus.WAITING, "wake_at": later})
    save.release = True
    await store.runs.save(save)
    assert not await store.runs.has_claimable()
    assert await store.runs.next_wake_at() == later
    await anyio.sleep(0.25)
    assert await store.runs.claim_runs("w2", 30, limit=10) == [run.id]


async def test_parking_a_run_with_a_wake_time_rings_every_processs_doorbell(
    store: Store, other_store: Store, make_run: MakeRun
) -> None:
    """Engines sleep until the store's next wake time as they last read it: a run parked
    with an earlier one must wake them to read it again, here and in other processes."""
    timed, untimed = await _leased(store, make_run), await _leased(store, make_run)
    here, there = store.feed.doorbell(), other_store.feed.doorbell()
    await store.runs.save(
        RunSave(untimed.id, "w1", None, run={"status": RunStatus.WAITING}, release=True)
    )
    assert store.feed.doorbell() == here  # waiting for a decision: nothing for an engine to do
    wake = {"status": RunStatus.WAITING, "wake_at": _now() + timedelta(seconds=30)}
    await store.runs.save(RunSave(timed.id, "w1", None, run=wake, release=True))
    assert store.feed.doorbell() > here
    assert await other_store.feed.wait_doorbell(there, 5.0) > there


async def test_the_next_wake_of_a_held_run_is_when_its_lease_lapses(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1", lease_seconds=30)
    await store.coordination.request_cancel(run.id, "ring it")  # sets wake_at to now
    held = await store.runs.get_run(run.id)
    assert held.wake_at is not None
    assert held.wake_at <= _now()
    assert await store.runs.next_wake_at() == held.lease_expires_at


# saving ----------------------------------------------------------------------------------


async def test_only_the_lease_holder_may_save(store: Store, make_run: MakeRun) -> None:
    run = await _leased(store, make_run, owner="w1")
    with pytest.raises(LeaseLost):
        await store.runs.save(RunSave(run.id, "w2", None, run={"status": RunStatus.RUNNING}))
    assert (await store.runs.get_run(run.id)).status is RunStatus.PENDING


async def test_a_save_expecting_a_stale_signal_is_refused_and_writes_nothing(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    await store.coordination.request_cancel(run.id, "rang")
    step = StepRun(id="a", name="A", status=StepStatus.COMPLETED)
    with pytest.raises(ConflictError):
        await store.runs.save(
            RunSave(run.id, "w1", run.signal_seq, run={"status": RunStatus.RUNNING}, steps=[step])
        )
    after = await store.runs.get_run(run.id)
    assert after.status is RunStatus.PENDING
    assert after.step("a").status is StepStatus.PENDING
    result = await store.runs.save(
        RunSave(run.id, "w1", after.signal_seq, run={"status": RunStatus.RUNNING}, steps=[step])
    )
    assert result.signal_seq == after.signal_seq


async def test_a_save_writes_steps_history_and_events_together(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    save = RunSave(run.id, "w1", None, run={"status": RunStatus.RUNNING})
    save.steps = [StepRun(id="a", name="A", status=StepStatus.COMPLETED, output={"x": 1})]
    save.history = [HistoryEntry(run_id=run.id, kind="step.completed", at=_now(), step_id="a")]
    save.events = [NewEvent(type="step.completed", source="workflow_engine", correlation_id=run.id)]
    await store.runs.save(save)
    after = await store.runs.get_run(run.id)
    assert (after.status, after.step("a").output) == (RunStatus.RUNNING, {"x": 1})
    assert [h.kind for h in await store.runs.history(run.id)] == ["step.completed"]
    assert [e.type for e in await store.events.list_events(EventQuery(correlation_id=run.id))] == [
        "step.completed"
    ]


async def test_finishing_a_child_rings_its_parent(store: Store, make_run: MakeRun) -> None:
    parent = await _created(store, make_run)
    child = await _leased(store, make_run, owner="w1")
    save = RunSave(child.id, "w1", None, run={"status": RunStatus.COMPLETED}, release=True)
    save.ring_runs = [parent.id]
    await store.runs.save(save)
    assert (await store.runs.get_run(parent.id)).signal_seq == parent.signal_seq + 1


# events and waits ------------------------------------------------------------------------


async def test_seq_is_strictly_increasing_across_connections(
    store: Store, other_store: Store
) -> None:
    seqs: list[int] = []

    async def emit(s: Store) -> None:
        for _ in range(25):
            seqs.append((await s.events.append_event(NewEvent(type="x", source="t"))).event.seq)

    async with anyio.create_task_group() as tg:
        tg.start_soon(emit, store)
        tg.start_soon(emit, other_store)
    assert sorted(seqs) == list(range(1, 51))
    assert await store.events.last_seq() == 50


async def test_an_idempotency_key_appends_once(store: Store) -> None:
    first = await store.events.append_event(NewEvent(type="x", source="t", idempotency_key="k"))
    again = await store.events.append_event(NewEvent(type="x", source="t", idempotency_key="k"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.event == first.event
    assert await store.events.last_seq() == 1


async def test_an_event_is_read_back_by_its_seq(store: Store) -> None:
    appended = await store.events.append_event(
        NewEvent(type="deploy", source="ci", data={"env": "prod"}, correlation_id="c1")
    )
    assert await store.events.get_event(appended.event.seq) == appended.event
    assert await store.events.get_event(appended.event.seq + 1) is None


async def _wait_on(store: Store, run: Run, owner: str, match: dict[str, object]) -> None:
    wait = EventWait(run_id=run.id, step_id="a", type="go", match=match, after_seq=run.start_seq)
    await store.runs.save(
        RunSave(run.id, owner, None, run={"status": RunStatus.WAITING}, waits=[wait], release=True)
    )


async def test_an_event_matching_a_wait_wakes_the_run(store: Store, make_run: MakeRun) -> None:
    run = await _leased(store, make_run, owner="w1")
    await _wait_on(store, run, "w1", {"data.env": "prod"})
    miss = await store.events.append_event(NewEvent(type="go", source="t", data={"env": "dev"}))
    hit = await store.events.append_event(NewEvent(type="go", source="t", data={"env": "prod"}))
    wait = await store.events.get_wait(run.id, "a")
    assert (miss.woken, hit.woken) == ((), (run.id,))
    assert wait is not None
    assert wait.matched_seq == hit.event.seq
    assert (await store.runs.get_run(run.id)).signal_seq == run.signal_seq + 1


async def test_an_event_that_wakes_a_free_run_leases_it_to_the_claim_owner(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    await _wait_on(store, run, "w1", {})
    result = await store.events.append_event(
        NewEvent(type="go", source="t"), claim_owner="w9", lease_seconds=30
    )
    assert result.claimed == (run.id,)
    assert (await store.runs.get_run(run.id)).lease_owner == "w9"


async def test_a_wait_registered_late_finds_an_earlier_event(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    earlier = await store.events.append_event(NewEvent(type="go", source="t", data={"n": 1}))
    wait = EventWait(run_id=run.id, step_id="a", type="go", after_seq=run.start_seq)
    result = await store.runs.save(RunSave(run.id, "w1", None, waits=[wait]))
    assert result.matched["a"].seq == earlier.event.seq


async def test_a_wait_ignores_events_from_before_the_run_started(
    store: Store, make_run: MakeRun
) -> None:
    await store.events.append_event(NewEvent(type="go", source="t"))
    run = await _leased(store, make_run, owner="w1")
    wait = EventWait(run_id=run.id, step_id="a", type="go", after_seq=run.start_seq)
    assert (await store.runs.save(RunSave(run.id, "w1", None, waits=[wait]))).matched == {}


async def test_list_events_filters_and_pages(store: Store) -> None:
    for i in range(6):
        await store.events.append_event(
            NewEvent(type="ab"[i % 2], source="st"[i % 2], correlation_id=f"c{i % 3}")
        )
    assert [e.seq for e in await store.events.list_events(EventQuery(type="a"))] == [1, 3, 5]
    assert [e.seq for e in await store.events.list_events(EventQuery(source="t"))] == [2, 4, 6]
    assert [e.seq for e in await store.events.list_events(EventQuery(correlation_id="c0"))] == [
        1,
        4,
    ]
    assert [e.seq for e in await store.events.list_events(EventQuery(after_seq=2, limit=2))] == [
        3,
        4,
    ]
    newest = await store.events.list_events(EventQuery(limit=2, newest=True))
    assert [e.seq for e in newest] == [5, 6]


async def test_a_cursor_never_moves_back(store: Store) -> None:
    assert await store.events.get_cursor("c") is None
    assert await store.events.advance_cursor("c", 5) == 5
    assert await store.events.advance_cursor("c", 3) == 5
    assert await store.events.get_cursor("c") == 5


# approvals and tasks ---------------------------------------------------------------------


async def _with_approval(store: Store, make_run: MakeRun) -> tuple[Run, Approval]:
    run = await _leased(store, make_run, owner="w1")
    approval = _approval(run)
    await store.runs.save(
        RunSave(run.id, "w1", None, run={"status": RunStatus.WAITING}, approvals=[approval])
    )
    return run, approval


async def test_the_first_decision_wins(store: Store, other_store: Store, make_run: MakeRun) -> None:
    run, approval = await _with_approval(store, make_run)
    decided = await store.coordination.decide_approval(
        approval.id, ApprovalStatus.APPROVED, by="alice", channel="cli", comment="ok"
    )
    with pytest.raises(ConflictError, match="already approved by alice via cli"):
        await other_store.coordination.decide_approval(
            approval.id, ApprovalStatus.REJECTED, by="bob", channel="mcp", comment=""
        )
    stored = await store.coordination.get_approval(approval.id)
    assert (decided.status, stored.decided_by, stored.comment) == (
        ApprovalStatus.APPROVED,
        "alice",
        "ok",
    )
    assert (await store.runs.get_run(run.id)).signal_seq == run.signal_seq + 1


async def test_a_decision_leases_a_free_run_for_the_given_lease(
    store: Store, make_run: MakeRun
) -> None:
    run, approval = await _with_approval(store, make_run)
    await store.runs.release_leases("w1", [run.id])
    await store.coordination.decide_approval(
        approval.id,
        ApprovalStatus.APPROVED,
        by="alice",
        channel="cli",
        comment="",
        claim_owner="w2",
        lease_seconds=1,
    )
    leased = await store.runs.get_run(run.id)
    assert leased.lease_owner == "w2"
    assert leased.lease_expires_at is not None
    assert leased.lease_expires_at < _now() + timedelta(seconds=2)


async def test_a_holder_cannot_overwrite_a_decision(store: Store, make_run: MakeRun) -> None:
    run, approval = await _with_approval(store, make_run)
    await store.coordination.decide_approval(
        approval.id, ApprovalStatus.REJECTED, by="alice", channel="cli", comment="no"
    )
    expired = approval.model_copy(update={"status": ApprovalStatus.EXPIRED})
    await store.runs.save(RunSave(run.id, "w1", None, approvals=[expired]))
    assert (await store.coordination.get_approval(approval.id)).status is ApprovalStatus.REJECTED


async def test_approvals_are_listed_by_status_and_run_in_request_order(
    store: Store, make_run: MakeRun
) -> None:
    run, approval = await _with_approval(store, make_run)
    later = _approval(run, "b", requested_at=_now() + timedelta(seconds=1))
    other, elsewhere = await _with_approval(store, make_run)
    await store.runs.save(RunSave(run.id, "w1", None, approvals=[later]))
    await store.coordination.decide_approval(
        elsewhere.id, ApprovalStatus.APPROVED, by="alice", channel="cli", comment=""
    )

    async def listed(status: ApprovalStatus | None, run_id: str | None = None) -> list[str]:
        return [a.id for a in await store.coordination.list_approvals(status, run_id)]

    assert await listed(ApprovalStatus.PENDING) == [approval.id, later.id]
    assert await listed(ApprovalStatus.APPROVED) == [elsewhere.id]
    assert await listed(None, other.id) == [elsewhere.id]
    assert await listed(ApprovalStatus.PENDING, other.id) == []
    assert len(await listed(None)) == 3


async def _with_task(store: Store, make_run: MakeRun) -> tuple[Run, Task]:
    run = await _leased(store, make_run, owner="w1")
    task = _task(run)
    await store.runs.save(RunSave(run.id, "w1", None, tasks=[task]))
    return run, task


async def test_a_task_moves_only_from_an_expected_status(store: Store, make_run: MakeRun) -> None:
    run, task = await _with_task(store, make_run)
    claimed = await store.coordination.update_task(
        task.id, expect=[TaskStatus.OPEN], status=TaskStatus.CLAIMED, by="pycharm"
    )
    with pytest.raises(ConflictError, match="already claimed by pycharm"):
        await store.coordination.update_task(
            task.id, expect=[TaskStatus.OPEN], status=TaskStatus.CLAIMED, by="other"
        )
    done = await store.coordination.update_task(
        task.id,
        expect=[TaskStatus.OPEN, TaskStatus.CLAIMED],
        status=TaskStatus.COMPLETED,
        by="pycharm",
        result={"verdict": "ok"},
    )
    assert claimed.claimed_by == "pycharm"
    assert (done.status, done.result) == (TaskStatus.COMPLETED, {"verdict": "ok"})
    assert (await store.runs.get_run(run.id)).signal_seq == run.signal_seq + 1  # claiming rings not


async def test_an_unknown_task_raises_task_not_found(store: Store) -> None:
    with pytest.raises(TaskNotFound):
        await store.coordination.get_task("nope")


async def test_open_tasks_are_listed_per_participant(store: Store, make_run: MakeRun) -> None:
    _, task = await _with_task(store, make_run)
    assert [t.id for t in await store.coordination.list_tasks("pycharm", TaskStatus.OPEN)] == [
        task.id
    ]
    assert await store.coordination.list_tasks("claude_code", TaskStatus.OPEN) == []


# cancel and resume -------------------------------------------------------------------------


async def test_cancel_is_requested_and_rings_the_run(store: Store, make_run: MakeRun) -> None:
    run = await _leased(store, make_run, owner="w1")
    await store.coordination.request_cancel(run.id, "stop")
    assert await store.coordination.run_signals([run.id]) == {run.id: (run.signal_seq + 1, "stop")}


async def test_a_finished_run_cannot_be_cancelled(store: Store, make_run: MakeRun) -> None:
    run = await _leased(store, make_run, owner="w1")
    await store.runs.save(RunSave(run.id, "w1", None, run={"status": RunStatus.COMPLETED}))
    with pytest.raises(InvalidTransition, match="completed"):
        await store.coordination.request_cancel(run.id, "late")


async def test_reopening_a_failed_run_resets_the_given_steps(
    store: Store, make_run: MakeRun
) -> None:
    run = await _leased(store, make_run, owner="w1")
    done = StepRun(id="a", name="A", status=StepStatus.COMPLETED)
    failed = StepRun(id="b", name="B", status=StepStatus.FAILED, error="x")
    await store.runs.save(
        RunSave(run.id, "w1", None, run={"status": RunStatus.FAILED}, steps=[done, failed])
    )
    deadline = _now() + timedelta(minutes=5)
    reopened = await store.runs.reopen_run(run.id, [StepRun(id="b", name="B")], "pytest", deadline)
    assert (reopened.status, reopened.deadline_at) == (RunStatus.PENDING, deadline)
    assert [s.status for s in reopened.steps] == [StepStatus.COMPLETED, StepStatus.PENDING]
    assert [h.kind for h in await store.runs.history(run.id)] == ["run.resumed"]
    with pytest.raises(InvalidTransition):
        await store.runs.reopen_run(run.id, [], "pytest", None)


# participants and workers ----------------------------------------------------------------


async def test_participants_are_listed_with_their_open_tasks(
    store: Store, make_run: MakeRun
) -> None:
    await _with_task(store, make_run)
    await store.presence.touch_participant("pycharm")
    await store.presence.touch_participant("claude_code")
    listed = {p.name: p.open_tasks for p in await store.presence.list_participants()}
    assert listed == {"pycharm": 1, "claude_code": 0}


async def test_workers_are_live_until_forgotten(store: Store) -> None:
    await store.presence.heartbeat("w1", "pytest", os.getpid(), "host")
    assert await store.presence.live_workers(60) == ["w1"]
    await store.presence.forget_worker("w1")
    assert await store.presence.live_workers(60) == []


# the file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL's: tests/store/test_postgres_store.py
async def test_migrations_apply_once_however_often_a_store_connects(store_url: str) -> None:
    for _ in range(2):
        opened = await connect_store(store_url)
        await opened.aclose()
    conn = open_connection(sqlite_path(store_url), synchronous="FULL")
    try:
        version = run_to_end(migrate(SqliteConnection(conn, SQLITE)))
        applied = conn.execute("SELECT version FROM schema_migrations").fetchall()
    finally:
        conn.close()
    assert version == migration_scripts("sqlite")[-1][0]
    assert [v for (v,) in applied] == [v for v, _, _ in migration_scripts("sqlite")]


async def test_the_database_file_is_private_to_its_user(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    prepare_home(settings)
    opened = await connect_store(settings.store_url())
    await opened.aclose()
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "relay.db").stat().st_mode) == 0o600


async def test_a_closed_store_refuses_calls(store_url: str) -> None:
    opened = await connect_store(store_url)
    await opened.aclose()
    with anyio.fail_after(5), pytest.raises(StoreUnavailable, match="closed"):
        await opened.events.last_seq()
