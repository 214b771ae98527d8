"""MCP over this process's stdin and stdout (`relay serve`, the default transport).

The SDK's `stdio_server` does the framing and points fd 1 at stderr while it serves, so
that nothing but the protocol reaches stdout. Its reader, though, waits for stdin in one
of anyio's worker threads, which cannot be abandoned: on SIGTERM while the client keeps
stdin open, shutting down would wait for the client's next line, and so would the
interpreter's exit. Here a daemon thread reads stdin and hands each line over, so a
signal stops the server at once. fd 0 points at the null device from then on, so that no
child process (a `shell` step, an `mcp_call` server) can read the client's messages.
"""

import io
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TextIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from relay.mcp_server.server import NOTIFICATIONS


class InputQuiet:
    """When the client's first burst of requests (initialize, then the lists it asks for
    at once) is over: the moment to start the slow work of opening the store."""

    def __init__(self) -> None:
        self.last_line: float | None = None  # monotonic; written by the reader thread

    def saw_line(self) -> None:
        self.last_line = time.monotonic()

    async def settled(self, *, idle_seconds: float, at_most_seconds: float) -> None:
        """Return once a line came and none followed for `idle_seconds` (or after
        `at_most_seconds`: a client that says nothing still gets its engine started)."""
        with anyio.move_on_after(at_most_seconds):
            while True:
                last = self.last_line
                quiet = 0.0 if last is None else time.monotonic() - last
                if last is not None and quiet >= idle_seconds:
                    return
                await anyio.sleep(idle_seconds - quiet if last is not None else 0.005)


class _DaemonReadFile(anyio.AsyncFile[str]):
    """An async text file whose lines a daemon thread reads (see the module docstring)."""

    def __init__(self, wrapped: TextIO, quiet: InputQuiet) -> None:
        super().__init__(wrapped)
        self.quiet = quiet

    async def __aiter__(self) -> AsyncIterator[str]:
        send, receive = anyio.create_memory_object_stream[str]()
        token = anyio.lowlevel.current_token()
        reader = threading.Thread(
            target=_pump,
            args=(self.wrapped, send, token, self.quiet),
            name="relay-stdin",
            daemon=True,
        )
        reader.start()
        with receive:
            async for line in receive:
                yield line


def _pump(
    source: TextIO,
    send: MemoryObjectSendStream[str],
    token: anyio.lowlevel.EventLoopToken,
    quiet: InputQuiet,
) -> None:
    """In the daemon thread: every line of `source`, then the end of the stream."""
    try:
        for line in source:
            quiet.saw_line()
            anyio.from_thread.run(send.send, line, token=token)
        anyio.from_thread.run_sync(send.close, token=token)
    except (anyio.BrokenResourceError, RuntimeError):
        pass  # the server stopped listening, or its event loop is gone: nothing to hand over


def _claim_stdin(quiet: InputQuiet) -> _DaemonReadFile | None:
    """The client's side of fd 0 on a private descriptor, fd 0 now the null device;
    None when fd 0 is not open (the SDK then reads sys.stdin as it is)."""
    try:
        wire = os.dup(0)  # not inherited by child processes
    except OSError:
        return None
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # closefd=False: the reader thread may still be blocked on `wire` when the server
    # stops, so it is never closed (and its number never reused) while the process lives.
    wire_file = os.fdopen(wire, "rb", closefd=False)
    text = io.TextIOWrapper(wire_file, encoding="utf-8", errors="replace")
    return _DaemonReadFile(text, quiet)


ServeOne = Callable[[MCPServer[Any]], Awaitable[None]]


@asynccontextmanager
async def stdio_transport() -> AsyncIterator[tuple[ServeOne, InputQuiet]]:
    """Claim stdin and stdout, and give the coroutine function that serves one client (of
    either protocol era) over them until it closes stdin, with the `InputQuiet` of its
    lines. Enter it before anything that might write to stdout (an engine running
    `python` steps) starts."""
    quiet = InputQuiet()
    async with stdio_server(stdin=_claim_stdin(quiet)) as (read, write):

        async def serve(server: MCPServer[Any]) -> None:
            low = server._lowlevel_server  # the SDK's documented way to choose notifications
            await low.run(read, write, low.create_initialization_options(NOTIFICATIONS))

        yield serve, quiet
