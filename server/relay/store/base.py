"""The `Store` protocol, split by role, and its value types: everything durable.

A store is its roles: `runs` (runs and their history, leases, saves), `events` (the
event log, waits, cursors), `coordination` (approvals, tasks, signals), `outbox` (the
notification outbox), `presence` (participants and workers), and `feed` (the change
feed); each consumer takes the roles it uses. The one implementation is
`relay.store.sql_store.SqlStore`, on either backend (`relay.store.sql`).

Ownership rule that keeps concurrent writers simple: only the process holding a run's
lease writes the run's own rows (its status, its steps, attempts). Everybody else (an
approver, an event, a task's participant, a cancel request) writes *their* rows
(approvals, events, tasks) and rings the run's doorbell: `signal_seq` goes up and a
parked run becomes claimable. The holder's writes are fenced by its lease and by the
`signal_seq` it last saw, so no outside decision is ever overwritten or missed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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
    RunStatus,
    StepRun,
    StepStatus,
    Task,
    TaskStatus,
)
from relay.store.feed import ChangeFeed


@dataclass
class RunSave:
    """One transaction by a run's lease holder: fenced by `owner` and `expect_signal`."""

    run_id: str
    owner: str
    expect_signal: int | None  # None: write even if an outside actor rang meanwhile
    run: dict[str, Any] = field(default_factory=dict)  # status, outputs, error, wake_at...
    steps: list[StepRun] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    # inserted, or updated only while still undecided (pending; open or claimed)
    approvals: list[Approval] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    waits: list[EventWait] = field(default_factory=list)  # registered with look-back
    drop_waits: list[str] = field(default_factory=list)  # step ids
    ring_runs: list[str] = field(default_factory=list)  # e.g. the parent of a finished child
    outbox: list[NewNotification] = field(default_factory=list)  # delivered after commit
    release: bool = False

    @property
    def rings_doorbell(self) -> bool:
        """Whether engines (in every process) must look at the store after this commit:
        it rings other runs, or hands its own run back with a time to wake it at, which
        the engine that sleeps until the store's next wake-up has not counted yet."""
        return bool(self.ring_runs) or (self.release and self.run.get("wake_at") is not None)


@dataclass(frozen=True)
class SaveResult:
    signal_seq: int
    matched: dict[str, Event]  # waits registered by this save that an earlier event satisfies


@dataclass(frozen=True)
class AppendResult:
    event: Event
    duplicate: bool
    woken: tuple[str, ...]  # runs whose waits this event satisfied
    claimed: tuple[str, ...]  # of those, the ones leased to `claim_owner` in the same transaction


@dataclass(frozen=True)
class NewRun:
    run: Run
    definition: dict[str, Any]
    trigger_key: str | None = None  # unique: a trigger fires at most once per key
    owner: str | None = None  # lease the new run to this worker at once
    lease_seconds: float = 15.0
    events: Sequence[NewEvent] = ()
    history: Sequence[HistoryEntry] = ()


@dataclass(frozen=True)
class EventQuery:
    type: str | None = None
    source: str | None = None
    correlation_id: str | None = None
    after_seq: int | None = None
    limit: int = 50
    newest: bool = False  # the newest `limit` events (still returned in seq order)


@dataclass(frozen=True)
class RunQuery:
    status: RunStatus | None = None
    workflow: str | None = None
    started_by: str | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class StepTiming:
    step_id: str
    status: StepStatus
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class RunTiming:
    """A run's times for analytics (a final run's `updated_at` is when it finished)."""

    run_id: str
    workflow: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    steps: tuple[StepTiming, ...] = ()


class RunStore(Protocol):
    """Runs and their history: created, read, leased to engines, saved by their holder."""

    async def create_run(self, new: NewRun) -> tuple[Run, bool]: ...
    async def get_run(self, run_id: str) -> Run: ...  # RunNotFound
    async def list_runs(self, query: RunQuery) -> list[Run]: ...  # without steps
    async def get_definition(self, definition_hash: str) -> dict[str, Any]: ...
    async def history(self, run_id: str) -> list[HistoryEntry]: ...
    async def attempts(self, run_id: str) -> list[Attempt]: ...
    async def run_timings(self, since: datetime) -> list[RunTiming]: ...  # created since
    async def save(self, save: RunSave) -> SaveResult: ...  # LeaseLost, ConflictError
    async def claim_runs(
        self, owner: str, lease_seconds: float, limit: int, root_run_id: str | None = None
    ) -> list[str]: ...
    async def has_claimable(self, root_run_id: str | None = None) -> bool: ...
    async def claim_run(self, run_id: str, owner: str, lease_seconds: float) -> bool: ...
    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], lease_seconds: float
    ) -> set[str]: ...  # the ids whose lease was lost
    async def release_leases(self, owner: str, run_ids: Sequence[str]) -> None: ...
    async def next_wake_at(self, root_run_id: str | None = None) -> datetime | None: ...
    async def reopen_run(
        self, run_id: str, steps: Sequence[StepRun], by: str, deadline_at: datetime | None
    ) -> Run: ...  # InvalidTransition unless failed or cancelled


class EventLog(Protocol):
    """The shared, append-only event log, the waits runs register on it, and cursors."""

    async def append_event(
        self,
        event: NewEvent,
        *,
        claim_owner: str | None = None,
        lease_seconds: float = 15.0,
        outbox: Sequence[NewNotification] = (),  # queued with the event (not on a duplicate)
    ) -> AppendResult: ...
    async def list_events(self, query: EventQuery) -> list[Event]: ...
    async def get_event(self, seq: int) -> Event | None: ...
    async def last_seq(self) -> int: ...
    async def get_wait(self, run_id: str, step_id: str) -> EventWait | None: ...
    async def advance_cursor(self, name: str, seq: int) -> int: ...  # returns the stored value
    async def get_cursor(self, name: str) -> int | None: ...


class Coordination(Protocol):
    """What outside actors send a run: approval decisions, task changes, signals."""

    async def get_approval(self, approval_id: str) -> Approval: ...
    async def list_approvals(
        self, status: ApprovalStatus | None, run_id: str | None = None
    ) -> list[Approval]: ...
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
        outbox: Sequence[NewNotification] = (),  # queued with the decision
    ) -> Approval: ...  # ConflictError when already decided
    async def get_task(self, task_id: str) -> Task: ...
    async def list_tasks(self, to: str | None, status: TaskStatus | None) -> list[Task]: ...
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
    ) -> Task: ...  # ConflictError when not in an expected status
    async def run_signals(
        self, run_ids: Sequence[str]
    ) -> dict[str, tuple[int, str | None]]: ...  # (signal_seq, cancel reason or None)
    async def request_cancel(self, run_id: str, reason: str) -> Run: ...


class Outbox(Protocol):
    """The notification outbox, drained by `relay.notify.outbox`'s sender."""

    async def enqueue_notification(self, new: NewNotification) -> list[int]: ...
    async def claim_notifications(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[Notification]: ...  # due, each the head of its thread; leased to `owner`
    async def next_notification_due(self) -> datetime | None: ...
    async def notification_sent(
        self, notification_id: int, ts: str | None, channel_id: str | None
    ) -> None: ...
    async def reschedule_notification(
        self,
        notification_id: int,
        delay_seconds: float,
        error: str,
        *,
        count_attempt: bool = True,
        payload: dict[str, Any] | None = None,
    ) -> None: ...
    async def dead_letter_notification(self, notification_id: int, error: str) -> None: ...
    async def dead_letter_destination(self, destination: str, channel: str, error: str) -> int: ...
    async def list_notifications(
        self,
        status: NotificationStatus | None = None,
        run_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]: ...


class Presence(Protocol):
    """Who is there: participants and live engine processes."""

    async def heartbeat(self, worker_id: str, participant: str, pid: int, host: str) -> None: ...
    async def forget_worker(self, worker_id: str) -> None: ...
    async def live_workers(self, seen_within_seconds: float) -> list[str]: ...
    async def touch_participant(self, name: str) -> None: ...
    async def list_participants(self) -> list[Participant]: ...


class Store(Protocol):
    """Durable state, by role: each consumer takes the roles it uses. Each method of a
    role is one transaction; errors are relay.errors."""

    @property
    def runs(self) -> RunStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def coordination(self) -> Coordination: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def presence(self) -> Presence: ...
    @property
    def feed(self) -> ChangeFeed: ...  # commits and doorbell rings, to wait on
    async def aclose(self) -> None: ...
