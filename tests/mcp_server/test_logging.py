"""Run and step log lines as MCP log messages, at the level each client asked for: a
2025-era client sets it with `logging/setLevel` and hears its runs as they go; a
2026-07-28 request opts in with its `_meta` level and hears the lines of the run it
waits on, before its result."""

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import LoggingMessageNotificationParams
from mcp_harness import call

from relay.mcp_server.state import McpState

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

EXPECTED = [  # at warning and above: the debug line of step `quiet` is left out
    ("warning", "loud", "disk almost full"),
    ("warning", "flaky", "step flaky attempt 1 failed: command exited with code 3: no luck;"),
    ("error", "flaky", "step flaky failed: command exited with code 3: no luck"),
]


class Heard:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str | None, str]] = []
        self.changed = anyio.Event()

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        data: dict[str, Any] = params.data
        assert params.logger == "relay.run"
        self.lines.append((params.level, data.get("step"), data["message"]))
        self.changed.set()
        self.changed = anyio.Event()

    async def until(self, count: int) -> None:
        with anyio.fail_after(10):
            while len(self.lines) < count:
                await self.changed.wait()


def matches(heard: list[tuple[str, str | None, str]]) -> None:
    for (level, step, text), (want_level, want_step, prefix) in zip(heard, EXPECTED, strict=True):
        assert (level, step) == (want_level, want_step), heard
        assert text.startswith(prefix), heard


async def test_a_legacy_client_hears_its_runs_at_the_level_it_set(
    server: MCPServer[McpState],
) -> None:
    heard = Heard()
    async with Client(server, mode="legacy", logging_callback=heard) as client:
        await client.set_logging_level("warning")
        run = await call(client, "start_workflow", workflow="chatty")
        await heard.until(len(EXPECTED))
        done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
    assert done["status"] == "completed"
    matches(heard.lines)


async def test_a_2026_request_hears_the_lines_of_the_run_it_waits_on_before_its_result(
    server: MCPServer[McpState],
) -> None:
    heard = Heard()
    async with Client(server, log_level="warning", logging_callback=heard) as client:
        assert client.protocol_version == "2026-07-28"
        done = await call(client, "start_workflow", workflow="chatty", wait_seconds=10)
        assert done["status"] == "completed"
        matches(heard.lines)  # all of them arrived with the call, before its result


async def test_a_2026_request_that_does_not_opt_in_hears_nothing(
    server: MCPServer[McpState],
) -> None:
    heard = Heard()
    async with Client(server, logging_callback=heard) as client:
        done = await call(client, "start_workflow", workflow="chatty", wait_seconds=10)
    assert done["status"] == "completed"
    assert heard.lines == []


async def test_both_eras_declare_logging_and_completions(client: Client) -> None:
    capabilities = client.server_capabilities
    assert capabilities is not None
    assert capabilities.logging is not None
    assert capabilities.completions is not None
    assert capabilities.tools is not None
    assert capabilities.tools.list_changed is False
    assert capabilities.prompts is not None
    assert capabilities.prompts.list_changed is False
    resources = capabilities.resources
    assert resources is not None
    assert (resources.subscribe, resources.list_changed) == (True, False)
