"""The tools over the SDK's real in-memory client, in both protocol eras."""

import anyio
from mcp import Client
from mcp_harness import call, fail

from relay.service.services import Services

TOOLS = {
    "list_workflows", "validate_workflow", "start_workflow", "get_status", "list_runs",
    "cancel_workflow", "resume_workflow", "emit_event", "wait_for_event", "list_events",
    "approve", "list_approvals", "notify_slack", "list_tasks", "claim_task", "complete_task",
    "list_participants",
}  # fmt: skip


async def test_every_tool_is_listed_with_schemas_descriptions_and_annotations(
    client: Client,
) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description or "") > 40, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is not None
        assert tool.annotations.idempotent_hint is not None, tool.name
    start = tools["start_workflow"]
    assert set(start.input_schema["properties"]) == {
        "workflow", "definition", "inputs", "idempotency_key", "wait_seconds"
    }  # fmt: skip
    assert start.input_schema["properties"]["wait_seconds"]["maximum"] == 300
    assert {"run_id", "steps", "waiting_for", "next"} <= set(start.output_schema["properties"])


async def test_annotations_tell_reads_from_writes(client: Client) -> None:
    hints = {t.name: t.annotations for t in (await client.list_tools()).tools}
    for name in ("get_status", "list_runs", "list_events", "list_tasks", "list_workflows"):
        assert hints[name].read_only_hint
        assert hints[name].idempotent_hint
    cancel, start = hints["cancel_workflow"], hints["start_workflow"]
    assert cancel.destructive_hint
    assert not cancel.read_only_hint
    assert not start.idempotent_hint
    assert not start.destructive_hint
    assert hints["notify_slack"].open_world_hint  # type: ignore[union-attr]
    assert not hints["emit_event"].open_world_hint  # type: ignore[union-attr]


async def test_a_gated_run_waits_with_a_next_hint_then_completes_once_approved(
    client: Client,
) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    assert run["waiting_for"]["kind"] == "approval"
    assert run["waiting_for"]["step"] == "gate"
    assert run["next"].startswith(f'approve(run_id="{run["run_id"]}", step="gate")')
    assert next(s["status"] for s in run["steps"]) == "completed"

    pending = await call(client, "list_approvals")
    assert [(a["run_id"], a["step"]) for a in pending["approvals"]] == [(run["run_id"], "gate")]
    decided = await call(client, "approve", run_id=run["run_id"], comment="ship it")
    assert decided["step"] == "gate"
    assert decided["approved"] is True

    done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    while done["status"] != "completed":
        done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    assert [s["status"] for s in done["steps"]] == ["completed"] * 3
    assert "waiting_for" not in done  # empty fields are left out
    assert "next" not in done
    approvals = await call(client, "list_approvals", status="all")
    assert approvals["approvals"][0]["decided_by"] == "claude_code"


async def test_start_without_waiting_returns_at_once_and_get_status_follows(
    client: Client,
) -> None:
    run = await call(client, "start_workflow", workflow="hello", inputs={"name": "Ada"})
    assert run["workflow"] == "hello"
    assert run["inputs"] == {"name": "Ada"}
    while run["status"] != "completed":
        run = await call(client, "get_status", run_id=run["run_id"], wait_seconds=5)
    assert run["outputs"] == {"greeting": "Hello, Ada!"}
    runs = await call(client, "list_runs", workflow="hello")
    assert [r["run_id"] for r in runs["runs"]] == [run["run_id"]]
    assert (await call(client, "list_runs", status="failed"))["runs"] == []


async def test_an_idempotency_key_returns_the_same_run(client: Client) -> None:
    first = await call(client, "start_workflow", workflow="hello", idempotency_key="k1")
    again = await call(client, "start_workflow", workflow="hello", idempotency_key="k1")
    assert first["run_id"] == again["run_id"]


async def test_a_large_output_is_cut_and_points_to_its_resource(client: Client) -> None:
    run = await call(
        client, "start_workflow", workflow="big", inputs={"text": "x" * 5000}, wait_seconds=10
    )
    output = run["steps"][0]["output"]
    uri = f"relay://runs/{run['run_id']}/steps/loud/output"
    assert output["truncated"] is True
    assert output["full"] == uri
    full = await client.read_resource(uri)
    assert '"message": "' + "x" * 5000 in full.contents[0].text  # type: ignore[union-attr]


async def test_cancel_then_resume(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    cancelled = await call(client, "cancel_workflow", run_id=run["run_id"], reason="not today")
    assert cancelled["status"] == "cancelled"
    assert cancelled["next"].startswith("resume_workflow(")
    resumed = await call(client, "resume_workflow", run_id=run["run_id"])
    assert resumed["status"] in ("pending", "running", "waiting")


async def test_list_workflows_lists_files_and_the_ones_that_fail(client: Client) -> None:
    listed = await call(client, "list_workflows")
    ids = {w["id"] for w in listed["workflows"]}
    assert {"hello", "gated", "handoff", "awaits", "big"} <= ids
    hello = next(w for w in listed["workflows"] if w["id"] == "hello")
    assert hello["inputs"]["name"]["default"] == "world"
    assert hello["steps"] == [{"id": "greet", "name": "greet", "action": "log"}]
    [problem] = listed["errors"]
    assert problem["path"].endswith("broken.yaml")
    assert problem["line"] == 4
    assert "no_such_action" in problem["message"]


async def test_events_default_their_source_to_the_caller_and_are_listed(client: Client) -> None:
    emitted = await call(client, "emit_event", type="manual", data={"n": 1})
    assert emitted["event"]["source"] == "claude_code"
    assert not emitted["duplicate"]
    named = await call(client, "emit_event", type="manual", source="ci", idempotency_key="e1")
    again = await call(client, "emit_event", type="manual", source="ci", idempotency_key="e1")
    assert again["duplicate"]
    assert again["event"]["id"] == named["event"]["id"]
    page = await call(client, "list_events", type="manual")
    assert [e["source"] for e in page["events"]] == ["claude_code", "ci"]
    assert page["last_seq"] == named["event"]["seq"]
    assert (await call(client, "list_events", after_seq=page["last_seq"]))["events"] == []


async def test_wait_for_event_finds_a_matching_event_or_times_out(
    client: Client, relay: Services
) -> None:
    before = (await call(client, "list_events"))["last_seq"]
    await relay.events.emit("deploy", {"env": "staging"})
    await relay.events.emit("deploy", {"env": "prod"})
    found = await call(
        client, "wait_for_event", type="deploy", match={"data.env": "prod"}, after_seq=before
    )
    assert found["timed_out"] is False
    assert found["event"]["data"] == {"env": "prod"}
    missed = await call(client, "wait_for_event", type="deploy", timeout_seconds=0.2)
    assert missed == {"timed_out": True}


async def test_an_event_resumes_the_run_waiting_for_it(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="awaits", wait_seconds=10)
    assert run["waiting_for"]["kind"] == "event"
    assert run["next"] == 'emit_event(type="fix_done", data={"ticket": 7})'
    emitted = await call(client, "emit_event", type="fix_done", data={"ticket": 7})
    assert emitted["resumed_runs"] == [run["run_id"]]
    done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    while done["status"] != "completed":
        done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    assert done["steps"][0]["output"]["source"] == "claude_code"


async def test_inline_definitions_run_but_may_not_run_code(client: Client) -> None:
    inline = "id: quick\nsteps:\n  - id: hi\n    action: log\n    params: {message: hi}\n"
    run = await call(client, "start_workflow", definition=inline, wait_seconds=10)
    assert run["workflow"] == "quick"
    assert run["status"] == "completed"
    shell = "id: sneaky\nsteps:\n  - id: x\n    action: shell\n    params: {command: id}\n"
    message = await fail(client, "start_workflow", definition=shell)
    assert "step 'x' uses 'shell', which runs code on this machine" in message
    assert "RELAY_ALLOW_INLINE_CODE=1" in message


async def test_validating_inline_code_says_where_it_can_run_at_the_steps_line(
    client: Client,
) -> None:
    shell = "id: sneaky\nsteps:\n  - id: x\n    action: shell\n    params: {command: id}\n"
    checked = await call(client, "validate_workflow", definition=shell)
    assert checked["valid"] is True
    assert checked["errors"] == []
    [warning] = checked["warnings"]
    assert warning["line"] == 4
    assert warning["step"] == "x"
    assert "only from a file on RELAY_WORKFLOWS_PATH" in warning["message"]
    assert "RELAY_ALLOW_INLINE_CODE=1" in warning["message"]


async def test_every_problem_about_a_step_carries_its_line(client: Client) -> None:
    broken = (
        "id: bad\nsteps:\n  - id: a\n    action: log\n    params: {nope: 1}\n"
        "  - id: b\n    action: no_such\n  - id: c\n    action: log\n"
        "    needs: [zzz]\n    params: {message: x}\n"
    )
    checked = await call(client, "validate_workflow", definition=broken)
    assert checked["valid"] is False
    about_steps = [e for e in checked["errors"] if e.get("step")]
    assert {e["step"] for e in about_steps} == {"a", "b", "c"}, checked["errors"]
    assert all(isinstance(e["line"], int) for e in about_steps), checked["errors"]


async def test_validate_workflow_checks_ids_and_text(client: Client) -> None:
    assert await call(client, "validate_workflow", definition="hello") == {
        "valid": True, "errors": [], "warnings": [], "id": "hello"
    }  # fmt: skip

    bad = "id: bad\nsteps:\n  - id: a\n    action: log\n    params: {nope: 1}\n"
    checked = await call(client, "validate_workflow", definition=bad)
    assert checked["valid"] is False
    assert "id" not in checked
    assert checked["errors"][0]["line"] == 5


async def test_notify_slack_says_slack_is_not_configured(client: Client) -> None:
    message = await fail(client, "notify_slack", message="hi")
    assert message == (
        "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL"
    )


async def test_a_waiting_call_reports_each_transition_as_rising_progress(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="paced")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(
        "get_status", {"run_id": run["run_id"], "wait_seconds": 20}, progress_callback=on_progress
    )
    done = result.structured_content
    assert done is not None
    assert done["status"] == "waiting"
    assert done["waiting_for"]["step"] == "gate"  # past the delay: a timer is not settled
    assert seen, "the transitions before the gate are reported"
    values = [value for value, _, _ in seen]
    assert values == sorted(set(values)), values  # strictly increasing
    assert all(total == 4 for _, total, _ in seen)
    assert any("pause" in (message or "") for _, _, message in seen), seen


async def test_a_wait_on_a_run_that_is_already_blocked_returns_at_once(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    assert run["waiting_for"]["kind"] == "approval"
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with anyio.fail_after(5):  # not the 30 s asked for
        result = await client.call_tool(
            "get_status",
            {"run_id": run["run_id"], "wait_seconds": 30},
            progress_callback=on_progress,
        )
    assert result.structured_content is not None
    assert result.structured_content["status"] == "waiting"
    assert seen == []
