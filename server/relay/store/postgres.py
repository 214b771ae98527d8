"""The PostgreSQL backend: one database shared by relay processes on several hosts.

The store's operations are SQLite's and PostgreSQL's alike (`relay.store.sql`); here is
what only PostgreSQL says (its `Dialect`) and how its parts fit: each operation is one
transaction on a pooled connection (`postgres_db.Pool`); every write transaction ends
with a NOTIFY on the store's channel (one per schema), "c" for a commit and "d" when it
rang (a run may need an engine); a listener (`postgres_listen`) turns other processes'
notifications into the change feed and the doorbell, while this process's own commits
move them at once; a lease holder's save is `postgres_save`'s.

Where SQLite's one writer serialises everything, PostgreSQL runs transactions side by
side: claims take rows `FOR UPDATE SKIP LOCKED`, and appends and wait registrations lock
the event clock (see `relay.store.runs` and `relay.store.events`). When PostgreSQL goes
away, calls fail with StoreUnavailable until it is back, and the pool connects anew.
"""

import functools
from typing import TypeVar

from relay.errors import ConfigError
from relay.store import postgres_save
from relay.store.base import RunSave, SaveResult
from relay.store.feed import ChangeFeed
from relay.store.migrate import migrate
from relay.store.postgres_db import Pool, describe, open_schema, pg_placeholders
from relay.store.postgres_listen import Listener
from relay.store.sql import Dialect, Op

T = TypeVar("T")

# Processes that start together take turns (one lock per schema): the second finds the
# first one's migrations recorded and skips them.
MIGRATION_LOCK = "SELECT pg_advisory_lock(hashtext('relay.migrate.' || current_schema()))"
MIGRATION_UNLOCK = "SELECT pg_advisory_unlock(hashtext('relay.migrate.' || current_schema()))"
CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)
# Databases migrated before the numbers matched SQLite's (see relay.store.migrate): their
# 001_initial held the outbox's tables, now 002_outbox, and their 002 is now 003.
RENUMBER = (
    "UPDATE schema_migrations SET version = 3, name = '003_outbox_edits.sql' "
    "WHERE version = 2 AND name = '002_outbox_edits.sql'",
    "INSERT INTO schema_migrations SELECT 2, '002_outbox.sql', now() WHERE NOT EXISTS "
    "(SELECT 1 FROM schema_migrations WHERE version = 2) AND EXISTS (SELECT 1 FROM "
    "information_schema.tables WHERE table_schema = current_schema() AND table_name = 'outbox')",
)


def postgres_dialect(channel: str) -> Dialect:
    """PostgreSQL's SQL, for a store that notifies on `channel`."""
    return Dialect(
        name="postgres",
        fragments={
            "in_ids": "= ANY(:ids)",
            "skip_locked": "FOR UPDATE SKIP LOCKED",
            "for_update": "FOR UPDATE",
        },
        ids=list,
        # The next seq and the event in one statement; the clock row stays locked until
        # commit, so seqs become visible in commit order.
        insert_event=(
            "WITH clock AS (UPDATE event_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq) "
            "INSERT INTO events (seq, id, type, source, data, correlation_id, idempotency_key, "
            "created_at) SELECT clock.seq, :id, :type, :source, :data, :correlation_id, "
            ":idempotency_key, :created_at FROM clock RETURNING seq"
        ),
        last_seq="SELECT seq FROM event_clock WHERE id = 1",
        lock_event_clock="SELECT seq FROM event_clock WHERE id = 1 FOR UPDATE",
        save_core=functools.partial(postgres_save.core, channel=channel),
        migrations_begin=(MIGRATION_LOCK, CREATE_MIGRATIONS, *RENUMBER),
        migrations_end=(MIGRATION_UNLOCK,),
        record_migration="INSERT INTO schema_migrations VALUES (?, ?, now())",
        placeholders=pg_placeholders,
    )


class PostgresDatabase:
    """`relay.store.sql.Database` on one PostgreSQL schema (the first one on the URL's
    search_path)."""

    def __init__(self, url: str, where: str, schema: str) -> None:
        self.where, self.schema = where, schema
        self.feed = ChangeFeed()
        channel = f"relay:{schema}"[:63]  # PostgreSQL's identifier limit
        self.dialect = postgres_dialect(channel)
        self._pool = Pool(url, where, self.dialect, channel, self.feed)
        self._saves = postgres_save.Saves(self._pool, channel)
        self._listener = Listener(url, channel, self._pool.backend_pids, self.feed)

    @classmethod
    async def connect(cls, url: str) -> "PostgresDatabase":
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"not a PostgreSQL URL: {url!r} (expected postgresql://...)")
        where = describe(url)
        schema = await open_schema(url, where, migrate, postgres_dialect(""))
        return cls(url, where, schema)

    async def read(self, op: Op[T]) -> T:
        return await self._pool.run(op, write=False)

    async def write(self, op: Op[T]) -> T:
        return await self._pool.run(op, write=True)

    async def save(self, save: RunSave) -> SaveResult:
        return await self._saves.save(save)

    async def aclose(self) -> None:
        self._listener.close()
        await self._pool.aclose()
