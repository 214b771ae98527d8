"""`relay serve` as a chat meets it at launch: what it imports before it is of use, and
that it answers its first requests before it opens the store."""

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from e2e_harness import Home
from raw_stdio import LEGACY, MODERN, raw_serve

pytestmark = pytest.mark.slow

# Modules a stdio server has no use for: the HTTP app and dashboard (Starlette, uvicorn,
# Jinja2 templates), cron schedules, and the PostgreSQL driver.
NOT_NEEDED = ("relay.http_app", "relay.dashboard", "jinja2", "croniter", "psycopg")
# The SDK itself imports Starlette and uvicorn (its HTTP transports) whenever it is
# imported; relay must not add any module of theirs to what the SDK loads.
SDK_OWN = ("starlette", "uvicorn", "sse_starlette")


def imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def in_family(names: set[str], roots: tuple[str, ...]) -> set[str]:
    return {n for n in names if n in roots or n.startswith(tuple(f"{r}." for r in roots))}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.create(tmp_path)


def sdk_imports() -> set[str]:
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import mcp.server.mcpserver, mcp.server.stdio"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return imported(found.stderr)


async def test_a_stdio_server_imports_no_http_template_cron_or_postgres_module(
    home: Home, tmp_path: Path
) -> None:
    errors = tmp_path / "importtime.txt"
    env = {**home.env("claude_code"), "PYTHONPROFILEIMPORTTIME": "1"}
    with errors.open("w") as sink:
        async with raw_serve(env, str(home.root), LEGACY, stderr=sink) as client:
            await client.request("tools/list")
            await client.request("prompts/list")
            await client.request("resources/list")
            listed = await client.call("list_workflows")  # the store opens for it
            assert {w["id"] for w in listed["workflows"]} >= {"gated", "slow"}
    names = imported(errors.read_text())
    assert "relay.mcp_server.server" in names, "the import log was read"
    assert not in_family(names, NOT_NEEDED), sorted(in_family(names, NOT_NEEDED))
    added = in_family(names, SDK_OWN) - in_family(sdk_imports(), SDK_OWN)
    assert not added, sorted(added)


@pytest.mark.parametrize("era", [LEGACY, MODERN])
async def test_the_first_requests_are_answered_before_the_store_opens(home: Home, era: str) -> None:
    """initialize (2025) and tools/list are answered while the store is still closed:
    with settings that cannot open it, they still work, and the first tool call says
    what is wrong."""
    env = {**home.env("claude_code"), "RELAY_DATABASE_URL": "nosuch:///x"}
    async with raw_serve(env, str(home.root), era) as client:
        listed = await client.request("tools/list")
        assert {t["name"] for t in listed["result"]["tools"]} >= {"start_workflow"}
        with anyio.fail_after(10):
            answer = await client.request("tools/call", {"name": "list_runs", "arguments": {}})
        assert answer["result"]["isError"] is True
        [content] = answer["result"]["content"]
        assert "unsupported database URL scheme 'nosuch'" in content["text"]
        assert "Traceback" not in content["text"]


def test_relay_serve_on_a_terminal_says_what_it_is_on_stderr(home: Home) -> None:
    """A person who runs `relay serve` by hand learns that it waits for an MCP client."""
    primary, terminal = pty.openpty()
    try:
        served = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve"],
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=home.env("someone"),
            cwd=home.root,
            text=True,
        )
        assert served.stderr is not None
        with served.stderr:
            line = served.stderr.readline()
            served.send_signal(signal.SIGINT)
            assert served.wait(timeout=10) == 0
    finally:
        os.close(primary)
        os.close(terminal)
    assert "MCP server" in line, line
    assert "stdin/stdout" in line
    assert "claude mcp add relay" in line
