"""`SqlStore`: the one `Store`, its roles run on either backend's `Database`.

Each role object's method is one transaction: a read (`Database.read`) or a write
(`Database.write`) of one operation from the modules that hold them (`runs`, `saves`,
`events`, `coordination`, `outbox`, `presence`). The change feed is the database's.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from relay.errors import FenceRefused
from relay.model.events import Event, NewEvent
from relay.model.notification import NewNotification, Notification, NotificationStatus
from relay.model.run import (
    Approval,
    ApprovalStatus,
    Attempt,
    EventWait,
    HistoryEntry,
    Participant,
    Run,
    StepRun,
    Task,
    TaskStatus,
)
from relay.store import coordination, events, outbox, presence, runs, saves
from relay.store.base import (
    AppendResult,
    EventQuery,
    NewRun,
    RunQuery,
    RunSave,
    RunTiming,
    SaveResult,
)
from relay.store.decisions import Decision, TaskChange
from relay.store.sql import Database


class _Role:
    def __init__(self, db: Database) -> None:
        self.db = db


class SqlRuns(_Role):
    """Runs and their history (`RunStore`)."""

    async def create_run(self, new: NewRun) -> tuple[Run, bool]:
        return await self.db.write(lambda c: saves.create_run(c, new))

    async def get_run(self, run_id: str) -> Run:
        return await self.db.read(lambda c: runs.get_run(c, run_id))

    async def list_runs(self, query: RunQuery) -> list[Run]:
        return await self.db.read(lambda c: runs.list_runs(c, query))

    async def get_definition(self, definition_hash: str) -> dict[str, Any]:
        return await self.db.read(lambda c: runs.get_definition(c, definition_hash))

    async def history(self, run_id: str) -> list[HistoryEntry]:
        return await self.db.read(lambda c: runs.history(c, run_id))

    async def attempts(self, run_id: str) -> list[Attempt]:
        return await self.db.read(lambda c: runs.attempts(c, run_id))

    async def run_timings(self, since: datetime) -> list[RunTiming]:
        return await self.db.read(lambda c: runs.run_timings(c, since))

    async def save(self, save: RunSave) -> SaveResult:
        try:
            return await self.db.save(save)
        except FenceRefused:
            return await self.db.read(lambda c: saves.refused(c, save))

    async def claim_runs(
        self, owner: str, lease_seconds: float, limit: int, root_run_id: str | None = None
    ) -> list[str]:
        return await self.db.write(
            lambda c: runs.claim_runs(c, owner, lease_seconds, limit, root_run_id)
        )

    async def has_claimable(self, root_run_id: str | None = None) -> bool:
        return await self.db.read(lambda c: runs.has_claimable(c, root_run_id))

    async def claim_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        return await self.db.write(lambda c: runs.claim_run(c, run_id, owner, lease_seconds))

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], lease_seconds: float
    ) -> set[str]:
        return await self.db.write(lambda c: runs.renew_leases(c, owner, run_ids, lease_seconds))

    async def release_leases(self, owner: str, run_ids: Sequence[str]) -> None:
        await self.db.write(lambda c: runs.release_leases(c, owner, run_ids))

    async def next_wake_at(self, root_run_id: str | None = None) -> datetime | None:
        return await self.db.read(lambda c: runs.next_wake_at(c, root_run_id))

    async def reopen_run(
        self, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
    ) -> Run:
        return await self.db.write(lambda c: runs.reopen_run(c, run_id, steps, by, deadline_at))


class SqlEventLog(_Role):
    """The event log (`EventLog`)."""

    async def append_event(
        self,
        event: NewEvent,
        *,
        claim_owner: str | None = None,
        lease_seconds: float = 15.0,
        outbox: Sequence[NewNotification] = (),
    ) -> AppendResult:
        return await self.db.write(
            lambda c: events.append_event(c, event, claim_owner, lease_seconds, outbox)
        )

    async def list_events(self, query: EventQuery) -> list[Event]:
        return await self.db.read(lambda c: events.list_events(c, query))

    async def get_event(self, seq: int) -> Event | None:
        return await self.db.read(lambda c: events.get_event(c, seq))

    async def last_seq(self) -> int:
        return await self.db.read(events.last_seq)

    async def get_wait(self, run_id: str, step_id: str) -> EventWait | None:
        return await self.db.read(lambda c: events.get_wait(c, run_id, step_id))

    async def advance_cursor(self, name: str, seq: int) -> int:
        return await self.db.write(lambda c: events.advance_cursor(c, name, seq))

    async def get_cursor(self, name: str) -> int | None:
        return await self.db.read(lambda c: events.get_cursor(c, name))


class SqlCoordination(_Role):
    """Approvals, tasks and signals (`Coordination`)."""

    async def get_approval(self, approval_id: str) -> Approval:
        return await self.db.read(lambda c: coordination.get_approval(c, approval_id))

    async def list_approvals(
        self, status: ApprovalStatus | None, run_id: str | None = None
    ) -> list[Approval]:
        return await self.db.read(lambda c: coordination.list_approvals(c, status, run_id))

    async def decide_approval(
        self,
        approval_id: str,
        status: ApprovalStatus,
        *,
        by: str,
        channel: str,
        comment: str,
        claim_owner: str | None = None,
        lease_seconds: float = 15.0,
        outbox: Sequence[NewNotification] = (),
    ) -> Approval:
        d = Decision(approval_id, status, by, channel, comment)
        return await self.db.write(
            lambda c: coordination.decide_approval(c, d, claim_owner, lease_seconds, outbox)
        )

    async def get_task(self, task_id: str) -> Task:
        return await self.db.read(lambda c: coordination.get_task(c, task_id))

    async def list_tasks(self, to: str | None, status: TaskStatus | None) -> list[Task]:
        return await self.db.read(lambda c: coordination.list_tasks(c, to, status))

    async def update_task(
        self,
        task_id: str,
        *,
        expect: Sequence[TaskStatus],
        status: TaskStatus,
        by: str,
        result: Any = None,
        error: str | None = None,
        claim_owner: str | None = None,
        lease_seconds: float = 15.0,
    ) -> Task:
        ch = TaskChange(task_id, tuple(expect), status, by, result, error)
        return await self.db.write(
            lambda c: coordination.update_task(c, ch, claim_owner, lease_seconds)
        )

    async def run_signals(self, run_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        return await self.db.read(lambda c: runs.run_signals(c, run_ids))

    async def request_cancel(self, run_id: str, reason: str) -> Run:
        return await self.db.write(lambda c: runs.request_cancel(c, run_id, reason))


class SqlOutbox(_Role):
    """The notification outbox (`Outbox`)."""

    async def enqueue_notification(self, new: NewNotification) -> list[int]:
        return await self.db.write(lambda c: outbox.enqueue(c, new))

    async def claim_notifications(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[Notification]:
        return await self.db.write(lambda c: outbox.claim(c, owner, lease_seconds, limit))

    async def next_notification_due(self) -> datetime | None:
        return await self.db.read(outbox.next_due)

    async def notification_sent(
        self, notification_id: int, ts: str | None, channel_id: str | None
    ) -> None:
        await self.db.write(lambda c: outbox.mark_sent(c, notification_id, ts, channel_id))

    async def reschedule_notification(
        self,
        notification_id: int,
        delay_seconds: float,
        error: str,
        *,
        count_attempt: bool = True,
        payload: dict[str, Any] | None = None,
    ) -> None:
        await self.db.write(
            lambda c: outbox.reschedule(
                c, notification_id, delay_seconds, error, count_attempt=count_attempt,
                payload=payload,
            )
        )  # fmt: skip

    async def dead_letter_notification(self, notification_id: int, error: str) -> None:
        await self.db.write(lambda c: outbox.dead_letter(c, notification_id, error))

    async def dead_letter_destination(self, destination: str, channel: str, error: str) -> int:
        return await self.db.write(
            lambda c: outbox.dead_letter_destination(c, destination, channel, error)
        )

    async def list_notifications(
        self,
        status: NotificationStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        return await self.db.read(lambda c: outbox.list_notifications(c, status, run_id, limit))


class SqlPresence(_Role):
    """Participants and workers (`Presence`)."""

    async def heartbeat(self, worker_id: str, participant: str, pid: int, host: str) -> None:
        await self.db.write(lambda c: presence.heartbeat(c, worker_id, participant, pid, host))

    async def forget_worker(self, worker_id: str) -> None:
        await self.db.write(lambda c: presence.forget_worker(c, worker_id))

    async def live_workers(self, seen_within_seconds: float) -> list[str]:
        return await self.db.read(lambda c: presence.live_workers(c, seen_within_seconds))

    async def touch_participant(self, name: str) -> None:
        await self.db.write(lambda c: presence.touch_participant(c, name))

    async def list_participants(self) -> list[Participant]:
        return await self.db.read(presence.list_participants)


class SqlStore:
    """A `relay.store.base.Store` on one database: its roles, its feed, its lifetime."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.feed = db.feed
        self.runs = SqlRuns(db)
        self.events = SqlEventLog(db)
        self.coordination = SqlCoordination(db)
        self.outbox = SqlOutbox(db)
        self.presence = SqlPresence(db)

    async def aclose(self) -> None:
        await self.db.aclose()
