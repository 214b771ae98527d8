"""The shared event log: appending (the runs an event wakes go on, the workflows it
triggers start), reading it in pages, waiting for an event, and the seed's process hooks."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from relay.errors import UsageError
from relay.model.events import Event, NewEvent, check_event_type, matches
from relay.model.notification import NewNotification
from relay.service.follow import FOLLOW_RESUMED_RUNS, Progress
from relay.service.host import Host
from relay.service.notifications import Notifications
from relay.service.paging import page_limit
from relay.service.processes import process_records
from relay.service.runs import Runs
from relay.service.triggers import Triggers
from relay.service.views import event_view, waiting_for
from relay.store.base import EventQuery

# `wait_for_event` waits at most this long in one call.
MAX_WAIT_SECONDS = 3600.0


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


class Events:
    def __init__(
        self, host: Host, runs: Runs, triggers: Triggers, notifications: Notifications
    ) -> None:
        self.host = host
        self.runs = runs
        self.triggers = triggers
        self.notifications = notifications

    async def emit(
        self,
        type: str,  # noqa: A002 - the tools' documented parameter
        data: Mapping[str, Any] | None = None,
        *,
        by: str | None = None,
        source: str | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        follow_seconds: float = 0.0,
    ) -> EmitResult:
        """Append an event (from `source`, default: the caller); with `follow_seconds`,
        wait that long at most for the runs it resumed to settle again, and report their
        states."""
        check_event_type(type)
        who = await self.host.act(by)
        event = NewEvent(
            type=type,
            source=source or who,
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
            waiting = waiting_for(await self.runs.get_run(run_id))
            step = waiting["step"] if waiting and waiting["kind"] == "event" else None
            run = await self.runs.wait_run(run_id, deadline - time.monotonic(), leaving=step)
            states.append(await self.runs.state_after(run, step))
        return states

    async def record_process(
        self,
        moment: str,
        data: Mapping[str, Any],
        *,
        by: str | None = None,
        notify_slack: bool = True,
        deliver_seconds: float = 0.0,
    ) -> EmitResult:
        """A Python process's `started|completed|failed` (the seed's hooks): its event,
        and its notice in the process's thread when a channel is configured, delivered by
        this process's sender within `deliver_seconds` if it can (else by any other)."""
        channels = self.host.rt.channels if notify_slack else None
        event, notices = process_records(channels, moment, data, await self.host.act(by))
        result = await self._append(event, notices)
        if notices and not result.duplicate and deliver_seconds > 0:
            thread = notices[0].thread_key
            await self.notifications.flush_notifications(deliver_seconds, thread_key=thread)
        return result

    async def _append(
        self, event: NewEvent, outbox: list[NewNotification] | None = None
    ) -> EmitResult:
        host = self.host
        result = await host.store.events.append_event(
            event, claim_owner=host.owner, lease_seconds=host.rt.lease_seconds, outbox=outbox or ()
        )
        if host.engine is not None:
            host.engine.adopt(result.claimed)
        started: list[str] = []
        if not result.duplicate:
            started = await self.triggers.fire(result.event)
        return EmitResult(result.event, result.duplicate, started, list(result.woken))

    async def event_page(
        self,
        type: str | None = None,  # noqa: A002 - the tools' documented parameter
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
        if after_seq is not None:
            return events, after_seq
        return events, await self.host.store.events.last_seq()

    async def wait_for_event(
        self,
        type: str,  # noqa: A002 - the tools' documented parameter
        match: Mapping[str, Any] | None = None,
        *,
        after_seq: int | None = None,
        timeout_seconds: float = 60.0,
        progress: Progress | None = None,
    ) -> Event | None:
        """The first event of `type` after `after_seq` (default: now) that matches."""
        if not 0 <= timeout_seconds <= MAX_WAIT_SECONDS:
            raise UsageError(f"timeout_seconds must be between 0 and {MAX_WAIT_SECONDS:g}")
        store = self.host.store
        cursor = await store.events.last_seq() if after_seq is None else after_seq
        deadline = time.monotonic() + timeout_seconds
        async for _ in store.feed.changes(lambda: min(deadline - time.monotonic(), 1.0)):
            found = await store.events.list_events(
                EventQuery(type=type, after_seq=cursor, limit=500)
            )
            for event in found:
                if matches(match or {}, event.as_dict()):
                    return event
            cursor = found[-1].seq if found else cursor
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if progress is not None:  # the time waited so far: it only ever rises
                waited = timeout_seconds - remaining
                await progress(waited, timeout_seconds, f"waiting for {type!r}")
        raise AssertionError("changes() never ends")

    async def list_events(
        self,
        type: str | None = None,  # noqa: A002 - the tools' documented parameter
        source: str | None = None,
        correlation_id: str | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> list[Event]:
        """Events in seq order: the newest `limit`, or the first `limit` after `after_seq`."""
        return await self.host.store.events.list_events(
            EventQuery(
                type=type,
                source=source,
                correlation_id=correlation_id,
                after_seq=after_seq,
                limit=page_limit(limit),
                newest=after_seq is None,
            )
        )
