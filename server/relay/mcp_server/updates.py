"""`notifications/resources/updated` for subscribed resources, whoever changed them.

Runs advance and events arrive in any process sharing the store, so changes are found in
the store, not in this process's calls: a watcher wakes on every commit the store sees
(the store's change feed, which also notices other processes' commits), re-reads each
subscribed resource and publishes those whose content changed since it was last sent.

Both protocol eras subscribe here:
- 2026-07-28: `subscriptions/listen` streams, fed by the server's `SubscriptionBus`; the
  SDK's listen handler is wrapped only to learn which URIs are listened to;
- 2025-era: `resources/subscribe` / `resources/unsubscribe`, which `MCPServer` does not
  handle (MCP_SDK.md §3): handlers on the low-level server keep each subscriber's
  session and the notification is sent on it.

One watcher runs per server at a time: each MCP lifespan (one per SSE connection)
enters `watching()`, and a lock lets the others take over when the running one ends.
"""

import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from relay.errors import RelayError
from relay.mcp_server.handle import RelayHandle
from relay.mcp_server.sessions import connection_of, in_background

if TYPE_CHECKING:
    from relay.service.services import Services

logger = logging.getLogger(__name__)

# With no commit at all, look again this often anyway (cheap; catches missed wake-ups).
IDLE_RECHECK_SECONDS = 5.0
# Commits come in bursts (a step's start, output, the next step): gather them.
COALESCE_SECONDS = 0.05


class ResourceUpdates:
    """Who subscribed to which URI, what they last heard, and the watcher."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self.bus = bus
        self.listening: Counter[str] = Counter()  # 2026 era: open listen streams per URI
        # 2025 era: per URI, a session of each subscribed connection (any of them sends on
        # the connection's own channel)
        self.sessions: dict[str, dict[object, ServerSession]] = {}
        self.sent: dict[str, str | None] = {}  # the content subscribers last heard of
        self._server: MCPServer[Any] | None = None
        self._lock: anyio.Lock | None = None
        self._listen_handler: Any = None  # the SDK's ListenHandler (2026-07-28 streams)

    def install(self, server: MCPServer[Any]) -> None:
        """Serve subscriptions in both eras on `server`."""
        self._server = server
        low = server._lowlevel_server  # MCPServer has no public hook for these (MCP_SDK.md §3)
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        low.add_request_handler(
            "resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe
        )
        listen = low.get_request_handler("subscriptions/listen")
        if listen is None:
            return
        inner = listen.handler
        self._listen_handler = inner

        async def listen_tracked(
            ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
        ) -> Any:
            uris = list(params.notifications.resource_subscriptions or [])
            await self._track(uris)
            try:
                return await inner(ctx, params)
            finally:
                self._untrack(uris)

        low.add_request_handler(
            "subscriptions/listen", SubscriptionsListenRequestParams, listen_tracked
        )

    def end_streams(self) -> None:
        """End every open 2026-07-28 listen stream gracefully (each sends its final
        result), e.g. when the server stops: an open stream would otherwise hold an HTTP
        request until the graceful shutdown timed out and cancelled it."""
        close = getattr(self._listen_handler, "close", None)
        if close is not None:
            close()

    # subscribing ------------------------------------------------------------------------

    async def _subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        if await self._read(params.uri) is None:
            raise MCPError(INVALID_PARAMS, f"no resource {params.uri!r} to subscribe to")
        subscribers = self.sessions.setdefault(params.uri, {})
        if connection_of(ctx.session) not in subscribers:
            await self._track([params.uri])
            subscribers[connection_of(ctx.session)] = ctx.session
        return EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        self._drop(params.uri, ctx.session)
        return EmptyResult()

    def _drop(self, uri: str, session: ServerSession) -> None:
        if self.sessions.get(uri, {}).pop(connection_of(session), None) is not None:
            self._untrack([uri])

    async def _track(self, uris: Sequence[str]) -> None:
        for uri in uris:
            if uri not in self.sent:
                self.sent[uri] = await self._read(uri)
            self.listening[uri] += 1

    def _untrack(self, uris: Sequence[str]) -> None:
        for uri in uris:
            self.listening[uri] -= 1
            if self.listening[uri] <= 0:
                del self.listening[uri]
                self.sent.pop(uri, None)
                self.sessions.pop(uri, None)

    # publishing -------------------------------------------------------------------------

    async def _read(self, uri: str) -> str | None:
        """The resource's content now; None when it cannot be read."""
        if self._server is None:
            return None
        try:
            contents = await self._server.read_resource(uri)
        except (ResourceError, MCPError):
            return None
        if not isinstance(contents, list):  # an InputRequiredResult: never from relay
            return None
        return "".join(str(c.content) for c in contents)

    async def publish(self, uri: str) -> None:
        """Tell every subscriber of `uri` (both eras) that it changed."""
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self.sessions.get(uri, {}).values()):
            try:
                await session.send_resource_updated(uri)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError, MCPError):
                self._drop(uri, session)  # the client went away without unsubscribing

    async def check(self) -> list[str]:
        """Publish every subscribed URI whose content changed; returns them."""
        changed = []
        for uri in list(self.sent):
            content = await self._read(uri)
            if uri in self.sent and content != self.sent[uri]:
                self.sent[uri] = content
                changed.append(uri)
                await self.publish(uri)
        return changed

    # watching ---------------------------------------------------------------------------

    async def watch(self, relay: "Services") -> None:
        """Check subscribed resources after every commit the store sees, forever."""
        first = True
        async for _ in relay.changes(IDLE_RECHECK_SECONDS):
            if not first:
                await anyio.sleep(COALESCE_SECONDS)
            first = False
            if self.sent:
                await self.check()

    async def _watch_alone(self, handle: RelayHandle) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            try:
                relay = await handle.when_open()
            except RelayError:
                return  # relay could not open: nothing changes, and requests say why
            await self.watch(relay)

    def watching(self, handle: RelayHandle) -> contextlib.AbstractAsyncContextManager[None]:
        """Run the watcher while inside (one per server, whatever the lifespans), once
        the services are open."""
        return in_background(self._watch_alone, handle)
