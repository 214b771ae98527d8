"""The dashboard's pages (GET, HTML): runs, a run, approvals and tasks, events,
workflows, participants and analytics. Each reads through the service and renders."""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay.dashboard.board import CHANNEL, Board
from relay.dashboard.charts import runs_per_day_svg, slowest_steps_svg
from relay.dashboard.svg import dag_svg, timeline_svg
from relay.errors import RelayError, UsageError
from relay.model.run import RunStatus, TaskStatus
from relay.service.views import (
    event_view,
    participant_view,
    run_summary,
    task_view,
)
from relay.service.wording import decidable_through, unblock_command

PAGE_SIZE = 25
Handler = Callable[[Board, Request], Awaitable[Response]]


def pretty(value: Any) -> str:
    """JSON for a <pre> block (escaped by the template like any other text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def number(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"query parameter {name!r} must be a whole number") from None
    if not low <= value <= high:
        raise UsageError(f"query parameter {name!r} must be between {low} and {high}")
    return value


def text(request: Request, name: str) -> str | None:
    return request.query_params.get(name, "").strip() or None


async def runs_page(board: Board, request: Request) -> Response:
    status, workflow, who = text(request, "status"), text(request, "workflow"), text(request, "by")
    page = number(request, "page", 1, 1, 10_000)
    runs = await board.relay.runs.list_runs(
        status, workflow, PAGE_SIZE + 1, started_by=who, offset=(page - 1) * PAGE_SIZE
    )
    return board.page(
        request,
        "runs.html",
        runs=[run_summary(r) for r in runs[:PAGE_SIZE]],
        more=len(runs) > PAGE_SIZE,
        page=page,
        filters={"status": status or "", "workflow": workflow or "", "by": who or ""},
        statuses=[s.value for s in RunStatus],
        workflows=sorted(w["id"] for w in board.relay.workflows.list_workflows()["workflows"]),
    )


def timeline_rows(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The attempts, and the time each step that ran no action spent (an approval gate,
    a wait for an event or a task), in start order."""
    attempted = {a["step"] for a in detail["attempts"]}
    waits = [
        {
            "step": s["id"],
            "attempt": 0,
            "status": s["status"],
            "started_at": s["started_at"],
            "finished_at": s["finished_at"],
        }
        for s in detail["run"]["steps"]
        if s["started_at"] and s["id"] not in attempted
    ]
    rows = [*detail["attempts"], *waits]
    return sorted(rows, key=lambda row: str(row["started_at"]))


async def run_page(board: Board, request: Request) -> Response:
    detail = await board.relay.runs.run_detail(request.path_params["run_id"])
    run, waiting = detail["run"], detail["run"]["waiting_for"]
    return board.page(
        request,
        "run.html",
        run=run,
        detail=detail,
        # What the page says a waiting run needs: its buttons, else a `relay` command.
        shell=unblock_command(run["run_id"], waiting) if waiting else None,
        decidable=waiting is not None and decidable_through(waiting["detail"], CHANNEL),
        dag=dag_svg(detail["graph"], link_steps=True),
        timeline=timeline_svg(timeline_rows(detail), run["created_at"], datetime.now(UTC)),
        pretty=pretty,
        final=RunStatus(run["status"]).is_final,
    )


async def approvals_page(board: Board, request: Request) -> Response:
    approvals = await board.relay.coordination.list_approvals("pending")
    tasks = await board.relay.coordination.list_tasks("*", None)
    open_ = (TaskStatus.OPEN, TaskStatus.CLAIMED)
    waiting = [task_view(t) for t in tasks if t.status in open_]
    return board.page(request, "approvals.html", approvals=approvals, tasks=waiting, pretty=pretty)


async def events_page(board: Board, request: Request) -> Response:
    kind, source = text(request, "type"), text(request, "source")
    limit = number(request, "limit", 100, 1, 1000)
    events = await board.relay.events.list_events(kind, source, limit=limit)
    return board.page(
        request,
        "events.html",
        events=[event_view(e) for e in reversed(events)],
        filters={"type": kind or "", "source": source or ""},
        pretty=pretty,
    )


async def workflows_page(board: Board, request: Request) -> Response:
    listed = board.relay.workflows.list_workflows()
    return board.page(
        request,
        "workflows.html",
        workflows=listed["workflows"],
        problems=listed["errors"],
        searched=board.relay.workflows.searched(),
    )


async def workflow_page(board: Board, request: Request) -> Response:
    detail = board.relay.workflows.workflow_detail(request.path_params["workflow_id"])
    return board.page(
        request, "workflow.html", detail=detail, dag=dag_svg(detail["graph"]), pretty=pretty
    )


async def participants_page(board: Board, request: Request) -> Response:
    people = [
        participant_view(p) for p in await board.relay.presence.list_participants(addressed=True)
    ]
    workers = await board.relay.presence.live_workers()
    return board.page(request, "participants.html", participants=people, workers=workers)


async def analytics_page(board: Board, request: Request) -> Response:
    days = number(request, "days", 14, 1, 366)
    figures = await board.relay.runs.analytics(days)
    charts = {
        w["workflow"]: (runs_per_day_svg(w["per_day"]), slowest_steps_svg(w["slowest_steps"]))
        for w in figures["workflows"]
    }
    return board.page(request, "analytics.html", figures=figures, charts=charts, days=days)


def _page(board: Board, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(board, request)
        except RelayError as exc:
            return board.error_page(request, exc)

    return endpoint


def page_routes(board: Board) -> list[BaseRoute]:
    pages: list[tuple[str, Handler]] = [
        ("/", runs_page),
        ("/runs/{run_id}", run_page),
        ("/approvals", approvals_page),
        ("/events", events_page),
        ("/workflows", workflows_page),
        ("/workflows/{workflow_id}", workflow_page),
        ("/participants", participants_page),
        ("/analytics", analytics_page),
    ]
    return [Route(path, _page(board, handler), methods=["GET"]) for path, handler in pages]
