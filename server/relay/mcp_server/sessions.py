"""What outlives one request of the MCP server: a 2025-era client's connection, and the
watchers that run for the length of a lifespan."""

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
from mcp.server.session import ServerSession

from relay.mcp_server.handle import RelayHandle


def connection_of(session: ServerSession) -> object:
    """What a 2025-era client's subscriptions and settings belong to. A `ServerSession`
    is a per-request proxy; its connection lasts as long as the client's (the SDK has no
    public handle on it)."""
    connection: object = session._connection
    return connection


@contextlib.asynccontextmanager
async def in_background(
    task: Callable[[RelayHandle], Coroutine[Any, Any, None]], handle: RelayHandle
) -> AsyncIterator[None]:
    """Run `task(handle)` while inside (a watcher for the length of a lifespan)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(task, handle)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
