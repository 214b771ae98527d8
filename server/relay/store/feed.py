"""The store's change feed: two counters that its backend moves and its readers wait on.

- `generation` moves on every commit the store sees: its own at once, other processes'
  through its backend's watcher (SQLite's `PRAGMA data_version` poll, PostgreSQL's
  LISTEN connection). Readers that show state wait on it: `changes()`.
- `doorbell` moves when a run may need an engine (rung, cancelled, created unheld):
  engines wait on it instead of on every commit, their own saves included.

Both are moved on the store's event loop (a backend's threads hop onto it first).
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import anyio


class _Counter:
    __slots__ = ("_moved", "value")

    def __init__(self) -> None:
        self.value = 0
        self._moved = asyncio.Event()

    def bump(self) -> None:
        self.value += 1
        self._moved.set()
        self._moved = asyncio.Event()

    async def wait(self, seen: int, timeout_seconds: float) -> int:
        if self.value == seen:
            moved = self._moved
            with anyio.move_on_after(timeout_seconds):
                await moved.wait()
        return self.value


class ChangeFeed:
    """Commits and doorbell rings, as counters to wait on."""

    def __init__(self) -> None:
        self._commits = _Counter()
        self._rings = _Counter()

    def changed(self) -> None:
        """Something was committed (by this process or, as its watcher saw, another)."""
        self._commits.bump()

    def rang(self) -> None:
        """A run may need an engine."""
        self._rings.bump()

    def generation(self) -> int:
        return self._commits.value

    async def wait_changed(self, generation: int, timeout_seconds: float) -> int:
        """Wait until something is committed after `generation` (by any process); returns
        the generation then (the same one when `timeout_seconds` passed first)."""
        return await self._commits.wait(generation, timeout_seconds)

    def doorbell(self) -> int:
        return self._rings.value

    async def wait_doorbell(self, generation: int, timeout_seconds: float) -> int:
        """Wait until a run may need an engine (rung, cancelled, created unheld)."""
        return await self._rings.wait(generation, timeout_seconds)

    async def changes(self, idle_seconds: float | Callable[[], float]) -> AsyncIterator[int]:
        """The loop "read, do work, wait for a change": yields the generation at once, then
        again after each change (a commit by any process; one made while the caller worked
        counts too) or, when none comes, after `idle_seconds` (a number, or a function
        asked before each wait: the time left to a deadline, say).

            async for _ in store.feed.changes(1.0):
                state = await read()

        It holds nothing between yields: a loop may return or break at any point.
        """
        generation = self._commits.value
        while True:
            yield generation
            idle = idle_seconds() if callable(idle_seconds) else idle_seconds
            generation = await self._commits.wait(generation, max(0.0, idle))
