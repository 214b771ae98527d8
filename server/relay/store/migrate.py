"""Versioned schema migrations: numbered SQL files applied once each, in order, written
once for both backends (`migrate`) over each backend's `Dialect`.

Each dialect ships the same migrations, with the same numbers and names, in its own SQL
(`migrations/sqlite/`, `migrations/postgres/`): 001_initial, 002_outbox,
003_outbox_edits. `schema_migrations` records each applied one as (version, file name).

Each migration runs in its own transaction and re-reads the applied versions inside it,
so two processes starting together apply it exactly once: on SQLite that transaction is
`BEGIN IMMEDIATE` (it holds the write lock from its start); on PostgreSQL processes also
take turns on an advisory lock (one per schema) held around all of them.

PostgreSQL databases created before the numbers matched (relay up to the store's
rewrite) recorded 001_initial (which then held the outbox's tables as well) and
002_outbox_edits. Before migrating, such a record is mapped onto today's numbers (see
`postgres.MIGRATIONS_BEGIN`): 002_outbox_edits becomes 003_outbox_edits, and
002_outbox is recorded as applied wherever the outbox's table already exists. The
schema that results is the same as a new database's; SQLite's numbers never changed.
"""

import sqlite3
from importlib import resources

from relay.store.sql import Connection


def migration_scripts(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) for every `NNN_name.sql` shipped for a dialect, in order."""
    folder = resources.files("relay.store") / "migrations" / dialect
    scripts = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            scripts.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def split_statements(script: str) -> list[str]:
    """A script's statements (by SQLite's rules of where a statement ends)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        statements.append(pending.strip())
    return statements


async def migrate(c: Connection) -> int:
    """Apply pending migrations on a connection of their own; returns the schema version."""
    dialect = c.dialect
    for statement in dialect.migrations_begin:
        await c.execute(statement)
    try:
        version = 0
        for version, name, script in migration_scripts(dialect.name):
            async with c.transaction():
                done = await c.one("SELECT 1 FROM schema_migrations WHERE version = ?", (version,))
                if done is None:
                    await c.script(script)
                    await c.execute(dialect.record_migration, (version, name))
        return version
    finally:
        for statement in dialect.migrations_end:
            await c.execute(statement)
