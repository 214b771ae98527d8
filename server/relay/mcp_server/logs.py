"""Run and step log lines as MCP log messages (`notifications/message`).

A client receives the lines of the runs it follows (starts, asks about or waits on), at
the level it asked for:
- 2025-era connections set their level with `logging/setLevel` (until they do: info) and
  get the lines as they happen, whoever drives the run, from a watcher of the store;
- 2026-07-28 has no session: a request opts in with its `_meta` log level, and the lines
  of the run it waits on travel with that request, before its result (never after).
"""

import contextlib
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import EmptyResult, SetLevelRequestParams
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from relay.errors import RelayError
from relay.mcp_server.handle import RelayHandle
from relay.mcp_server.sessions import connection_of, in_background
from relay.service.follow import Progress
from relay.service.run_log import RunLogLine, at_least, log_lines

if TYPE_CHECKING:
    from relay.service.services import Services

LOGGER = "relay.run"
DEFAULT_LEVEL = "info"  # for a 2025-era client that never sent logging/setLevel
IDLE_RECHECK_SECONDS = 5.0


@dataclass
class Follower:
    """One 2025-era connection: its level, a session to send on, the runs it follows
    (and how many of each run's history entries it has had)."""

    session: ServerSession
    level: str = DEFAULT_LEVEL
    runs: dict[str, int] = field(default_factory=dict)


class RunLogs:
    def __init__(self) -> None:
        self.followers: dict[object, Follower] = {}

    def install(self, server: MCPServer[Any]) -> None:
        """Serve `logging/setLevel` (which also declares the logging capability)."""
        low = server._lowlevel_server  # MCPServer has no public hook for it
        low.add_request_handler("logging/setLevel", SetLevelRequestParams, self._set_level)

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
    ) -> EmptyResult:
        self._follower(ctx.session).level = params.level
        return EmptyResult()

    def _follower(self, session: ServerSession) -> Follower:
        key = connection_of(session)
        if key not in self.followers:
            self.followers[key] = Follower(session)
        return self.followers[key]

    # following --------------------------------------------------------------------------

    async def follow(self, ctx: Context[Any, Any], relay: "Services", run_id: str) -> None:
        """A 2025-era client hears this run's lines from now on."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        runs = self._follower(ctx.session).runs
        if run_id not in runs:
            runs[run_id] = len(await relay.runs.history(run_id))

    @contextlib.asynccontextmanager
    async def during(
        self, ctx: Context[Any, Any], relay: "Services", run_id: str, progress: Progress
    ) -> AsyncIterator[Progress]:
        """A progress callback for a wait on `run_id` that also carries the run's new log
        lines with the request (2026-07-28); the last ones go out before the result."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await self.follow(ctx, relay, run_id)
            yield progress
            return
        sent = len(await relay.runs.history(run_id))

        async def flush() -> None:
            nonlocal sent
            entries = await relay.runs.history(run_id)
            lines, sent = log_lines(entries[sent:]), len(entries)
            for line in lines:
                await send(ctx.session, line, None)

        async def report(done: float, total: float | None, message: str) -> None:
            await flush()
            await progress(done, total, message)

        yield report
        await flush()

    # the 2025-era watcher ---------------------------------------------------------------

    async def _flush_followers(self, handle: RelayHandle) -> None:
        relay = await handle.relay()
        for key, follower in list(self.followers.items()):
            for run_id, sent in list(follower.runs.items()):
                entries = await relay.runs.history(run_id)
                follower.runs[run_id] = len(entries)
                if not await _sent(follower, log_lines(entries[sent:])):
                    self.followers.pop(key, None)  # the client went away
                    break
                if entries and entries[-1].kind in FINAL_KINDS:
                    follower.runs.pop(run_id, None)

    async def watch(self, handle: RelayHandle) -> None:
        try:
            relay = await handle.when_open()
        except RelayError:
            return  # relay could not open: no run advances, and requests say why
        # A new follower needs nothing until its run changes: it starts at the run's end.
        async for _ in relay.changes(IDLE_RECHECK_SECONDS):
            if any(f.runs for f in self.followers.values()):
                await self._flush_followers(handle)

    def watching(self, handle: RelayHandle) -> contextlib.AbstractAsyncContextManager[None]:
        return in_background(self.watch, handle)


FINAL_KINDS = frozenset({"run.completed", "run.failed", "run.cancelled"})


async def _sent(follower: Follower, lines: list[RunLogLine]) -> bool:
    """Send the lines at or above the follower's level; False when it is gone."""
    try:
        for line in lines:
            if at_least(line.level, follower.level):
                await send(follower.session, line, None)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError, MCPError):
        return False
    return True


async def send(session: ServerSession, line: RunLogLine, request_id: Any) -> None:
    """One line as `notifications/message` (the SDK drops it below the request's level
    on 2026-07-28). The SDK marks its logging API deprecated (SEP-2577) and warns on
    each call; relay uses it on purpose, so that warning is not shown."""
    with warnings.catch_warnings():  # no await inside: the filters change only here
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        sending = session.send_log_message(
            line.level,  # type: ignore[arg-type]  # one of LEVELS, MCP's levels
            line.as_data(),
            logger=LOGGER,
            related_request_id=request_id,
        )
    await sending
