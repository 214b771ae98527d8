"""PostgreSQL plumbing: a small connection pool that runs one operation per transaction,
the store's `Connection` on a psycopg connection, and the one place psycopg's errors
become relay's (`translate`).

Why psycopg 3 and this pool: measured on this project's machine (1,000 sequential
UPDATE+SELECT transactions with synchronous commit), psycopg's async connections took a
median 0.65 ms each against asyncpg's 0.74-0.85 ms, and psycopg ships type hints (mypy
strict checks the calls). psycopg_pool reconnects in the background with a back-off of
seconds and makes callers queue meanwhile; relay wants the opposite after a restart of
PostgreSQL: a call fails at once with StoreUnavailable while the server is down and the
first call after it is back connects anew. So the pool here is a semaphore and a list of
idle connections, dropped together when one of them turns out broken.
"""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from relay.errors import (
    ConflictError,
    ConnectionBroke,
    FenceRefused,
    StoreError,
    StoreUnavailable,
    UnsureCommit,
)
from relay.store.feed import ChangeFeed
from relay.store.rows import Row
from relay.store.sql import Dialect, Params

T = TypeVar("T")
Conn = psycopg.AsyncConnection[DictRow]

CONNECT_TIMEOUT_SECONDS = 5
POOL_SIZE = 10  # connections per process (plus the listener's own)
# Transactions that lost a deadlock or a serialization race are run again this often.
RACE_RETRIES = 8
# Errors after which the same transaction may simply run again.
RACES = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
# A save's fence refused (see relay_fence_refused in the schema).
FENCE_REFUSED = "RL001"
# Payloads of the store's notifications: a commit (change feed) or a ring (doorbell).
CHANGED, RANG = "c", "d"
PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)|\?")


def describe(url: str) -> str:
    """host:port/database of a URL, never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable PostgreSQL URL)"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def reason(exc: BaseException) -> str:
    """The first line of an error's message (psycopg adds context lines)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextlib.contextmanager
def translate(where: str) -> Iterator[None]:
    """psycopg's errors as relay's: an integrity violation is a ConflictError, a lost or
    refused connection, a server shutting down or a lock timeout the retryable
    StoreUnavailable, a refused fence FenceRefused, anything else a StoreError."""
    try:
        yield
    except pg_errors.IntegrityError as exc:
        raise ConflictError(f"the relay database refused a write: {reason(exc)}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise StoreUnavailable(
            f"the relay database (PostgreSQL at {where}) is unavailable: {reason(exc)}; "
            "relay reconnects by itself, try again shortly"
        ) from exc
    except psycopg.Error as exc:
        if exc.sqlstate == FENCE_REFUSED:
            raise FenceRefused(reason(exc)) from exc
        raise StoreError(
            f"the relay database (PostgreSQL at {where}) failed: {reason(exc)}"
        ) from exc


def pg_placeholders(text: str) -> str:
    """`:name` as `%(name)s` and `?` as `%s` (and a literal `%` as `%%`)."""
    return PLACEHOLDER.sub(lambda m: f"%({m[1]})s" if m[1] else "%s", text.replace("%", "%%"))


class PgConnection:
    """`relay.store.sql.Connection` on a psycopg connection."""

    def __init__(self, conn: Conn, dialect: Dialect) -> None:
        self.raw, self.dialect = conn, dialect
        self.rang = False  # the COMMIT notifies RANG

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        return await (await self.raw.execute(self.dialect.sql(sql), params)).fetchone()

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await (await self.raw.execute(self.dialect.sql(sql), params)).fetchall())

    async def execute(self, sql: str, params: Params = ()) -> int:
        return (await self.raw.execute(self.dialect.sql(sql), params)).rowcount

    async def many(self, sql: str, params: Sequence[Params]) -> None:
        if params:
            async with self.raw.cursor() as cur:
                await cur.executemany(self.dialect.sql(sql), params)

    async def ring_doorbell(self) -> None:
        self.rang = True

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.raw.transaction():
            yield

    async def script(self, sql: str) -> None:
        await self.raw.execute(sql.encode())  # several statements: the simple query protocol


# An operation of the pool: a store `Op`, or one that needs the psycopg connection itself.
PgOp = Callable[[PgConnection], Coroutine[Any, Any, T]]


class Pool:
    """Connections for one store; `run` wraps one operation in one transaction and moves
    the store's feed after each write."""

    def __init__(
        self, url: str, where: str, dialect: Dialect, channel: str, feed: ChangeFeed
    ) -> None:
        self._url, self.where, self.dialect, self._feed = url, where, dialect, feed
        self._idle: list[Conn] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)
        self._closed = False
        self._open: set[Conn] = set()  # idle or in use: aclose closes them all
        self.backend_pids: set[int] = set()  # ours: the listener skips their notifications
        # Each write's COMMIT notifies on the store's channel: "d" when it rang, else "c".
        self._notify_and_commit = {
            rang: sql.SQL("SELECT pg_notify({}, {}); COMMIT").format(
                sql.Literal(channel), sql.Literal(RANG if rang else CHANGED)
            )
            for rang in (False, True)
        }

    async def _connect(self) -> Conn:
        conn = await psycopg.AsyncConnection.connect(
            self._url, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        self.backend_pids.add(conn.info.backend_pid)
        self._open.add(conn)
        return conn

    async def run(self, op: PgOp[T], *, write: bool, single: bool = False) -> T:
        """Run `op` in a transaction and commit it.

        A connection found broken before COMMIT is replaced and the transaction run again
        (nothing of it landed); one that breaks during COMMIT raises UnsureCommit.

        A read runs in autocommit mode (under READ COMMITTED each statement of a
        transaction sees a snapshot of its own anyway), as does an op marked `single`:
        ONE statement that is its own transaction, notification included.
        """
        if self._closed:
            raise StoreUnavailable("the relay store was closed")
        with translate(self.where):
            async with self._slots:
                for attempt in range(RACE_RETRIES + 1):
                    conn = self._idle.pop() if self._idle else await self._connect()
                    c = PgConnection(conn, self.dialect)
                    try:
                        return await self._use(c, op, write, single)
                    except RACES:
                        if attempt == RACE_RETRIES:
                            raise
                    except ConnectionBroke as broken:
                        if attempt > 0:  # a fresh connection broke too: the server is gone
                            raise (broken.__cause__ or broken) from None  # the driver's
                    finally:
                        if write:  # this process's own commits move its feed at once
                            self._feed.changed()
                            if c.rang:
                                self._feed.rang()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _use(self, c: PgConnection, op: PgOp[T], write: bool, single: bool) -> T:
        conn, autocommit = c.raw, single or not write
        committing = single  # when the connection breaks now, the outcome is unknown
        try:
            if autocommit:
                await conn.set_autocommit(True)  # client side only: no BEGIN, no COMMIT
            result = await op(c)
            if not autocommit:
                committing = True
                # The notification and the COMMIT in one round trip (the simple query
                # protocol takes two statements, without parameters: hence the literals).
                await conn.execute(self._notify_and_commit[c.rang])
        except RACES:
            await self._settle(conn)
            raise
        except psycopg.Error as exc:
            if conn.broken or conn.closed or isinstance(exc, psycopg.OperationalError):
                await self._discard_all(conn)
                if committing and _maybe_landed(exc):
                    raise UnsureCommit(
                        f"the relay database (PostgreSQL at {self.where}) is unavailable "
                        f"during a commit: {reason(exc)}; relay reconnects by itself"
                    ) from exc
                raise ConnectionBroke() from exc  # run again on a new connection
            await self._settle(conn)
            raise
        except Exception:  # relay's own errors (LeaseLost, ConflictError...) and lookups
            await self._settle(conn)
            raise
        except BaseException:
            # Cancelled (or failed) halfway through a statement: its state is unknown.
            await self._close(conn)
            raise
        await self._release(conn)
        return result

    async def _settle(self, conn: Conn) -> None:
        """Roll back and keep the connection (or drop it, when even that fails)."""
        try:
            await conn.rollback()
        except psycopg.Error:
            await self._discard_all(conn)
            return
        await self._release(conn)

    async def _release(self, conn: Conn) -> None:
        """Back to the idle list, out of autocommit mode (closed, if the pool is)."""
        try:
            if self._closed:
                raise StoreUnavailable("closed")
            if conn.autocommit:
                await conn.set_autocommit(False)
        except (psycopg.Error, StoreUnavailable):
            await self._close(conn)
            return
        self._idle.append(conn)

    async def _close(self, conn: Conn) -> None:
        self._open.discard(conn)
        with contextlib.suppress(Exception):
            await asyncio.shield(conn.close())

    async def _discard_all(self, conn: Conn) -> None:
        """One broken connection: the idle ones (same server) are most likely broken too."""
        doomed, self._idle = [conn, *self._idle], []
        for each in doomed:
            await self._close(each)

    async def aclose(self) -> None:
        """Close every connection, those still in use by a call included."""
        self._closed = True
        self._idle = []
        for conn in list(self._open):
            await self._close(conn)


def _maybe_landed(exc: psycopg.Error) -> bool:
    """Whether the server may have committed before the connection broke: not when the
    statement failed to be sent at all."""
    return "sending query" not in str(exc) and "no connection" not in str(exc)


async def open_schema(url: str, where: str, migrate: PgOp[int], dialect: Dialect) -> str:
    """The schema the URL names (the first existing one on its search_path), migrated."""
    try:
        async with await psycopg.AsyncConnection.connect(
            url, row_factory=dict_row, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as conn:
            row = await (await conn.execute("SELECT current_schema() AS schema")).fetchone()
            if row is None or row["schema"] is None:
                raise StoreUnavailable(
                    f"the relay database (PostgreSQL at {where}) has no schema to use: "
                    "none of the schemas on its search_path exists"
                )
            await migrate(PgConnection(conn, dialect))
            return str(row["schema"])
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot open the relay database (PostgreSQL at {where}): {reason(exc)}"
        ) from exc
