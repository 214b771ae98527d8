"""The SQLite backend: one file shared by every relay process of one user.

Writes go through one writer thread per process that group-commits queued operations
(`BEGIN IMMEDIATE`, one fsync per batch); reads through a reader thread on its own
connection (WAL lets them run beside the writer); a watcher thread notices other
processes' commits and doorbell rings (`relay.store.sqlite_db`).

The store's operations are SQLite's and PostgreSQL's alike (`relay.store.sql`); here is
what only SQLite says: its `Dialect` (an event's seq is its rowid, one writer needs no
row locks) and how its file is named, created and migrated.
"""

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

from relay.errors import ConfigError, StoreUnavailable
from relay.store import saves
from relay.store.base import RunSave, SaveResult
from relay.store.feed import ChangeFeed
from relay.store.migrate import migrate
from relay.store.sql import Dialect, Op
from relay.store.sqlite_db import DbThread, SqliteConnection, Watcher, open_connection, run_to_end

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite",
    fragments={
        "in_ids": "IN (SELECT value FROM json_each(:ids))",
        "skip_locked": "",
        "for_update": "",
    },
    ids=lambda ids: json.dumps(list(ids)),
    # One writer at a time: the rowid is the next seq, in commit order.
    insert_event=(
        "INSERT INTO events (id, type, source, data, correlation_id, idempotency_key, "
        "created_at) VALUES (:id, :type, :source, :data, :correlation_id, :idempotency_key, "
        ":created_at) RETURNING seq"
    ),
    last_seq="SELECT COALESCE(MAX(seq), 0) AS seq FROM events",
    lock_event_clock=None,
    save_core=saves.write_core,  # in the writer's transaction, statements cost no round trip
    migrations_begin=(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    ),
    migrations_end=(),
    record_migration="INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))",
)


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


class SqliteDatabase:
    """`relay.store.sql.Database` on one SQLite file."""

    dialect = SQLITE

    def __init__(self, path: Path, *, synchronous: str, poll_interval_seconds: float) -> None:
        self.path = path
        self.feed = ChangeFeed()
        loop = asyncio.get_running_loop()
        self._writer = DbThread(self._open(synchronous), loop, self.feed)
        self._reader = DbThread(self._open(synchronous), loop, None)
        self._watcher = Watcher(path, poll_interval_seconds, self.feed)
        self._closed = False

    @classmethod
    async def connect(
        cls, url: str, *, synchronous: str = "FULL", poll_interval_seconds: float = 0.01
    ) -> "SqliteDatabase":
        """Open (creating it 0600, in a 0700 folder if missing) and migrate the file."""
        path = sqlite_path(url)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():  # the store is one user's trust boundary
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            conn = open_connection(path, synchronous=synchronous)
            try:
                run_to_end(migrate(SqliteConnection(conn, SQLITE)))
            finally:
                conn.close()
            return cls(path, synchronous=synchronous, poll_interval_seconds=poll_interval_seconds)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the relay database {str(path)!r}: {exc}") from exc

    def _open(self, synchronous: str) -> SqliteConnection:
        return SqliteConnection(open_connection(self.path, synchronous=synchronous), SQLITE)

    async def read(self, op: Op[T]) -> T:
        return await self._reader.call(op)

    async def write(self, op: Op[T]) -> T:
        return await self._writer.call(op)

    async def save(self, save: RunSave) -> SaveResult:
        # Every save goes through the one writer, group-committed with whatever else is
        # queued; there is no lost commit to look up, hence no token.
        return await self._writer.call(lambda c: saves.save(c, save, ""))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watcher.close()
        self._writer.close()
        self._reader.close()
