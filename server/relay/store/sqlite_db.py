"""SQLite plumbing: connections and their pragmas, the one place sqlite3's errors become
relay's (`translate`), a group-committing writer thread, a reader thread, and a watcher
that notices commits made by other processes.

sqlite3 calls never run on the event loop: each thread owns its connection, runs each
operation (an async function of a `relay.store.sql.Connection` that never suspends here)
to its end, and hands results back with `loop.call_soon_threadsafe`, one wake-up per batch.
"""

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from relay.errors import ConflictError, RelayError, StoreError, StoreUnavailable
from relay.store.feed import ChangeFeed
from relay.store.migrate import split_statements
from relay.store.rows import Row
from relay.store.sql import Dialect, Op, Params

T = TypeVar("T")

# How long one BEGIN IMMEDIATE waits inside SQLite for another process's write lock.
# Several processes share one file; a writer holds the lock for well under a millisecond,
# so 5 s only runs out when something is badly stuck...
BUSY_TIMEOUT_MS = 5_000
# ...and then we retry the whole batch for up to a minute before telling the caller the
# store is unavailable, so "database is locked" never reaches a user as such.
BUSY_GIVE_UP_SECONDS = 60.0
# Group commit: at most this many queued writes share one transaction.
MAX_BATCH = 256
# Bumped by every write that may need an engine's attention (a ring, a cancel, a new run
# nobody holds); the watchers of other processes poll it.
DOORBELL = "SELECT seq FROM cursors WHERE name = 'doorbell'"
RING_DOORBELL = (
    "INSERT INTO cursors VALUES ('doorbell', 1) ON CONFLICT (name) DO UPDATE SET seq = seq + 1"
)


def open_connection(path: Path, *, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    # busy_timeout: wait (inside SQLite) for another process's lock instead of failing at once.
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL: readers never block the writer nor the writer them, across processes too.
    # Switching to it needs a moment of exclusive access and, unlike ordinary locks, does
    # not always go through busy_timeout: when another process is opening or migrating
    # the same new file, wait for it.
    _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
    # FULL syncs the WAL on every commit (a committed step survives power loss);
    # NORMAL only at checkpoints (survives a process crash, not a power cut).
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    return conn


def _retry_busy(statement: Callable[[], object]) -> None:
    give_up = time.monotonic() + BUSY_GIVE_UP_SECONDS
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


def _begin_immediate(conn: sqlite3.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads
    # and then writes can fail with SQLITE_BUSY mid-way when another process wrote
    # meanwhile, and busy_timeout cannot help it. Immediate ones just queue.
    _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary code of an extended one


def _is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextlib.contextmanager
def translate() -> Iterator[None]:
    """sqlite3's errors as relay's: a constraint is a ConflictError, the environment
    failing (locked beyond the timeout, I/O, disk full) the retryable StoreUnavailable,
    anything else (a statement SQLite refuses, a corrupt file) a StoreError."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"the relay database refused a write: {exc}") from exc
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise StoreUnavailable(
                "the relay database stayed locked by another process for over "
                f"{BUSY_GIVE_UP_SECONDS:.0f} s; try again"
            ) from exc
        # sqlite3 files what SQLite refuses to run (SQLITE_ERROR: a syntax error, no such
        # table) as an OperationalError too; every other one is the environment failing.
        if isinstance(exc, sqlite3.OperationalError) and _code(exc) != sqlite3.SQLITE_ERROR:
            raise StoreUnavailable(f"the relay database is unavailable: {exc}") from exc
        raise StoreError(f"the relay database failed: {exc}") from exc


class SqliteConnection:
    """`relay.store.sql.Connection` on a sqlite3 connection: every call completes at once."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect) -> None:
        self.raw, self.dialect = conn, dialect
        self.rang = False  # since the writer's batch began

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self.raw.execute(self.dialect.sql(sql), params).fetchone()
        return row

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.raw.execute(self.dialect.sql(sql), params).fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self.raw.execute(self.dialect.sql(sql), params).rowcount

    async def many(self, sql: str, params: Sequence[Params]) -> None:
        if params:
            self.raw.executemany(self.dialect.sql(sql), params)

    async def ring_doorbell(self) -> None:
        self.raw.execute(RING_DOORBELL)
        self.rang = True

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        _begin_immediate(self.raw)
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    async def script(self, sql: str) -> None:
        for statement in split_statements(sql):
            self.raw.execute(statement)


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an operation that never suspends (each await is a sqlite3 call) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a SQLite store operation awaited something other than its connection")


Outcome = tuple[Any, BaseException | None]
Job = tuple[Op[Any], "asyncio.Future[Any]"]


class DbThread:
    """One thread, one connection, a queue of operations from the store's event loop.

    The writer variant wraps each batch of queued operations in one `BEGIN IMMEDIATE`
    transaction (group commit: one fsync for many runs' writes) and each operation in a
    savepoint, so one failing operation rolls back alone.
    """

    def __init__(
        self, conn: SqliteConnection, loop: asyncio.AbstractEventLoop, feed: ChangeFeed | None
    ) -> None:
        self._conn = conn
        # With a feed, a writer: it moves the feed on the loop, in the same wake-up that
        # settles the batch's callers.
        self._loop, self._feed = loop, feed
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        # Guards `_closed`: a job queued after the closing sentinel would never be served.
        self._lock = threading.Lock()
        self._closed = False
        name = "relay-sqlite-" + ("writer" if feed else "reader")
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def call(self, op: Op[T]) -> T:
        future = self._loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the relay store was closed")
            self._queue.put((op, future))
        result: T = await future
        return result

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=10)
        with contextlib.suppress(sqlite3.Error):
            self._conn.raw.close()

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._feed is None:
                outcome = self._run_alone(job[0], fail_batch=False)
                self._loop.call_soon_threadsafe(_settle_all, None, False, [(job[1], *outcome)])
                continue
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._write_batch(batch)

    def _write_batch(self, batch: list[Job]) -> None:
        self._conn.rang = False
        try:
            with translate():
                outcomes = self._transaction(batch)
            committed = True
        except RelayError as exc:
            outcomes, committed = [(None, exc)] * len(batch), False
        # Waking an event loop from a thread costs a write to its self-pipe and a turn of
        # its selector: the batch's callers and the feed share one wake-up.
        settled = [(future, *outcome) for (_, future), outcome in zip(batch, outcomes, strict=True)]
        feed = self._feed if committed else None
        self._loop.call_soon_threadsafe(_settle_all, feed, committed and self._conn.rang, settled)

    def _transaction(self, batch: list[Job]) -> list[Outcome]:
        conn = self._conn.raw
        _begin_immediate(conn)
        try:
            if len(batch) == 1:
                # Alone in its transaction, an operation needs no savepoint: if it fails,
                # rolling the transaction back rolls back just that operation.
                outcome = self._run_alone(batch[0][0], fail_batch=True)
                conn.execute("ROLLBACK" if outcome[1] is not None else "COMMIT")
                return [outcome]
            outcomes = [self._run_in_savepoint(op) for op, _ in batch]
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _run_in_savepoint(self, op: Op[Any]) -> Outcome:
        conn = self._conn.raw
        conn.execute("SAVEPOINT op")
        result, error = self._run_alone(op, fail_batch=True)
        if error is not None:
            conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return result, error

    def _run_alone(self, op: Op[Any], *, fail_batch: bool) -> Outcome:
        try:
            with translate():
                return run_to_end(op(self._conn)), None
        except StoreUnavailable as exc:
            if fail_batch:
                raise  # the whole transaction is in doubt (disk full, lock lost): fail the batch
            return None, exc
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, not swallowed
            return None, exc


def _settle_all(
    feed: ChangeFeed | None,
    rang: bool,
    settled: list[tuple["asyncio.Future[Any]", Any, BaseException | None]],
) -> None:
    if feed is not None:
        feed.changed()
        if rang:
            feed.rang()
    for future, result, error in settled:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Watcher:
    """Polls `PRAGMA data_version` to notice commits by other processes.

    data_version changes whenever another connection commits, so one cheap pragma per
    tick tells whether anything needs re-reading; the poll interval bounds cross-process
    wake-up latency.
    """

    def __init__(self, path: Path, interval_seconds: float, feed: ChangeFeed) -> None:
        self._conn = open_connection(path, synchronous="NORMAL")
        self._interval = interval_seconds
        self._loop, self._feed = asyncio.get_running_loop(), feed
        self._stop = threading.Event()
        # The baseline is taken now, not at the first tick: a commit made between opening
        # the store and that tick is a change too.
        self._version: Any = None
        self._bell: Any = None
        with contextlib.suppress(sqlite3.Error):
            self._look()
        self._thread = threading.Thread(target=self._poll, name="relay-sqlite-watch", daemon=True)
        self._thread.start()

    def _look(self) -> tuple[bool, bool]:
        """Whether another connection committed since the last look, and whether it rang."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return False, False
        row = self._conn.execute(DOORBELL).fetchone()
        bell, seen = row and row[0], self._version is not None
        rang = seen and bell != self._bell
        self._version, self._bell = version, bell
        return seen, rang

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                changed, rang = self._look()
            except sqlite3.Error:
                continue  # transient; the next tick tries again
            if changed:
                self._loop.call_soon_threadsafe(self._feed.changed)
            if rang:
                self._loop.call_soon_threadsafe(self._feed.rang)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
