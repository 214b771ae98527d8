"""A run driver: advances one leased run until it finishes or parks.

The driver keeps the run in memory while it holds the lease and records every
transition in one store transaction (a finished step and the steps it unblocks share
one commit), and starts an action only once the commit that records its attempt is
done. When nothing can run until someone acts or a timer fires, it parks the run
(status `waiting`, lease released) and returns: a waiting run holds no task.
"""

import functools
import math
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from relay.engine.actions import ActionContext, LogLine
from relay.engine.record import Recorder
from relay.engine.runtime import Runtime, StepsView, utcnow
from relay.engine.steps import Outcome, render_params, resolve_action, run_attempt
from relay.engine.waiting import Resolution, resolve
from relay.engine.waiting_start import WaitStarted, start_waiting
from relay.errors import ConflictError, ExpressionError, ParamsError, RelayError
from relay.model.events import Event, NewEvent
from relay.model.expressions import evaluate_condition, render
from relay.model.run import Run, RunStatus, StepRun, StepStatus
from relay.model.workflow import Workflow
from relay.store.base import AppendResult

RING = Outcome("", ok=True)  # not a step's outcome: someone rang the run's doorbell


class RunDriver:
    def __init__(
        self,
        rt: Runtime,
        run: Run,
        workflow: Workflow,
        on_appended: Callable[[AppendResult], None] | None = None,
    ) -> None:
        self.rt = rt
        # The engine's, for what the run's steps append: it drives the runs they wake.
        self.on_appended = on_appended
        self.wf = workflow
        self.rec = Recorder(rt, run, workflow)
        self.deps = workflow.dependencies()
        self.defs = {s.id: s for s in workflow.steps}
        self.dependants = workflow.dependants()
        self.candidates = {s.id for s in run.steps if s.status is StepStatus.PENDING}
        self.running: dict[str, anyio.CancelScope] = {}
        # Attempts recorded but not yet committed: each starts once its commit is done.
        self._queued: list[tuple[str, anyio.CancelScope, Callable[[], object]]] = []
        self.fatal: str | None = None  # the step whose failure fails the run
        self.check_waits = True
        self._send: MemoryObjectSendStream[Outcome] | None = None
        self.cancel_reason: str | None = run.cancel_reason if run.cancel_requested else None
        # What every action of the run sees: the process environment plus the run's and
        # the workflow's `env:` (fixed for the run's life, so merged once).
        self.env = MappingProxyType({**rt.environ, **run.env, **workflow.env})

    @property
    def run(self) -> Run:
        return self.rec.run

    @property
    def steps(self) -> dict[str, StepRun]:
        return self.rec.steps

    # signals from the engine --------------------------------------------------------------

    def ring(self, signal_seq: int, cancel_reason: str | None) -> None:
        """Someone signalled the run: look at its waits again (and stop, on a cancel)."""
        if signal_seq > self.rec.signal:
            self.rec.signal = signal_seq
            self.check_waits = True
        if cancel_reason is not None and self.cancel_reason is None:
            self.cancel_reason = cancel_reason
        if self._send is not None:
            self._send.send_nowait(RING)

    # the loop ---------------------------------------------------------------------------

    async def drive(self) -> None:
        """Advance the run until it finishes or parks.

        Raises:
            LeaseLost, StoreUnavailable, RunNotFound: as themselves, not wrapped in an
                exception group, once the attempts still running have been cancelled.
        """
        send, recv = anyio.create_memory_object_stream[Outcome](math.inf)
        failure: RelayError | None = None
        self._send = send
        try:
            # The streams outlive the task group: rings may come while it waits for the
            # last attempts to end.
            async with send, recv, anyio.create_task_group() as tg:
                try:
                    await self._prepare()
                    while not await self._advance(tg, send, recv):
                        pass
                except RelayError as exc:
                    failure = exc
                    tg.cancel_scope.cancel()
        finally:
            self._send = None  # a stopped driver ignores rings
        if failure is not None:
            raise failure

    async def _prepare(self) -> None:
        if self.run.status is RunStatus.PENDING:
            if self.cancel_reason is None:  # a run cancelled before it started never starts
                self.rec.run_started()
        elif self.run.status is RunStatus.WAITING:
            self.rec.patch_run(status=RunStatus.RUNNING)
        for step in self.rec.interrupted():
            self.candidates.add(step.id)

    async def _advance(
        self,
        tg: TaskGroup,
        send: MemoryObjectSendStream[Outcome],
        recv: MemoryObjectReceiveStream[Outcome],
    ) -> bool:
        """One turn of the loop; True when the driver is done with the run."""
        now = utcnow()
        if self.cancel_reason is not None or self._past_deadline(now):
            await self._stop_all(recv, now)
            return True
        if (self.check_waits or self._wait_due(now)) and not await self._resolve_waiting(now):
            return False
        await self._start_ready(tg, send, now)
        if (
            not self.running
            and not self._queued
            and (self.fatal is not None or not self.rec.unfinished)
        ):
            await self._finish()  # one commit for the last outcome and the run's end
            return True
        if await self._flush():
            return False
        if not self.running:
            if self.fatal is not None or not self.rec.unfinished:
                await self._finish()
                return True
            if not self._ready(utcnow()) and not self.check_waits:
                return await self._park()
            return False
        await self._wait(recv)
        return False

    async def _wait(self, recv: MemoryObjectReceiveStream[Outcome]) -> None:
        try:
            self._on_outcome(recv.receive_nowait())
        except anyio.WouldBlock:
            seconds = self._seconds_to_next_wake()
            with anyio.move_on_after(seconds) if seconds < math.inf else nullcontext():
                self._on_outcome(await recv.receive())
        while True:  # take every outcome that is already there: one commit for all of them
            try:
                self._on_outcome(recv.receive_nowait())
            except anyio.WouldBlock:
                break

    # starting steps ---------------------------------------------------------------------

    def _dep_done(self, step_id: str) -> bool:
        step = self.steps[step_id]
        if step.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
            return True
        return step.status is StepStatus.FAILED and self.defs[step_id].continue_on_failure

    def _ready(self, now: datetime) -> list[str]:
        if self.fatal is not None:
            return []
        ready = []
        for step_id in list(self.candidates):
            step = self.steps[step_id]
            if step.status is not StepStatus.PENDING:
                self.candidates.discard(step_id)
            elif all(self._dep_done(d) for d in self.deps[step_id]):
                if step.wake_at is None or step.wake_at <= now:
                    ready.append(step_id)
            else:
                self.candidates.discard(step_id)  # a dependency's end puts it back
        return sorted(ready, key=self.rec.position)

    async def _start_ready(
        self, tg: TaskGroup, send: MemoryObjectSendStream[Outcome], now: datetime
    ) -> None:
        for step_id in self._ready(now):
            self.candidates.discard(step_id)
            await self._start(step_id, tg, send, now)

    def context(self) -> dict[str, Any]:
        run = self.run
        return {
            "inputs": run.inputs,
            "steps": StepsView(self.steps),
            "run": {"id": run.id, "workflow": run.workflow, "started_by": run.started_by},
            "env": self.wf.env,
            "event": run.trigger_event,
        }

    async def _start(
        self, step_id: str, tg: TaskGroup, send: MemoryObjectSendStream[Outcome], now: datetime
    ) -> None:
        step = self.defs[step_id]
        state = self.steps[step_id]
        context = self.context()
        if step.if_ and state.attempts == 0 and not state.gate_passed:
            try:
                if not evaluate_condition(step.if_, context, step=step_id):
                    self._end(
                        step_id, self.rec.skipped(step_id, f"condition {step.if_!r} was false")
                    )
                    return
            except ExpressionError as exc:
                self._fail(step_id, str(exc), now)
                return
        try:
            spec, _ = resolve_action(self.wf, step, self.rt.actions)
            if spec.kind == "waiting" or (step.requires_approval and not state.gate_passed):
                started = await start_waiting(self.rt, self.wf, self.run, state, step, spec,
                                              context, now)  # fmt: skip
                self._waiting_started(step_id, started, now)
                return
            params = render_params(self.wf, step, spec, context)
        except ParamsError as exc:
            self._fail(step_id, str(exc), now)
            return
        attempt = self.rec.attempt_started(step_id, now)
        ctx = ActionContext(
            run_id=self.run.id,
            workflow=self.run.workflow,
            step_id=step_id,
            attempt=attempt,
            idempotency_key=f"{self.run.id}/{step_id}",
            cwd=self.run.cwd,
            env=self.env,
            participant=self.run.started_by,
            emit=self._emit,
        )
        timeout_seconds = step.effective_timeout(self.wf.defaults)
        scope = anyio.CancelScope()
        launch = functools.partial(
            tg.start_soon, self._guarded, scope, spec, params, ctx, timeout_seconds, send
        )
        self._queued.append((step_id, scope, launch))

    def _launch_queued(self) -> None:
        """Start the attempts whose start (and the outcomes that let them run) is now
        committed: a step's action never runs before what it depends on is durable."""
        for step_id, scope, launch in self._queued:
            self.running[step_id] = scope
            launch()
        self._queued.clear()

    async def _guarded(self, scope: anyio.CancelScope, *args: Any) -> None:
        with scope:
            await run_attempt(*args)

    async def _emit(self, event: NewEvent) -> Event:
        """An `emit_event` step's event: appended (the runs it wakes leased to this
        engine's worker, when there is one) and handed to the engine."""
        if self.on_appended is None:
            return (await self.rt.store.events.append_event(event)).event
        result = await self.rt.store.events.append_event(
            event, claim_owner=self.rt.worker_id, lease_seconds=self.rt.lease_seconds
        )
        self.on_appended(result)
        return result.event

    # outcomes ---------------------------------------------------------------------------

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome is RING:
            return
        self.running.pop(outcome.step_id, None)
        if outcome.cancelled:
            return
        now = utcnow()
        step_id, lines = outcome.step_id, outcome.lines
        if outcome.ok:
            self.rec.pending.outbox.extend(outcome.notices)
            self._end(step_id, self.rec.completed(step_id, outcome.output, now, lines))
            return
        step = self.defs[outcome.step_id]
        policy = step.effective_retry(self.wf.defaults)
        attempts = self.steps[outcome.step_id].attempts_since_resume
        if attempts < policy.max_attempts:
            delay = policy.delay_seconds(attempts, random.random())
            error = outcome.error or "failed"
            self.rec.retrying(step_id, error, outcome.output, delay, now, lines)
            self.candidates.add(step_id)
            return
        self._fail(step_id, outcome.error or "failed", now, outcome.output, lines)

    def _fail(
        self,
        step_id: str,
        error: str,
        now: datetime,
        output: Any = None,
        lines: Sequence[LogLine] = (),
    ) -> None:
        self._end(step_id, self.rec.failed(step_id, error, output, now, lines))

    def _end(self, step_id: str, status: StepStatus) -> None:
        if status is StepStatus.FAILED and not self.defs[step_id].continue_on_failure:
            self.fatal = self.fatal or step_id
        self.candidates.update(self.dependants[step_id])

    # waiting steps ----------------------------------------------------------------------

    def _waiting_started(self, step_id: str, started: WaitStarted, now: datetime) -> None:
        if started.suspension is None:
            self._end(step_id, self.rec.completed(step_id, started.output, now))
            return
        self.rec.suspended(step_id, started.suspension, now)
        self.check_waits = self.check_waits or started.look_again

    def _wait_due(self, now: datetime) -> bool:
        return any(
            wake <= now and self.steps[step_id].status is StepStatus.WAITING
            for step_id, wake in self.rec.timed.items()
        )

    async def _resolve_waiting(self, now: datetime) -> bool:
        """End the waiting steps whose decision, event, task, child run or time has come.

        A resolution that only ends a step joins the next commit (with the steps it
        unblocks). One that also writes an approval or a task (a timeout) is committed
        alone, fenced by the run's signal: False (and nothing changed) when someone rang
        the run meanwhile, so that it looks again.
        """
        self.check_waits = False
        uncommitted = {s.id for s in self.rec.pending.steps}
        waiting = [
            s
            for s in self.steps.values()
            if s.status is StepStatus.WAITING and s.id not in uncommitted
        ]
        found = [
            (s.id, r) for s in waiting if (r := await resolve(self.rt.store, self.run.id, s, now))
        ]
        if not found:
            return True
        if not any(r.approval is not None or r.task is not None for _, r in found):
            for step_id, resolution in found:
                self._apply(step_id, resolution, now)
            return True
        if await self._flush():  # what is pending does not depend on outside decisions
            return False
        saved = self.rec.checkpoint(), set(self.candidates), self.fatal
        for step_id, resolution in found:
            self._apply(step_id, resolution, now)
        try:
            await self.rec.flush()
        except ConflictError:
            self.rec.restore(saved[0])
            self.candidates, self.fatal = saved[1], saved[2]
            await self._refresh_signal()
            self.check_waits = True
            return False
        return True

    def _apply(self, step_id: str, r: Resolution, now: datetime) -> None:
        self.rec.close_wait(step_id, r)
        if r.status is StepStatus.PENDING:
            self.rec.gate_passed(step_id)
            self.candidates.add(step_id)
        elif r.status is StepStatus.COMPLETED:
            self._end(step_id, self.rec.completed(step_id, r.output, now))
        else:
            self._fail(step_id, r.error or "failed", now, r.output)

    # writing ------------------------------------------------------------------------------

    async def _flush(self) -> bool:
        """Commit what changed; True when a registered wait matched an earlier event."""
        try:
            matched = await self.rec.flush()
        except ConflictError:
            await self._refresh_signal()
            return True
        self._launch_queued()
        if matched:
            self.check_waits = True
        return bool(matched)

    async def _refresh_signal(self) -> None:
        signals = await self.rt.store.coordination.run_signals([self.run.id])
        signal, cancel_reason = signals.get(self.run.id, (self.rec.signal, None))
        self.ring(signal, cancel_reason)

    async def _park(self) -> bool:
        try:
            await self.rec.park(self._next_wake())
        except ConflictError:
            await self._refresh_signal()
            return False
        return True

    async def _finish(self) -> None:
        outputs, error = None, None
        if self.fatal is None:
            try:
                outputs = render(self.wf.outputs, self.context(), step=None)
            except ExpressionError as exc:
                error = f"outputs: {exc}"
        else:
            error = f"step {self.fatal!r} failed: {self.steps[self.fatal].error}"
        status = RunStatus.COMPLETED if error is None else RunStatus.FAILED
        await self.rec.close_unfinished(self.fatal, utcnow())
        await self.rec.finish(status, outputs, error)

    async def _stop_all(self, recv: MemoryObjectReceiveStream[Outcome], now: datetime) -> None:
        self._queued.clear()  # never started: close_unfinished cancels their steps
        for scope in self.running.values():
            scope.cancel()
        while self.running:
            self._on_outcome(await recv.receive())
        await self.rec.close_unfinished(None, now, cancelled=True)
        if self.cancel_reason is not None:
            await self.rec.finish(RunStatus.CANCELLED, None, f"cancelled: {self.cancel_reason}")
        else:
            passed = f"the workflow's deadline of {self.wf.deadline_seconds:g} s passed"
            await self.rec.finish(RunStatus.FAILED, None, passed)

    # time ---------------------------------------------------------------------------------

    def _past_deadline(self, now: datetime) -> bool:
        return self.run.deadline_at is not None and now >= self.run.deadline_at

    def _next_wake(self) -> datetime | None:
        times = list(self.rec.timed.values())
        if self.run.deadline_at is not None:
            times.append(self.run.deadline_at)
        return min(times) if times else None

    def _seconds_to_next_wake(self) -> float:
        wake = self._next_wake()
        return math.inf if wake is None else max(0.0, (wake - utcnow()) / timedelta(seconds=1))
