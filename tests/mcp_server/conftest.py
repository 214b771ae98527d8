"""Fixtures of the in-memory MCP tests: a Services (with its engine) on a real SQLite file, the
MCP server over it, and the SDK's real client in both protocol eras."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_harness import PACED
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import Implementation

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.mcp_server.server import build_server
from relay.mcp_server.state import McpState
from relay.service.services import Services

WORKFLOWS = {
    "hello.yaml": """
id: hello
name: Hello
description: Greets
inputs:
  name: {type: string, default: world}
steps:
  - id: greet
    action: log
    params: {message: "Hello, ${{ inputs.name }}!"}
outputs:
  greeting: "${{ steps.greet.output.message }}"
""",
    "gated.yaml": """
id: gated
steps:
  - id: build
    action: log
    params: {message: built}
  - id: gate
    action: approval
    params: {message: "Ship ${{ run.id }}?"}
  - id: ship
    action: log
    params: {message: shipped}
""",
    "paced.yaml": PACED,
    "chatty.yaml": """
id: chatty
steps:
  - {id: quiet, action: log, params: {message: "just so you know", level: debug}}
  - {id: loud, action: log, params: {message: "disk almost full", level: warning}}
  - id: flaky
    action: shell
    params: {command: "echo no luck >&2; exit 3"}
    retry: {max_attempts: 2, initial_interval_seconds: 0.05}
    continue_on_failure: true
""",
    "handoff.yaml": """
id: handoff
steps:
  - id: review
    action: handoff
    params: {to: pycharm, task: Review the change, context: {file: a.py}}
""",
    "awaits.yaml": """
id: awaits
steps:
  - id: wait
    action: wait_for_event
    params: {type: fix_done, match: {data.ticket: 7}, timeout_seconds: 60}
""",
    "big.yaml": """
id: big
steps:
  - id: loud
    action: log
    params: {message: "${{ inputs.text }}"}
inputs:
  text: {type: string}
""",
    "fails.yaml": """
id: fails
steps:
  - id: check
    action: shell
    params: {command: "echo the disk is full >&2; exit 3"}
""",
    "broken.yaml": """
id: broken
steps:
  - id: a
    action: no_such_action
""",
}


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    for name, text in WORKFLOWS.items():
        (folder / name).write_text(text.lstrip(), encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path, workflows_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        workflows_path=str(workflows_dir),
        lease_seconds=5.0,
        poll_interval_seconds=0.01,
    )


@pytest.fixture
async def relay(settings: Settings) -> AsyncIterator[Services]:
    async with open_relay(settings, Role.SERVER, participant="mcp-test") as relay:
        yield relay


@pytest.fixture
def server(relay: Services) -> MCPServer[McpState]:
    return build_server(relay)


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Every client test runs in both protocol eras: 2026-07-28 and the 2025 handshake."""
    param: str = request.param
    return param


CHAT = Implementation(name="claude_code", version="1.0")


@pytest.fixture
async def client(server: MCPServer[McpState], mode: str) -> AsyncIterator[Client]:
    async with Client(server, mode=mode, raise_exceptions=True, client_info=CHAT) as client:
        yield client
