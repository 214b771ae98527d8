"""What the pages tell a person: a waiting run says what to do on the page (its buttons,
its form, or a `relay` command), never an MCP call; times name their zone; the Error
column is a cell; names in the pictures are whole; an empty catalog names its folders."""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from dashboard_harness import Home, client_of
from starlette.applications import Starlette

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.dashboard.svg import CHAR_PX, dag_svg, timeline_svg
from relay.http_app.app import create_app
from relay.model.run import Run, RunStatus
from relay.service.services import Services

LISTENS = """\
id: listens
steps:
  - id: hear
    action: wait_for_event
    params: {type: build.done, source: ci, match: {data.ok: true}}
"""
MCP_CALL = re.compile(r"\w\((run_id|task_id|type)=")


async def page(app: Starlette, path: str) -> str:
    async with client_of(app) as http:
        response = await http.get(path)
    assert response.status_code == 200, response.text
    return unescape(response.text)


async def started(relay: Services, workflow: str, until: RunStatus) -> Run:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow=workflow))
    return await relay.runs.wait_run(run.id, 20, until=lambda r: r.status is until)


def first_number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, text
    return int(found.group(1))


def waiting_line(html: str) -> str:
    return html.split('id="waiting-for">', 1)[1].split("</p>", 1)[0]


async def test_a_run_at_a_gate_points_to_its_buttons(open_app: Starlette, relay: Services) -> None:
    run = await started(relay, "gated", RunStatus.WAITING)

    html = await page(open_app, f"/ui/runs/{run.id}")

    assert "approve or reject it with the buttons below" in waiting_line(html)
    assert not MCP_CALL.search(html)


async def test_a_run_waiting_for_an_event_shows_the_relay_emit_command(
    open_app: Starlette, relay: Services, home: Home
) -> None:
    (home.root / "workflows" / "listens.yaml").write_text(LISTENS)
    run = await started(relay, "listens", RunStatus.WAITING)

    html = await page(open_app, f"/ui/runs/{run.id}")

    line = waiting_line(html)
    assert "relay emit build.done --data '{\"ok\": true}' --source ci" in line
    assert not MCP_CALL.search(html)


async def test_a_task_points_to_its_form_and_a_failed_run_to_its_resume_button(
    open_app: Starlette, relay: Services
) -> None:
    task = await started(relay, "handoff", RunStatus.WAITING)
    failed = await started(relay, "fails", RunStatus.FAILED)

    waiting = await page(open_app, f"/ui/runs/{task.id}")
    finished = await page(open_app, f"/ui/runs/{failed.id}")

    assert "pycharm</b> does the task, or complete it with the form below" in waiting_line(waiting)
    assert "Resume from the failed steps" in finished
    assert not MCP_CALL.search(waiting + finished)


async def test_a_run_at_a_delay_says_when_it_goes_on_by_itself(
    open_app: Starlette, relay: Services
) -> None:
    run, _ = await relay.runs.start_run(
        relay.workflows.workflow_for(workflow="steps"), {"pause": 600}
    )
    await relay.runs.wait_run(run.id, 20, until=lambda r: r.steps[1].status.value == "waiting")

    html = await page(open_app, f"/ui/runs/{run.id}")

    assert re.search(r"it goes on by itself at \d{4}-\d\d-\d\d [\d:]{8} UTC\.", waiting_line(html))
    assert not MCP_CALL.search(html)


async def test_times_name_their_zone_and_the_error_column_is_a_cell(
    open_app: Starlette, relay: Services
) -> None:
    failed = await started(relay, "fails", RunStatus.FAILED)

    html = await page(open_app, "/ui/")

    row = html.split(f'<tr data-run="{failed.id}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", cells[4])
    assert "<td class=" not in row
    assert cells[6].startswith('<span class="clip" title="')
    assert "code 3" in cells[6]


async def test_a_participant_only_addressed_by_a_task_was_never_seen(
    open_app: Starlette, relay: Services
) -> None:
    await started(relay, "handoff", RunStatus.WAITING)

    html = await page(open_app, "/ui/participants")

    assert re.search(r'data-participant="pycharm"><td><b>pycharm</b></td><td>never</td>', html)


def test_graph_nodes_and_timeline_labels_are_not_clipped() -> None:
    name = "Deploy the whole production fleet, region by region"
    graph = {
        "nodes": [{"id": "deploy", "name": name, "action": "shell", "depth": 0,
                   "status": "completed", "gate": False, "conditional": False}],
        "edges": [],
    }  # fmt: skip
    attempts = [
        {"step": "a_step_with_a_rather_long_identifier", "attempt": 1, "status": "completed",
         "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00"}
    ]  # fmt: skip

    dag = str(dag_svg(graph))
    timeline = str(timeline_svg(attempts, "2026-01-01T00:00:00+00:00", datetime.now(UTC)))

    width = first_number(r'<rect x="\d+" y="\d+" width="(\d+)"', dag)
    assert f'class="name">{name}</text>' in dag
    assert f"<title>{name} (shell): completed</title>" in dag
    assert width >= len(name) * CHAR_PX
    label = "a_step_with_a_rather_long_identifier #1"
    assert f'text-anchor="end">{label}</text>' in timeline
    assert f"<title>{label}: completed" in timeline
    label_x = first_number(r'<text x="(\d+)" y="\d+" text-anchor="end">a_step', timeline)
    assert label_x >= len(label) * CHAR_PX


@pytest.fixture
async def empty_app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = Settings(home=tmp_path / "home", workflows_path=str(tmp_path / "none"))
    async with open_relay(settings, Role.CLIENT, participant="pytest") as relay:
        app = create_app(relay, settings)
        async with app.router.lifespan_context(app):
            yield app


async def test_an_empty_catalog_names_the_folders_it_searched(
    empty_app: Starlette, tmp_path: Path
) -> None:
    html = await page(empty_app, "/ui/workflows")

    empty = html.split('id="no-workflows">', 1)[1].split("</td>", 1)[0]
    assert f"No workflow files found in {tmp_path / 'none'} (no such folder)" in empty
    assert "relay init" in empty
