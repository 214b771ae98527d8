"""The relay:// resources: listed with their MIME types, read through the same views as
the tools, and refusing URIs that name nothing (or try to escape)."""

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_harness import call

from relay.model.notification import NewNotification
from relay.service.services import Services

STATIC = {
    "relay://workflows": "application/json",
    "relay://runs": "application/json",
    "relay://events/recent": "application/json",
    "relay://approvals/pending": "application/json",
    "relay://tasks/open": "application/json",
    "relay://participants": "application/json",
    "relay://schema/workflow": "application/json",
    "relay://notifications/pending": "application/json",
    "relay://notifications/dead": "application/json",
}
TEMPLATES = {
    "relay://workflows/{id}": "text/yaml",
    "relay://workflows/{id}/diagram": "text/vnd.mermaid",
    "relay://runs/{run_id}": "application/json",
    "relay://runs/{run_id}/steps/{step_id}/output": "application/json",
}


async def read(client: Client, uri: str) -> tuple[str, str | None]:
    [content] = (await client.read_resource(uri)).contents
    return content.text, content.mime_type  # type: ignore[union-attr]


async def read_json(client: Client, uri: str) -> Any:
    return json.loads((await read(client, uri))[0])


async def test_resources_and_templates_are_listed_with_mime_types(client: Client) -> None:
    listed = {r.uri: r.mime_type for r in (await client.list_resources()).resources}
    assert listed == STATIC
    templates = (await client.list_resource_templates()).resource_templates
    assert {t.uri_template: t.mime_type for t in templates} == TEMPLATES


async def test_a_workflow_reads_as_its_file_and_as_a_diagram(
    client: Client, workflows_dir: Path
) -> None:
    text, mime = await read(client, "relay://workflows/gated")
    assert mime == "text/yaml"
    assert text == (workflows_dir / "gated.yaml").read_text()
    diagram, mime = await read(client, "relay://workflows/gated/diagram")
    assert mime == "text/vnd.mermaid"
    assert diagram.startswith("flowchart TD")
    assert "gate" in diagram
    listed = await read_json(client, "relay://workflows")
    assert "gated" in {w["id"] for w in listed["workflows"]}
    schema = await read_json(client, "relay://schema/workflow")
    assert "steps" in schema["properties"]


async def test_a_run_reads_as_the_whole_record_of_what_get_status_shows(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    read_back = await read_json(client, f"relay://runs/{run['run_id']}")
    brief = await call(client, "get_status", run_id=run["run_id"])
    for key in ("run_id", "workflow", "status", "waiting_for", "next", "started_by"):
        assert read_back[key] == brief[key], key
    assert [s["status"] for s in read_back["steps"]] == [s["status"] for s in brief["steps"]]
    build = read_back["steps"][0]  # the record: timestamps to the microsecond, every field
    assert build["started_at"] is not None
    assert build["finished_at"] is not None
    assert read_back["error"] is None
    runs = await read_json(client, "relay://runs")
    assert [r["run_id"] for r in runs["runs"]] == [run["run_id"]]
    pending = await read_json(client, "relay://approvals/pending")
    assert [a["step"] for a in pending["approvals"]] == ["gate"]
    output = await read_json(client, f"relay://runs/{run['run_id']}/steps/build/output")
    assert output == {"message": "built"}


async def test_the_coordination_resources_show_tasks_events_and_participants(
    client: Client,
) -> None:
    await call(client, "start_workflow", workflow="handoff", wait_seconds=10)
    await call(client, "emit_event", type="manual", data={"x": 1})
    tasks = await read_json(client, "relay://tasks/open")
    assert [t["to"] for t in tasks["tasks"]] == ["pycharm"]
    events = await read_json(client, "relay://events/recent")
    assert events["events"][-1]["type"] == "manual"
    assert events["last_seq"] == events["events"][-1]["seq"]
    people = await read_json(client, "relay://participants")
    assert "claude_code" in {p["name"] for p in people["participants"]}


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("relay://workflows/nope", "no workflow 'nope'; known workflows: "),
        ("relay://workflows/nope/diagram", "no workflow 'nope'"),
        ("relay://workflows/broken", "broken.yaml:4:"),
        ("relay://runs/nope", "no run with id 'nope'; list_runs shows recent runs"),
        ("relay://runs/nope/steps/a/output", "no run with id 'nope'"),
        ("relay://runs/x%2Fy", "'x/y' is not a valid run id (letters, digits, '_', '.', '-')"),
        ("relay://runs/...", "'...' is not a valid run id"),
        ("relay://workflows/a%20b/diagram", "'a b' is not a valid workflow id"),
        ("relay://workflows/..%2F..%2Fetc%2Fpasswd", "Unknown resource"),  # the SDK's check
        ("relay://runs/..", "Unknown resource"),
        ("relay://runs/a/b", "Unknown resource"),
        ("relay://nothing", "Unknown resource"),
    ],
)
async def test_uris_that_name_nothing_are_refused_clearly(
    client: Client, uri: str, message: str
) -> None:
    with pytest.raises(MCPError) as raised:
        await client.read_resource(uri)
    assert message in raised.value.error.message


async def test_an_unknown_step_lists_the_run_s_steps(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    with pytest.raises(MCPError) as raised:
        await client.read_resource(f"relay://runs/{run['run_id']}/steps/nope/output")
    assert raised.value.error.message == (
        f"run {run['run_id']!r} has no step 'nope'; its steps: build, gate, ship"
    )


async def test_pending_and_dead_notifications_are_resources(
    client: Client, relay: Services
) -> None:
    [pending_id] = await relay.store.outbox.enqueue_notification(
        NewNotification("C1", {"text": "hi"})
    )
    await relay.store.outbox.enqueue_notification(NewNotification("C2", {"text": "lost"}))
    await relay.store.outbox.dead_letter_destination(
        "slack", "C2", "Slack chat.postMessage failed: x"
    )
    pending = await read_json(client, "relay://notifications/pending")
    assert [(n["id"], n["text"]) for n in pending["notifications"]] == [(pending_id, "hi")]
    dead = await read_json(client, "relay://notifications/dead")
    [lost] = dead["notifications"]
    assert (lost["channel"], lost["status"], lost["last_error"]) == (
        "C2", "dead", "Slack chat.postMessage failed: x"
    )  # fmt: skip
