"""The dashboard's routes, mounted into the HTTP app (`/ui/`, `/api/`), and the app that
`relay ui` serves: the dashboard alone, behind the same guard as the MCP transports."""

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from relay.config import Settings
from relay.dashboard.actions import action_routes
from relay.dashboard.api import api_routes
from relay.dashboard.auth import login_routes
from relay.dashboard.board import HERE, Board
from relay.dashboard.pages import page_routes
from relay.http_app.security import BrowserAccess, Guard, allowed_names, auth_token
from relay.http_app.throttle import SignInThrottle
from relay.service.services import Services

BROWSER = BrowserAccess()


def dashboard_routes(
    relay: Services, settings: Settings, throttle: SignInThrottle
) -> list[BaseRoute]:
    board = Board.create(relay, settings, throttle)
    static = StaticFiles(directory=HERE / "static")
    ui = [
        *page_routes(board),
        *action_routes(board),
        *login_routes(board),
        Mount("/static", app=static, name="static"),
    ]
    return [Mount(BROWSER.pages, routes=ui), Mount(BROWSER.api, routes=api_routes(board))]


async def to_dashboard(request: Request) -> Response:
    return RedirectResponse("/ui/", 307)


async def healthz(request: Request) -> Response:
    """Liveness only, as in the full HTTP app."""
    return JSONResponse({"status": "ok"})


def create_dashboard_app(relay: Services, settings: Settings, *, bind_host: str) -> Starlette:
    """`relay ui`: the dashboard, its API, `/healthz`, and `/` leading to `/ui/`."""
    names = allowed_names(settings.allowed_hosts, bind_host)
    throttle = SignInThrottle()
    routes: list[BaseRoute] = [
        Route("/", to_dashboard, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        *dashboard_routes(relay, settings, throttle),
    ]
    guard = Middleware(
        Guard, names=names, token=auth_token(settings), browser=BROWSER, throttle=throttle
    )
    return Starlette(routes=routes, middleware=[guard])
