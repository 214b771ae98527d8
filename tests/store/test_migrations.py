"""Migrations: the same numbers and names on both backends, and databases made by the
previous release (its migrations' SQL, frozen in tests/store/legacy/, applied as it
applied them) open, migrate and keep their data."""

import sqlite3
from pathlib import Path

import pytest
from tests.store.conftest import MakeRun

from pg_fixtures import postgres_schema
from relay.model.events import NewEvent
from relay.model.notification import NewNotification, NotificationKind
from relay.store import connect_store
from relay.store.base import EventQuery, Store
from relay.store.migrate import migration_scripts
from relay.store.sqlite import sqlite_path

LEGACY = Path(__file__).parent / "legacy"
TODAY = [(1, "001_initial.sql"), (2, "002_outbox.sql"), (3, "003_outbox_edits.sql")]


def test_both_backends_ship_the_same_migrations() -> None:
    def names(dialect: str) -> list[tuple[int, str]]:
        return [(version, name) for version, name, _ in migration_scripts(dialect)]

    assert names("sqlite") == names("postgres") == TODAY


async def _still_works(store: Store, make_run: MakeRun) -> None:
    """The data written before the upgrade reads back, and what the newest migrations
    added (an edit found by its message key) works."""
    assert [e.type for e in await store.events.list_events(EventQuery())] == ["before.upgrade"]
    run, _ = await store.runs.create_run(make_run(owner="w1"))
    request = NewNotification(
        "C1", {"text": "decide?"}, thread_key=run.id, run_id=run.id, message_key="m-1"
    )
    await store.outbox.enqueue_notification(request)
    await store.outbox.enqueue_notification(NewNotification("", {"text": "done"}, edit_of="m-1"))
    kinds = [n.kind for n in await store.outbox.list_notifications(run_id=run.id)]
    assert kinds == [NotificationKind.ROOT, NotificationKind.EDIT]
    await store.events.append_event(NewEvent(type="after.upgrade", source="t"))
    assert await store.events.last_seq() == 2


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_sqlite_file_of_the_previous_release_opens_and_migrates(
    store_url: str, make_run: MakeRun
) -> None:
    conn = sqlite3.connect(sqlite_path(store_url), isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for script in sorted((LEGACY / "sqlite").glob("*.sql")):
            conn.executescript(script.read_text())
            version = int(script.name.split("_")[0])
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))",
                (version, script.name),
            )
        conn.execute(
            "INSERT INTO events (id, type, source, data, created_at) "
            "VALUES ('e1', 'before.upgrade', 't', '{}', 1.0)"
        )
    finally:
        conn.close()
    store = await connect_store(store_url)
    try:
        await _still_works(store, make_run)
    finally:
        await store.aclose()
    conn = sqlite3.connect(sqlite_path(store_url))
    try:
        applied = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
    finally:
        conn.close()
    assert applied == TODAY


def _legacy_postgres(url: str, scripts: list[str]) -> None:
    """A schema as the previous release's code left it after applying `scripts`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for name in scripts:
            with conn.transaction():
                conn.execute((LEGACY / "postgres" / name).read_text().encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, now())",
                    (int(name.split("_")[0]), name),
                )
        conn.execute(
            "WITH clock AS (UPDATE event_clock SET seq = seq + 1 RETURNING seq) "
            "INSERT INTO events (seq, id, type, source, data, created_at) "
            "SELECT seq, 'e1', 'before.upgrade', 't', '{}', 1.0 FROM clock"
        )


def _schema_of(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every column and index of the URL's schema, and what schema_migrations records."""
    import psycopg

    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "ORDER BY 1"
        ).fetchall()
        applied = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
    # Index definitions name the schema (each test's differs): compare them without it.
    return [*columns, *[(n, d.split(" ON ")[1].split(".", 1)[1]) for n, d in indexes]], applied


@pytest.mark.postgres
@pytest.mark.parametrize(
    "scripts",
    [["001_initial.sql", "002_outbox_edits.sql"], ["001_initial.sql"]],
    ids=["fully-migrated", "before-outbox-edits"],
)
async def test_a_postgres_schema_of_the_previous_release_opens_and_migrates(
    scripts: list[str], make_run: MakeRun
) -> None:
    with postgres_schema() as legacy_url, postgres_schema() as fresh_url:
        _legacy_postgres(legacy_url, scripts)
        for url in (legacy_url, fresh_url):
            store = await connect_store(url)
            try:
                if url == legacy_url:
                    await _still_works(store, make_run)
            finally:
                await store.aclose()
        legacy, applied = _schema_of(legacy_url)
        fresh, _ = _schema_of(fresh_url)
    assert applied == TODAY
    assert legacy == fresh  # the same tables, columns and indexes as a new database's
