"""The HTTP app: MCP over streamable HTTP (`/mcp`) and legacy SSE (`/sse`), `/healthz`,
webhooks (`/hooks/{name}`), Slack interactions (`/slack/interactions`) and the dashboard
(`/ui/`, `/api/`), behind one guard.

`create_app` takes the process's one `Services` (opened by `relay serve` outside any MCP
lifespan: the SDK runs an SSE server's lifespan once per connection) and builds the MCP
server once; both transports serve that same server, so a run started over one is seen
over the other.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from relay.config import Settings
from relay.dashboard.routes import BROWSER, dashboard_routes
from relay.http_app.security import Guard, allowed_names, auth_token, sdk_transport_security
from relay.http_app.slack_interactions import slack_interactions_route
from relay.http_app.streams import sse_routes, streamable_http_route
from relay.http_app.throttle import SignInThrottle
from relay.http_app.webhooks import webhook_route
from relay.mcp_server.server import build_server
from relay.service.services import Services

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
SSE_MESSAGES_PATH = "/messages/"


async def healthz(request: Request) -> JSONResponse:
    """Liveness only: it says nothing about runs, workflows or configuration."""
    return JSONResponse({"status": "ok"})


def create_app(
    relay: Services,
    settings: Settings,
    *,
    bind_host: str = "127.0.0.1",
    server: MCPServer[Any] | None = None,
) -> Starlette:
    """The Starlette app over `relay`. Its lifespan runs the streamable-HTTP session
    manager, so serve it with lifespan events on (uvicorn's default)."""
    mcp = server or build_server(relay, participant=settings.participant)
    names = allowed_names(settings.allowed_hosts, bind_host)
    security = sdk_transport_security(names)
    throttle = SignInThrottle()  # wrong tokens, counted by the guard and the login page

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Sessions of streamable HTTP live in the manager's task group, for the app's life.
        async with mcp.session_manager.run():
            yield

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        streamable_http_route(mcp, path=MCP_PATH, security=security),
        *sse_routes(mcp, path=SSE_PATH, messages_path=SSE_MESSAGES_PATH, security=security),
        slack_interactions_route(relay, settings),
        webhook_route(relay),  # /hooks/{name}
        *dashboard_routes(relay, settings, throttle),  # /ui/ and /api/
    ]
    guard = Middleware(
        Guard, names=names, token=auth_token(settings), browser=BROWSER, throttle=throttle
    )
    return Starlette(routes=routes, middleware=[guard], lifespan=lifespan)
