"""The Recorder: a run's in-memory state plus the writes not yet committed.

Every transition updates the step in memory and appends what the store must record
(step row, attempt, history line, lifecycle event) to one pending `RunSave`; `flush`
commits them together.
"""

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from relay.engine.actions import LogLine
from relay.engine.runtime import ENGINE_SOURCE, Runtime, utcnow
from relay.engine.waiting import Resolution, Suspension
from relay.errors import ConflictError, InvalidTransition
from relay.model.events import Event, NewEvent
from relay.model.notification import NewNotification
from relay.model.run import (
    ApprovalStatus,
    Attempt,
    HistoryEntry,
    Run,
    RunStatus,
    StepRun,
    StepStatus,
    TaskStatus,
    WaitKind,
)
from relay.model.workflow import Workflow
from relay.store.base import RunSave


class Recorder:
    def __init__(self, rt: Runtime, run: Run, workflow: Workflow | None = None) -> None:
        self.rt = rt
        self.run = run
        # Slack notices go into the same RunSave as the transition that causes them.
        self.notices = rt.channels.run_notices(workflow) if workflow else None
        self.source = workflow.source if workflow else None
        self.steps = {s.id: s for s in run.steps}
        self._positions = {s.id: i for i, s in enumerate(run.steps)}
        self._reindex()
        self.signal = run.signal_seq
        self._fence = False  # the next commit must not race an outside decision
        self.pending = self._new_save()

    def _new_save(self) -> RunSave:
        return RunSave(run_id=self.run.id, owner=self.rt.worker_id, expect_signal=None)

    def position(self, step_id: str) -> int:
        return self._positions[step_id]

    # Kept in step with `steps` so that the driver's per-turn questions ("is any timer
    # due?", "is every step done?") cost O(timers), not O(steps): a 1,000-step run would
    # otherwise spend most of its time scanning.
    def _reindex(self) -> None:
        self.timed: dict[str, datetime] = {}
        self.unfinished: set[str] = set()
        for step in self.steps.values():
            self._index(step)

    def _index(self, step: StepRun) -> None:
        if step.wake_at is not None and step.status in (StepStatus.PENDING, StepStatus.WAITING):
            self.timed[step.id] = step.wake_at
        else:
            self.timed.pop(step.id, None)
        if step.status.is_final:
            self.unfinished.discard(step.id)
        else:
            self.unfinished.add(step.id)

    def checkpoint(self) -> tuple[Run, dict[str, StepRun]]:
        """The in-memory state, to `restore` if the next (fenced) commit is refused."""
        assert not _has_writes(self.pending), "checkpoint with uncommitted writes"
        return self.run, dict(self.steps)

    def restore(self, saved: tuple[Run, dict[str, StepRun]]) -> None:
        """Forget every change made since `checkpoint`: none of it was committed."""
        self.run, self.steps = saved[0], dict(saved[1])
        self._reindex()
        self.pending = self._new_save()
        self._fence = False

    # run-level --------------------------------------------------------------------------

    def patch_run(self, **fields: Any) -> None:
        self.pending.run.update(fields)
        self.run = self.run.model_copy(update=fields)

    def run_started(self) -> None:
        self.patch_run(status=RunStatus.RUNNING)
        self._history("run.started", None, {"by": self.run.started_by, "worker": self.rt.worker_id})
        if self.notices:
            self._notify(self.notices.started(self.run))

    def _notify(self, notice: NewNotification | None) -> None:
        if notice is not None:
            self.pending.outbox.append(notice)

    # The engine builds these itself, well-formed by construction: `model_construct` skips
    # re-validating them on the hot path (several per step).
    def _history(self, kind: str, step_id: str | None, data: dict[str, Any]) -> None:
        entry = HistoryEntry.model_construct(
            run_id=self.run.id, kind=kind, at=utcnow(), step_id=step_id, data=data
        )
        self.pending.history.append(entry)

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        base = {"run_id": self.run.id, "workflow": self.run.workflow}
        self.pending.events.append(
            NewEvent.model_construct(
                type=kind, source=ENGINE_SOURCE, correlation_id=self.run.id, data={**base, **data}
            )
        )

    def _set(self, step: StepRun, **fields: Any) -> StepRun:
        updated = step.model_copy(update=fields)
        self.steps[step.id] = updated
        self._index(updated)
        self.pending.steps = [s for s in self.pending.steps if s.id != step.id]
        self.pending.steps.append(updated)
        return updated

    # steps ------------------------------------------------------------------------------

    def interrupted(self) -> list[StepRun]:
        """Steps that were running when their process died: they run again."""
        found = [s for s in self.steps.values() if s.status is StepStatus.RUNNING]
        for step in found:
            self._attempt(step, StepStatus.FAILED, "interrupted: the process running it stopped")
            self._set(step, status=StepStatus.PENDING)
            self._history("step.interrupted", step.id, {"attempt": step.attempts})
        return found

    def attempt_started(self, step_id: str, now: datetime) -> int:
        step = self.steps[step_id]
        attempt = step.attempts + 1
        self._set(
            step,
            status=StepStatus.RUNNING,
            attempts=attempt,
            started_at=step.started_at or now,
            wake_at=None,
            waiting=None,
        )
        self.pending.attempts.append(
            Attempt.model_construct(
                run_id=self.run.id,
                step_id=step_id,
                attempt=attempt,
                started_at=now,
                worker=self.rt.worker_id,
            )
        )
        self._history("step.started", step_id, {"attempt": attempt})
        return attempt

    def _attempt(self, step: StepRun, status: StepStatus, error: str | None) -> None:
        if step.attempts == 0 or step.waiting is not None:
            return
        started = next(
            (
                a.started_at
                for a in self.pending.attempts
                if a.step_id == step.id and a.attempt == step.attempts
            ),
            step.started_at,
        )
        self.pending.attempts.append(
            Attempt.model_construct(
                run_id=self.run.id,
                step_id=step.id,
                attempt=step.attempts,
                started_at=started or utcnow(),
                finished_at=utcnow(),
                status=status,
                error=error,
                worker=self.rt.worker_id,
            )
        )

    def completed(
        self, step_id: str, output: Any, now: datetime, lines: Sequence[LogLine] = ()
    ) -> StepStatus:
        step = self.steps[step_id]
        self._attempt(step, StepStatus.COMPLETED, None)
        self._set(
            step,
            status=StepStatus.COMPLETED,
            output=output,
            error=None,
            finished_at=now,
            wake_at=None,
            waiting=None,
        )
        data = _with_lines({"attempt": step.attempts}, lines)
        self._history("step.completed", step_id, data)
        self._event("step.completed", {"step": step_id, "output": _short(output)})
        return StepStatus.COMPLETED

    def failed(
        self, step_id: str, error: str, output: Any, now: datetime, lines: Sequence[LogLine] = ()
    ) -> StepStatus:
        step = self.steps[step_id]
        self._attempt(step, StepStatus.FAILED, error)
        self._set(
            step,
            status=StepStatus.FAILED,
            error=error,
            output=output,
            finished_at=now,
            wake_at=None,
            waiting=None,
        )
        data = _with_lines({"attempt": step.attempts, "error": error}, lines)
        self._history("step.failed", step_id, data)
        self._event("step.failed", {"step": step_id, "error": error})
        return StepStatus.FAILED

    def retrying(
        self,
        step_id: str,
        error: str,
        output: Any,
        delay: float,
        now: datetime,
        lines: Sequence[LogLine] = (),
    ) -> None:
        step = self.steps[step_id]
        self._attempt(step, StepStatus.FAILED, error)
        self._set(
            step,
            status=StepStatus.PENDING,
            error=error,
            output=output,
            wake_at=now + timedelta(seconds=delay),
        )
        data = {"attempt": step.attempts, "error": error, "delay_seconds": round(delay, 6)}
        self._history("step.retrying", step_id, _with_lines(data, lines))

    def skipped(self, step_id: str, reason: str) -> StepStatus:
        self._set(self.steps[step_id], status=StepStatus.SKIPPED, error=None, finished_at=utcnow())
        self._history("step.skipped", step_id, {"reason": reason})
        return StepStatus.SKIPPED

    def gate_passed(self, step_id: str) -> None:
        self._set(
            self.steps[step_id],
            status=StepStatus.PENDING,
            gate_passed=True,
            waiting=None,
            wake_at=None,
            state=self.steps[step_id].carried_state(),
        )
        self._history("step.gate_passed", step_id, {})

    # waiting ----------------------------------------------------------------------------

    def suspended(self, step_id: str, s: Suspension, now: datetime) -> None:
        step = self.steps[step_id]
        self._set(
            step,
            status=StepStatus.WAITING,
            waiting=s.waiting,
            wake_at=s.wake_at,
            state={**step.carried_state(), **s.state},
            started_at=step.started_at or now,
            attempts=step.attempts if s.attempts is None else s.attempts,
        )
        self._history("step.waiting", step_id, {"kind": s.waiting.kind.value, **s.waiting.detail})
        if s.approval is not None:
            self.pending.approvals.append(s.approval)
            if self.notices:
                self._notify(self.notices.approval(self.run, s.approval))
            self._event(
                "approval.requested",
                {
                    "step": step_id,
                    "approval_id": s.approval.id,
                    "message": s.approval.message,
                    "approvers": list(s.approval.approvers),
                },
            )
        if s.task is not None:
            self.pending.tasks.append(s.task)
            self._event(
                "task.created",
                {"step": step_id, "task_id": s.task.id, "to": s.task.to, "task": s.task.task},
            )
        if s.wait is not None:
            self.pending.waits.append(s.wait)

    def close_wait(self, step_id: str, r: Resolution) -> None:
        if r.approval is not None:  # closed here: timed out
            self.pending.approvals.append(r.approval)
            self._notify(self.rt.channels.decided(r.approval, self.source))
            self._fence = True
        if r.task is not None:
            self.pending.tasks.append(r.task)
            self._fence = True
        if r.drop_wait:
            self.pending.drop_waits.append(step_id)

    async def close_unfinished(
        self, fatal: str | None, now: datetime, *, cancelled: bool = False
    ) -> None:
        """At the end of a run: pending steps are skipped, waiting ones cancelled."""
        for step in list(self.steps.values()):
            if step.status is StepStatus.PENDING:
                reason = "the run was cancelled" if cancelled else f"step {fatal!r} failed"
                if cancelled:
                    self._set(step, status=StepStatus.CANCELLED, finished_at=now, wake_at=None)
                    self._history("step.cancelled", step.id, {"reason": reason})
                else:
                    self.skipped(step.id, reason)
            elif step.status in (StepStatus.WAITING, StepStatus.RUNNING):
                await self._cancel_waiting(step, now)

    async def _cancel_waiting(self, step: StepRun, now: datetime) -> None:
        waiting = step.waiting
        self._set(step, status=StepStatus.CANCELLED, finished_at=now, wake_at=None)
        self._history("step.cancelled", step.id, {})
        if waiting is None:
            return
        # No fence: the store closes an approval or task only while it is undecided, and
        # a decision that lands now is moot for a step that ends anyway.
        if waiting.kind is WaitKind.APPROVAL:
            approval = await self.rt.store.coordination.get_approval(step.state["approval_id"])
            if approval.status is ApprovalStatus.PENDING:
                closed = approval.model_copy(
                    update={"status": ApprovalStatus.CANCELLED, "decided_at": now}
                )
                self.pending.approvals.append(closed)
                self._notify(self.rt.channels.decided(closed, self.source))
        elif waiting.kind is WaitKind.TASK:
            task = await self.rt.store.coordination.get_task(step.state["task_id"])
            if task.status in (TaskStatus.OPEN, TaskStatus.CLAIMED):
                self.pending.tasks.append(
                    task.model_copy(update={"status": TaskStatus.CANCELLED, "updated_at": now})
                )
        elif waiting.kind is WaitKind.EVENT:
            self.pending.drop_waits.append(step.id)
        elif waiting.kind is WaitKind.RUN:
            child = step.state.get("child_run_id")
            if isinstance(child, str):
                await self._cancel_child(child)

    async def _cancel_child(self, child_id: str) -> None:
        with contextlib.suppress(InvalidTransition):  # the child already finished
            await self.rt.store.coordination.request_cancel(
                child_id, f"its parent run {self.run.id} ended"
            )

    # committing -------------------------------------------------------------------------

    async def flush(self) -> dict[str, Event]:
        save = self.pending
        if not _has_writes(save):
            return {}
        save.expect_signal = self.signal if self._fence else None
        result = await self.rt.store.runs.save(save)  # on ConflictError the pending writes stay
        self.pending = self._new_save()
        self._fence = False
        return result.matched

    async def park(self, wake_at: datetime | None) -> None:
        """Release the run until `wake_at` or a signal; ConflictError (and nothing
        recorded) when someone rang it since the driver last looked."""
        saved = self.checkpoint()
        waiting = [s.waiting.model_dump(mode="json") for s in self.steps.values() if s.waiting]
        self.patch_run(status=RunStatus.WAITING, wake_at=wake_at)
        self.pending.release = True
        self._history("run.waiting", None, {"waiting_for": waiting})
        if waiting:
            self._event("workflow.waiting", {"waiting_for": waiting})
        self._fence = True
        try:
            await self.flush()
        except ConflictError:
            self.restore(saved)
            raise

    async def finish(
        self, status: RunStatus, outputs: dict[str, Any] | None, error: str | None
    ) -> None:
        self.patch_run(status=status, outputs=outputs, error=error, wake_at=None)
        self.pending.release = True
        if self.run.parent_run_id:
            self.pending.ring_runs.append(self.run.parent_run_id)
        self._history(f"run.{status.value}", None, {"error": error} if error else {})
        self._event(
            f"workflow.{status.value}",
            {"status": status.value, "error": error, "outputs": _short(outputs)},
        )
        if self.notices and status is RunStatus.COMPLETED:
            self._notify(self.notices.completed(self.run, list(self.steps.values())))
        elif self.notices and status is RunStatus.FAILED:
            self._notify(self.notices.failed(self.run, list(self.steps.values())))
        await self.flush()


def _with_lines(data: dict[str, Any], lines: Sequence[LogLine]) -> dict[str, Any]:
    """An attempt's history entry, carrying the log lines its action wrote."""
    if lines:
        data["log"] = [{"level": line.level, "message": line.message} for line in lines]
    return data


def _has_writes(save: RunSave) -> bool:
    return bool(
        save.run
        or save.steps
        or save.attempts
        or save.history
        or save.events
        or save.approvals
        or save.tasks
        or save.waits
        or save.drop_waits
        or save.release
        or save.ring_runs
        or save.outbox
    )


def _short(value: Any, limit: int = 2000) -> Any:
    """Outputs copied into lifecycle events are kept small."""
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else {"truncated": True, "preview": text[:limit]}
