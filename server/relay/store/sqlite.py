"""The SQLite backend: one file shared by every relay process of one user.

Writes go through one writer thread per process that group-commits queued operations
(`BEGIN IMMEDIATE`, one fsync per batch); reads through a reader thread on its own
connection (WAL lets them run beside the writer); a watcher thread notices other
processes' commits. Queries live in `relay.store.sqlite_ops`.
"""

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from relay.errors import ConfigError, StoreUnavailable
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
from relay.store import sqlite_analytics as analytics
from relay.store import sqlite_coordination as coord
from relay.store import sqlite_ops as ops
from relay.store import sqlite_outbox as outbox_queries
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
from relay.store.migrate import migrate_sqlite
from relay.store.sqlite_db import DbThread, Watcher, open_connection

T = TypeVar("T")


def sqlite_path(url: str) -> Path:
    """`sqlite:///abs/path.db` (or `sqlite:////abs/path.db`) or `sqlite:relative.db`."""
    if not url.startswith("sqlite:"):
        raise ConfigError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    rest = url.removeprefix("sqlite:").split("?", 1)[0]
    if rest.startswith("//"):
        rest = rest[2:]  # the (empty) authority
    if rest.startswith("//"):
        rest = rest[1:]  # SQLAlchemy's four-slash absolute form
    if not rest:
        raise ConfigError(f"the SQLite URL {url!r} names no file")
    return Path(unquote(rest))


class SqliteStore:
    """A `Store` on one SQLite file."""

    def __init__(self, path: Path, *, synchronous: str, poll_interval_seconds: float) -> None:
        self.path = path
        self._loop = asyncio.get_running_loop()
        self._generation = 0
        self._changed = asyncio.Event()
        self._writer = DbThread(
            path, synchronous=synchronous, writer=True, loop=self._loop, on_commit=self._bump
        )
        self._reader = DbThread(path, synchronous=synchronous, writer=False)
        self._bell_generation = 0
        self._bell = asyncio.Event()
        self._watcher = Watcher(path, poll_interval_seconds, self._ping, self._ping_bell)
        self._closed = False

    @classmethod
    async def connect(
        cls, url: str, *, synchronous: str = "FULL", poll_interval_seconds: float = 0.01
    ) -> "SqliteStore":
        path = sqlite_path(url)
        _prepare_file(path)
        try:
            conn = open_connection(path, synchronous=synchronous)
            try:
                migrate_sqlite(conn)
            finally:
                conn.close()
            return cls(path, synchronous=synchronous, poll_interval_seconds=poll_interval_seconds)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the relay database {str(path)!r}: {exc}") from exc

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watcher.close()
        self._writer.close()
        self._reader.close()

    # change feed -----------------------------------------------------------------------

    def _ping(self) -> None:
        self._loop.call_soon_threadsafe(self._bump)

    def _bump(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def generation(self) -> int:
        return self._generation

    def _ping_bell(self) -> None:
        self._loop.call_soon_threadsafe(self._ring_bell)

    def _ring_bell(self) -> None:
        self._bell_generation += 1
        self._bell.set()
        self._bell = asyncio.Event()

    def doorbell(self) -> int:
        return self._bell_generation

    async def wait_doorbell(self, generation: int, timeout_seconds: float) -> int:
        """Wait until a run may need an engine (rung, cancelled, created unheld, or
        parked with a time to wake it at)."""
        if self._bell_generation == generation:
            bell = self._bell
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), timeout_seconds)
        return self._bell_generation

    async def _write_ringing(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """A write that may ring runs: engines in this process hear it at once."""
        try:
            return await self._writer.call(op)
        finally:
            self._ring_bell()

    async def wait_changed(self, generation: int, timeout_seconds: float) -> int:
        """Wait until something is committed after `generation` (by any process)."""
        if self._generation == generation:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout_seconds)
        return self._generation

    # runs --------------------------------------------------------------------------------

    async def create_run(self, new: NewRun) -> tuple[Run, bool]:
        if new.owner is None:  # nobody drives it yet: engines should look
            return await self._write_ringing(lambda c: ops.create_run(c, new))
        return await self._writer.call(lambda c: ops.create_run(c, new))

    async def get_run(self, run_id: str) -> Run:
        return await self._reader.call(lambda c: ops.get_run(c, run_id))

    async def list_runs(self, query: RunQuery) -> list[Run]:
        return await self._reader.call(lambda c: ops.list_runs(c, query))

    async def get_definition(self, definition_hash: str) -> dict[str, Any]:
        return await self._reader.call(lambda c: ops.get_definition(c, definition_hash))

    async def history(self, run_id: str) -> list[HistoryEntry]:
        return await self._reader.call(lambda c: ops.history(c, run_id))

    async def attempts(self, run_id: str) -> list[Attempt]:
        return await self._reader.call(lambda c: ops.attempts(c, run_id))

    async def run_timings(self, since: datetime) -> list[RunTiming]:
        return await self._reader.call(lambda c: analytics.run_timings(c, since))

    async def save(self, save: RunSave) -> SaveResult:
        if save.rings_doorbell:
            return await self._write_ringing(lambda c: ops.save(c, save))
        return await self._writer.call(lambda c: ops.save(c, save))

    async def claim_runs(
        self, owner: str, lease_seconds: float, limit: int, root_run_id: str | None = None
    ) -> list[str]:
        return await self._writer.call(
            lambda c: ops.claim_runs(c, owner, lease_seconds, limit, root_run_id)
        )

    async def has_claimable(self, root_run_id: str | None = None) -> bool:
        return await self._reader.call(lambda c: ops.has_claimable(c, root_run_id))

    async def claim_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        return await self._writer.call(lambda c: ops.claim_run(c, run_id, owner, lease_seconds))

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], lease_seconds: float
    ) -> set[str]:
        return await self._writer.call(lambda c: ops.renew_leases(c, owner, run_ids, lease_seconds))

    async def release_leases(self, owner: str, run_ids: Sequence[str]) -> None:
        await self._writer.call(lambda c: ops.release_leases(c, owner, run_ids))

    async def next_wake_at(self, root_run_id: str | None = None) -> datetime | None:
        return await self._reader.call(lambda c: ops.next_wake_at(c, root_run_id))

    async def run_signals(self, run_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        return await self._reader.call(lambda c: ops.run_signals(c, run_ids))

    async def request_cancel(self, run_id: str, reason: str) -> Run:
        return await self._write_ringing(lambda c: ops.request_cancel(c, run_id, reason))

    async def reopen_run(
        self, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
    ) -> Run:
        return await self._write_ringing(
            lambda c: ops.reopen_run(c, run_id, steps, by, deadline_at)
        )

    # events ------------------------------------------------------------------------------

    async def append_event(
        self,
        event: NewEvent,
        *,
        claim_owner: str | None = None,
        lease_seconds: float = 15.0,
        outbox: Sequence[NewNotification] = (),
    ) -> AppendResult:
        def append(c: sqlite3.Connection) -> AppendResult:
            result = ops.append_event(c, event, claim_owner, lease_seconds)
            if not result.duplicate:
                outbox_queries.enqueue_all(c, outbox)
            return result

        return await self._write_ringing(append)

    async def list_events(self, query: EventQuery) -> list[Event]:
        return await self._reader.call(lambda c: ops.list_events(c, query))

    async def get_event(self, seq: int) -> Event | None:
        return await self._reader.call(lambda c: ops.get_event(c, seq))

    async def last_seq(self) -> int:
        return await self._reader.call(ops.last_seq)

    async def get_wait(self, run_id: str, step_id: str) -> EventWait | None:
        return await self._reader.call(lambda c: ops.get_wait(c, run_id, step_id))

    async def advance_cursor(self, name: str, seq: int) -> int:
        return await self._writer.call(lambda c: ops.advance_cursor(c, name, seq))

    async def get_cursor(self, name: str) -> int | None:
        return await self._reader.call(lambda c: ops.get_cursor(c, name))

    # approvals and tasks -----------------------------------------------------------------

    async def get_approval(self, approval_id: str) -> Approval:
        return await self._reader.call(lambda c: coord.get_approval(c, approval_id))

    async def list_approvals(
        self, status: ApprovalStatus | None, run_id: str | None = None
    ) -> list[Approval]:
        return await self._reader.call(lambda c: coord.list_approvals(c, status, run_id))

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
        decision = Decision(approval_id, status, by, channel, comment)

        def decide(c: sqlite3.Connection) -> Approval:
            approval = coord.decide_approval(c, decision, claim_owner, lease_seconds)
            outbox_queries.enqueue_all(c, outbox)
            return approval

        return await self._write_ringing(decide)

    async def get_task(self, task_id: str) -> Task:
        return await self._reader.call(lambda c: coord.get_task(c, task_id))

    async def list_tasks(self, to: str | None, status: TaskStatus | None) -> list[Task]:
        return await self._reader.call(lambda c: coord.list_tasks(c, to, status))

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
        change = TaskChange(task_id, tuple(expect), status, by, result, error)
        return await self._write_ringing(
            lambda c: coord.update_task(c, change, claim_owner, lease_seconds)
        )

    # the notification outbox -----------------------------------------------------------

    async def enqueue_notification(self, new: NewNotification) -> list[int]:
        return await self._writer.call(lambda c: outbox_queries.enqueue(c, new))

    async def claim_notifications(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[Notification]:
        return await self._writer.call(
            lambda c: outbox_queries.claim(c, owner, lease_seconds, limit)
        )

    async def next_notification_due(self) -> datetime | None:
        return await self._reader.call(outbox_queries.next_due)

    async def notification_sent(
        self, notification_id: int, ts: str | None, channel_id: str | None
    ) -> None:
        await self._writer.call(
            lambda c: outbox_queries.mark_sent(c, notification_id, ts, channel_id)
        )

    async def reschedule_notification(
        self,
        notification_id: int,
        delay_seconds: float,
        error: str,
        *,
        count_attempt: bool = True,
        payload: dict[str, Any] | None = None,
    ) -> None:
        await self._writer.call(
            lambda c: outbox_queries.reschedule(
                c,
                notification_id,
                delay_seconds,
                error,
                count_attempt=count_attempt,
                payload=payload,
            )
        )

    async def dead_letter_notification(self, notification_id: int, error: str) -> None:
        await self._writer.call(lambda c: outbox_queries.dead_letter(c, notification_id, error))

    async def dead_letter_destination(self, destination: str, channel: str, error: str) -> int:
        return await self._writer.call(
            lambda c: outbox_queries.dead_letter_destination(c, destination, channel, error)
        )

    async def list_notifications(
        self,
        status: NotificationStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        return await self._reader.call(
            lambda c: outbox_queries.list_notifications(c, status, run_id, limit)
        )

    # participants ------------------------------------------------------------------------

    async def heartbeat(self, worker_id: str, participant: str, pid: int, host: str) -> None:
        await self._writer.call(lambda c: coord.heartbeat(c, worker_id, participant, pid, host))

    async def forget_worker(self, worker_id: str) -> None:
        await self._writer.call(lambda c: coord.forget_worker(c, worker_id))

    async def live_workers(self, seen_within_seconds: float) -> list[str]:
        return await self._reader.call(lambda c: coord.live_workers(c, seen_within_seconds))

    async def touch_participant(self, name: str) -> None:
        await self._writer.call(lambda c: coord.touch_participant(c, name))

    async def list_participants(self) -> list[Participant]:
        return await self._reader.call(coord.list_participants)


def _prepare_file(path: Path) -> None:
    """Create the database file 0600 (and a missing parent 0700): the store is one
    user's trust boundary."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
