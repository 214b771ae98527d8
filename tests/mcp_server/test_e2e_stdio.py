"""End to end over stdio: real `relay serve` subprocesses driven by the SDK's own client,
in both protocol eras (2026-07-28, which the 2.3 client speaks by default, and the
2025-era handshake of most hosts and the Inspector)."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest
from e2e_harness import TOOLS, Home, call, eventually, finish, follow, waits_for
from mcp import Client, StdioServerParameters
from mcp.types import ResourceUpdatedNotification

from relay.service.services import Services

pytestmark = pytest.mark.slow

CLAUDE_CONFIG = Path(__file__).parents[2] / "claude_config_example.json"


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.create(tmp_path)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_gated_run_is_approved_and_completes_over_stdio(home: Home, mode: str) -> None:
    async with Client(home.stdio("claude_code"), mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= TOOLS, TOOLS - set(tools)
        assert len(tools) < 25
        for tool in tools.values():
            assert tool.input_schema["type"] == "object", tool.name
            assert tool.output_schema is not None, tool.name
            assert tool.description, tool.name

        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        assert run["waiting_for"]["kind"] == "approval", run
        assert run["waiting_for"]["step"] == "gate"
        assert "approve(" in run["next"]
        assert run["run_id"] in run["next"]

        decided = await call(client, "approve", run_id=run["run_id"], step="gate")
        assert decided["approved"] is True
        done = await finish(client, run["run_id"])
        assert done["status"] == "completed", done

        resource = await client.read_resource(f"relay://runs/{run['run_id']}")
        content = resource.contents[0]
        assert content.mime_type == "application/json"
        document = json.loads(getattr(content, "text", ""))
        assert document["status"] == "completed"
        assert [s["status"] for s in document["steps"]] == ["completed"] * 3


async def test_the_claude_desktop_example_config_starts_a_server(home: Home) -> None:
    entry = json.loads(CLAUDE_CONFIG.read_text())["mcpServers"]["relay"]
    assert entry["command"].endswith("/.venv/bin/relay")  # a path for the reader to fill in
    server = StdioServerParameters(
        command=str(Path(sys.executable).with_name("relay")),
        args=entry["args"],
        env={**entry["env"], **home.env(participant=None)},  # this test's home and workflows
    )
    async with Client(server, mode="legacy") as desktop:  # Claude Desktop: the 2025 handshake
        emitted = await call(desktop, "emit_event", type="config_checked")
    assert emitted["event"]["source"] == "claude_desktop"


async def test_two_chats_hand_work_over_and_a_killed_chats_run_is_taken_over(
    home: Home,
) -> None:
    """claude_code (2026 era) and pycharm (2025 era) share one RELAY_HOME."""
    fast_leases = {"RELAY_LEASE_SECONDS": "1"}
    async with (
        Client(home.stdio("pycharm", **fast_leases), mode="legacy") as pycharm,
        Client(home.stdio("claude_code", **fast_leases)) as claude,
    ):
        run = await call(claude, "start_workflow", workflow="cross-chat", wait_seconds=10)
        assert run["waiting_for"]["kind"] == "task", run

        tasks = (await call(pycharm, "list_tasks"))["tasks"]
        assert [(t["run_id"], t["to"], t["step"]) for t in tasks] == [
            (run["run_id"], "pycharm", "review")
        ]
        task_id = tasks[0]["task_id"]
        await call(pycharm, "claim_task", task_id=task_id)
        await call(pycharm, "complete_task", task_id=task_id, result={"verdict": "lgtm"})

        waiting = await follow(claude, run["run_id"], waits_for("event"))
        assert "emit_event(" in waiting["next"]

        async with anyio.create_task_group() as tg:
            finished: dict[str, object] = {}

            async def follow_to_the_end() -> None:
                # Each call returns as soon as the run's state changes (or it finishes).
                status: dict[str, object] = {"status": "waiting"}
                while status["status"] not in ("completed", "failed", "cancelled"):
                    status = await call(claude, "get_status", run_id=run["run_id"], wait_seconds=60)
                finished.update(run=status, at=time.monotonic())

            tg.start_soon(follow_to_the_end)
            await anyio.sleep(0.5)  # get_status is waiting now
            emitted_at = time.monotonic()
            emitted = await call(
                claude, "emit_event", type="process_complete", data={"process_name": "fix"}
            )
            assert emitted["event"]["source"] == "claude_code"

        done, finished_at = finished["run"], finished["at"]
        assert isinstance(done, dict)
        assert done["status"] == "completed", done
        assert done["outputs"] == {"review": {"verdict": "lgtm"}, "fixed_by": "claude_code"}
        assert isinstance(finished_at, float)
        assert finished_at - emitted_at < 30

        # The first chat dies mid-step; the second takes its run over once the lease lapses.
        slow = await call(claude, "start_workflow", workflow="slow", wait_seconds=0.5)
        assert slow["status"] == "running", slow
        [claude_pid] = await home.worker_pids("claude_code")
        os.kill(claude_pid, signal.SIGKILL)

        taken_over = await finish(pycharm, slow["run_id"])
        assert taken_over["status"] == "completed", taken_over
        work = next(s for s in taken_over["steps"] if s["id"] == "work")
        assert work["attempts"] == 2  # the killed process's attempt, then the takeover's


async def test_closing_stdin_hands_the_servers_runs_back_at_once(home: Home) -> None:
    """With 60 s leases, only a handed-back lease lets the other server finish in time."""
    slow_leases = {"RELAY_LEASE_SECONDS": "60"}
    async with Client(home.stdio("pycharm", **slow_leases)) as pycharm:
        async with Client(home.stdio("claude_code", **slow_leases)) as claude:
            run = await call(claude, "start_workflow", workflow="slow", wait_seconds=0.5)
            assert run["status"] == "running", run
        # Leaving the client closed the first server's stdin: it stopped and let go.
        assert await home.worker_pids("claude_code") == []
        done = await finish(pycharm, run["run_id"])
        assert done["status"] == "completed", done


async def test_sigterm_stops_a_stdio_server_whose_client_keeps_stdin_open(home: Home) -> None:
    async with Client(home.stdio("claude_code")) as claude:
        await call(claude, "list_workflows")
        [pid] = await home.worker_pids("claude_code")
        os.kill(pid, signal.SIGTERM)
        # Its heartbeat goes as the engine stops: the process ended in an orderly way.
        await eventually(lambda: _is_gone(home, "claude_code"), within_seconds=10)
        await eventually(lambda: _has_exited(pid), within_seconds=10)


async def _is_gone(home: Home, participant: str) -> bool:
    return await home.worker_pids(participant) == []


async def _has_exited(pid: int) -> bool:
    """Gone, or a zombie that its parent (the client) has not reaped yet."""
    try:
        stat = await anyio.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


# resources/subscribe is the 2025 era's way (deprecated by the 2026 one, still what hosts use).
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_legacy_subscriber_hears_of_a_run_that_another_process_advanced(
    home: Home,
) -> None:
    heard: list[str] = []

    async def on_message(message: object) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            heard.append(message.params.uri)

    async with home.relay(worker=True) as here:  # this test process drives the run
        run = await _gated_run_at_its_gate(here)
        uri = f"relay://runs/{run}"
        async with Client(home.stdio("watcher"), mode="legacy", message_handler=on_message) as c:
            await c.subscribe_resource(uri)
            await here.coordination.approve(run, "gate")
            await eventually(lambda: _contains(heard, uri), within_seconds=15)


async def test_a_listening_client_hears_of_a_run_that_another_process_advanced(
    home: Home,
) -> None:
    async with home.relay(worker=True) as here:
        run = await _gated_run_at_its_gate(here)
        uri = f"relay://runs/{run}"
        async with (
            Client(home.stdio("watcher")) as client,
            client.listen(resource_subscriptions=[uri]) as updates,
        ):
            await here.coordination.approve(run, "gate")
            with anyio.fail_after(15):
                async for update in updates:
                    if getattr(update, "uri", None) == uri:
                        break


async def _gated_run_at_its_gate(relay: Services) -> str:
    run, _ = await relay.runs.start_run(relay.workflows.resolve("gated"))
    await eventually(lambda: _waits(relay, run.id))
    return run.id


async def _waits(relay: Services, run_id: str) -> bool:
    return (await relay.runs.get_run(run_id)).status.value == "waiting"


async def _contains(items: list[str], item: str) -> bool:
    return item in items
