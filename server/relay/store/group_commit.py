"""Group commit of lease holders' plain saves for a backend whose transactions each cost
a round trip (PostgreSQL's; SQLite's one writer thread group-commits everything queued).

Every save that appends an event holds the event clock's row lock until it commits, so
saves that commit on their own commit one after another, a WAL flush each. The batcher
lets one save at a time lead: a save that arrives while another is in flight queues, and
when the leader's transaction is done the first queued save leads the next batch with
everything queued by then. A save that finds nobody in flight goes at once, alone: no
waiting is added when there is no concurrency.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from relay.errors import BatchRefused, FenceRefused, UnsureCommit
from relay.store.base import RunSave

MAX_BATCH = 64

Single = Callable[[RunSave, str], Awaitable[int]]  # (save, token) -> the run's signal_seq
Batch = Callable[[list[tuple[RunSave, str]]], Awaitable[list[int]]]


def _future() -> "asyncio.Future[int]":
    return asyncio.get_running_loop().create_future()


def _lead() -> "asyncio.Future[None]":
    return asyncio.get_running_loop().create_future()


@dataclass
class _Entry:
    save: RunSave
    token: str
    done: "asyncio.Future[int]" = field(default_factory=_future)
    lead: "asyncio.Future[None]" = field(default_factory=_lead)


class SaveBatcher:
    """Runs saves alone, or queued ones together, through the two callables given."""

    def __init__(self, single: Single, batch: Batch) -> None:
        self._single, self._batch = single, batch
        self._queue: list[_Entry] = []
        self._leading = False

    async def submit(self, save: RunSave, token: str) -> int:
        """The save's signal_seq; FenceRefused, BatchRefused or the store's errors."""
        if not self._leading:  # nobody in flight: at once, alone
            self._leading = True
            try:
                return await self._single(save, token)
            finally:
                self._hand_over()
        entry = _Entry(save, token)
        self._queue.append(entry)
        try:
            while not entry.done.done():
                await asyncio.wait((entry.done, entry.lead), return_when=asyncio.FIRST_COMPLETED)
                if entry.lead.done() and not entry.done.done():
                    await self._flush()
        except BaseException:
            if entry in self._queue:  # cancelled while queued: it goes nowhere
                self._queue.remove(entry)
            if entry.lead.done():
                self._hand_over()
            raise
        return entry.done.result()

    async def _flush(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        try:
            if len(batch) == 1:
                only = batch[0]
                results = [await self._single(only.save, only.token)]
            else:
                results = await self._batch([(e.save, e.token) for e in batch])
        except FenceRefused as exc:
            error: BaseException = exc if len(batch) == 1 else BatchRefused()
            _settle(batch, error)
        except Exception as exc:  # noqa: BLE001 - each caller gets it
            _settle(batch, exc)
        except BaseException:
            # Cancelled in flight: whether the transaction landed is unknown.
            _settle(batch, UnsureCommit("the save was cancelled while in flight"))
            raise
        else:
            for entry, result in zip(batch, results, strict=True):
                entry.done.set_result(result)
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """The next batch is led by the first save queued, if any."""
        if not self._queue:
            self._leading = False
        elif not self._queue[0].lead.done():
            self._queue[0].lead.set_result(None)


def _settle(batch: list[_Entry], error: BaseException) -> None:
    for entry in batch:
        if not entry.done.done():
            entry.done.set_exception(error)
            with contextlib.suppress(BaseException):
                entry.done.exception()  # retrieved: a caller that went away leaves no warning
