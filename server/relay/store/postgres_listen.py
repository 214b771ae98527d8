"""The PostgreSQL backend's ears: a LISTEN connection behind the change feed and the
doorbell, with a slow poll as its safety net."""

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg import sql

from relay.store.feed import ChangeFeed
from relay.store.postgres_db import CONNECT_TIMEOUT_SECONDS, RANG

log = logging.getLogger(__name__)

# The listener rings both feeds this often in case a notification was missed (the slow
# poll safety net), and probes its connection.
SAFETY_POLL_SECONDS = 5.0
RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)


class Listener:
    """LISTEN on a connection of its own, read on the event loop (`loop.add_reader`: no
    thread, no hop between threads): each notification from another backend moves the
    change feed, and a ring the doorbell too. When the connection drops, it reconnects
    (ringing both feeds: notifications may have been missed meanwhile), and every
    SAFETY_POLL_SECONDS it rings both anyway and probes the connection with a query."""

    def __init__(self, url: str, channel: str, own_pids: set[int], feed: ChangeFeed) -> None:
        self._loop = asyncio.get_running_loop()
        self._url, self._channel, self._own, self._feed = url, channel, own_pids, feed
        self._conn: psycopg.Connection[Any] | None = None
        self._fd = -1
        self._timer: asyncio.TimerHandle | None = None
        self._failures = 0
        self._closed = False
        self._connect()

    def _connect(self) -> None:
        if not self._closed:  # connecting blocks: in a worker thread
            self._loop.run_in_executor(None, self._open).add_done_callback(self._opened)

    def _open(self) -> "psycopg.Connection[Any]":
        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _opened(self, future: "asyncio.Future[psycopg.Connection[Any]]") -> None:
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            self._retry(error)
            return
        conn = future.result()
        if self._closed:
            conn.close()
            return
        conn.pgconn.nonblocking = 1
        self._conn, self._fd = conn, conn.pgconn.socket
        self._loop.add_reader(self._fd, self._readable)
        if self._failures:
            log.info("listening for relay notifications again")
            self._ring_both()
        self._failures = 0
        self._timer = self._loop.call_later(SAFETY_POLL_SECONDS, self._probe)

    def _readable(self) -> None:
        assert self._conn is not None
        pgconn = self._conn.pgconn
        changed = rang = False
        try:
            pgconn.consume_input()
            while not pgconn.is_busy() and pgconn.get_result() is not None:
                pass  # the probe's answer
            while (note := pgconn.notifies()) is not None:
                if note.be_pid not in self._own:
                    changed = True
                    rang = rang or note.extra == RANG.encode()
        except psycopg.Error as exc:
            self._lost(exc)
            return
        if rang:
            self._feed.rang()
        if changed:
            self._feed.changed()

    def _probe(self) -> None:
        self._ring_both()
        try:
            assert self._conn is not None
            self._conn.pgconn.send_query(b"SELECT 1")  # a dead connection fails here or soon
            self._conn.pgconn.flush()
        except psycopg.Error as exc:
            self._lost(exc)
            return
        self._timer = self._loop.call_later(SAFETY_POLL_SECONDS, self._probe)

    def _lost(self, error: BaseException) -> None:
        self._drop()
        self._ring_both()  # whatever was missed: look again
        self._retry(error)

    def _retry(self, error: BaseException | None) -> None:
        if self._closed:
            return
        if self._failures == 0:
            log.warning("lost the notification connection, reconnecting: %s", error)
        delay = RECONNECT_DELAYS[min(self._failures, len(RECONNECT_DELAYS) - 1)]
        self._failures += 1
        self._timer = self._loop.call_later(delay, self._connect)

    def _drop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._conn is not None:
            # The fd registered, not pgconn.socket: a broken connection no longer tells it,
            # and a stale registration would steal a later socket's events.
            self._loop.remove_reader(self._fd)
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()

    def _ring_both(self) -> None:
        self._feed.changed()
        self._feed.rang()

    def close(self) -> None:
        self._closed = True
        self._drop()
