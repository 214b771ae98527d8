"""The `relay` command line, run as real subprocesses against a SQLite store in tmp_path.

Every test starts `python -m relay ...` (about half a second of imports each), so they
exercise argument parsing, exit codes, output and the cross-process coordination that
a shell script or a second terminal relies on.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

WORKFLOWS = {
    "hello.yaml": """
id: hello
steps:
  - id: greet
    action: log
    params: {message: "hello"}
""",
    "fail.yaml": """
id: fail
steps:
  - id: setup
    action: log
    params: {message: "setting up"}
  - id: build
    action: shell
    params: {command: "echo broken >&2; exit 3"}
""",
    "gate.yaml": """
id: gate
steps:
  - id: ok
    action: approval
    params: {message: "ship it?"}
  - id: ship
    action: log
    params: {message: "shipped"}
""",
    "inputs.yaml": """
id: inputs
inputs:
  count: {type: integer}
  name: {type: string, default: world}
steps:
  - id: say
    action: log
    params: {message: "hello ${{ inputs.name }} x${{ inputs.count }}"}
""",
    "waits.yaml": """
id: waits
steps:
  - id: hear
    action: wait_for_event
    params: {type: go, match: {data.ok: true}}
  - id: done
    action: log
    params: {message: "heard"}
""",
    "slow.yaml": """
id: slow
steps:
  - id: nap
    action: delay
    params: {seconds: 60}
""",
}

# A subprocess that should finish by itself gets this long before the test fails.
PROCESS_TIMEOUT_SECONDS = 30


class Cli:
    """Runs `python -m relay` with a private RELAY_HOME and workflow directory."""

    def __init__(self, tmp_path: Path) -> None:
        workflows = tmp_path / "workflows"
        workflows.mkdir()
        for name, text in WORKFLOWS.items():
            (workflows / name).write_text(text)
        self.cwd = tmp_path
        self.env = {
            **os.environ,
            "RELAY_HOME": str(tmp_path / "home"),
            "RELAY_WORKFLOWS_PATH": str(workflows),
        }

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relay", *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_SECONDS,
        )

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "relay", *args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def background(cli: Cli) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `relay ...` processes that are killed if the test leaves them running."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = cli.start(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def read_until(process: subprocess.Popen[str], needle: str) -> list[str]:
    """The lines `process` prints up to and including the first one containing `needle`."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or needle not in lines[-1]:
        line = process.stdout.readline()
        assert line, f"exited before printing {needle!r}: {''.join(lines)}"
        lines.append(line)
    return lines


def run_id_from(lines: list[str]) -> str:
    """The id in the first progress line, `[12:00:00] run ID (workflow): pending`."""
    return lines[0].split("] run ", 1)[1].split()[0]


def poll(check: Callable[[], Any], timeout_seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while (found := check()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def assert_one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("relay: error: ")
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0]


# relay run ------------------------------------------------------------------------------


def test_run_exits_0_and_prints_a_summary(cli: Cli) -> None:
    done = cli("run", "hello")

    assert done.returncode == 0, done.stderr
    assert "step greet: completed" in done.stdout
    assert "(hello) completed" in done.stdout.splitlines()[-1]


def test_run_with_json_prints_only_the_final_run(cli: Cli) -> None:
    done = cli("run", "inputs", "-i", "count=4", "--json")

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "completed"
    assert run["inputs"] == {"count": 4, "name": "world"}
    assert [s["status"] for s in run["steps"]] == ["completed"]
    assert "next" not in run  # empty fields are left out, as in get_status


def test_failing_run_exits_1_and_names_the_step_and_its_error(cli: Cli) -> None:
    done = cli("run", "fail")

    assert done.returncode == 1
    assert "step build failed" in done.stdout
    assert "code 3" in done.stdout
    assert "broken" in done.stdout


@pytest.mark.parametrize(
    ("assignment", "words"),
    [("count=many", ["'count'", "integer"]), ("colour=red", ["'colour'", "count, name"])],
)
def test_bad_input_is_a_one_line_usage_error(cli: Cli, assignment: str, words: list[str]) -> None:
    done = cli("run", "inputs", "-i", assignment)

    assert done.returncode == 2
    assert_one_error_line(done, *words)
    assert done.stdout == ""


def test_run_of_an_unknown_workflow_lists_the_known_ones(cli: Cli) -> None:
    done = cli("run", "nope")

    assert done.returncode == 2
    assert_one_error_line(done, "'nope'", "hello")


def test_ctrl_c_stops_watching_but_leaves_the_run_alive(cli: Cli, background: Any) -> None:
    watcher = background("run", "slow")
    run_id = run_id_from(read_until(watcher, "waiting"))

    watcher.send_signal(signal.SIGINT)
    _, stderr = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert watcher.returncode == 130
    assert f"stopped watching run {run_id}" in stderr
    assert cli.json("status", run_id)["status"] == "waiting"


# coordination between processes ---------------------------------------------------------


def test_approve_from_another_process_unblocks_a_watching_run(cli: Cli, background: Any) -> None:
    watcher = background("run", "gate")

    def pending_gate() -> str | None:
        approvals = cli.json("approvals")["approvals"]
        return approvals[0]["run_id"] if approvals else None

    run_id = poll(pending_gate)
    approved = cli("approve", run_id, "--comment", "looks good")
    stdout, stderr = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert approved.returncode == 0, approved.stderr
    assert "approved step ok" in approved.stdout
    assert watcher.returncode == 0, stderr
    assert f"relay approve {run_id} --step ok" in stdout
    assert "(gate) completed" in stdout
    assert cli.json("approvals")["approvals"] == []


def test_emit_from_another_process_unblocks_a_waiting_run(cli: Cli, background: Any) -> None:
    watcher = background("run", "waits")
    run_id = run_id_from(read_until(watcher, "waiting for event"))

    emitted = cli.json("emit", "go", "--data", '{"ok": true}')
    stdout, stderr = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert emitted["event"]["type"] == "go"
    assert emitted["duplicate"] is False
    assert emitted["resumed_runs"] == [run_id]
    assert watcher.returncode == 0, stderr
    assert "(waits) completed" in stdout


def test_detach_prints_the_id_and_warns_that_no_worker_runs(cli: Cli) -> None:
    done = cli("run", "hello", "--detach")

    run_id = done.stdout.strip()
    assert done.returncode == 0
    assert "no `relay worker` or `relay serve` process is running" in done.stderr
    assert cli.json("status", run_id)["status"] == "pending"


def test_worker_executes_a_detached_run_and_stops_on_sigterm(cli: Cli, background: Any) -> None:
    worker = background("worker")
    run_id = cli.json("run", "hello", "--detach")["run_id"]

    run = cli.json("status", run_id)
    deadline = time.monotonic() + 20
    # `status --wait` returns at the first change (pending -> running counts), so follow it
    while run["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        run = cli.json("status", run_id, "--wait", "5")
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert run["status"] == "completed"
    assert worker.returncode == 0


# reports --------------------------------------------------------------------------------


def test_status_of_an_unknown_run_is_a_one_line_error(cli: Cli) -> None:
    done = cli("status", "no-such-run")

    assert done.returncode == 2
    assert_one_error_line(done, "no-such-run")


def test_listings_print_the_mcp_tools_shapes(cli: Cli) -> None:
    run = cli.json("run", "hello")

    runs = cli.json("runs")["runs"]
    events = cli.json("events", "--limit", "2")
    workflows = cli.json("list")

    assert [r["run_id"] for r in runs] == [run["run_id"]]
    assert set(runs[0]) >= {"run_id", "workflow", "status", "created_at", "updated_at"}
    assert len(events["events"]) == 2
    assert events["last_seq"] == events["events"][-1]["seq"]
    assert sorted(w["id"] for w in workflows["workflows"]) == sorted(
        name.removesuffix(".yaml") for name in WORKFLOWS
    )
    assert workflows["errors"] == []


def test_bad_json_data_names_the_flag(cli: Cli) -> None:
    done = cli("emit", "go", "--data", "{not json")

    assert done.returncode == 2
    assert_one_error_line(done, "--data")


def test_bad_settings_are_a_one_line_error(cli: Cli) -> None:
    done = cli("runs", RELAY_LEASE_SECONDS="-1")

    assert done.returncode == 2
    assert_one_error_line(done, "RELAY_LEASE_SECONDS")


def test_ui_refuses_a_non_loopback_bind_without_a_token(cli: Cli) -> None:
    done = cli("ui", "--host", "0.0.0.0", "--port", "0")

    assert done.returncode == 2
    assert_one_error_line(done, "RELAY_AUTH_TOKEN")


# definitions (no store) -----------------------------------------------------------------


def test_validate_prints_file_line_column_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nsteps:\n  - id: a\n    action: nosuch\n")
    good = tmp_path / "workflows" / "hello.yaml"

    done = cli("validate", str(good), str(broken))

    assert done.returncode == 1
    assert f"OK {good} (workflow hello)" in done.stdout
    assert f"{broken}:4:5: " in done.stdout
    assert "nosuch" in done.stdout
    assert not (tmp_path / "home").exists()  # validate never opens the store


def test_validate_json_lists_each_file(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "workflows" / "hello.yaml"

    files = cli.json("validate", str(good))["files"]

    assert files == [{"path": str(good), "valid": True, "id": "hello", "errors": []}]


def test_schema_prints_the_json_schema(cli: Cli) -> None:
    done = cli("schema")

    assert done.returncode == 0
    assert "$schema" in json.loads(done.stdout)


def test_graph_prints_a_mermaid_flowchart(cli: Cli) -> None:
    done = cli("graph", "gate")

    assert done.returncode == 0
    assert done.stdout.startswith("flowchart")
    assert "approval gate" in done.stdout
