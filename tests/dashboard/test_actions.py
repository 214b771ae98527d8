"""The dashboard's actions through its forms and its JSON API, each recorded through the
service as the dashboard's participant: start with typed inputs, approve and reject with
a comment, complete a task, cancel and resume; bad input is a clear 4xx, never a trace."""

from html import unescape
from typing import Any

import httpx2
import pytest
from dashboard_harness import BASE, client_of
from starlette.applications import Starlette

from relay.model.run import Run
from relay.service.services import Services

OWN = {"Origin": BASE}


def finished(run: Run) -> bool:
    return run.status.is_final


def waiting(run: Run) -> bool:
    return run.status.value == "waiting"


async def settle(relay: Services, run_id: str, until: Any = finished) -> Run:
    return await relay.runs.wait_run(run_id, 20, until=until)


async def post_form(app: Starlette, path: str, data: dict[str, str]) -> httpx2.Response:
    async with client_of(app) as http:
        return await http.post(path, data=data, headers=OWN)


async def test_a_start_form_parses_each_input_by_its_declared_type(
    open_app: Starlette, relay: Services
) -> None:
    response = await post_form(
        open_app,
        "/ui/workflows/steps/start",
        {"input.pause": "0.05", "input.label": "from the form", "input.loud": "true"},
    )
    assert response.status_code == 303
    (run,) = await relay.runs.list_runs()
    assert response.headers["location"] == f"/ui/runs/{run.id}"
    assert run.inputs == {"pause": 0.05, "label": "from the form", "loud": True}
    assert run.started_by == "dashboard"
    assert (await settle(relay, run.id)).status.value == "completed"


async def test_an_empty_field_means_the_default(open_app: Starlette, relay: Services) -> None:
    await post_form(open_app, "/ui/workflows/steps/start", {"input.pause": "", "input.label": ""})
    (run,) = await relay.runs.list_runs()
    assert run.inputs == {"pause": 0.2, "label": "plain", "loud": False}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input.pause": "soon"}, "input 'pause': expected number"),
        ({"input.nope": "1"}, "unknown input 'nope'"),
    ],
)
async def test_a_bad_input_is_a_400_page_naming_it(
    open_app: Starlette, relay: Services, data: dict[str, str], message: str
) -> None:
    response = await post_form(open_app, "/ui/workflows/steps/start", data)
    assert response.status_code == 400
    assert message in unescape(response.text)
    assert "Traceback" not in response.text
    assert await relay.runs.list_runs() == []


async def test_approving_with_a_comment_is_recorded_as_the_dashboard(
    open_app: Starlette, relay: Services
) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow="gated"))
    await settle(relay, run.id, waiting)
    response = await post_form(
        open_app,
        f"/ui/runs/{run.id}/approve",
        {"step": "gate", "decision": "approve", "comment": "ship it"},
    )
    assert (response.status_code, response.headers["location"]) == (303, f"/ui/runs/{run.id}")
    assert (await settle(relay, run.id)).status.value == "completed"
    (approval,) = await relay.coordination.list_approvals("all")
    assert (approval["decided_by"], approval["channel"], approval["comment"]) == (
        "dashboard",
        "dashboard",
        "ship it",
    )
    assert approval["status"] == "approved"


async def test_rejecting_fails_the_run_and_a_second_decision_is_a_409(
    open_app: Starlette, relay: Services
) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow="gated"))
    await settle(relay, run.id, waiting)
    rejected = await post_form(
        open_app, f"/ui/runs/{run.id}/approve", {"decision": "reject", "comment": "not today"}
    )
    again = await post_form(open_app, f"/ui/runs/{run.id}/approve", {"decision": "approve"})
    assert rejected.status_code == 303
    assert (await settle(relay, run.id)).status.value == "failed"
    assert again.status_code == 409
    assert "already rejected by dashboard" in unescape(again.text)


async def test_completing_a_task_with_a_json_result_finishes_the_handoff(
    open_app: Starlette, relay: Services
) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow="handoff"))
    await settle(relay, run.id, waiting)
    (task,) = await relay.coordination.list_tasks("*")
    bad = await post_form(open_app, f"/ui/tasks/{task.id}/complete", {"result": "{oops"})
    done = await post_form(
        open_app,
        f"/ui/tasks/{task.id}/complete",
        {"result": '{"ok": true}', "outcome": "completed"},
    )
    assert bad.status_code == 400
    assert "the result is not valid JSON" in unescape(bad.text)
    assert (done.status_code, done.headers["location"]) == (303, f"/ui/runs/{run.id}")
    finished_run = await settle(relay, run.id)
    assert finished_run.status.value == "completed"
    assert finished_run.step("review").output == {"ok": True}
    (closed,) = await relay.coordination.list_tasks("*", "all")
    assert closed.claimed_by in (None, "dashboard")


async def test_the_api_cancels_and_resumes_a_run(open_app: Starlette, relay: Services) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow="gated"))
    await settle(relay, run.id, waiting)
    async with client_of(open_app, **OWN) as http:
        cancelled = await http.post(f"/api/runs/{run.id}/cancel", json={"reason": "enough"})
        assert cancelled.status_code == 200, cancelled.text
        assert (await settle(relay, run.id)).status.value == "cancelled"
        resumed = await http.post(f"/api/runs/{run.id}/resume")
        again = await http.post(f"/api/runs/{run.id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert again.status_code == 409
    assert "only a failed or cancelled run can be resumed" in again.json()["error"]
    history = [h.kind for h in await relay.runs.history(run.id)]
    assert "run.reopened" in history or history.count("run.started") >= 1


async def test_the_api_approves_and_reads_a_run_in_the_mcp_shape(
    open_app: Starlette, relay: Services
) -> None:
    async with client_of(open_app, **OWN) as http:
        started = (await http.post("/api/runs", json={"workflow": "gated"})).json()
        await settle(relay, started["run_id"], waiting)
        decided = await http.post(
            f"/api/runs/{started['run_id']}/approve", json={"approved": True, "comment": "ok"}
        )
        await settle(relay, started["run_id"])
        detail = (await http.get(f"/api/runs/{started['run_id']}")).json()
    assert decided.json()["step"] == "gate"
    run = detail["run"]
    assert {"run_id", "workflow", "status", "steps", "waiting_for", "next", "outputs"} <= set(run)
    assert run["status"] == "completed"
    assert [n["status"] for n in detail["graph"]["nodes"]] == ["completed"] * 3
    assert [a["step"] for a in detail["attempts"]] == ["prepare", "ship"]  # a gate runs nothing


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/api/runs/no-such-run", None, 404, "no-such-run"),
        ("POST", "/api/runs", b"{not json", 400, "not valid JSON"),
        ("POST", "/api/runs", b"[1]", 400, "must be a JSON object"),
        ("POST", "/api/runs", b'{"workflow": "nope"}', 404, "nope"),
        ("POST", "/api/runs", b'{"workflow": "steps", "inputs": 3}', 400, "'inputs'"),
        ("GET", "/api/runs?status=sleeping", None, 400, "unknown status"),
        ("GET", "/api/runs?limit=many", None, 400, "'limit' must be a whole number"),
        ("GET", "/api/analytics?days=0", None, 400, "between 1 and 366"),
        ("POST", "/api/tasks/no-such-task/complete", b"{}", 404, "no-such-task"),
    ],
)
async def test_api_errors_are_json_with_a_clear_message(
    open_app: Starlette, method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    async with client_of(open_app, **OWN) as http:
        response = await http.request(method, path, content=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
