"""The MCPServer: one per process, over the process's one `Relay`.

The Relay (store, engine, catalog) is created by the host (`relay serve`) outside the
MCP lifespan and only handed to it: the SDK runs an SSE server's lifespan once per
connection, and every connection must share one engine and one store.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from relay import __version__
from relay.service.relay import Relay

INSTRUCTIONS = """\
relay runs durable, YAML-defined workflows shared by every participant (this chat, other
chats, scripts, CI). Start one with start_workflow (wait_seconds to wait for it), follow it
with get_status(run_id, wait_seconds=...). A run that waits carries `waiting_for` and a
one-line `next` naming the call that unblocks it: approve (approval gates),
complete_task (handoffs to a participant; see list_tasks), emit_event (a workflow waiting
for an event). Events are a shared log: emit_event, list_events, wait_for_event."""


@dataclass(frozen=True)
class McpState:
    """What every request of every connection shares."""

    relay: Relay
    participant: str | None  # RELAY_PARTICIPANT; None: each client's own name


def build_server(relay: Relay, *, participant: str | None = None) -> MCPServer[McpState]:
    """The MCP server over `relay`; `participant` (RELAY_PARTICIPANT) names the callers,
    else each client's own name from `initialize`."""
    from relay.mcp_server import prompts, resources, tools
    from relay.mcp_server.updates import ResourceUpdates

    state = McpState(relay, participant)
    # Subscribed resources are re-read when the store changes (in any process) and their
    # subscribers notified: one watcher per server, whichever lifespans are running.
    updates = ResourceUpdates(InMemorySubscriptionBus())

    @asynccontextmanager
    async def lifespan(server: MCPServer[McpState]) -> AsyncIterator[McpState]:
        async with updates.watching(relay.store.feed):
            yield state

    server: MCPServer[McpState] = MCPServer(
        "relay",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=updates.bus,
    )
    tools.register(server)
    resources.register(server, state)
    updates.install(server)
    prompts.register(server)
    return server


def caller(ctx: Context[McpState, Any]) -> Relay:
    """The shared Relay, acting as the participant this request comes from."""
    state: McpState = ctx.request_context.lifespan_context
    return state.relay.acting_as(state.participant or client_name(ctx) or "mcp")


def client_name(ctx: Context[McpState, Any]) -> str | None:
    params = ctx.session.client_params
    info = None if params is None else params.client_info
    return None if info is None else info.name
