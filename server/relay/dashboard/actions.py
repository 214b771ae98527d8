"""The dashboard's actions: approve or reject, complete a task, cancel, resume, start a
workflow. Pages post HTML forms here (answered with a redirect to the page that shows
the result); the API posts JSON to the same functions. Each is one service call, made
as the dashboard's participant."""

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from relay.dashboard.board import CHANNEL, Board
from relay.errors import RelayError, UsageError
from relay.model.inputs import parse_input_text
from relay.service.views import run_brief, task_view


async def approve(
    board: Board, run_id: str, step: str | None, approved: bool, comment: str
) -> dict[str, Any]:
    return await board.relay.coordination.approve(
        run_id, step or None, by=board.actor, approved=approved, comment=comment, channel=CHANNEL
    )


async def cancel(board: Board, run_id: str, reason: str) -> dict[str, Any]:
    return run_brief(await board.relay.runs.cancel(run_id, reason, by=board.actor, wait_seconds=0))


async def resume(board: Board, run_id: str) -> dict[str, Any]:
    return run_brief(await board.relay.runs.resume(run_id, by=board.actor))


async def complete_task(
    board: Board, task_id: str, result: Any, failed: bool, error: str
) -> dict[str, Any]:
    task, run = await board.relay.coordination.complete_task(
        task_id, result, by=board.actor, failed=failed, error=error
    )
    return {"task": task_view(task), "run_status": run["status"]}


async def start(board: Board, workflow_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    workflow = board.relay.workflows.workflow_for(workflow=workflow_id)
    run, _ = await board.relay.runs.start_run(workflow, inputs, by=board.actor)
    return run_brief(run)


def json_text(text: str, what: str) -> Any:
    """A JSON value typed into a form field; empty means none."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def form_inputs(board: Board, workflow_id: str, form: FormData) -> dict[str, Any]:
    """A start form's `input.NAME` fields, each parsed by its declared type (as `relay run
    -i NAME=VALUE` parses it); an empty field means the input's default."""
    workflow = board.relay.workflows.workflow_for(workflow=workflow_id)
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        name = key.removeprefix("input.")
        if name != key and isinstance(value, str) and value != "":
            values[name] = parse_input_text(workflow, name, value)
    return values


def field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def _approve_form(board: Board, request: Request, form: FormData) -> str:
    run_id = request.path_params["run_id"]
    decision = field(form, "decision")
    if decision not in ("approve", "reject"):
        raise UsageError("decision must be approve or reject")
    await approve(board, run_id, field(form, "step"), decision == "approve", field(form, "comment"))
    return f"/ui/runs/{run_id}"


async def _cancel_form(board: Board, request: Request, form: FormData) -> str:
    run_id = request.path_params["run_id"]
    await cancel(board, run_id, field(form, "reason"))
    return f"/ui/runs/{run_id}"


async def _resume_form(board: Board, request: Request, form: FormData) -> str:
    run_id = request.path_params["run_id"]
    await resume(board, run_id)
    return f"/ui/runs/{run_id}"


async def _complete_form(board: Board, request: Request, form: FormData) -> str:
    result = json_text(field(form, "result"), "the result")
    failed = field(form, "outcome") == "failed"
    done = await complete_task(
        board, request.path_params["task_id"], result, failed, field(form, "error")
    )
    return f"/ui/runs/{done['task']['run_id']}"


async def _start_form(board: Board, request: Request, form: FormData) -> str:
    workflow_id = request.path_params["workflow_id"]
    run = await start(board, workflow_id, form_inputs(board, workflow_id, form))
    return f"/ui/runs/{run['run_id']}"


FormHandler = Callable[[Board, Request, FormData], Awaitable[str]]


def _form(board: Board, handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            async with request.form(max_files=0, max_fields=200) as form:
                target = await handler(board, request, form)
        except RelayError as exc:
            return board.error_page(request, exc)
        return RedirectResponse(target, 303)  # post, redirect, get: a reload posts nothing

    return endpoint


def action_routes(board: Board) -> list[BaseRoute]:
    forms: list[tuple[str, FormHandler]] = [
        ("/runs/{run_id}/approve", _approve_form),
        ("/runs/{run_id}/cancel", _cancel_form),
        ("/runs/{run_id}/resume", _resume_form),
        ("/tasks/{task_id}/complete", _complete_form),
        ("/workflows/{workflow_id}/start", _start_form),
    ]
    return [Route(path, _form(board, handler), methods=["POST"]) for path, handler in forms]
