"""Triggers: `on: - event:` starts one run per matching event, `on: - schedule:` one run
per cron tick, each exactly once however many processes watch (a unique trigger key
is recorded with the run it starts)."""

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import anyio

from relay.errors import ExpressionError, RelayError, StoreUnavailable, UsageError
from relay.model.events import Event, matches
from relay.model.expressions import evaluate_condition, render
from relay.model.workflow import EventTrigger, ScheduleTrigger, Workflow
from relay.store.base import EventQuery

if TYPE_CHECKING:
    from relay.service.relay import Relay

log = logging.getLogger("relay.triggers")


def trigger_cursor(workflow_id: str) -> str:
    """The name of the cursor up to which a workflow's event triggers were matched."""
    return f"event-triggers:{workflow_id}"


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


async def fire_event_triggers(relay: "Relay", event: Event) -> list[str]:
    """Start the runs this event triggers (once per workflow trigger and event)."""
    started: list[str] = []
    for workflow in relay.catalog.all():
        started += await _fire_workflow(relay, workflow, event)
    return started


async def _fire_workflow(relay: "Relay", workflow: Workflow, event: Event) -> list[str]:
    started: list[str] = []
    context = {"event": event.as_dict()}
    for index, trigger in _event_triggers(workflow):
        if not _fires(trigger, event, context, workflow):
            continue
        try:
            inputs = render(trigger.inputs, context)
            run, is_new = await relay.start_run(
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


async def catch_up_event_triggers(relay: "Relay") -> None:
    """Match the events that no process matched as they were appended (the engine's own
    lifecycle events; events from a process whose catalog lacks the workflow).

    Each workflow has its own cursor, which starts where the log ends when a process
    first sees the workflow: a workflow added later is not triggered by old events, and
    processes with different workflow directories do not skip each other's events.
    """
    for workflow in relay.catalog.all():
        if _event_triggers(workflow):
            await _catch_up(relay, workflow)


async def _catch_up(relay: "Relay", workflow: Workflow) -> None:
    name = trigger_cursor(workflow.id)
    cursor = await relay.store.events.get_cursor(name)
    if cursor is None:
        await relay.store.events.advance_cursor(name, await relay.store.events.last_seq())
        return
    while True:
        found = await relay.store.events.list_events(EventQuery(after_seq=cursor, limit=200))
        if not found:
            return
        for event in found:
            await _fire_workflow(relay, workflow, event)
        cursor = await relay.store.events.advance_cursor(name, found[-1].seq)


def next_tick(trigger: ScheduleTrigger, after: datetime) -> datetime:
    from croniter import croniter  # loaded with the first schedule (see model.workflow)

    zone = ZoneInfo(trigger.tz) if trigger.tz else None
    local = after.astimezone(zone) if zone else after.astimezone()
    following: datetime = croniter(trigger.schedule, local).get_next(datetime)
    return following.astimezone(UTC)


async def fire_schedules(relay: "Relay", since: datetime, until: datetime) -> list[str]:
    """Start a run for each cron tick in (since, until]; the tick's key makes it once-only."""
    started = []
    for workflow in relay.catalog.all():
        for index, trigger in enumerate(workflow.on):
            if not isinstance(trigger, ScheduleTrigger):
                continue
            tick = next_tick(trigger, since)
            if tick > until:
                continue
            event = {"type": "scheduled", "source": "relay", "data": {"tick": tick.isoformat()}}
            try:
                run, is_new = await relay.start_run(
                    workflow,
                    render(trigger.inputs, {"event": event}),
                    trigger_event=event,
                    trigger_key=f"schedule:{workflow.id}:{index}:{tick.isoformat()}",
                )
            except (UsageError, ExpressionError) as exc:
                log.warning("the %s tick could not start %s: %s", tick, workflow.id, exc)
                continue
            if is_new:
                started.append(run.id)
    return started


async def trigger_loop(relay: "Relay", poll_seconds: float = 1.0) -> None:
    """Fire schedules each tick and catch up on event triggers; runs in a serving process."""
    since = datetime.now(UTC)
    while True:
        generation = relay.store.feed.generation()
        now = datetime.now(UTC)
        try:
            await fire_schedules(relay, since, now)
            await catch_up_event_triggers(relay)
            since = now
        except StoreUnavailable as exc:
            log.error("triggers paused: %s", exc)
        except RelayError as exc:
            log.warning("triggers: %s", exc)
        # At most 20 looks a second however busy the store is: triggers need not be instant.
        await anyio.sleep(0.05)
        await relay.store.feed.wait_changed(
            generation, max(0.0, min(poll_seconds, _to_next_second()))
        )


def _to_next_second() -> float:
    now = datetime.now(UTC)
    return (now.replace(microsecond=0) + timedelta(seconds=1) - now).total_seconds()
