"""The Engine: one per serving process. It claims runnable runs under a lease, drives
them concurrently, renews its leases, hands them back on shutdown, and relays outside
signals (approvals, events, cancel requests) to the drivers of the runs it holds.

Use as `async with Engine(runtime) as engine:`; the loops live in its task group.
"""

import logging
import os
import socket
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from relay.engine.driver import RunDriver
from relay.engine.runtime import Runtime, utcnow
from relay.errors import LeaseLost, RelayError, RunNotFound, StoreUnavailable
from relay.model.events import Event
from relay.model.run import Run
from relay.store.base import AppendResult

log = logging.getLogger("relay.engine")
# One line when this engine takes a run and one when it lets it go (finished or parked):
# `relay worker` shows them; elsewhere they stay below the default level.
runs_log = logging.getLogger("relay.engine.runs")

# Between two looks at the store for claimable runs, at most this long even when nothing
# signalled a change: a safety net for missed change notifications.
IDLE_POLL_SECONDS = 1.0


def let_go(run: Run) -> str:
    """How a run leaves the engine that drove it: finished, or parked until something."""
    if run.status.is_final:
        error = f": {run.error.splitlines()[0]}" if run.error else ""
        return f"finished run {run.id} ({run.workflow}): {run.status.value}{error}"
    waits = [s.waiting for s in run.steps if s.waiting is not None]
    why = f"waits for {waits[0].kind.value} at step {waits[0].step}" if waits else "waits"
    return f"parked run {run.id} ({run.workflow}): {run.status.value}, {why}"


class Engine:
    def __init__(
        self,
        rt: Runtime,
        *,
        max_concurrent_runs: int = 256,
        own_runs_only: bool = False,
        claim: bool = True,
        step_events: MemoryObjectSendStream[Event] | None = None,
    ) -> None:
        self.rt = rt
        # Where the events the runs' steps append go on to (the triggers they may fire).
        self.step_events = step_events
        # `relay run`: drive only the runs this process started, and their children.
        self.own_runs_only = own_runs_only
        self.roots: set[str] = set()
        self.claim = claim
        self.drivers: dict[str, RunDriver] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}  # runs being driven
        # Leased runs not driven yet: at most `max_concurrent_runs` drivers (tasks) exist,
        # so 10,000 runs woken at once cost 10,000 ids here, not 10,000 tasks.
        self._queue: deque[str] = deque()
        self._held: set[str] = set()  # every run whose lease this engine holds
        self._capacity = max_concurrent_runs
        self._full = False
        self._tg: TaskGroup | None = None
        self._poke = anyio.Event()
        self._fresh: dict[str, Run] = {}  # created here, about to be driven: see adopt_new

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._renew_loop)
        if self.claim:
            self._tg.start_soon(self._claim_loop)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        held = list(self._held)  # each driver forgets its run as it is cancelled
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(et, exc, tb)
        finally:
            await self._hand_back(held)

    async def _hand_back(self, held: list[str]) -> None:
        """Leave the store as a dead process would not: heartbeat gone, leases free,
        so that other workers take the runs over at once instead of after the lease.
        Both writes are queued together, so they share one commit (one fsync: a client
        that stops relay sends SIGKILL half a second after SIGINT)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            async with anyio.create_task_group() as tg:
                if self.claim and not self.own_runs_only:
                    tg.start_soon(self._forget_worker)
                if held:
                    tg.start_soon(self._release, held)

    async def _forget_worker(self) -> None:
        try:
            await self.rt.store.presence.forget_worker(self.rt.worker_id)
        except RelayError as exc:
            log.warning("could not remove this worker's heartbeat: %s", exc)

    # driving ----------------------------------------------------------------------------

    def adopt(self, run_ids: Iterable[str], *, root: bool = False) -> None:
        """Drive runs this worker already holds the lease on."""
        for run_id in run_ids:
            if root:
                self.roots.add(run_id)
            if run_id not in self._held:
                self._held.add(run_id)
                self._queue.append(run_id)
        self._dispatch()

    def adopt_new(self, run: Run) -> None:
        """Drive a run this process has just created and leased, starting from the row
        the store returned: no second read before its first step. (A run that has to
        queue for a driver is read again when its turn comes.)"""
        self._fresh[run.id] = run
        self.adopt([run.id], root=True)
        if run.id not in self._scopes:
            self._fresh.pop(run.id, None)

    def _appended(self, result: AppendResult) -> None:
        """A step of a run driven here appended an event: drive the runs it woke (leased
        to this worker with it), and pass it on to the triggers."""
        self.adopt(result.claimed)
        if not result.duplicate and self.step_events is not None:
            self.step_events.send_nowait(result.event)

    def _dispatch(self) -> None:
        assert self._tg is not None
        while self._queue and len(self._scopes) < self._capacity:
            run_id = self._queue.popleft()
            scope = anyio.CancelScope()
            self._scopes[run_id] = scope
            self._tg.start_soon(self._drive, run_id, scope)

    def poke(self) -> None:
        """Look for claimable runs now (e.g. after starting one without a lease)."""
        self._poke.set()

    async def _drive(self, run_id: str, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                run = self._fresh.pop(run_id, None) or await self.rt.store.runs.get_run(run_id)
                driver = RunDriver(self.rt, run, await self.rt.workflow_of(run), self._appended)
                self.drivers[run_id] = driver
                runs_log.info("took run %s (%s, %s)", run_id, run.workflow, run.status.value)
                await driver.drive()
                if runs_log.isEnabledFor(logging.INFO):  # no text built for nobody
                    runs_log.info("%s", let_go(driver.run))
        except LeaseLost:
            log.info("run %s was taken over by another worker", run_id)
        except RunNotFound:
            log.warning("run %s vanished from the store", run_id)
        except StoreUnavailable as exc:
            log.error("run %s paused: %s", run_id, exc)
            await self._release([run_id])
        finally:
            self.drivers.pop(run_id, None)
            self._scopes.pop(run_id, None)
            self._held.discard(run_id)
            self._dispatch()
            if self._full:  # there was no room when it last looked: look again
                self._full = False
                self.poke()

    async def _release(self, run_ids: list[str]) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self.rt.store.runs.release_leases(self.rt.worker_id, run_ids)
            except RelayError as exc:
                log.warning("could not hand back leases on %d runs: %s", len(run_ids), exc)

    # loops ------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            generation = self.rt.store.feed.doorbell()
            try:
                await self._look()
                timeout_seconds = await self._seconds_to_next_wake()
            except StoreUnavailable as exc:
                log.error("store unavailable, retrying: %s", exc)
                timeout_seconds = 1.0
            await self._wait_for_change(generation, timeout_seconds)

    async def _look(self) -> None:
        if self.drivers:
            await self.ring_held()
        roots: list[str | None] = list(self.roots) if self.own_runs_only else [None]
        for root in roots:
            room = self._capacity - len(self._held)
            self._full = room <= 0
            if room > 0 and await self.rt.store.runs.has_claimable(root):
                claimed = await self.rt.store.runs.claim_runs(
                    self.rt.worker_id, self.rt.lease_seconds, min(room, 64), root
                )
                self.adopt(claimed)

    async def ring_held(self) -> None:
        """Tell drivers whose runs were signalled (approval, event, cancel) to look."""
        signals = await self.rt.store.coordination.run_signals(list(self.drivers))
        for run_id, (signal_seq, cancel_reason) in signals.items():
            driver = self.drivers.get(run_id)
            if driver is not None and (signal_seq > driver.rec.signal or cancel_reason):
                driver.ring(signal_seq, cancel_reason)

    async def _seconds_to_next_wake(self) -> float:
        roots: list[str | None] = list(self.roots) if self.own_runs_only else [None]
        wakes = [w for r in roots if (w := await self.rt.store.runs.next_wake_at(r)) is not None]
        wake = min(wakes) if wakes else None
        if wake is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (wake - utcnow()).total_seconds()))

    async def _wait_for_change(self, generation: int, timeout_seconds: float) -> None:
        with anyio.move_on_after(timeout_seconds):
            async with anyio.create_task_group() as tg:

                async def on_poke() -> None:
                    await self._poke.wait()
                    tg.cancel_scope.cancel()

                async def on_change() -> None:
                    await self.rt.store.feed.wait_doorbell(generation, 3600.0)
                    tg.cancel_scope.cancel()

                tg.start_soon(on_poke)
                tg.start_soon(on_change)
        if self._poke.is_set():
            self._poke = anyio.Event()

    async def _heartbeat(self) -> None:
        try:
            await self.rt.store.presence.heartbeat(
                self.rt.worker_id, self.rt.participant, os.getpid(), socket.gethostname()
            )
        except StoreUnavailable as exc:
            log.error("could not record this worker's heartbeat: %s", exc)

    async def _renew_loop(self) -> None:
        # Renew at a third of the lease so that two missed renewals still keep it.
        while True:
            if self.claim and not self.own_runs_only:
                await self._heartbeat()
            await anyio.sleep(self.rt.lease_seconds / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                lost = await self.rt.store.runs.renew_leases(
                    self.rt.worker_id, held, self.rt.lease_seconds
                )
            except StoreUnavailable as exc:
                log.error("could not renew leases: %s", exc)
                continue
            for run_id in lost:
                log.warning("lost the lease on run %s; stopping its driver", run_id)
                scope = self._scopes.get(run_id)
                if scope is not None:
                    scope.cancel()
                elif run_id in self._queue:
                    self._queue.remove(run_id)
                    self._held.discard(run_id)
