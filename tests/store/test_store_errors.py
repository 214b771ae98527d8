"""How each backend's driver errors reach a caller, on both backends: an integrity
violation is a ConflictError, only an operational failure (locked beyond the timeout, the
server shutting down, a lock wait timed out) is the retryable StoreUnavailable, and any
other refusal is a plain StoreError."""

import sqlite3

import anyio
import pytest
from tests.store.conftest import MakeRun

from relay.errors import ConflictError, StoreError, StoreUnavailable
from relay.store import connect_store
from relay.store.sql import Connection
from relay.store.sql_store import SqlStore
from relay.store.sqlite import sqlite_path


def _sql(store: object) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


async def _insert_participant(c: Connection) -> int:
    return await c.execute("INSERT INTO participants VALUES (?, ?)", ("twice", 1.0))


async def test_an_integrity_violation_is_a_conflict_not_an_outage(store: object) -> None:
    db = _sql(store).db
    await db.write(_insert_participant)
    with pytest.raises(ConflictError) as caught:
        await db.write(_insert_participant)
    assert not isinstance(caught.value, StoreUnavailable)
    assert caught.value.__cause__ is not None  # the driver's error, kept
    still = await _sql(store).presence.list_participants()
    assert [p.name for p in still] == ["twice"]  # and the store goes on


async def test_a_second_run_with_the_same_id_is_a_conflict(
    store: object, make_run: MakeRun
) -> None:
    new = make_run()
    await _sql(store).runs.create_run(new)
    with pytest.raises(ConflictError, match=new.run.id):
        await _sql(store).runs.create_run(new)


async def test_a_statement_the_database_refuses_is_a_store_error_not_retryable(
    store: object,
) -> None:
    with pytest.raises(StoreError) as caught:
        await _sql(store).db.read(lambda c: c.one("SELECT no_such_column FROM runs"))
    assert type(caught.value) is StoreError
    assert await _sql(store).events.last_seq() == 0  # the store goes on


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_file_locked_beyond_the_timeout_is_unavailable(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relay.store.sqlite_db.BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr("relay.store.sqlite_db.BUSY_GIVE_UP_SECONDS", 0.2)
    store = await connect_store(store_url)
    holder = sqlite3.connect(sqlite_path(store_url), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        with anyio.fail_after(10), pytest.raises(StoreUnavailable, match="stayed locked"):
            await store.presence.touch_participant("blocked")
        holder.execute("ROLLBACK")
        await store.presence.touch_participant("after")
        assert [p.name for p in await store.presence.list_participants()] == ["after"]
    finally:
        holder.close()
        await store.aclose()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_server_ending_the_connection_is_unavailable(store: object) -> None:
    async def killed(c: Connection) -> object:
        return await c.one("SELECT pg_terminate_backend(pg_backend_pid())")

    with anyio.fail_after(20), pytest.raises(StoreUnavailable, match="unavailable"):
        await _sql(store).db.write(killed)
    assert await _sql(store).events.last_seq() == 0  # a fresh connection serves the next call


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_lock_wait_beyond_its_timeout_is_unavailable(store_url: str, store: object) -> None:
    import psycopg

    async def clock_locked(c: Connection) -> object:
        await c.execute("SET LOCAL lock_timeout = '50ms'")
        return await c.one("SELECT seq FROM event_clock WHERE id = 1 FOR UPDATE")

    async with await psycopg.AsyncConnection.connect(store_url) as holder:
        await holder.execute("SELECT seq FROM event_clock WHERE id = 1 FOR UPDATE")
        with anyio.fail_after(20), pytest.raises(StoreUnavailable, match="lock timeout"):
            await _sql(store).db.write(clock_locked)
