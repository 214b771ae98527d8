"""What the pages show, and that untrusted text (workflow and step names, step outputs,
event data, comments) reaches them escaped."""

from html import unescape
from html.parser import HTMLParser

import pytest
from dashboard_harness import SCRIPT, client_of
from starlette.applications import Starlette

from relay.dashboard import pages
from relay.model.run import Run
from relay.service.services import Services


async def finish(relay: Services, workflow: str, **inputs: object) -> Run:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow=workflow), inputs)
    return await relay.runs.wait_run(run.id, 20, until=lambda r: r.status.is_final)


async def get(app: Starlette, path: str) -> str:
    async with client_of(app) as http:
        response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.text


async def test_a_script_in_a_step_output_and_markup_in_names_stay_text(
    open_app: Starlette, relay: Services
) -> None:
    run = await finish(relay, "hostile")
    html = await get(open_app, f"/ui/runs/{run.id}")
    events = await get(open_app, "/ui/events")
    listed = await get(open_app, "/ui/workflows")

    for page in (html, events):
        assert "<script>window" not in page
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "<img" not in html
    assert "Say &lt;img src=x onerror=window.__pwned=2&gt;" in html  # in the table
    assert "<title>Say &lt;img src=x" in html  # in the graph's tooltip
    assert "Hostile &lt;b&gt;name&lt;/b&gt;" in listed
    assert SCRIPT in unescape(html)


class Attributes(HTMLParser):
    """The attribute names of every element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.update(name for name, _ in attrs)


async def test_a_default_with_quotes_stays_inside_its_attribute(open_app: Starlette) -> None:
    html = await get(open_app, "/ui/workflows/hostile")
    parser = Attributes()
    parser.feed(html)
    assert not {"onfocus", "autofocus"} & parser.names
    assert "autofocus onfocus=" in unescape(html)  # shown, as text of the placeholder


async def test_the_workflows_page_lists_files_that_fail_to_load(open_app: Starlette) -> None:
    html = unescape(await get(open_app, "/ui/workflows"))
    assert "broken.yaml" in html
    assert "no_such_action" in html
    assert 'data-workflow="gated"' in html


async def test_a_workflow_page_shows_its_yaml_diagram_and_a_typed_start_form(
    open_app: Starlette,
) -> None:
    html = await get(open_app, "/ui/workflows/steps")
    assert 'name="input.pause" step="any"' in html
    assert '<select name="input.loud">' in html
    assert 'name="input.label"' in html
    assert 'data-step="middle" data-status="defined"' in html
    assert "delay" in html
    assert "flowchart TD" in html
    assert "Three steps, the middle one slowed down" in html


async def test_an_unknown_run_or_workflow_is_a_404_page(open_app: Starlette) -> None:
    async with client_of(open_app) as http:
        run = await http.get("/ui/runs/no-such-run")
        workflow = await http.get("/ui/workflows/no-such-workflow")
        bad = await http.get("/ui/?page=zero")
    assert (run.status_code, workflow.status_code, bad.status_code) == (404, 404, 400)
    assert "no-such-run" in run.text
    assert "&#39;page&#39; must be a whole number" in bad.text


async def test_the_runs_page_filters_and_pages_newest_first(
    open_app: Starlette, relay: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    first = await finish(relay, "steps", pause=0)
    failed = await finish(relay, "fails")
    third = await finish(relay, "steps", pause=0)
    gated = relay.workflows.workflow_for(workflow="gated")
    by_cli, _ = await relay.runs.start_run(gated, by="cli")

    def rows(html: str) -> list[str]:
        return [part.split('"')[0] for part in html.split('<tr data-run="')[1:]]

    newest = await get(open_app, "/ui/")
    older = await get(open_app, "/ui/?page=2")
    only_failed = await get(open_app, "/ui/?status=failed")
    only_steps = await get(open_app, "/ui/?workflow=steps")
    only_cli = await get(open_app, "/ui/?by=cli")
    assert rows(newest) == [by_cli.id, third.id]
    assert "older →" in newest
    assert rows(older) == [failed.id, first.id]
    assert rows(only_failed) == [failed.id]
    assert rows(only_steps) == [third.id, first.id]
    assert rows(only_cli) == [by_cli.id]


async def test_the_events_page_filters_by_type_and_source(
    open_app: Starlette, relay: Services
) -> None:
    await relay.events.emit("deploy.done", {"n": 1}, source="ci")
    await relay.events.emit("deploy.done", {"n": 2}, source="laptop")
    await relay.events.emit("other", {"n": 3}, source="ci")
    both = await get(open_app, "/ui/events?type=deploy.done")
    ci = await get(open_app, "/ui/events?type=deploy.done&source=ci")
    assert both.count("<tr data-seq=") == 2
    assert ci.count("<tr data-seq=") == 1
    assert '"n": 1' in unescape(ci)


async def test_the_participants_page_shows_who_acted_and_the_running_engines(
    open_app: Starlette, relay: Services
) -> None:
    async with client_of(open_app, Origin="http://127.0.0.1:8765") as http:
        await http.post("/api/runs", json={"workflow": "steps", "inputs": {"pause": 0}})
    html = await get(open_app, "/ui/participants")
    assert 'data-participant="dashboard"' in html
    assert relay.runtime.worker_id in html


async def test_the_approvals_page_shows_who_may_act(open_app: Starlette, relay: Services) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.workflow_for(workflow="handoff"))
    await relay.runs.wait_run(run.id, 20, until=lambda r: r.status.value == "waiting")
    html = await get(open_app, "/ui/approvals")
    assert "for <b>pycharm</b>" in html
    assert "Review &lt;i&gt;this&lt;/i&gt;" in html
    assert "No approval is waiting." in html
