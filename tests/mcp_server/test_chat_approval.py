"""Approvals in the chat: start_workflow(wait_seconds>0) asks the user at a gate when the
client can elicit (both protocol eras), and otherwise returns the waiting run."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import ElicitRequestParams, ElicitResult, Implementation
from mcp_harness import call

from relay.mcp_server.chat_approval import AskedGates
from relay.mcp_server.state import McpState

Answer = Callable[[str], ElicitResult]


@asynccontextmanager
async def eliciting(
    server: MCPServer[McpState], mode: str, answer: Answer, asked: list[str]
) -> AsyncIterator[Client]:
    async def on_elicit(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return answer(params.message)

    info = Implementation(name="claude_code", version="1.0")
    async with Client(
        server, mode=mode, raise_exceptions=True, client_info=info, elicitation_callback=on_elicit
    ) as client:
        yield client


def accept(**content: Any) -> Answer:
    return lambda _message: ElicitResult(action="accept", content=content)


async def decisions(client: Client) -> list[tuple[str, str, str, str]]:
    approvals = (await call(client, "list_approvals", status="all"))["approvals"]
    return [(a["status"], a.get("decided_by"), a.get("channel"), a["comment"]) for a in approvals]


async def test_the_user_approves_in_the_chat_and_the_run_completes(
    server: MCPServer[McpState], mode: str
) -> None:
    asked: list[str] = []
    async with eliciting(server, mode, accept(approved=True, comment="lgtm"), asked) as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        assert run["status"] == "completed", run
        assert [s["status"] for s in run["steps"]] == ["completed"] * 3
        assert await decisions(client) == [("approved", "claude_code", "elicitation", "lgtm")]
    [question] = asked
    assert f"Run {run['run_id']} of workflow 'gated'" in question
    assert "step 'gate'" in question
    assert f"Ship {run['run_id']}?" in question


async def test_the_user_rejects_in_the_chat_and_the_run_fails(
    server: MCPServer[McpState], mode: str
) -> None:
    answer = accept(approved=False, comment="not now")
    async with eliciting(server, mode, answer, []) as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        assert run["status"] == "failed"
        assert {s["id"]: s["status"] for s in run["steps"]}["gate"] == "failed"
        assert await decisions(client) == [("rejected", "claude_code", "elicitation", "not now")]


async def test_a_declined_question_leaves_the_run_waiting_with_its_next_hint(
    server: MCPServer[McpState], mode: str
) -> None:
    asked: list[str] = []
    declined = lambda _message: ElicitResult(action="decline")  # noqa: E731
    async with eliciting(server, mode, declined, asked) as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        assert len(asked) == 1
        assert run["waiting_for"]["kind"] == "approval"
        assert run["next"].startswith(f'approve(run_id="{run["run_id"]}", step="gate")')
        assert await decisions(client) == [("pending", None, None, "")]  # type: ignore[list-item]


async def test_without_elicitation_the_waiting_run_comes_back_with_next(client: Client) -> None:
    run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
    assert run["waiting_for"]["kind"] == "approval"
    assert run["next"].startswith("approve(")


async def test_nothing_is_asked_without_a_wait_or_of_someone_who_may_not_decide(
    server: MCPServer[McpState], mode: str
) -> None:
    asked: list[str] = []
    only_alice = (
        "id: alice-only\nsteps:\n  - id: gate\n    action: approval\n"
        '    params: {message: "Go?", approvers: [alice]}\n'
    )
    async with eliciting(server, mode, accept(approved=True), asked) as client:
        quick = await call(client, "start_workflow", workflow="gated")
        assert quick["status"] in ("pending", "running")
        run = await call(client, "start_workflow", definition=only_alice, wait_seconds=10)
        assert run["waiting_for"]["kind"] == "approval"
        assert "(approvers: alice)" in run["next"]
    assert asked == []


async def test_an_identical_call_does_not_ask_while_the_first_question_is_open(
    server: MCPServer[McpState], mode: str
) -> None:
    asked = anyio.Event()
    answer_now = anyio.Event()

    async def slow_user(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.set()
        await answer_now.wait()
        return ElicitResult(action="accept", content={"approved": True})

    info = Implementation(name="claude_code", version="1.0")
    results: dict[str, dict[str, Any]] = {}
    async with Client(server, mode=mode, client_info=info, elicitation_callback=slow_user) as c:

        async def start(name: str) -> None:
            results[name] = await call(c, "start_workflow", workflow="gated", wait_seconds=10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(start, "first")
            with anyio.fail_after(10):
                await asked.wait()
            await start("second")  # the same call, while the first question is open
            answer_now.set()
    assert results["first"]["status"] == "completed"
    second = results["second"]
    assert second["waiting_for"]["kind"] == "approval"
    assert second["next"].startswith(f'approve(run_id="{second["run_id"]}"')


def test_a_question_left_unanswered_expires() -> None:
    gates = AskedGates()
    gates.remember("key", "run-1")
    gates.asked["key"] = ("run-1", -1e9)  # asked long ago
    assert gates.recall("key") is None
