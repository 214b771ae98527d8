"""The PostgreSQL backend: one database shared by relay processes on several hosts.

Each store method is one transaction on a pooled connection (`postgres_db.Pool`); its
queries live in `postgres_ops`, `postgres_coordination` and `postgres_outbox`. Every
write transaction ends with a NOTIFY on the store's channel (one per schema): "c" for a
commit, "d" when it may need an engine's attention (a ring, a cancel, an unheld run, a
run parked with a wake time). A listener (a LISTEN connection read on the event loop)
turns other processes' notifications into the change feed and the doorbell; this
process's own commits move them at once.

When PostgreSQL goes away, calls fail with StoreUnavailable until it is back, and the
pool connects anew on the first call after that. A lease holder's `save` is the one call
that waits (up to SAVE_RETRY_SECONDS) instead: its writes are fenced by the lease, so a
late save is safe, and an engine keeps the outcome of a step it has already executed
rather than executing it again. A save whose COMMIT was cut off is looked up by its token
before it is repeated, so it is never applied twice.
"""

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

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
from relay.store import postgres_analytics, postgres_save, rows
from relay.store import postgres_coordination as coord
from relay.store import postgres_ops as ops
from relay.store import postgres_outbox as outbox
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
from relay.store.postgres_batch import BatchRefused, SaveBatcher
from relay.store.postgres_db import (
    CHANGED,
    RANG,
    Conn,
    FenceRefused,
    Listener,
    Op,
    Pool,
    UnsureCommit,
    describe,
    open_schema,
)
from relay.store.postgres_outbox import enqueue_all

T = TypeVar("T")

POOL_SIZE = 10  # connections per process (plus the listener's own)
SAVE_RETRY_SECONDS = 30.0
SAVE_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)


class PostgresStore:
    """A `Store` on one PostgreSQL schema (the first one on the URL's search_path)."""

    def __init__(self, url: str, where: str, schema: str) -> None:
        self.where = where
        self.schema = schema
        self._generation = 0
        self._changed = asyncio.Event()
        self._bell_generation = 0
        self._bell = asyncio.Event()
        channel = f"relay:{schema}"[:63]  # PostgreSQL's identifier limit
        self._pool = Pool(url, where, POOL_SIZE, channel)
        self._batcher = SaveBatcher(self._save_plain, self._save_batch)
        self._listener = Listener(
            url, channel, self._pool.backend_pids, self._bump, self._ring_bell
        )

    @classmethod
    async def connect(cls, url: str) -> "PostgresStore":
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"not a PostgreSQL URL: {url!r} (expected postgresql://...)")
        where = describe(url)
        schema = await open_schema(url, where)
        return cls(url, where, schema)

    async def aclose(self) -> None:
        self._listener.close()
        await self._pool.aclose()

    # change feed -----------------------------------------------------------------------

    def _bump(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _ring_bell(self) -> None:
        self._bell_generation += 1
        self._bell.set()
        self._bell = asyncio.Event()

    def generation(self) -> int:
        return self._generation

    def doorbell(self) -> int:
        return self._bell_generation

    async def wait_changed(self, generation: int, timeout_seconds: float) -> int:
        """Wait until something is committed after `generation` (by any process)."""
        if self._generation == generation:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout_seconds)
        return self._generation

    async def wait_doorbell(self, generation: int, timeout_seconds: float) -> int:
        """Wait until a run may need an engine (rung, cancelled, created unheld, or
        parked with a time to wake it at)."""
        if self._bell_generation == generation:
            bell = self._bell
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), timeout_seconds)
        return self._bell_generation

    async def _read(self, op: Op[T]) -> T:
        return await self._pool.run(op)

    async def _write(self, op: Op[T], *, ring: bool = False, single: bool = False) -> T:
        try:
            return await self._pool.run(op, RANG if ring else CHANGED, single=single)
        finally:
            self._bump()
            if ring:
                self._ring_bell()

    # runs --------------------------------------------------------------------------------

    async def create_run(self, new: NewRun) -> tuple[Run, bool]:
        return await self._write(lambda c: ops.create_run(c, new), ring=new.owner is None)

    async def get_run(self, run_id: str) -> Run:
        return await self._read(lambda c: ops.get_run(c, run_id))

    async def list_runs(self, query: RunQuery) -> list[Run]:
        return await self._read(lambda c: ops.list_runs(c, query))

    async def get_definition(self, definition_hash: str) -> dict[str, Any]:
        return await self._read(lambda c: ops.get_definition(c, definition_hash))

    async def history(self, run_id: str) -> list[HistoryEntry]:
        return await self._read(lambda c: ops.history(c, run_id))

    async def attempts(self, run_id: str) -> list[Attempt]:
        return await self._read(lambda c: ops.attempts(c, run_id))

    async def run_timings(self, since: datetime) -> list[RunTiming]:
        return await self._read(lambda c: postgres_analytics.run_timings(c, since))

    async def save(self, save: RunSave) -> SaveResult:
        token = rows.uuid7()
        matched: dict[str, Event] = {}
        give_up = time.monotonic() + SAVE_RETRY_SECONDS
        for attempt in range(10**6):
            try:
                try:
                    return await self._save_once(save, token, matched)
                except UnsureCommit:
                    signal_seq = await self._saved(save.run_id, token, give_up)
                    if signal_seq is not None:
                        return SaveResult(signal_seq=signal_seq, matched=matched)
                    raise
            except StoreUnavailable:
                if time.monotonic() > give_up:
                    raise
            await asyncio.sleep(SAVE_RETRY_DELAYS[min(attempt, len(SAVE_RETRY_DELAYS) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    async def _save_once(self, save: RunSave, token: str, matched: dict[str, Event]) -> SaveResult:
        ring = save.rings_doorbell
        channel, payload = self._pool.channel, RANG if ring else CHANGED
        try:
            if postgres_save.is_plain(save):  # a step's progress: one round trip
                try:
                    signal_seq = await self._batcher.submit(save, token, payload)
                except BatchRefused:  # another save of its batch was: this one goes alone
                    signal_seq = await self._save_plain(save, token, payload)
                return SaveResult(signal_seq=signal_seq, matched={})

            async def apply(conn: Conn) -> SaveResult:
                result = await postgres_save.save(conn, save, token, channel, payload)
                matched.update(result.matched)
                return result

            return await self._write(apply, ring=ring)
        except FenceRefused:
            return await self._read(lambda c: postgres_save.refused(c, save))

    async def _save_plain(self, save: RunSave, token: str, payload: str) -> int:
        channel = self._pool.channel
        return await self._write(
            lambda c: postgres_save.save_plain(c, save, token, channel, payload),
            ring=payload == RANG,
            single=True,
        )

    async def _save_batch(self, batch: list[tuple[RunSave, str, str]]) -> list[int]:
        channel = self._pool.channel
        return await self._write(
            lambda c: postgres_save.save_batch(c, batch, channel),
            ring=any(payload == RANG for _, _, payload in batch),
            single=True,
        )

    async def _saved(self, run_id: str, token: str, give_up: float) -> int | None:
        """Whether a save whose COMMIT was cut off landed (asked until the server is back):
        the run's signal_seq if it did."""
        for attempt in range(10**6):
            try:
                return await self._read(lambda c: postgres_save.saved(c, run_id, token))
            except StoreUnavailable:
                if time.monotonic() > give_up:
                    raise
            await asyncio.sleep(SAVE_RETRY_DELAYS[min(attempt, len(SAVE_RETRY_DELAYS) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    async def claim_runs(
        self, owner: str, lease_seconds: float, limit: int, root_run_id: str | None = None
    ) -> list[str]:
        return await self._write(
            lambda c: ops.claim_runs(c, owner, lease_seconds, limit, root_run_id)
        )

    async def has_claimable(self, root_run_id: str | None = None) -> bool:
        return await self._read(lambda c: ops.has_claimable(c, root_run_id))

    async def claim_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        return await self._write(lambda c: ops.claim_run(c, run_id, owner, lease_seconds))

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], lease_seconds: float
    ) -> set[str]:
        return await self._write(lambda c: ops.renew_leases(c, owner, run_ids, lease_seconds))

    async def release_leases(self, owner: str, run_ids: Sequence[str]) -> None:
        await self._write(lambda c: ops.release_leases(c, owner, run_ids))

    async def next_wake_at(self, root_run_id: str | None = None) -> datetime | None:
        return await self._read(lambda c: ops.next_wake_at(c, root_run_id))

    async def run_signals(self, run_ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        return await self._read(lambda c: ops.run_signals(c, run_ids))

    async def request_cancel(self, run_id: str, reason: str) -> Run:
        return await self._write(lambda c: ops.request_cancel(c, run_id, reason), ring=True)

    async def reopen_run(
        self, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
    ) -> Run:
        return await self._write(
            lambda c: ops.reopen_run(c, run_id, steps, by, deadline_at), ring=True
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
        async def append(c: Conn) -> AppendResult:
            result = await ops.append_event(c, event, claim_owner, lease_seconds)
            if not result.duplicate:
                await enqueue_all(c, outbox)
            return result

        return await self._write(append, ring=True)

    async def list_events(self, query: EventQuery) -> list[Event]:
        return await self._read(lambda c: ops.list_events(c, query))

    async def get_event(self, seq: int) -> Event | None:
        return await self._read(lambda c: ops.get_event(c, seq))

    async def last_seq(self) -> int:
        return await self._read(ops.last_seq)

    async def get_wait(self, run_id: str, step_id: str) -> EventWait | None:
        return await self._read(lambda c: ops.get_wait(c, run_id, step_id))

    async def advance_cursor(self, name: str, seq: int) -> int:
        return await self._write(lambda c: ops.advance_cursor(c, name, seq))

    async def get_cursor(self, name: str) -> int | None:
        return await self._read(lambda c: ops.get_cursor(c, name))

    # approvals and tasks -----------------------------------------------------------------

    async def get_approval(self, approval_id: str) -> Approval:
        return await self._read(lambda c: coord.get_approval(c, approval_id))

    async def list_approvals(
        self, status: ApprovalStatus | None, run_id: str | None = None
    ) -> list[Approval]:
        return await self._read(lambda c: coord.list_approvals(c, status, run_id))

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

        async def decide(c: Conn) -> Approval:
            approval = await coord.decide_approval(c, decision, claim_owner, lease_seconds)
            await enqueue_all(c, outbox)  # not reached when another decision won
            return approval

        return await self._write(decide, ring=True)

    async def get_task(self, task_id: str) -> Task:
        return await self._read(lambda c: coord.get_task(c, task_id))

    async def list_tasks(self, to: str | None, status: TaskStatus | None) -> list[Task]:
        return await self._read(lambda c: coord.list_tasks(c, to, status))

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
        return await self._write(
            lambda c: coord.update_task(c, change, claim_owner, lease_seconds), ring=True
        )

    # the notification outbox -----------------------------------------------------------

    async def enqueue_notification(self, new: NewNotification) -> list[int]:
        return await self._write(lambda c: outbox.enqueue(c, new))

    async def claim_notifications(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[Notification]:
        return await self._write(lambda c: outbox.claim(c, owner, lease_seconds, limit))

    async def next_notification_due(self) -> datetime | None:
        return await self._read(outbox.next_due)

    async def notification_sent(
        self, notification_id: int, ts: str | None, channel_id: str | None
    ) -> None:
        await self._write(lambda c: outbox.mark_sent(c, notification_id, ts, channel_id))

    async def reschedule_notification(
        self,
        notification_id: int,
        delay_seconds: float,
        error: str,
        *,
        count_attempt: bool = True,
        payload: dict[str, Any] | None = None,
    ) -> None:
        await self._write(
            lambda c: outbox.reschedule(
                c, notification_id, delay_seconds, error, count_attempt=count_attempt,
                payload=payload,
            )
        )  # fmt: skip

    async def dead_letter_notification(self, notification_id: int, error: str) -> None:
        await self._write(lambda c: outbox.dead_letter(c, notification_id, error))

    async def dead_letter_destination(self, destination: str, channel: str, error: str) -> int:
        return await self._write(
            lambda c: outbox.dead_letter_destination(c, destination, channel, error)
        )

    async def list_notifications(
        self,
        status: NotificationStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        return await self._read(lambda c: outbox.list_notifications(c, status, run_id, limit))

    # participants ------------------------------------------------------------------------

    async def heartbeat(self, worker_id: str, participant: str, pid: int, host: str) -> None:
        await self._write(lambda c: coord.heartbeat(c, worker_id, participant, pid, host))

    async def forget_worker(self, worker_id: str) -> None:
        await self._write(lambda c: coord.forget_worker(c, worker_id))

    async def live_workers(self, seen_within_seconds: float) -> list[str]:
        return await self._read(lambda c: coord.live_workers(c, seen_within_seconds))

    async def touch_participant(self, name: str) -> None:
        await self._write(lambda c: coord.touch_participant(c, name))

    async def list_participants(self) -> list[Participant]:
        return await self._read(coord.list_participants)
