"""SQLite plumbing: connections, a group-committing writer thread, a reader thread, and a
watcher that notices commits made by other processes.

sqlite3 calls never run on the event loop: each thread owns its connection and hands
results back with `loop.call_soon_threadsafe`.
"""

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from relay.errors import RelayError, StoreUnavailable

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

# How long one BEGIN IMMEDIATE waits inside SQLite for another process's write lock.
# Several processes share one file; a writer holds the lock for well under a millisecond,
# so 5 s only runs out when something is badly stuck...
BUSY_TIMEOUT_MS = 5_000
# ...and then we retry the whole batch for up to a minute before telling the caller the
# store is unavailable, so "database is locked" never reaches a user as such.
BUSY_GIVE_UP_SECONDS = 60.0
# Group commit: at most this many queued writes share one transaction.
MAX_BATCH = 256


def open_connection(path: Path, *, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    # busy_timeout: wait (inside SQLite) for another process's lock instead of failing at once.
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL: readers never block the writer nor the writer them, across processes too.
    _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
    # FULL syncs the WAL on every commit (a committed step survives power loss);
    # NORMAL only at checkpoints (survives a process crash, not a power cut).
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _retry_busy(statement: Callable[[], object]) -> None:
    # Switching to WAL needs a moment of exclusive access and, unlike ordinary locks,
    # does not always go through busy_timeout: when another process is opening or
    # migrating the same new file, wait for it here.
    give_up = time.monotonic() + BUSY_GIVE_UP_SECONDS
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _Job:
    __slots__ = ("future", "loop", "op")

    def __init__(self, op: Op, loop: asyncio.AbstractEventLoop) -> None:
        self.op = op
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def settle(self, result: Any, error: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class DbThread:
    """One thread, one connection, a queue of operations.

    The writer variant wraps each batch of queued operations in one `BEGIN IMMEDIATE`
    transaction (group commit: one fsync for many runs' writes) and each operation in a
    savepoint, so one failing operation rolls back alone.
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str,
        writer: bool,
        loop: asyncio.AbstractEventLoop | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._conn = open_connection(path, synchronous=synchronous)
        self._writer = writer
        # `on_commit` runs on `loop`, in the same wake-up that settles the batch's callers.
        self._loop = loop
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Guards `_closed`: a job queued after the closing sentinel would never be served.
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._serve,
            name="relay-sqlite-" + ("writer" if writer else "reader"),
            daemon=True,
        )
        self._thread.start()

    async def call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        job = _Job(op, asyncio.get_running_loop())
        self._put(job)
        result: T = await job.future
        return result

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the relay store was closed")
            self._queue.put(job)

    def call_sync(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run an operation from a thread that has no event loop (start-up, hooks)."""
        done = threading.Event()
        box: list[Any] = []

        class _SyncJob(_Job):
            def __init__(self) -> None:
                self.op = op

            def settle(self, result: Any, error: BaseException | None) -> None:
                box.append((result, error))
                done.set()

        self._put(_SyncJob())
        done.wait()
        result, error = box[0]
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=10)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not self._writer:
                _run_plain(self._conn, job)
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

    def _write_batch(self, batch: list[_Job]) -> None:
        try:
            outcomes = self._transaction(batch)
            committed = True
        except (sqlite3.Error, RelayError) as exc:
            failure: BaseException = exc if isinstance(exc, RelayError) else _unavailable(exc)
            outcomes = [(None, failure)] * len(batch)
            committed = False
        self._deliver(batch, outcomes, committed)

    def _deliver(
        self, batch: list[_Job], outcomes: list[tuple[Any, BaseException | None]], committed: bool
    ) -> None:
        # Waking an event loop from a thread costs a write to its self-pipe and a turn of
        # its selector: the callers on the store's own loop (nearly always all of them)
        # and the commit callback share one wake-up per batch.
        local: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        for job, (result, error) in zip(batch, outcomes, strict=True):
            if self._loop is not None and getattr(job, "loop", None) is self._loop:
                local.append((job.future, result, error))
            else:
                job.settle(result, error)
        on_commit = self._on_commit if committed else None
        if self._loop is not None and (local or on_commit is not None):
            self._loop.call_soon_threadsafe(_settle_all, on_commit, local)

    def _transaction(self, batch: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        self._begin_immediate()
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            if len(batch) == 1:
                # Alone in its transaction, an operation needs no savepoint: if it fails,
                # rolling the transaction back rolls back just that operation.
                outcome = _run_alone(self._conn, batch[0].op)
                if outcome[1] is not None:
                    self._conn.execute("ROLLBACK")
                    return [outcome]
                outcomes.append(outcome)
            else:
                for job in batch:
                    outcomes.append(_run_in_savepoint(self._conn, job.op))
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        return outcomes

    def _begin_immediate(self) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with SQLITE_BUSY mid-way when another process wrote
        # meanwhile, and busy_timeout cannot help it. Immediate ones just queue.
        give_up = time.monotonic() + BUSY_GIVE_UP_SECONDS
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > give_up:
                    raise
                time.sleep(0.01)


def _run_plain(conn: sqlite3.Connection, job: _Job) -> None:
    try:
        result = job.op(conn)
    except (sqlite3.Error, RelayError) as exc:
        job.settle(None, exc if isinstance(exc, RelayError) else _unavailable(exc))
        return
    except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, not swallowed
        job.settle(None, exc)
        return
    job.settle(result, None)


def _settle_all(
    on_commit: Callable[[], None] | None,
    settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
) -> None:
    if on_commit is not None:
        on_commit()
    for future, result, error in settled:
        _settle(future, result, error)


def _run_alone(conn: sqlite3.Connection, op: Op) -> tuple[Any, BaseException | None]:
    try:
        return op(conn), None
    except sqlite3.OperationalError:
        raise  # the whole transaction is in doubt (disk full, lock lost): fail the batch
    except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, not swallowed
        return None, exc if not isinstance(exc, sqlite3.Error) else _unavailable(exc)


def _run_in_savepoint(conn: sqlite3.Connection, op: Op) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT op")
    result, error = _run_alone(conn, op)
    if error is not None:
        conn.execute("ROLLBACK TO op")
    conn.execute("RELEASE op")
    return result, error


def _unavailable(exc: sqlite3.Error) -> StoreUnavailable:
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        error = StoreUnavailable(
            "the relay database stayed locked by another process for over "
            f"{BUSY_GIVE_UP_SECONDS:.0f} s; try again"
        )
    else:
        error = StoreUnavailable(f"the relay database failed: {exc}")
    error.__cause__ = exc
    return error


# Bumped by every write that may need an engine's attention (a ring, a cancel, a new run
# nobody holds, a run parked with a wake time): engines wait on it instead of on every
# commit, their own saves included.
DOORBELL = "SELECT seq FROM cursors WHERE name = 'doorbell'"


class Watcher:
    """Polls `PRAGMA data_version` to notice commits by other processes.

    data_version changes whenever another connection commits, so one cheap pragma per
    tick tells whether anything needs re-reading; the poll interval bounds cross-process
    wake-up latency.
    """

    def __init__(
        self,
        path: Path,
        interval_seconds: float,
        on_change: Callable[[], None],
        on_doorbell: Callable[[], None],
    ) -> None:
        self._conn = open_connection(path, synchronous="NORMAL")
        self._interval = interval_seconds
        self._on_change = on_change
        self._on_doorbell = on_doorbell
        self._stop = threading.Event()
        # The baseline is taken now, not at the first tick: a commit made between opening
        # the store and that tick is a change too.
        self._baseline = self._read()
        self._thread = threading.Thread(target=self._poll, name="relay-sqlite-watch", daemon=True)
        self._thread.start()

    def _read(self) -> tuple[Any, Any]:
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            row = self._conn.execute(DOORBELL).fetchone()
        except sqlite3.Error:
            return None, None
        return version, (row and row[0])

    def _poll(self) -> None:
        last, bell = self._baseline
        while not self._stop.wait(self._interval):
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version == last:
                    continue
                row = self._conn.execute(DOORBELL).fetchone()
            except sqlite3.Error:
                continue  # transient; the next tick tries again
            if last is not None:
                self._on_change()
                if (row and row[0]) != bell:
                    self._on_doorbell()
            last, bell = version, (row and row[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
