"""Versioned schema migrations: numbered SQL files applied once each, in order."""

import sqlite3
from importlib import resources


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


def migrate_sqlite(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the schema version.

    Each migration runs in its own BEGIN IMMEDIATE transaction and re-reads the applied
    versions under that lock, so two processes starting together apply it exactly once.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    version = 0
    for version, name, sql in migration_scripts("sqlite"):
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if not done:
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))", (version, name)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version
