"""Triggers: `on: - event:` starts one run per matching event, `on: - schedule:` one run
per cron tick, each exactly once however many processes watch (a unique trigger key is
recorded with the run it starts).

Time comes from a `Clock`, so that a test moves it instead of waiting for the wall
clock's next minute.
"""

import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from relay.catalog import WorkflowCatalog
from relay.errors import ExpressionError, RelayError, StoreUnavailable, UsageError
from relay.model.events import Event, matches
from relay.model.expressions import evaluate_condition, render
from relay.model.workflow import EventTrigger, ScheduleTrigger, Workflow
from relay.service.runs import Runs
from relay.store.base import EventQuery

log = logging.getLogger("relay.triggers")

# At most this many looks a second however busy the store is: triggers need not be instant.
LOOKS_APART_SECONDS = 0.05


class Clock(Protocol):
    """What the trigger loop knows of time."""

    def now(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def trigger_cursor(workflow_id: str) -> str:
    """The name of the cursor up to which a workflow's event triggers were matched."""
    return f"event-triggers:{workflow_id}"


class Triggers:
    def __init__(self, catalog: WorkflowCatalog, runs: Runs, clock: Clock | None = None) -> None:
        self.catalog = catalog
        self.runs = runs
        self.clock: Clock = clock or SystemClock()

    async def fire(self, event: Event) -> list[str]:
        """Start the runs this event triggers (once per workflow trigger and event)."""
        started: list[str] = []
        for workflow in self.catalog.all():
            started += await self._fire_workflow(workflow, event)
        return started

    async def fire_each(self, events: MemoryObjectReceiveStream[Event]) -> None:
        """Fire the triggers of every event that comes (the engine's steps' events)."""
        async with events:
            async for event in events:
                try:
                    await self.fire(event)
                except RelayError as exc:  # the catch-up loop matches it again later
                    log.warning("triggers of event %s: %s", event.seq, exc)

    async def _fire_workflow(self, workflow: Workflow, event: Event) -> list[str]:
        started: list[str] = []
        context = {"event": event.as_dict()}
        for index, trigger in _event_triggers(workflow):
            if not _fires(trigger, event, context, workflow):
                continue
            try:
                inputs = render(trigger.inputs, context)
                run, is_new = await self.runs.start_run(
                    workflow,
                    inputs,
                    trigger_event=event.as_dict(),
                    trigger_key=f"event:{workflow.id}:{index}:{event.seq}",
                )
            except (UsageError, ExpressionError) as exc:
                log.warning("event %s could not start %s: %s", event.seq, workflow.id, exc)
                continue
            if is_new:
                started.append(run.id)
        return started

    async def catch_up(self) -> None:
        """Match the events that no process matched as they were appended (the engine's
        own lifecycle events; events from a process whose catalog lacks the workflow).

        Each workflow has its own cursor, which starts where the log ends when a process
        first sees the workflow: a workflow added later is not triggered by old events,
        and processes with different workflow directories do not skip each other's events.
        """
        for workflow in self.catalog.all():
            if _event_triggers(workflow):
                await self._catch_up(workflow)

    async def _catch_up(self, workflow: Workflow) -> None:
        store = self.runs.host.store
        name = trigger_cursor(workflow.id)
        cursor = await store.events.get_cursor(name)
        if cursor is None:
            await store.events.advance_cursor(name, await store.events.last_seq())
            return
        while True:
            found = await store.events.list_events(EventQuery(after_seq=cursor, limit=200))
            if not found:
                return
            for event in found:
                await self._fire_workflow(workflow, event)
            cursor = await store.events.advance_cursor(name, found[-1].seq)

    async def fire_schedules(self, since: datetime, until: datetime) -> list[str]:
        """Start a run for each cron tick in (since, until]; the tick's key makes it
        once-only."""
        started = []
        for workflow in self.catalog.all():
            for index, trigger in enumerate(workflow.on):
                if not isinstance(trigger, ScheduleTrigger):
                    continue
                tick = next_tick(trigger, since)
                if tick <= until:
                    started += await self._start_tick(workflow, index, trigger, tick)
        return started

    async def _start_tick(
        self, workflow: Workflow, index: int, trigger: ScheduleTrigger, tick: datetime
    ) -> list[str]:
        event = {"type": "scheduled", "source": "relay", "data": {"tick": tick.isoformat()}}
        try:
            run, is_new = await self.runs.start_run(
                workflow,
                render(trigger.inputs, {"event": event}),
                trigger_event=event,
                trigger_key=f"schedule:{workflow.id}:{index}:{tick.isoformat()}",
            )
        except (UsageError, ExpressionError) as exc:
            log.warning("the %s tick could not start %s: %s", tick, workflow.id, exc)
            return []
        return [run.id] if is_new else []

    async def run_loop(self, poll_seconds: float = 1.0) -> None:
        """Fire schedules each tick and catch up on event triggers, forever (in every
        serving process)."""
        feed = self.runs.host.store.feed
        since = self.clock.now()
        while True:
            generation = feed.generation()
            now = self.clock.now()
            try:
                await self.fire_schedules(since, now)
                await self.catch_up()
                since = now
            except StoreUnavailable as exc:
                log.error("triggers paused: %s", exc)
            except RelayError as exc:
                log.warning("triggers: %s", exc)
            await anyio.sleep(LOOKS_APART_SECONDS)
            to_tick = _to_next_second(self.clock.now())
            await _first(
                functools.partial(feed.wait_changed, generation, poll_seconds),
                functools.partial(self.clock.sleep, to_tick),
            )


def next_tick(trigger: ScheduleTrigger, after: datetime) -> datetime:
    from croniter import croniter  # loaded with the first schedule (see model.workflow)

    zone = ZoneInfo(trigger.tz) if trigger.tz else None
    local = after.astimezone(zone) if zone else after.astimezone()
    following: datetime = croniter(trigger.schedule, local).get_next(datetime)
    return following.astimezone(UTC)


def _event_triggers(workflow: Workflow) -> list[tuple[int, EventTrigger]]:
    return [(i, t) for i, t in enumerate(workflow.on) if isinstance(t, EventTrigger)]


def _fires(trigger: EventTrigger, event: Event, context: dict[str, Any], wf: Workflow) -> bool:
    if trigger.event != event.type or not matches(trigger.match, context["event"]):
        return False
    if trigger.if_ is None:
        return True
    try:
        return evaluate_condition(trigger.if_, context, step=None)
    except ExpressionError as exc:
        log.warning("trigger of workflow %s: %s", wf.id, exc)
        return False


def _to_next_second(now: datetime) -> float:
    return (now.replace(microsecond=0) + timedelta(seconds=1) - now).total_seconds()


async def _first(*waits: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Wait until the first of `waits` returns."""
    async with anyio.create_task_group() as tg:

        async def until_done(wait: Callable[[], Coroutine[Any, Any, Any]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for wait in waits:
            tg.start_soon(until_done, wait)
