"""The MCP Inspector's CLI (npm `@modelcontextprotocol/inspector`, the README's command
lines) lists relay's tools and calls `list_workflows`, over stdio and over HTTP.

`.ci/run` installs the Inspector into `.ci/inspector`; without it these tests skip."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import TOOLS, Home, HttpServer

pytestmark = pytest.mark.slow

INSPECTOR_DIR = Path(__file__).parents[2] / ".ci" / "inspector"
INSTALL = "npm install --prefix .ci/inspector @modelcontextprotocol/inspector@2.12.0"

if shutil.which("npx") is None:
    pytest.skip(
        "npx is not on PATH: the Inspector needs Node.js 22.19 or newer", allow_module_level=True
    )
if not (INSPECTOR_DIR / "node_modules" / ".bin" / "mcp-inspector").exists():
    pytest.skip(f"the MCP Inspector is not installed (`{INSTALL}`)", allow_module_level=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home.create(tmp_path_factory.mktemp("inspector"))


@pytest.fixture(scope="module")
def server(home: Home) -> Iterator[HttpServer]:
    running = HttpServer(home, participant="inspector").wait_ready()
    yield running
    assert running.stop() == 0, running.stderr()


def inspector(home: Home, *args: str) -> Any:
    """`npx --no-install mcp-inspector --cli ARGS --format json -q`: its result."""
    done = subprocess.run(
        ["npx", "--no-install", "mcp-inspector", "--cli", *args, "--format", "json", "-q"],
        cwd=INSPECTOR_DIR,
        # The CLI keeps its state in ~/.mcp-inspector: a HOME of the test's own.
        env={"PATH": os.environ["PATH"], "HOME": str(home.root / "inspector-home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["result"]


def stdio_target(home: Home) -> list[str]:
    env = home.env("inspector")
    settings = [
        f"{k}={env[k]}" for k in ("RELAY_HOME", "RELAY_WORKFLOWS_PATH", "RELAY_PARTICIPANT")
    ]
    return [*(a for s in settings for a in ("-e", s)), sys.executable, "-m", "relay", "serve"]


def test_the_inspector_lists_the_tools_over_stdio(home: Home) -> None:
    result = inspector(home, *stdio_target(home), "--method", "tools/list")
    assert {t["name"] for t in result["tools"]} >= TOOLS


def test_the_inspector_calls_list_workflows_over_stdio(home: Home) -> None:
    result = inspector(
        home, *stdio_target(home), "--method", "tools/call", "--tool-name", "list_workflows"
    )
    assert result["isError"] is False
    assert {w["id"] for w in result["structuredContent"]["workflows"]} == {
        "gated",
        "cross-chat",
        "slow",
        "paced",
    }


def test_the_inspector_lists_the_tools_over_http(home: Home, server: HttpServer) -> None:
    result = inspector(home, f"{server.url}/mcp", "--method", "tools/list")
    assert {t["name"] for t in result["tools"]} >= TOOLS


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_the_inspector_calls_list_workflows_over_http(
    home: Home, server: HttpServer, era: str
) -> None:
    result = inspector(
        home,
        f"{server.url}/mcp",
        *("--protocol-era", era),
        *("--method", "tools/call", "--tool-name", "list_workflows"),
    )
    assert result["isError"] is False
    assert "gated" in {w["id"] for w in result["structuredContent"]["workflows"]}
