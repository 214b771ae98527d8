"""The plain built-in actions, run against real processes, a real HTTP server on 127.0.0.1
and a real module of sample functions."""

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from pydantic import ValidationError

from relay.engine import shell
from relay.engine.actions import ActionContext
from relay.engine.builtin_actions import HttpParams, builtin_specs
from relay.errors import StepFailed, StepTimedOut
from relay.model.events import Event, NewEvent

SPECS = {spec.name: spec for spec in builtin_specs()}
MakeContext = Callable[..., ActionContext]


async def run(action: str, params: dict[str, Any], ctx: ActionContext) -> Any:
    """Validate params with the action's model, as the engine does, and run it."""
    spec = SPECS[action]
    assert spec.func is not None
    return await spec.func(spec.params_model.model_validate(params), ctx)


@pytest.fixture
def emitted() -> list[NewEvent]:
    return []


@pytest.fixture
def make_ctx(tmp_path: Path, emitted: list[NewEvent]) -> MakeContext:
    async def emit(new: NewEvent) -> Event:
        emitted.append(new)
        now = datetime.now(UTC)
        return Event(id=str(uuid.uuid4()), seq=len(emitted), created_at=now, **new.model_dump())

    def make(**overrides: Any) -> ActionContext:
        values: dict[str, Any] = {
            "run_id": "run-1",
            "workflow": "wf",
            "step_id": "step-a",
            "attempt": 1,
            "idempotency_key": "run-1/step-a",
            "cwd": str(tmp_path),
            "env": {"PATH": os.environ["PATH"]},
            "participant": "pytest",
            "emit": emit,
        }
        return ActionContext(**{**values, **overrides})

    return make


def test_builtin_specs_are_plain_and_mark_code_runners() -> None:
    assert sorted(SPECS) == ["emit_event", "http", "log", "python", "shell"]
    assert all(spec.kind == "plain" and spec.func is not None for spec in SPECS.values())
    assert {name for name, spec in SPECS.items() if spec.runs_code} == {"python", "shell"}


# -- log and emit_event ---------------------------------------------------------------


async def test_log_writes_to_the_workflow_logger_with_run_and_step(
    make_ctx: MakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="relay.workflow"):
        output = await run("log", {"message": "disk almost full", "level": "warning"}, make_ctx())
    assert output == {"message": "disk almost full"}
    [record] = [r for r in caplog.records if r.name == "relay.workflow"]
    assert record.levelno == logging.WARNING
    assert "run-1" in record.getMessage()
    assert "step-a" in record.getMessage()
    assert "disk almost full" in record.getMessage()


async def test_emit_event_defaults_source_correlation_and_idempotency_from_context(
    make_ctx: MakeContext, emitted: list[NewEvent]
) -> None:
    output = await run("emit_event", {"type": "tests_done", "data": {"n": 3}}, make_ctx())
    assert emitted == [
        NewEvent(
            type="tests_done",
            source="pytest",
            data={"n": 3},
            correlation_id="run-1",
            idempotency_key="run-1/step-a",
        )
    ]
    assert output["type"] == "tests_done"
    assert output["seq"] == 1
    assert output["idempotency_key"] == "run-1/step-a"
    assert isinstance(output["created_at"], str)  # as_dict: JSON-ready


async def test_emit_event_uses_explicit_source_correlation_and_key(
    make_ctx: MakeContext, emitted: list[NewEvent]
) -> None:
    params = {"type": "x", "source": "ci", "correlation_id": "c-9", "idempotency_key": "k-1"}
    await run("emit_event", params, make_ctx())
    [event] = emitted
    assert (event.source, event.correlation_id, event.idempotency_key) == ("ci", "c-9", "k-1")


# -- http -----------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[Recorded]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append(
            Recorded(self.command, parts.path, parse_qs(parts.query), headers, body)
        )
        if parts.path == "/json":
            echo = {"method": self.command, "body": body.decode(), "query": parts.query}
            self._reply(200, "application/json", json.dumps(echo).encode())
        elif parts.path == "/text":
            self._reply(200, "text/plain; charset=utf-8", b"plain text")
        elif parts.path == "/big":
            self._reply(200, "text/plain", b"x" * 100_000)
        elif parts.path == "/slow":
            time.sleep(1)
            self._reply(200, "text/plain", b"late")
        else:
            self._reply(503, "text/plain", b"upstream is down")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "test")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass  # keep test output quiet


@dataclass
class HttpServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield HttpServer(f"http://127.0.0.1:{server.server_address[1]}", server.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_http_parses_a_json_response(http_server: HttpServer, make_ctx: MakeContext) -> None:
    params = {
        "method": "post",
        "url": f"{http_server.url}/json",
        "json": {"a": 1},
        "params": {"q": "v"},
    }
    output = await run("http", params, make_ctx())
    assert output["status"] == 200
    assert output["json"] == {"method": "POST", "body": '{"a":1}', "query": "q=v"}
    assert output["headers"]["x-served-by"] == "test"
    assert "text" not in output


async def test_http_returns_text_for_a_non_json_response(
    http_server: HttpServer, make_ctx: MakeContext
) -> None:
    params = {"method": "POST", "url": f"{http_server.url}/text", "body": "raw"}
    output = await run("http", params, make_ctx())
    assert output == {"status": 200, "headers": output["headers"], "text": "plain text"}
    assert http_server.requests[0].body == b"raw"


async def test_http_cuts_a_long_text_body_at_64_kb(
    http_server: HttpServer, make_ctx: MakeContext
) -> None:
    output = await run("http", {"url": f"{http_server.url}/big"}, make_ctx())
    assert output["text"] == "x" * 65536 + f"\n[... {100_000 - 65536} bytes cut]"


async def test_http_sends_the_step_idempotency_key(
    http_server: HttpServer, make_ctx: MakeContext
) -> None:
    await run("http", {"url": f"{http_server.url}/text"}, make_ctx())
    assert http_server.requests[0].headers["idempotency-key"] == "run-1/step-a"


async def test_http_keeps_an_idempotency_key_the_user_set(
    http_server: HttpServer, make_ctx: MakeContext
) -> None:
    params = {"url": f"{http_server.url}/text", "headers": {"idempotency-key": "mine"}}
    await run("http", params, make_ctx())
    assert http_server.requests[0].headers["idempotency-key"] == "mine"


async def test_http_status_outside_expect_status_fails_with_the_output(
    http_server: HttpServer, make_ctx: MakeContext
) -> None:
    url = f"{http_server.url}/down"
    with pytest.raises(StepFailed) as caught:
        await run("http", {"method": "POST", "url": url}, make_ctx())
    assert str(caught.value) == f"HTTP 503 from POST {url}: upstream is down"
    output = caught.value.output
    assert isinstance(output, dict)
    assert output == {"status": 503, "headers": output["headers"], "text": "upstream is down"}
    assert output["headers"]["content-type"] == "text/plain"


@pytest.mark.parametrize("expect", ["5xx", 503, [200, 503], "503"])
async def test_http_accepts_a_status_that_expect_status_allows(
    http_server: HttpServer, make_ctx: MakeContext, expect: object
) -> None:
    params = {"url": f"{http_server.url}/down", "expect_status": expect}
    output = await run("http", params, make_ctx())
    assert output["status"] == 503


async def test_http_connection_refused_fails_without_header_values(
    make_ctx: MakeContext,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = {"url": f"http://127.0.0.1:{port}/", "headers": {"Authorization": "Bearer s3cret"}}
    with pytest.raises(StepFailed) as caught:
        await run("http", params, make_ctx())
    assert f"GET http://127.0.0.1:{port}/: cannot connect" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "Traceback" not in str(caught.value)


async def test_http_timeout_fails_the_step(http_server: HttpServer, make_ctx: MakeContext) -> None:
    params = {"url": f"{http_server.url}/slow", "timeout_seconds": 0.2}
    with pytest.raises(StepFailed, match=r"timed out after 0\.2 s"):
        await run("http", params, make_ctx())


# -- shell ----------------------------------------------------------------------------


async def test_shell_runs_a_string_through_sh(make_ctx: MakeContext) -> None:
    output = await run("shell", {"command": "echo hello; echo oops >&2"}, make_ctx())
    assert output == {"exit_code": 0, "stdout": "hello\n", "stderr": "oops\n"}


async def test_shell_executes_a_list_without_a_shell(make_ctx: MakeContext) -> None:
    output = await run("shell", {"command": ["printf", "%s|", "a b", "$HOME"]}, make_ctx())
    assert output["stdout"] == "a b|$HOME|"


async def test_shell_runs_in_the_run_directory_by_default(
    make_ctx: MakeContext, tmp_path: Path
) -> None:
    await run("shell", {"command": "echo here > marker.txt"}, make_ctx())
    assert (tmp_path / "marker.txt").read_text() == "here\n"


async def test_shell_cwd_is_relative_to_the_run_directory(
    make_ctx: MakeContext, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    await run("shell", {"command": "echo there > marker.txt", "cwd": "sub"}, make_ctx())
    assert (tmp_path / "sub" / "marker.txt").read_text() == "there\n"


async def test_shell_env_is_added_on_top_of_the_run_environment(make_ctx: MakeContext) -> None:
    ctx = make_ctx(env={"PATH": os.environ["PATH"], "FROM_RUN": "run", "SHARED": "run"})
    params = {
        "command": 'echo "$FROM_RUN $FROM_STEP $SHARED"',
        "env": {"FROM_STEP": "step", "SHARED": "step"},
    }
    output = await run("shell", params, ctx)
    assert output["stdout"] == "run step step\n"


async def test_shell_feeds_input_to_stdin(make_ctx: MakeContext) -> None:
    output = await run("shell", {"command": "tr a-z A-Z", "input": "shout"}, make_ctx())
    assert output["stdout"] == "SHOUT"


async def test_shell_cuts_each_stream_at_64_kb(make_ctx: MakeContext) -> None:
    command = "head -c 100000 /dev/zero | tr '\\0' a; head -c 70000 /dev/zero | tr '\\0' b >&2"
    output = await run("shell", {"command": command}, make_ctx())
    assert output["stdout"] == "a" * 65536 + f"\n[... {100_000 - 65536} bytes cut]"
    assert output["stderr"] == "b" * 65536 + f"\n[... {70_000 - 65536} bytes cut]"


async def test_shell_non_zero_exit_fails_with_the_output(make_ctx: MakeContext) -> None:
    command = "echo partial; echo 'first problem' >&2; echo 'last problem' >&2; exit 3"
    with pytest.raises(StepFailed) as caught:
        await run("shell", {"command": command}, make_ctx())
    assert str(caught.value) == "command exited with code 3: last problem"
    assert caught.value.output == {
        "exit_code": 3,
        "stdout": "partial\n",
        "stderr": "first problem\nlast problem\n",
    }


async def test_shell_missing_cwd_fails_clearly(make_ctx: MakeContext, tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match=r"working directory .*nowhere.* does not exist"):
        await run("shell", {"command": "true", "cwd": "nowhere"}, make_ctx())


async def test_shell_missing_executable_fails_clearly(make_ctx: MakeContext) -> None:
    with pytest.raises(StepFailed, match="executable 'no-such-program-relay' not found"):
        await run("shell", {"command": ["no-such-program-relay", "x"]}, make_ctx())


def _read_pid(pidfile: Path) -> int | None:
    text = pidfile.read_text().strip() if pidfile.exists() else ""
    return int(text) if text else None


async def _wait_for_pid(pidfile: Path) -> int:
    for _ in range(500):
        if (pid := _read_pid(pidfile)) is not None:
            return pid
        await anyio.sleep(0.01)
    raise AssertionError(f"the command never wrote {pidfile}")


def _is_running(pid: int) -> bool:
    """Whether `pid` is a live process; a zombie that nobody reaped yet counts as gone."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def _wait_until_gone(pid: int) -> None:
    for _ in range(100):
        if not _is_running(pid):
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"process {pid} is still running")


async def test_shell_timeout_kills_the_command(make_ctx: MakeContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"echo $$ > {pidfile}; echo started; exec sleep 30"
    started = time.monotonic()
    with pytest.raises(StepTimedOut) as caught:
        await run("shell", {"command": command, "timeout_seconds": 0.5}, make_ctx())
    assert time.monotonic() - started < 3
    assert str(caught.value) == "command timed out after 0.5 s"
    assert caught.value.output == {"exit_code": None, "stdout": "started\n", "stderr": ""}
    pid = _read_pid(pidfile)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_cancelling_the_step_kills_the_command_within_a_second(
    make_ctx: MakeContext, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    params = {"command": f"echo $$ > {pidfile}; exec sleep 30"}
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "shell", params, make_ctx())
        pid = await _wait_for_pid(pidfile)
        cancelled_at = time.monotonic()
        tg.cancel_scope.cancel()
    assert time.monotonic() - cancelled_at < 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_step_timeout_around_shell_kills_the_command(
    make_ctx: MakeContext, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    params = {"command": f"echo $$ > {pidfile}; exec sleep 30"}
    started = time.monotonic()
    with pytest.raises(TimeoutError), anyio.fail_after(0.5):  # as the engine bounds a step
        await run("shell", params, make_ctx())
    assert time.monotonic() - started < 1.5
    pid = _read_pid(pidfile)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_group_that_ignores_sigterm_is_killed_with_its_grandchildren(
    make_ctx: MakeContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "KILL_GRACE_SECONDS", 0.2)
    pidfile = tmp_path / "pid"
    command = f"trap '' TERM; sleep 30 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(StepTimedOut):
        await run("shell", {"command": command, "timeout_seconds": 0.3}, make_ctx())
    assert time.monotonic() - started < 2  # timeout + grace, not the 30 s of sleep
    grandchild = _read_pid(pidfile)
    assert grandchild is not None
    await _wait_until_gone(grandchild)


# -- python ---------------------------------------------------------------------------


@pytest.fixture
def sample_module(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return "sample_functions"


async def test_python_calls_a_sync_function(sample_module: str, make_ctx: MakeContext) -> None:
    params = {"function": f"{sample_module}:add", "args": {"a": 2, "b": 3}}
    assert await run("python", params, make_ctx()) == 5


async def test_python_awaits_an_async_function(sample_module: str, make_ctx: MakeContext) -> None:
    params = {"function": f"{sample_module}:greet", "args": {"name": "ada"}}
    assert await run("python", params, make_ctx()) == {"greeting": "hello ada"}


async def test_python_resolves_a_dotted_attribute(
    sample_module: str, make_ctx: MakeContext
) -> None:
    params = {"function": f"{sample_module}:Greeter.shout", "args": {"word": "hi"}}
    assert await run("python", params, make_ctx()) == "HI"


async def test_python_exception_becomes_a_step_failure(
    sample_module: str, make_ctx: MakeContext
) -> None:
    params = {"function": f"{sample_module}:fail", "args": {"reason": "bad input"}}
    with pytest.raises(StepFailed, match=r"^ValueError: bad input$"):
        await run("python", params, make_ctx())


async def test_python_rejects_a_result_that_is_not_json(
    sample_module: str, make_ctx: MakeContext
) -> None:
    with pytest.raises(StepFailed, match="not JSON-serialisable"):
        await run("python", {"function": f"{sample_module}:make_set"}, make_ctx())


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("no_such_module_relay:f", "cannot import module 'no_such_module_relay'"),
        ("sample_functions:missing", "module 'sample_functions' has no attribute 'missing'"),
        ("sample_functions:NOT_CALLABLE", "is a int, not a callable"),
    ],
)
async def test_python_names_what_cannot_be_resolved(
    sample_module: str, make_ctx: MakeContext, function: str, message: str
) -> None:
    with pytest.raises(StepFailed, match=message):
        await run("python", {"function": function}, make_ctx())


# -- params models --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "params", "problem"),
    [
        ("shell", {"command": "true", "bogus": 1}, "Extra inputs are not permitted"),
        ("shell", {"command": ""}, "command must not be empty"),
        ("python", {"function": "sample_functions.add"}, "package.module:callable"),
        ("http", {"url": "http://h/", "json": {}, "body": "x"}, "either json or body"),
        ("http", {"url": "http://h/", "method": "FETCH"}, "unknown HTTP method"),
        ("http", {"url": "ftp://h/"}, "http:// or https://"),
        ("http", {"url": "http://h/", "expect_status": "6xx"}, "expect_status"),
        ("http", {"url": "http://h/", "expect_status": [200, 700]}, "outside 100-599"),
        ("log", {"message": "m", "level": "loud"}, "level"),
        ("emit_event", {"type": ""}, "type"),
    ],
)
def test_params_models_reject_bad_params(action: str, params: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SPECS[action].params_model.model_validate(params)


def test_http_params_accept_json_by_its_yaml_name_and_upper_case_the_method() -> None:
    params = HttpParams.model_validate({"url": "https://h/", "method": "put", "json": [1]})
    assert (params.method, params.json_body) == ("PUT", [1])


def test_an_expression_in_a_checked_param_is_reported_on_that_value() -> None:
    # The loader skips errors whose input holds `${{ }}`: such values are checked when run.
    with pytest.raises(ValidationError) as caught:
        HttpParams.model_validate({"url": "${{ inputs.url }}"})
    assert [e["input"] for e in caught.value.errors()] == ["${{ inputs.url }}"]
