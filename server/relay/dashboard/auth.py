"""Signing in to the dashboard when RELAY_AUTH_TOKEN is set: the token is entered once
on `/ui/login` and a session cookie derived from it (HttpOnly, SameSite=Strict) is kept;
the guard (relay.http_app.security) checks that cookie on every page and API call."""

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from relay.dashboard.board import Board
from relay.http_app.security import SESSION_COOKIE, client_address, session_value

SESSION_DAYS = 30
HOME = "/ui/"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard page, never another site."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return HOME


def login_routes(board: Board) -> list[BaseRoute]:
    async def login_form(request: Request) -> Response:
        if board.token is None:
            return RedirectResponse(HOME, 303)  # nothing to sign in to
        wanted = safe_next(request.query_params.get("next"))
        return board.page(request, "login.html", next=wanted, failed=False, wait=None)

    async def login(request: Request) -> Response:
        if board.token is None:
            return RedirectResponse(HOME, 303)
        async with request.form(max_files=0, max_fields=10) as form:
            given, wanted = form.get("token", ""), form.get("next", "")
        wanted = safe_next(wanted if isinstance(wanted, str) else None)
        given = given.strip() if isinstance(given, str) else ""
        address = client_address(request.scope)
        wait = board.throttle.retry_after(address)
        if wait is not None:  # the token is not even compared: a guess reveals nothing
            page = board.page(request, "login.html", 429, next=wanted, failed=False, wait=wait)
            page.headers["Retry-After"] = str(wait)
            return page
        if not hmac.compare_digest(given.encode(), board.token.encode()):
            board.throttle.failed(address)
            return board.page(request, "login.html", 401, next=wanted, failed=True, wait=None)
        response = RedirectResponse(wanted, 303)
        response.set_cookie(
            SESSION_COOKIE,
            session_value(board.token),
            max_age=SESSION_DAYS * 86400,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/ui/login" if board.token else HOME, 303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    endpoints: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("GET", "/login", login_form),
        ("POST", "/login", login),
        ("POST", "/logout", logout),
    ]
    return [Route(path, handler, methods=[method]) for method, path, handler in endpoints]
