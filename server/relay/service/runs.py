"""Runs: starting one, reading it and its history, following it until it settles,
cancelling and resuming it. A run this process starts (or that a decision leases to it)
is driven by this process's engine when it has one."""

import os
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from relay.engine.driver import RunDriver
from relay.engine.runtime import ENGINE_SOURCE, utcnow
from relay.errors import InvalidTransition, UsageError
from relay.model.events import NewEvent
from relay.model.inputs import validate_inputs
from relay.model.run import HistoryEntry, Run, RunStatus, StepStatus, new_run
from relay.model.workflow import Workflow
from relay.service.analytics import workflow_analytics
from relay.service.details import run_detail
from relay.service.follow import (
    CHILD_DEPTH,
    NO_PROCESS,
    NOT_PICKED_UP,
    Progress,
    RunProgress,
    child_waited_on,
    is_blocked,
    waits_at,
)
from relay.service.host import Host
from relay.service.paging import page_limit, status_filter
from relay.service.presence import Presence
from relay.service.views import run_state
from relay.store.base import NewRun, RunQuery

# What a resume runs again: every step that did not complete (failed, cancelled, cut
# short while running or waiting) and every skipped one (a failure may have skipped it).
REOPENED = {
    StepStatus.FAILED,
    StepStatus.CANCELLED,
    StepStatus.SKIPPED,
    StepStatus.RUNNING,
    StepStatus.WAITING,
}


class Runs:
    def __init__(self, host: Host, presence: Presence) -> None:
        self.host = host
        self.presence = presence

    async def start_run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        by: str | None = None,
        idempotency_key: str | None = None,
        cwd: str | None = None,
        drive: bool = True,
        trigger_event: dict[str, Any] | None = None,
        trigger_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Record a new run (or find the one with the same key); a local engine drives it."""
        host, starter = self.host, await self.host.act(by)
        values = validate_inputs(workflow, inputs or {})
        run = new_run(
            workflow,
            values,
            started_by=starter,
            cwd=cwd or os.getcwd(),
            idempotency_key=idempotency_key,
            trigger_event=trigger_event,
        )
        owner = host.owner if drive else None
        created, is_new = await host.store.runs.create_run(
            NewRun(
                run=run,
                definition=workflow.snapshot(),
                trigger_key=trigger_key,
                owner=owner,
                lease_seconds=host.rt.lease_seconds,
                history=[_created(run, starter)],
                events=[lifecycle(run, "workflow.started", {"inputs": values})],
            )
        )
        if is_new and owner is not None and host.engine is not None:
            host.engine.adopt_new(created)
        return created, is_new

    async def get_run(self, run_id: str) -> Run:
        return await self.host.store.runs.get_run(run_id)

    async def history(self, run_id: str) -> list[HistoryEntry]:
        """A run's append-only history, oldest first."""
        await self.host.store.runs.get_run(run_id)  # RunNotFound
        return await self.host.store.runs.history(run_id)

    async def wait_run(
        self,
        run_id: str,
        wait_seconds: float,
        progress: Progress | None = None,
        *,
        until: Callable[[Run], bool] | None = None,
        leaving: str | None = None,
    ) -> Run:
        """The run once it is settled (finished, or blocked on something a participant
        must supply: see `relay.service.follow`) somewhere other than waiting at step
        `leaving` (a gate or task just decided), or once `until(run)` holds instead, or
        when time is up. Each transition in between goes to `progress`."""
        store = self.host.store
        deadline = time.monotonic() + max(0.0, wait_seconds)
        shown = RunProgress(progress)
        async for _ in store.feed.changes(lambda: min(1.0, deadline - time.monotonic())):
            run = await store.runs.get_run(run_id)
            if await self._stops(run, until, leaving) or time.monotonic() >= deadline:
                return run
            await shown.show(run)
        raise AssertionError("changes() never ends")

    async def _stops(
        self, run: Run, until: Callable[[Run], bool] | None, leaving: str | None
    ) -> bool:
        if until is not None:
            return until(run)
        if leaving is not None and not run.status.is_final and waits_at(run, leaving):
            return False
        return await self.is_settled(run)

    async def is_settled(self, run: Run, depth: int = 0) -> bool:
        """Finished, or blocked on an approval, an event, a task, or a child run that is
        itself settled: where a wait for the run stops."""
        if run.status.is_final or is_blocked(run):
            return True
        child = child_waited_on(run)
        if child is None or depth >= CHILD_DEPTH:
            return False
        return await self.is_settled(await self.host.store.runs.get_run(child), depth + 1)

    async def state_after(self, run: Run, step: str | None) -> dict[str, Any]:
        """`run_state(run)` after a decision at `step`; when no engine has acted on it yet,
        `next` says so (and whether any relay process is there to)."""
        state = run_state(run)
        if step is not None and not run.status.is_final and waits_at(run, step):
            alone = not await self.presence.live_workers()
            state["next"] = NOT_PICKED_UP + (NO_PROCESS if alone else "")
        return state

    async def list_runs(
        self,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 20,
        *,
        started_by: str | None = None,
        offset: int = 0,
    ) -> list[Run]:
        """Runs, newest first (without their steps)."""
        wanted = status_filter(RunStatus, status)
        if offset < 0:
            raise UsageError("offset must be 0 or more")
        query = RunQuery(
            status=wanted,
            workflow=workflow,
            started_by=started_by,
            limit=page_limit(limit),
            offset=offset,
        )
        return await self.host.store.runs.list_runs(query)

    async def run_detail(self, run_id: str) -> dict[str, Any]:
        """A run with its graph, attempts, history, events, approvals and tasks."""
        run = await self.host.store.runs.get_run(run_id)  # RunNotFound
        return await run_detail(self.host.store, run, await self.host.rt.workflow_of(run))

    async def analytics(self, days: int = 14) -> dict[str, Any]:
        """Per workflow: runs per day, success rate, p50/p95 duration, slowest steps."""
        return await workflow_analytics(self.host.store.runs, days)

    async def cancel(
        self, run_id: str, reason: str = "", *, by: str | None = None, wait_seconds: float = 3.0
    ) -> Run:
        """Ask the run's holder to cancel it; finish it here when nobody holds it."""
        host = self.host
        reason = reason or f"cancelled by {await host.act(by)}"
        run = await host.store.coordination.request_cancel(run_id, reason)
        if await host.store.runs.claim_run(run_id, host.rt.worker_id, host.rt.lease_seconds):
            await self._drive_here(run_id)
        if not wait_seconds:
            return run
        return await self.wait_run(run.id, wait_seconds, until=lambda r: r.status.is_final)

    async def _drive_here(self, run_id: str) -> None:
        """Drive a run this process just leased, to the end or until it parks."""
        run = await self.host.store.runs.get_run(run_id)
        driver = RunDriver(self.host.rt, run, await self.host.rt.workflow_of(run))
        await driver.drive()

    async def resume(self, run_id: str, *, by: str | None = None) -> Run:
        """Run a failed or cancelled run again from its failed steps, keeping completed ones."""
        host = self.host
        run = await host.store.runs.get_run(run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise InvalidTransition(
                f"run {run_id!r} is {run.status.value}; "
                "only a failed or cancelled run can be resumed"
            )
        steps = [s.reopened() for s in run.steps if s.status in REOPENED]
        # The workflow's deadline counts from the resume, as from a start.
        limit = (await host.rt.workflow_of(run)).deadline_seconds
        deadline = None if limit is None else utcnow() + timedelta(seconds=limit)
        reopened = await host.store.runs.reopen_run(run_id, steps, await host.act(by), deadline)
        if host.engine is not None:
            # A root of this engine, so an own-runs-only engine (`relay resume`) also
            # claims its child runs, and the run itself if its lease lapses elsewhere.
            host.engine.roots.add(run.root_run_id or run_id)
            if await host.store.runs.claim_run(run_id, host.rt.worker_id, host.rt.lease_seconds):
                host.engine.adopt([run_id])
            else:
                host.engine.poke()
        return reopened


def lifecycle(run: Run, kind: str, data: dict[str, Any]) -> NewEvent:
    """One of the run lifecycle events the engine appends to the shared log."""
    return NewEvent(
        type=kind,
        source=ENGINE_SOURCE,
        correlation_id=run.id,
        data={"run_id": run.id, "workflow": run.workflow, **data},
    )


def _created(run: Run, by: str) -> HistoryEntry:
    return HistoryEntry(
        run_id=run.id, kind="run.created", at=run.created_at, data={"by": by, "cwd": run.cwd}
    )
