"""The `mcp_call` action against a real MCP server (`echo_mcp_server.py`): spawned over
stdio for a step, named in relay's config, and served over streamable HTTP on 127.0.0.1."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_harness import define, finished, start
from fixture_types import MakeSettings

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.engine.actions import ActionContext
from relay.engine.mcp_call import mcp_call_spec, servers_from_config
from relay.errors import ConfigError, InvalidWorkflow, StepFailed
from relay.model.events import Event, NewEvent
from relay.service.services import Services

ECHO = Path(__file__).with_name("echo_mcp_server.py")
PY = sys.executable
STDIO = f"command: {json.dumps(PY)}, args: [{json.dumps(str(ECHO))}]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The echo server over streamable HTTP, one process for this module."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("echo") / "stderr.log").open("w")
    proc = subprocess.Popen([PY, str(ECHO), "--http", str(port)], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the echo MCP server over HTTP did not start")
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


# -- end to end through a run ---------------------------------------------------------


async def test_stdio_steps_record_structured_results_text_and_json_text(
    relay: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_FROM_RELAY", "relay's own environment stays home")
    run = await start(
        relay,
        f"""
id: stdio
steps:
  - id: echo
    action: mcp_call
    params: {{{STDIO}, tool: echo, arguments: {{text: hi, count: 2}}}}
  - id: say_json
    action: mcp_call
    params: {{{STDIO}, tool: say, arguments: {{text: '{{"n": 3}}'}}}}
  - id: whoami
    action: mcp_call
    needs: [echo]
    params: {{{STDIO}, env: {{ECHO_TEXT: "${{{{ steps.echo.output.text }}}}"}}, tool: whoami}}
""",
        cwd=str(tmp_path),
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed", [s.error for s in done.steps]
    assert done.step("echo").output == {"text": "hi", "count": 2}
    assert done.step("say_json").output == {"n": 3}
    whoami = done.step("whoami").output
    assert whoami["cwd"] == str(tmp_path)
    assert whoami["env"] == {"ECHO_TEXT": "hi"}  # ECHO_FROM_RELAY was not passed on


async def test_a_named_server_from_the_home_config_behind_a_seed_style_alias(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    settings.home.mkdir(mode=0o700)
    monkeypatch.setenv("ECHO_TEST_DB", "games")
    config = {
        "mcpServers": {
            "db": {"command": PY, "args": [str(ECHO)], "env": {"ECHO_DB": "${ECHO_TEST_DB}"}},
            "unused": {"url": "http://127.0.0.1:1/mcp", "alwaysAllow": ["x"]},
        }
    }
    (settings.home / "mcp_servers.json").write_text(json.dumps(config))
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        run = await start(
            relay,
            """
id: nba
actions:
  mcp_query_database:
    uses: mcp_call
    params:
      server: db
      tool: query
      arguments: {sql: "${{ params.sql_query }}"}
      timeout_seconds: "${{ params.timeout }}"
steps:
  - name: Extract Game Data
    action: mcp_query_database
    params: {sql_query: "SELECT * FROM games", timeout: 30}
    retry_count: 1
  - id: env
    action: mcp_call
    params: {server: db, tool: whoami}
""",
        )
        done = await finished(relay, run.id)
    assert done.status.value == "completed", [s.error for s in done.steps]
    rows = [{"game_id": 1}, {"game_id": 2}]
    assert done.step("extract_game_data").output == {"sql": "SELECT * FROM games", "rows": rows}
    assert done.step("env").output["env"] == {"ECHO_DB": "games"}


async def test_a_step_calls_a_streamable_http_server_with_its_headers(
    relay: Services, http_url: str
) -> None:
    run = await start(
        relay,
        f"""
id: over_http
steps:
  - id: echo
    action: mcp_call
    params: {{url: "{http_url}", tool: echo, arguments: {{text: over http}}}}
  - id: whoami
    action: mcp_call
    params: {{url: "{http_url}", headers: {{X-Echo-Token: tok-123456}}, tool: whoami}}
""",
    )
    done = await finished(relay, run.id)
    assert done.status.value == "completed", [s.error for s in done.steps]
    assert done.step("echo").output == {"text": "over http", "count": 1}
    assert done.step("whoami").output["headers"] == {"x-echo-token": "tok-123456"}


async def test_a_tool_error_fails_the_step_with_its_text_after_the_steps_retries(
    relay: Services, http_url: str
) -> None:
    run = await start(
        relay,
        f"""
id: failing
steps:
  - id: boom
    action: mcp_call
    retry: {{max_attempts: 2, initial_interval_seconds: 0.01, jitter: 0}}
    params: {{url: "{http_url}", tool: fail, arguments: {{reason: the table is gone}}}}
""",
    )
    done = await finished(relay, run.id)
    step = done.step("boom")
    assert (done.status.value, step.status.value, step.attempts) == ("failed", "failed", 2)
    assert step.error is not None
    assert "tool 'fail' failed" in step.error
    assert "the table is gone" in step.error


async def test_timeouts_of_the_call_and_of_the_step(relay: Services, http_url: str) -> None:
    slow = f'url: "{http_url}", tool: slow, arguments: {{seconds: 10}}'
    run = await start(
        relay,
        f"""
id: slow
steps:
  - id: own
    action: mcp_call
    params: {{{slow}, timeout_seconds: 0.3}}
  - id: step
    action: mcp_call
    needs: []
    timeout_seconds: 0.3
    params: {{{slow}}}
""",
    )
    done = await finished(relay, run.id)
    assert done.step("own").error == f"MCP server at {http_url}: tool 'slow' timed out after 0.3 s"
    assert done.step("step").error == "timed out after 0.3 s"


# -- failures, named directly ---------------------------------------------------------


async def _emit(new: NewEvent) -> Event:
    raise AssertionError("mcp_call emits no events")


def _ctx(cwd: Path) -> ActionContext:
    return ActionContext("run-1", "wf", "call", 1, "run-1/call", str(cwd), {}, "pytest", _emit)


async def _call(params: dict[str, Any], cwd: Path, servers: dict[str, Any] | None = None) -> Any:
    spec = mcp_call_spec(servers_from_config(servers or {}))
    assert spec.func is not None
    return await spec.func(spec.params_model.model_validate(params), _ctx(cwd))


async def test_a_command_that_does_not_exist_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="cannot start the server: No such file or directory"):
        await _call({"command": str(tmp_path / "nope"), "tool": "echo"}, tmp_path)


async def test_a_server_that_dies_fails_with_its_stderr_and_no_env_value(tmp_path: Path) -> None:
    script = "import os, sys; print('bad key', os.environ['KEY'], file=sys.stderr); sys.exit(3)"
    params = {"command": PY, "args": ["-c", script], "env": {"KEY": "hunter2-secret"}}
    with pytest.raises(StepFailed) as caught:
        await _call({**params, "tool": "echo"}, tmp_path)
    message = str(caught.value)
    assert "Connection closed" in message
    assert "bad key ***" in message
    assert "hunter2" not in message


async def test_an_unreachable_url_and_a_header_value_that_never_shows(tmp_path: Path) -> None:
    servers = {"api": {"url": "http://u:pw@127.0.0.1:1/mcp?key=k", "headers": {"A": "Bearer zz"}}}
    with pytest.raises(StepFailed) as caught:
        await _call({"server": "api", "tool": "echo"}, tmp_path, servers)
    assert str(caught.value).startswith("MCP server 'api': cannot connect")
    with pytest.raises(StepFailed) as caught:
        await _call({"url": "http://u:pw@127.0.0.1:1/mcp?key=k", "tool": "echo"}, tmp_path)
    assert str(caught.value).startswith("MCP server at http://127.0.0.1:1/mcp: cannot connect")


# -- loading and trust ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("{server: nowhere, tool: t}", "no MCP server named 'nowhere' in relay's config"),
        ('{url: "http://x/mcp", command: y, tool: t}', "exactly one of server, command or url"),
        ("{tool: t}", "exactly one of server, command or url"),
        ('{url: "ftp://x/mcp", tool: t}', "url must be an http:// or https:// URL"),
        ('{url: "http://x/mcp", env: {A: b}, tool: t}', "args and env go with command"),
        ("{command: y, headers: {A: b}, tool: t}", "headers go with url"),
        ("{command: y}", "tool"),
    ],
)
async def test_bad_params_fail_when_the_workflow_loads(
    relay: Services, params: str, expected: str
) -> None:
    with pytest.raises(InvalidWorkflow, match=expected):
        define(relay, f"id: bad\nsteps:\n  - {{id: s, action: mcp_call, params: {params}}}\n")


SPAWNS = f"id: spawn\nsteps:\n  - {{id: s, action: mcp_call, params: {{{STDIO}, tool: echo}}}}\n"
SPAWNS_VIA_ALIAS = f"""
id: alias
actions:
  q: {{uses: mcp_call, params: {{{STDIO}, tool: "${{{{ params.tool }}}}"}}}}
steps:
  - {{id: s, action: q, params: {{tool: echo}}}}
"""
NAMED = "id: named\nsteps:\n  - {id: s, action: mcp_call, params: {server: db, tool: echo}}\n"
BY_URL = 'id: url\nsteps:\n  - {id: s, action: mcp_call, params: {url: "http://h/mcp", tool: e}}\n'


@pytest.mark.parametrize("allow", [False, True])
async def test_inline_definitions_may_not_spawn_a_command_unless_allowed(
    make_settings: MakeSettings, allow: bool
) -> None:
    settings = make_settings(mcp_servers={"db": {"command": PY}}, allow_inline_code=allow)
    async with open_relay(settings, Role.CLIENT, participant="pytest") as relay:
        for text in (NAMED, BY_URL):
            relay.workflows.load_inline(text)
        for text in (SPAWNS, SPAWNS_VIA_ALIAS):
            if allow:
                relay.workflows.load_inline(text)
                continue
            with pytest.raises(InvalidWorkflow) as caught:
                relay.workflows.load_inline(text)
            message = caught.value.problems[0].message
            assert "uses 'mcp_call' with `command`" in message
            assert "RELAY_ALLOW_INLINE_CODE=1" in message


# -- configuration ----------------------------------------------------------------------


def test_the_server_table_comes_from_env_then_the_named_file_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert Settings(home=home).mcp_server_table() == {}
    (home / "mcp_servers.json").write_text('{"mcpServers": {"home": {"command": "a"}}}')
    assert Settings(home=home).mcp_server_table() == {"home": {"command": "a"}}
    other = tmp_path / "claude_desktop_config.json"
    other.write_text('{"mcpServers": {"file": {"url": "${ECHO_URL:-http://h/mcp}"}}}')
    monkeypatch.setenv("RELAY_MCP_CONFIG", str(other))
    assert Settings(home=home).mcp_server_table() == {"file": {"url": "http://h/mcp"}}
    monkeypatch.setenv("RELAY_MCP_SERVERS", '{"env": {"command": "b", "env": {"T": "${TOK}"}}}')
    monkeypatch.setenv("TOK", "t0ken")
    expected = {"env": {"command": "b", "env": {"T": "t0ken"}}}
    assert Settings(home=home).mcp_server_table() == expected


def test_config_mistakes_are_config_errors_that_quote_no_value(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"mcpServers": {')
    with pytest.raises(ConfigError, match="is not valid JSON"):
        Settings(home=tmp_path, mcp_config=bad_json).mcp_server_table()
    with pytest.raises(ConfigError, match="cannot read MCP server config"):
        Settings(home=tmp_path, mcp_config=tmp_path / "missing.json").mcp_server_table()
    with pytest.raises(ConfigError, match=r"RELAY_MCP_SERVERS is not valid JSON \(line 1") as bad:
        Settings(
            mcp_servers='{"s": {"url": "http://h", "headers": {"A": "tok-en-value"'
        ).mcp_server_table()
    assert "tok-en-value" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"refers to \$\{UNSET_RELAY_TEST_VAR\}"):
        Settings(mcp_servers={"a": {"command": "${UNSET_RELAY_TEST_VAR}"}}).mcp_server_table()
    with pytest.raises(ConfigError, match="SSE is not supported"):
        servers_from_config({"s": {"type": "sse", "url": "http://h/sse"}})
    with pytest.raises(ConfigError) as caught:
        servers_from_config({"s": {"url": "ftp://h", "headers": {"A": ["secret-list"]}}})
    assert "MCP server 's'" in str(caught.value)
    assert "secret-list" not in str(caught.value)
