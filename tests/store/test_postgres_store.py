"""What only the PostgreSQL backend has: its URL and driver, migrations under an advisory
lock, and connection loss. The connection is cut with a TCP relay between the store and
the server (the shared server itself keeps running)."""

import contextlib
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest
from anyio.abc import SocketStream, TaskGroup

from pg_fixtures import postgres_schema
from relay.errors import ConfigError, StoreUnavailable
from relay.model.events import NewEvent
from relay.store import connect_store
from relay.store.base import EventQuery
from relay.store.migrate import migration_scripts

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


async def test_two_stores_opening_at_once_apply_each_migration_once(pg_url: str) -> None:
    import psycopg

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(_open_and_close, pg_url)
    with psycopg.connect(pg_url) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert applied == [version for version, _, _ in migration_scripts("postgres")]


async def _open_and_close(url: str) -> None:
    store = await connect_store(url)
    await store.aclose()


async def test_without_the_driver_the_url_asks_for_the_postgres_extra(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n.startswith(("psycopg", "relay.store.postgres"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"pip install 'relay-mcp\[postgres\]'"):
        await connect_store(pg_url)


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    url = "postgresql://relay:s3cret-pw@127.0.0.1:1/relay?connect_timeout=2"
    with pytest.raises(StoreUnavailable) as caught:
        await connect_store(url)
    assert "PostgreSQL at 127.0.0.1:1/relay" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


async def test_a_search_path_of_no_existing_schema_is_a_clear_error(pg_url: str) -> None:
    url = pg_url.split("?")[0] + "?options=-csearch_path%3Dno_such_schema_here"
    with pytest.raises(StoreUnavailable, match="none of the schemas on its search_path"):
        await connect_store(url)


class Cable:
    """A TCP relay to the server that the test can unplug and plug in again."""

    def __init__(self, tg: TaskGroup, target: tuple[str, int]) -> None:
        self._tg, self._target = tg, target
        self.port = 0
        self._scope: anyio.CancelScope | None = None
        self._closed = anyio.Event()

    async def plug(self) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        scope, self._closed = anyio.CancelScope(), anyio.Event()
        self._scope = scope

        async def serve() -> None:
            try:
                with scope:
                    async with listener, anyio.create_task_group() as conns:
                        await listener.serve(self._pipe, task_group=conns)
            finally:
                self._closed.set()

        self._tg.start_soon(serve)

    async def unplug(self) -> None:
        """Every connection through the cable drops, and new ones are refused."""
        assert self._scope is not None
        self._scope.cancel()
        await self._closed.wait()

    async def _pipe(self, client: SocketStream) -> None:
        async with (
            client,
            await anyio.connect_tcp(*self._target) as server,
            anyio.create_task_group() as tg,
        ):

            async def copy(source: SocketStream, sink: SocketStream) -> None:
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                    async for chunk in source:
                        await sink.send(chunk)
                tg.cancel_scope.cancel()

            tg.start_soon(copy, client, server)
            tg.start_soon(copy, server, client)


async def test_calls_fail_clearly_while_the_server_is_away_and_work_once_it_is_back(
    pg_url: str,
) -> None:
    target = urlsplit(pg_url)
    async with anyio.create_task_group() as tg:
        cable = Cable(tg, (target.hostname or "127.0.0.1", target.port or 5432))
        await cable.plug()
        login = f"{target.username}@" if target.username else ""
        url = urlunsplit(target._replace(netloc=f"{login}127.0.0.1:{cable.port}"))
        store, direct = await connect_store(url), await connect_store(pg_url)
        try:
            before = await store.events.append_event(NewEvent(type="kept", source="t"))
            await cable.unplug()
            with anyio.fail_after(20), pytest.raises(StoreUnavailable, match="unavailable"):
                await store.events.last_seq()
            with anyio.fail_after(20), pytest.raises(StoreUnavailable, match="unavailable"):
                await store.events.append_event(NewEvent(type="lost", source="t"))

            await cable.plug()  # the same port: the store connects anew by itself
            with anyio.fail_after(20):
                after = await store.events.append_event(NewEvent(type="kept", source="t"))
                # ...and its LISTEN connection is back: another store's commit wakes it.
                generation = store.feed.generation()
                await direct.events.append_event(NewEvent(type="ping", source="t"))
                while store.feed.generation() == generation:
                    await store.feed.wait_changed(generation, 1.0)
            kept = await direct.events.list_events(EventQuery(type="kept"))
            assert [e.seq for e in kept] == [before.event.seq, after.event.seq]
            assert await direct.events.list_events(EventQuery(type="lost")) == []
        finally:
            await store.aclose()
            await direct.aclose()
            tg.cancel_scope.cancel()
