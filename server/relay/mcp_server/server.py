"""The MCPServer: one per process, over the process's `Services`.

The services (over one store and engine) are opened by the host (`relay serve`) outside the
MCP lifespan and only handed to it, as a `RelayHandle`: the SDK runs an SSE server's
lifespan once per connection, and every connection must share one engine and one store.
Over stdio the handle may still be opening while the first requests are answered.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server import NotificationOptions
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.types import DiscoverResult, RequestParams
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from relay import __version__
from relay.mcp_server.handle import RelayHandle
from relay.mcp_server.prose import prose
from relay.mcp_server.state import McpState

if TYPE_CHECKING:
    from relay.mcp_server.updates import ResourceUpdates
    from relay.service.services import Services

INSTRUCTIONS = """\
relay runs durable, YAML-defined workflows shared by every participant (this chat, other
chats, scripts, CI). Start one with start_workflow (wait_seconds to wait for it), follow it
with get_status(run_id, wait_seconds=...). A run that waits carries `waiting_for` and a
one-line `next` naming the call that unblocks it: approve (approval gates),
complete_task (handoffs to a participant; see list_tasks), emit_event (a workflow waiting
for an event). Events are a shared log: emit_event, list_events, wait_for_event."""


# What the server declares, in both protocol eras alike: no list (tools, prompts,
# resources) ever changes while it runs; subscribed resources (runs, events) say when they
# change, under `resources.subscribe`.
NOTIFICATIONS = NotificationOptions(
    prompts_changed=False, resources_changed=False, tools_changed=False
)


def build_server(
    relay: "Services | RelayHandle",
    *,
    participant: str | None = None,
    updates: "ResourceUpdates | None" = None,
) -> MCPServer[McpState]:
    """The MCP server over `relay` (or over a handle that opens it later); `participant`
    (RELAY_PARTICIPANT) names the callers, else each client's own name from `initialize`.
    A host that must end subscription streams when it stops passes its own `updates`."""
    from relay.mcp_server import completions, prompts, resources, tools
    from relay.mcp_server.updates import ResourceUpdates

    handle = relay if isinstance(relay, RelayHandle) else RelayHandle.ready(relay, participant)
    state = McpState(handle)
    # Subscribed resources are re-read when the store changes (in any process) and their
    # subscribers notified: one watcher per server, whichever lifespans are running.
    updates = updates or ResourceUpdates(InMemorySubscriptionBus())

    @asynccontextmanager
    async def lifespan(server: MCPServer[McpState]) -> AsyncIterator[McpState]:
        async with updates.watching(handle), state.logs.watching(handle):
            yield state

    server: MCPServer[McpState] = MCPServer(
        "relay",
        version=__version__,
        instructions=prose(INSTRUCTIONS),
        lifespan=lifespan,
        subscriptions=updates.bus,
    )
    tools.register(server)
    resources.register(server, handle)
    updates.install(server)
    prompts.register(server)
    completions.register(server, handle)
    state.logs.install(server)
    _declare_as_in_2025(server)
    return server


def _declare_as_in_2025(server: MCPServer[McpState]) -> None:
    """Serve `server/discover` (2026-07-28) with the capabilities a 2025-era client gets
    from `initialize`: the SDK's own derives `listChanged: true` for every list from
    serving `subscriptions/listen`, which would tell the two eras different things."""
    low = server._lowlevel_server

    async def discover(
        ctx: ServerRequestContext[Any, Any], params: RequestParams | None
    ) -> DiscoverResult:
        return DiscoverResult(
            supported_versions=list(MODERN_PROTOCOL_VERSIONS),
            capabilities=low.get_capabilities(NOTIFICATIONS),
            instructions=low.instructions,
        )

    low.add_request_handler("server/discover", RequestParams, discover)
