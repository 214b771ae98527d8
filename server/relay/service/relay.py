"""The application service: the one place each thing relay does is done.

The CLI, the MCP server, the HTTP app and the Python hooks all call these methods;
none of them holds logic of its own. One `Relay` per process.
"""

import copy
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from relay.catalog import WorkflowCatalog
from relay.engine.engine import Engine
from relay.engine.runtime import Runtime, utcnow
from relay.errors import (
    ConfigError,
    InvalidTransition,
    InvalidWorkflow,
    UsageError,
    WorkflowNotFound,
)
from relay.model.events import Event, NewEvent, check_event_type, matches
from relay.model.inputs import validate_inputs
from relay.model.loading import load_workflow
from relay.model.notification import NewNotification, Notification, NotificationStatus
from relay.model.run import (
    Approval,
    HistoryEntry,
    Participant,
    Run,
    RunStatus,
    StepStatus,
    Task,
    TaskStatus,
    new_run,
)
from relay.model.workflow import Workflow
from relay.notify.channels import SLACK_NOT_CONFIGURED, Message
from relay.notify.interactions import Click
from relay.notify.messages import status_from_word
from relay.notify.outbox import OutboxSender
from relay.service import coordination, delivery, details
from relay.service.analytics import workflow_analytics
from relay.service.delivery import Undelivered
from relay.service.follow import (
    CHILD_DEPTH,
    FOLLOW_DECISION_SECONDS,
    FOLLOW_RESUMED_RUNS,
    NO_PROCESS,
    NOT_PICKED_UP,
    Progress,
    RunProgress,
    child_waited_on,
    is_blocked,
    waits_at,
)
from relay.service.processes import process_records
from relay.service.slack_clicks import ClickOutcome, decide_click
from relay.service.triggers import fire_event_triggers
from relay.service.views import event_view, problem_view, run_state, waiting_for
from relay.store.base import EventQuery, NewRun, RunQuery, Store

# How often one process records that a participant is active, at most.
TOUCH_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class EmitResult:
    event: Event
    duplicate: bool
    started_runs: list[str]
    resumed_runs: list[str]
    resumed: list[dict[str, Any]] = field(default_factory=list)  # their states, when followed

    def view(self) -> dict[str, Any]:
        """Shaped like the `emit_event` tool's result (the CLI's and webhooks' answer)."""
        return {
            "event": event_view(self.event),
            "duplicate": self.duplicate,
            "started_runs": self.started_runs,
            "resumed_runs": self.resumed_runs,
            "resumed": self.resumed,
        }


class Relay:
    def __init__(
        self,
        runtime: Runtime,
        catalog: WorkflowCatalog,
        *,
        engine: Engine | None = None,
        allow_inline_code: bool = False,
    ) -> None:
        self.rt = runtime
        self.store: Store = runtime.store
        self.catalog = catalog
        self.engine = engine
        self.allow_inline_code = allow_inline_code
        self._touched: dict[str, float] = {}
        self._participant = runtime.participant
        self.sender: OutboxSender | None = None  # this process's, when it delivers
        runtime.emit = self._emit_from_step

    @property
    def participant(self) -> str:
        """Who is calling: the default source of events, approver, task owner."""
        return self._participant

    def acting_as(self, participant: str) -> "Relay":
        """This process's Relay (same store, engine and catalog) on behalf of another
        participant: e.g. the MCP client whose `initialize` named it."""
        if participant == self._participant:
            return self
        view = copy.copy(self)
        view._participant = participant
        return view

    async def touch(self, name: str | None = None) -> None:
        name = name or self.participant
        now = time.monotonic()
        if now - self._touched.get(name, -1e9) >= TOUCH_EVERY_SECONDS:
            self._touched[name] = now
            await self.store.presence.touch_participant(name)

    # workflows --------------------------------------------------------------------------

    def list_workflows(self) -> dict[str, Any]:
        workflows, problems = self.catalog.scan()
        return {
            "workflows": [coordination.workflow_view(wf, path) for wf, path in workflows.values()],
            "errors": [problem_view(p) for p in problems],
        }

    def load_inline(self, text: str) -> Workflow:
        """A definition passed as text by a caller (a model): untrusted."""
        workflow = load_workflow(text, path="<inline>", catalog=self.rt.actions)
        if not self.allow_inline_code:
            coordination.refuse_inline_code(workflow, self.rt.actions)
        return workflow

    def resolve(self, workflow_or_file: str) -> Workflow:
        """A workflow id from the catalog, or a YAML file path (the user's own: trusted)."""
        return self.catalog.resolve(workflow_or_file)

    def workflow_for(self, workflow: str | None = None, definition: str | None = None) -> Workflow:
        """A catalog workflow by id, or an inline (untrusted) definition: exactly one."""
        if (workflow is None) == (definition is None):
            raise UsageError(
                "give exactly one of `workflow` (the id of a workflow file; list_workflows "
                "shows them) or `definition` (a whole workflow as YAML text)"
            )
        if definition is not None:
            return self.load_inline(definition)
        return self.catalog.get(workflow or "")

    def workflow_source(self, workflow_id: str) -> str:
        """The YAML text of the workflow file that declares `workflow_id`."""
        path = self.catalog.path_of(workflow_id)
        if path is None:
            self.catalog.get(workflow_id)  # raises: not found, or the file does not load
            raise WorkflowNotFound(workflow_id)
        return path.read_text(encoding="utf-8")

    def validate(self, definition: str) -> dict[str, Any]:
        """A definition's problems (`errors`) and, for inline text that would run code
        here, why it can run only from a file (`warnings`): as `validate_workflow` says."""
        inline = "\n" in definition or ":" in definition
        try:
            if inline:
                workflow = load_workflow(definition, path="<inline>", catalog=self.rt.actions)
            else:
                workflow = self.catalog.get(definition)
        except InvalidWorkflow as exc:
            return {"valid": False, "id": None, "errors": [problem_view(p) for p in exc.problems]}
        warnings = []
        if inline and not self.allow_inline_code:
            template = coordination.INLINE_CODE_WARNING
            warnings = coordination.inline_code_problems(workflow, self.rt.actions, template)
        return {
            "valid": True,
            "id": workflow.id,
            "errors": [],
            "warnings": [problem_view(p) for p in warnings],
        }

    # runs -------------------------------------------------------------------------------

    async def start_run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        cwd: str | None = None,
        drive: bool = True,
        trigger_event: dict[str, Any] | None = None,
        trigger_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Record a new run (or find the one with the same key); a local engine drives it."""
        await self.touch()
        values = validate_inputs(workflow, inputs or {})
        run = new_run(
            workflow,
            values,
            started_by=self.participant,
            cwd=cwd or os.getcwd(),
            idempotency_key=idempotency_key,
            trigger_event=trigger_event,
        )
        owner = self.rt.worker_id if (drive and self.engine is not None) else None
        created, is_new = await self.store.runs.create_run(
            NewRun(
                run=run,
                definition=workflow.snapshot(),
                trigger_key=trigger_key,
                owner=owner,
                lease_seconds=self.rt.lease_seconds,
                history=[
                    HistoryEntry(
                        run_id=run.id,
                        kind="run.created",
                        at=run.created_at,
                        data={"by": self.participant, "cwd": run.cwd},
                    )
                ],
                events=[coordination.lifecycle(run, "workflow.started", {"inputs": values})],
            )
        )
        if is_new and owner is not None and self.engine is not None:
            self.engine.adopt_new(created)
        return created, is_new

    async def get_run(self, run_id: str) -> Run:
        await self.touch()
        return await self.store.runs.get_run(run_id)

    async def history(self, run_id: str) -> list[HistoryEntry]:
        """A run's append-only history, oldest first."""
        await self.store.runs.get_run(run_id)  # RunNotFound
        return await self.store.runs.history(run_id)

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
        run = await self.get_run(run_id)
        deadline = time.monotonic() + max(0.0, wait_seconds)
        shown = RunProgress(progress)
        while not await self._stops(run, until, leaving) and time.monotonic() < deadline:
            generation = self.store.feed.generation()
            await shown.show(run)
            await self.store.feed.wait_changed(generation, min(1.0, deadline - time.monotonic()))
            run = await self.store.runs.get_run(run_id)
        return run

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
        return await self.is_settled(await self.store.runs.get_run(child), depth + 1)

    async def list_runs(
        self,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 20,
        *,
        started_by: str | None = None,
        offset: int = 0,
    ) -> list[Run]:
        try:
            wanted = None if status is None else RunStatus(status)
        except ValueError:
            raise UsageError(
                f"unknown status {status!r}; use one of {', '.join(s.value for s in RunStatus)}"
            ) from None
        if not 1 <= limit <= 1000:
            raise UsageError("limit must be between 1 and 1000")
        if offset < 0:
            raise UsageError("offset must be 0 or more")
        query = RunQuery(
            status=wanted, workflow=workflow, started_by=started_by, limit=limit, offset=offset
        )
        return await self.store.runs.list_runs(query)

    async def run_detail(self, run_id: str) -> dict[str, Any]:
        """A run with its graph, attempts, history, events, approvals and tasks."""
        return await details.run_detail(self, run_id)

    def workflow_detail(self, workflow_id: str) -> dict[str, Any]:
        """A catalog workflow with its YAML, graph and Mermaid diagram."""
        return details.workflow_detail(self, workflow_id)

    async def analytics(self, days: int = 14) -> dict[str, Any]:
        """Per workflow: runs per day, success rate, p50/p95 duration, slowest steps."""
        return await workflow_analytics(self.store.runs, days)

    async def cancel(self, run_id: str, reason: str = "", wait_seconds: float = 3.0) -> Run:
        """Ask the run's holder to cancel it; finish it here when nobody holds it."""
        await self.touch()
        reason = reason or f"cancelled by {self.participant}"
        run = await self.store.coordination.request_cancel(run_id, reason)
        if await self.store.runs.claim_run(run_id, self.rt.worker_id, self.rt.lease_seconds):
            await coordination.drive_here(self, run_id)
        if not wait_seconds:
            return run
        return await self.wait_run(run.id, wait_seconds, until=lambda r: r.status.is_final)

    async def resume(self, run_id: str) -> Run:
        """Run a failed or cancelled run again from its failed steps, keeping completed ones."""
        await self.touch()
        run = await self.store.runs.get_run(run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise InvalidTransition(
                f"run {run_id!r} is {run.status.value}; "
                "only a failed or cancelled run can be resumed"
            )
        again = {
            StepStatus.FAILED,
            StepStatus.CANCELLED,
            StepStatus.SKIPPED,
            StepStatus.RUNNING,
            StepStatus.WAITING,
        }
        steps = [s.reopened() for s in run.steps if s.status in again]
        # The workflow's deadline counts from the resume, as from a start.
        limit = (await self.rt.workflow_of(run)).deadline_seconds
        deadline = None if limit is None else utcnow() + timedelta(seconds=limit)
        reopened = await self.store.runs.reopen_run(run_id, steps, self.participant, deadline)
        if self.engine is not None:
            # A root of this engine, so an own-runs-only engine (`relay resume`) also
            # claims its child runs, and the run itself if its lease lapses elsewhere.
            self.engine.roots.add(run.root_run_id or run_id)
            if await self.store.runs.claim_run(run_id, self.rt.worker_id, self.rt.lease_seconds):
                self.engine.adopt([run_id])
            else:
                self.engine.poke()
        return reopened

    # events -----------------------------------------------------------------------------

    async def emit(
        self,
        type: str,  # noqa: A002 - the MCP tools' parameter name
        data: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        follow_seconds: float = 0.0,
    ) -> EmitResult:
        """Append an event; with `follow_seconds`, wait that long at most for the runs it
        resumed to settle again, and report their states."""
        check_event_type(type)
        await self.touch()
        event = NewEvent(
            type=type,
            source=source or self.participant,
            data=dict(data or {}),
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        result = await self._append(event)
        if follow_seconds <= 0 or not result.resumed_runs:
            return result
        resumed = await self._follow_resumed(result.resumed_runs, follow_seconds)
        return replace(result, resumed=resumed)

    async def _follow_resumed(self, run_ids: list[str], seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        states = []
        for run_id in run_ids[:FOLLOW_RESUMED_RUNS]:
            waiting = waiting_for(await self.store.runs.get_run(run_id))
            step = waiting["step"] if waiting and waiting["kind"] == "event" else None
            run = await self.wait_run(run_id, deadline - time.monotonic(), leaving=step)
            states.append(await self.decided_state(run, step))
        return states

    async def decided_state(self, run: Run, step: str | None) -> dict[str, Any]:
        """`run_state(run)` after a decision at `step`; when no engine has acted on it yet,
        `next` says so (and whether any relay process is there to)."""
        state = run_state(run)
        if step is not None and not run.status.is_final and waits_at(run, step):
            alone = not await self.live_workers()
            state["next"] = NOT_PICKED_UP + (NO_PROCESS if alone else "")
        return state

    async def record_process(
        self,
        moment: str,
        data: Mapping[str, Any],
        *,
        notify_slack: bool = True,
        deliver_seconds: float = 0.0,
    ) -> EmitResult:
        """A Python process's `started|completed|failed` (the seed's hooks): its event,
        and its Slack notice in the process's thread when Slack is configured, delivered
        by this process's sender within `deliver_seconds` if it can (else by any other)."""
        await self.touch()
        channels = self.rt.channels if notify_slack else None
        event, notices = process_records(channels, moment, data, self.participant)
        result = await self._append(event, notices)
        if notices and not result.duplicate and deliver_seconds > 0:
            await self.flush_notifications(deliver_seconds, thread_key=notices[0].thread_key)
        return result

    async def _append(
        self, event: NewEvent, outbox: list[NewNotification] | None = None
    ) -> EmitResult:
        owner = self.rt.worker_id if self.engine is not None else None
        result = await self.store.events.append_event(
            event, claim_owner=owner, lease_seconds=self.rt.lease_seconds, outbox=outbox or ()
        )
        if self.engine is not None:
            self.engine.adopt(result.claimed)
        started: list[str] = []
        if not result.duplicate:
            started = await fire_event_triggers(self, result.event)
        return EmitResult(result.event, result.duplicate, started, list(result.woken))

    async def _emit_from_step(self, event: NewEvent) -> Event:
        return (await self._append(event)).event

    async def event_page(
        self,
        type: str | None = None,  # noqa: A002 - the MCP tools' parameter name
        source: str | None = None,
        correlation_id: str | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> tuple[list[Event], int]:
        """Events as `list_events` gives them, and the `last_seq` to pass as `after_seq`
        next time so that nothing is left unread."""
        events = await self.list_events(type, source, correlation_id, after_seq, limit)
        if events:
            return events, events[-1].seq
        return events, after_seq if after_seq is not None else await self.store.events.last_seq()

    async def wait_for_event(
        self,
        type: str,  # noqa: A002 - the MCP tools' parameter name
        match: Mapping[str, Any] | None = None,
        *,
        after_seq: int | None = None,
        timeout_seconds: float = 60.0,
        progress: Progress | None = None,
    ) -> Event | None:
        """The first event of `type` after `after_seq` (default: now) that matches."""
        await self.touch()
        if timeout_seconds < 0 or timeout_seconds > 3600:
            raise UsageError("timeout_seconds must be between 0 and 3600")
        cursor = await self.store.events.last_seq() if after_seq is None else after_seq
        deadline = time.monotonic() + timeout_seconds
        while True:
            generation = self.store.feed.generation()
            found = await self.store.events.list_events(
                EventQuery(type=type, after_seq=cursor, limit=500)
            )
            for event in found:
                if matches(match or {}, event.as_dict()):
                    return event
            cursor = found[-1].seq if found else cursor
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if progress is not None:
                await progress(
                    timeout_seconds - remaining, timeout_seconds, f"waiting for {type!r}"
                )
            await self.store.feed.wait_changed(generation, min(remaining, 1.0))

    async def list_events(
        self,
        type: str | None = None,  # noqa: A002 - the MCP tools' parameter name
        source: str | None = None,
        correlation_id: str | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> list[Event]:
        """Events in seq order: the newest `limit`, or the first `limit` after `after_seq`."""
        if not 1 <= limit <= 1000:
            raise UsageError("limit must be between 1 and 1000")
        return await self.store.events.list_events(
            EventQuery(
                type=type,
                source=source,
                correlation_id=correlation_id,
                after_seq=after_seq,
                limit=limit,
                newest=after_seq is None,
            )
        )

    # approvals, tasks and participants live in coordination.py --------------------------

    async def approve(
        self,
        run_id: str,
        step: str | None = None,
        *,
        approved: bool = True,
        approver: str = "",
        comment: str = "",
        channel: str = "mcp",
    ) -> dict[str, Any]:
        """Decide a gate, then report the run's state once the engine has acted on the
        decision (waiting at most FOLLOW_DECISION_SECONDS)."""
        await self.touch()
        decided = await coordination.approve(
            self, run_id, step, approved, approver or self.participant, comment, channel
        )
        gate: str = decided["step"]
        run = await self.wait_run(run_id, FOLLOW_DECISION_SECONDS, leaving=gate)
        state = await self.decided_state(run, gate)
        return {**decided, "run_status": state["status"], "run": state}

    async def slack_click(self, click: Click) -> ClickOutcome:
        """Decide an approval from a (signature-checked) Slack button click."""
        return await decide_click(self, click)

    async def decidable_gate(self, run_id: str, channel: str = "mcp") -> Approval | None:
        """The pending approval of `run_id` this participant may decide via `channel`."""
        return await coordination.decidable_gate(self, run_id, channel)

    async def list_approvals(self, status: str | None = "pending") -> list[dict[str, Any]]:
        await self.touch()
        return await coordination.list_approvals(self, status)

    async def list_tasks(
        self, participant: str | None = None, status: str | None = "open"
    ) -> list[Task]:
        await self.touch()
        return await coordination.list_tasks(self, participant or self.participant, status)

    async def claim_task(self, task_id: str) -> Task:
        await self.touch()
        return await self.store.coordination.update_task(
            task_id, expect=[TaskStatus.OPEN], status=TaskStatus.CLAIMED, by=self.participant
        )

    async def complete_task(
        self, task_id: str, result: Any = None, *, failed: bool = False, error: str = ""
    ) -> tuple[Task, dict[str, Any]]:
        """Finish a task; with it the run's state once the engine has acted on the result
        (waiting at most FOLLOW_DECISION_SECONDS)."""
        await self.touch()
        task, _ = await coordination.complete_task(self, task_id, result, failed, error)
        run = await self.wait_run(task.run_id, FOLLOW_DECISION_SECONDS, leaving=task.step_id)
        return task, await self.decided_state(run, task.step_id)

    async def list_participants(self, *, addressed: bool = False) -> list[Participant]:
        """Everyone seen recently; with `addressed`, then everyone open tasks are addressed
        to who was never seen (a handoff to a chat that has not connected yet)."""
        await self.touch()
        return await coordination.list_participants(self, addressed)

    async def notify_slack(
        self,
        message: str,
        *,
        title: str | None = None,
        status: str | None = None,
        run_id: str | None = None,
        fields: Mapping[str, str] | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """Queue a message for Slack in the durable outbox (in `run_id`'s thread when
        given); the background sender delivers it."""
        if run_id is not None:
            await self.store.runs.get_run(run_id)  # RunNotFound
        said = Message(
            title or "Notification", message, status_from_word(status), dict(fields or {}),
            run_id, self.participant,
        )  # fmt: skip
        queued = self.rt.channels.message(said, [channel] if channel else [], slack_only=True)
        if not queued.notifications:
            raise ConfigError(queued.not_sent or SLACK_NOT_CONFIGURED)
        [note] = queued.notifications
        [notification_id] = await self.store.outbox.enqueue_notification(note)
        return {
            "notification_id": str(notification_id),
            "delivered": False,
            "queued": True,
            "channel": note.channel or None,
            "ts": None,
            "thread_ts": None,
        }

    async def list_notifications(self, status: str | None = "pending") -> list[Notification]:
        """The outbox: pending (not yet delivered), dead (given up), sent, or all (None)."""
        await self.touch()
        try:
            wanted = None if status in (None, "all") else NotificationStatus(status)
        except ValueError:
            choices = ", ".join(NotificationStatus)
            raise UsageError(f"unknown notification status {status!r}: {choices} or all") from None
        return await self.store.outbox.list_notifications(wanted, limit=1000)

    async def flush_notifications(
        self, wait_seconds: float, *, run_id: str | None = None, thread_key: str | None = None
    ) -> Undelivered:
        """Wait (at most `wait_seconds`, and only while Slack answers) until this process
        has delivered the queued notifications of a run (or of a thread); what is still
        pending, any sender delivers later."""
        return await delivery.flush(
            self.store, self.sender, wait_seconds, run_id=run_id, thread_key=thread_key
        )

    async def live_workers(self) -> list[str]:
        return await self.store.presence.live_workers(3 * self.rt.lease_seconds)
