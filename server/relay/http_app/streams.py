"""The MCP transports' routes: streamable HTTP (`/mcp`) and legacy SSE (`GET /sse`, whose
client POSTs its messages to `/messages/?session_id=...`), over one `MCPServer`.

Both keep event streams open (SSE; a 2025-era client's `GET /mcp`). At shutdown these
streams are stopped by the server, and the SDK then leaves the HTTP response unfinished
("ASGI callable returned without completing response") or, in its own `sse_app()`,
answers a second response after it. Each route here ends such a response properly. The
SSE endpoint also makes legacy clients the same notification promise as stdio does.
"""

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay.mcp_server.server import NOTIFICATIONS


class EndsOpenResponses:
    """ASGI wrapper: when `app` returns with its response started but not finished (an
    event stream the server stopped), finish it (an ASGI app rather than a function,
    so that Starlette hands it the raw call)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_open = False

        async def tracking_send(message: Message) -> None:
            nonlocal is_open
            if message["type"] == "http.response.start":
                is_open = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                is_open = False
            await send(message)

        await self.app(scope, receive, tracking_send)
        if is_open:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def streamable_http_route(
    server: MCPServer[Any], *, path: str, security: TransportSecuritySettings
) -> BaseRoute:
    """The streamable-HTTP route; the host app's lifespan must run
    `server.session_manager.run()`."""
    server.streamable_http_app(streamable_http_path=path, transport_security=security)
    return Route(path, EndsOpenResponses(StreamableHTTPASGIApp(server.session_manager)))


def sse_routes(
    server: MCPServer[Any], *, path: str, messages_path: str, security: TransportSecuritySettings
) -> list[BaseRoute]:
    """The two routes of the SSE transport."""
    transport = SseServerTransport(messages_path, security_settings=security)
    low = server._lowlevel_server  # the SDK's way to choose the notifications

    async def one_connection(scope: Scope, receive: Receive, send: Send) -> None:
        async with transport.connect_sse(scope, receive, send) as (read, write):
            await low.run(read, write, low.create_initialization_options(NOTIFICATIONS))

    return [
        Route(path, EndsOpenResponses(one_connection), methods=["GET"]),
        Mount(messages_path, app=transport.handle_post_message),
    ]
