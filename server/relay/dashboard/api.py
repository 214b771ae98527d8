"""The dashboard's JSON API under `/api/`: the same shapes as the MCP tools' results,
read and written through the service. Errors are `{"error": message}`
with 400 (bad input), 404 (unknown id), 409 (not possible now) or 503 (store busy)."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from relay.dashboard import actions
from relay.dashboard.board import Board
from relay.dashboard.live import live_stream
from relay.dashboard.pages import number, text
from relay.errors import RelayError, UsageError
from relay.http_app.errors import status_of
from relay.service.views import event_view, participant_view, run_summary, task_view

Handler = Callable[[Board, Request], Awaitable[Any]]


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is `{}`)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise UsageError("the request body must be a JSON object")
    return value


def _str(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise UsageError(f"{key!r} must be a string")
    return value


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{key!r} must be true or false")
    return value


async def list_runs(board: Board, request: Request) -> Any:
    runs = await board.relay.runs.list_runs(
        text(request, "status"),
        text(request, "workflow"),
        number(request, "limit", 20, 1, 1000),
        started_by=text(request, "participant"),
        offset=number(request, "offset", 0, 0, 10_000_000),
    )
    return {"runs": [run_summary(r) for r in runs]}


async def get_run(board: Board, request: Request) -> Any:
    return await board.relay.runs.run_detail(request.path_params["run_id"])


async def start_run(board: Board, request: Request) -> Any:
    data = await body(request)
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise UsageError("'inputs' must be a JSON object")
    return await actions.start(board, _str(data, "workflow"), inputs)


async def approve(board: Board, request: Request) -> Any:
    data = await body(request)
    return await actions.approve(
        board,
        request.path_params["run_id"],
        _str(data, "step") or None,
        _bool(data, "approved", True),
        _str(data, "comment"),
    )


async def cancel(board: Board, request: Request) -> Any:
    data = await body(request)
    return await actions.cancel(board, request.path_params["run_id"], _str(data, "reason"))


async def resume(board: Board, request: Request) -> Any:
    return await actions.resume(board, request.path_params["run_id"])


async def approvals(board: Board, request: Request) -> Any:
    status = text(request, "status") or "pending"
    return {"approvals": await board.relay.coordination.list_approvals(status)}


async def tasks(board: Board, request: Request) -> Any:
    found = await board.relay.coordination.list_tasks(
        text(request, "participant") or "*", text(request, "status") or "open"
    )
    return {"tasks": [task_view(t) for t in found]}


async def complete_task(board: Board, request: Request) -> Any:
    data = await body(request)
    return await actions.complete_task(
        board,
        request.path_params["task_id"],
        data.get("result"),
        _bool(data, "failed", False),
        _str(data, "error"),
    )


async def events(board: Board, request: Request) -> Any:
    after = text(request, "after_seq")
    found, last_seq = await board.relay.events.event_page(
        text(request, "type"),
        text(request, "source"),
        text(request, "correlation_id"),
        None if after is None else number(request, "after_seq", 0, 0, 2**62),
        number(request, "limit", 50, 1, 1000),
    )
    return {"events": [event_view(e) for e in found], "last_seq": last_seq}


async def workflows(board: Board, request: Request) -> Any:
    return board.relay.workflows.list_workflows()


async def workflow(board: Board, request: Request) -> Any:
    return board.relay.workflows.workflow_detail(request.path_params["workflow_id"])


async def participants(board: Board, request: Request) -> Any:
    found = await board.relay.presence.list_participants()
    return {"participants": [participant_view(p) for p in found]}


async def analytics(board: Board, request: Request) -> Any:
    return await board.relay.runs.analytics(number(request, "days", 14, 1, 366))


def _json(board: Board, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(board, request))
        except RelayError as exc:
            return JSONResponse({"error": str(exc)}, status_of(exc))

    return endpoint


def api_routes(board: Board) -> list[BaseRoute]:
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/runs", list_runs),
        ("POST", "/runs", start_run),
        ("GET", "/runs/{run_id}", get_run),
        ("POST", "/runs/{run_id}/approve", approve),
        ("POST", "/runs/{run_id}/cancel", cancel),
        ("POST", "/runs/{run_id}/resume", resume),
        ("GET", "/approvals", approvals),
        ("GET", "/tasks", tasks),
        ("POST", "/tasks/{task_id}/complete", complete_task),
        ("GET", "/events", events),
        ("GET", "/workflows", workflows),
        ("GET", "/workflows/{workflow_id}", workflow),
        ("GET", "/participants", participants),
        ("GET", "/analytics", analytics),
    ]
    routes: list[BaseRoute] = [
        Route(path, _json(board, handler), methods=[method]) for method, path, handler in table
    ]
    routes.append(Route("/live", live_stream(board), methods=["GET"]))
    return routes
