"""Participants: each client acts under its own name (or RELAY_PARTICIPANT's) by default."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import Implementation
from mcp_harness import call

from relay.mcp_server.server import build_server
from relay.mcp_server.state import McpState
from relay.service.services import Services


@asynccontextmanager
async def chat(server: MCPServer[McpState], name: str, mode: str) -> AsyncIterator[Client]:
    info = Implementation(name=name, version="1.0")
    async with Client(server, mode=mode, raise_exceptions=True, client_info=info) as client:
        yield client


async def test_a_handoff_is_listed_for_its_participant_who_claims_and_completes_it(
    client: Client, server: MCPServer[McpState], mode: str
) -> None:
    run = await call(client, "start_workflow", workflow="handoff", wait_seconds=10)
    assert run["waiting_for"]["kind"] == "task"
    task_id = run["waiting_for"]["detail"]["task_id"]
    assert run["next"].startswith(
        f"participant 'pycharm' should complete_task(task_id=\"{task_id}\""
    )
    assert (await call(client, "list_tasks"))["tasks"] == []  # claude_code has none
    everyone = await call(client, "list_tasks", participant="*")
    assert [t["task_id"] for t in everyone["tasks"]] == [task_id]

    async with chat(server, "pycharm", mode) as pycharm:
        [task] = (await call(pycharm, "list_tasks"))["tasks"]
        assert task["task"] == "Review the change"
        assert task["context"] == {"file": "a.py"}
        claimed = await call(pycharm, "claim_task", task_id=task_id)
        assert claimed["status"] == "claimed"
        assert claimed["claimed_by"] == "pycharm"
        assert (await call(pycharm, "list_tasks"))["tasks"] == []  # no longer open
        done = await call(pycharm, "complete_task", task_id=task_id, result={"verdict": "ok"})
        assert done["task_id"] == task_id
        assert done["run_id"] == run["run_id"]
        people = await call(pycharm, "list_participants")
        assert {"claude_code", "pycharm"} <= {p["name"] for p in people["participants"]}

    finished = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    while finished["status"] != "completed":
        finished = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    assert finished["steps"][0]["output"] == {"verdict": "ok"}


async def test_list_participants_shows_who_was_seen_and_their_open_tasks(
    client: Client, server: MCPServer[McpState], mode: str
) -> None:
    await call(client, "start_workflow", workflow="handoff", wait_seconds=10)
    people = {p["name"] for p in (await call(client, "list_participants"))["participants"]}
    assert "claude_code" in people
    assert "pycharm" not in people
    async with chat(server, "pycharm", mode) as pycharm:
        await call(pycharm, "list_tasks")
    listed = (await call(client, "list_participants"))["participants"]
    assert {p["name"]: p["open_tasks"] for p in listed}["pycharm"] == 1


async def test_relay_participant_names_every_caller_whatever_the_client(
    relay: Services, mode: str
) -> None:
    named = build_server(relay, participant="ci-bot")
    async with chat(named, "claude_code", mode) as client:
        emitted = await call(client, "emit_event", type="manual")
        assert emitted["event"]["source"] == "ci-bot"
        run = await call(client, "start_workflow", workflow="hello")
        assert run["started_by"] == "ci-bot"


async def test_approve_records_the_caller_unless_an_approver_is_named(client: Client) -> None:
    first = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    second = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    await call(client, "approve", run_id=first["run_id"])
    await call(client, "approve", run_id=second["run_id"], approver="alice", approved=False)
    decided = {
        a["run_id"]: (a.get("decided_by"), a["status"], a.get("channel"))
        for a in (await call(client, "list_approvals", status="all"))["approvals"]
    }
    assert decided[first["run_id"]] == ("claude_code", "approved", "mcp")
    assert decided[second["run_id"]] == ("alice", "rejected", "mcp")
