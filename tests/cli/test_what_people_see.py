"""What `relay` tells the person at the terminal, run as real subprocesses: hints that
work when pasted into a shell, waits said on stderr beside `--json`, retries with their
errors, the worker's log of runs, others' tasks, and the columns of `relay runs`."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.test_cli import (
    PROCESS_TIMEOUT_SECONDS,
    Cli,
    assert_one_error_line,
    poll,
    read_until,
    run_id_from,
)

from relay.model.events import event_type_problem

WORKFLOWS = {
    "listens.yaml": """
id: listens
steps:
  - id: hear
    action: wait_for_event
    params: {type: build.done, source: ci bot, match: {data.result.ok: true}}
  - {id: done, action: log, params: {message: heard}}
""",
    "guarded.yaml": """
id: guarded
steps:
  - id: gate
    action: approval
    params: {message: "ship it?", approvers: [alice]}
  - {id: ship, action: log, params: {message: shipped}}
""",
    "slack_only.yaml": """
id: slack_only
steps:
  - {id: gate, action: approval, params: {message: "ship it?", channels: [slack]}}
""",
    "review.yaml": """
id: review
steps:
  - id: ask
    action: handoff
    params: {to: pycharm, task: "review a.py"}
""",
    "flaky.yaml": """
id: flaky
steps:
  - id: shaky
    action: shell
    params:
      command: "test -f tried || { touch tried; echo boom >&2; exit 4; }; sleep 1.5"
    retry: {max_attempts: 2, initial_interval_seconds: 0}
""",
}

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def people(cli: Cli) -> Cli:
    for name, text in WORKFLOWS.items():
        (cli.cwd / "workflows" / name).write_text(text)
    return cli


def shell_hint(lines: list[str]) -> str:
    """The command of the first `from a shell:` line."""
    found = [line.split("from a shell: ", 1)[1] for line in lines if "from a shell: " in line]
    assert found, "".join(lines)
    return found[0].split("   (", 1)[0].strip()


def paste(cli: Cli, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` exactly as pasted, in a shell that finds the installed `relay`."""
    path = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        command,
        shell=True,
        env={**cli.env, "PATH": path, **env},
        cwd=cli.cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("workflow", "command_starts"),
    [
        ("listens", "relay emit build.done --data"),
        ("guarded", "relay approve"),
        ("review", "relay complete"),
    ],
)
def test_a_pasted_hint_resumes_the_waiting_run(
    people: Cli, background: Any, workflow: str, command_starts: str
) -> None:
    watcher = background("run", workflow)
    lines = read_until(watcher, "from a shell: ")
    command = shell_hint(lines)

    pasted = paste(people, command)
    stdout, stderr = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert command.startswith(command_starts)
    assert pasted.returncode == 0, pasted.stderr
    assert watcher.returncode == 0, stdout + stderr
    assert f"({workflow}) completed" in stdout
    assert not re.search(r"\w\((run_id|task_id|type)=", "".join(lines))  # no MCP calls


def test_the_claimed_tasks_hint_finishes_it_when_pasted(people: Cli, background: Any) -> None:
    watcher = background("run", "review")
    read_until(watcher, "waiting for task")
    [task] = people.json("tasks", "--participant", "pycharm")["tasks"]

    claimed = people("claim", task["task_id"], RELAY_PARTICIPANT="pycharm")
    command = claimed.stdout.split("finish it with: ", 1)[1].split("   (", 1)[0]
    pasted = paste(people, command, RELAY_PARTICIPANT="pycharm")
    stdout, _ = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert pasted.returncode == 0, pasted.stderr
    assert watcher.returncode == 0
    assert "(review) completed" in stdout


def test_the_event_hint_names_the_source_the_wait_matches(people: Cli, background: Any) -> None:
    watcher = background("run", "listens")
    command = shell_hint(read_until(watcher, "from a shell: "))

    assert command == (
        "relay emit build.done --data '{\"result\": {\"ok\": true}}' --source 'ci bot'"
    )


def test_a_gate_no_shell_may_decide_says_where_it_can_be_and_offers_no_command(
    people: Cli, background: Any
) -> None:
    watcher = background("run", "slack_only")
    run_id = run_id_from(read_until(watcher, "waiting for approval"))

    status = people("status", run_id).stdout

    assert "at step gate: ship it?; it can be decided only through slack" in status
    assert "from a shell" not in status


def test_run_json_says_on_stderr_what_it_waits_for_and_stdout_stays_one_document(
    people: Cli, background: Any
) -> None:
    watcher = background("run", "gate", "--json")
    assert watcher.stderr is not None
    said = watcher.stderr.readline()
    run_id = said.split("run ", 1)[1].split(":", 1)[0]
    how = watcher.stderr.readline()

    approved = people("approve", run_id)
    stdout, _ = watcher.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    assert said.startswith(f"relay: run {run_id}: waiting for approval at step ok: ship it?")
    assert how.startswith(f"relay: run {run_id}: from a shell: relay approve {run_id} --step ok")
    assert approved.returncode == 0, approved.stderr
    assert watcher.returncode == 0
    assert json.loads(stdout)["status"] == "completed"


def test_line_progress_shows_a_failed_attempts_error_before_its_retry(people: Cli) -> None:
    done = people("run", "flaky")

    lines = [line.split("] ", 1)[1] for line in done.stdout.splitlines() if line.startswith("[")]
    failed = next(i for i, line in enumerate(lines) if line.startswith("step shaky: attempt 1"))
    retried = lines.index("step shaky: running (attempt 2)")
    assert done.returncode == 0, done.stdout
    assert "boom" in lines[failed]
    assert "retrying" in lines[failed]
    assert failed < retried
    assert lines.count(lines[failed]) == 1  # the second attempt runs through several looks


def test_the_worker_logs_each_run_it_takes_and_finishes(people: Cli, background: Any) -> None:
    worker = background("worker")
    run_id = people.json("run", "hello", "--detach")["run_id"]
    poll(lambda: people.json("status", run_id)["status"] == "completed" or None)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=PROCESS_TIMEOUT_SECONDS)

    mine = [line for line in stderr.splitlines() if run_id in line]
    assert len(mine) == 2, stderr
    assert re.match(rf"relay: \d\d:\d\d:\d\d \S+ took run {run_id} \(hello, pending\)$", mine[0])
    assert mine[1].endswith(f"finished run {run_id} (hello): completed")


def test_tasks_and_participants_show_what_waits_for_others(people: Cli, background: Any) -> None:
    watcher = background("run", "review")
    read_until(watcher, "waiting for task")

    tasks = people("tasks")
    participants = people("participants")
    listed = {p["name"]: p for p in people.json("participants")["participants"]}

    assert tasks.returncode == 0, tasks.stderr
    assert tasks.stdout.splitlines() == [
        "no open tasks for cli",
        "1 open task(s) for other participants (pycharm: 1); "
        "list them with: relay tasks --participant '*'",
    ]
    assert re.search(r"^pycharm\s+never\s+1$", participants.stdout, re.MULTILINE)
    assert listed["pycharm"] == {"name": "pycharm", "last_seen": None, "open_tasks": 1}


def test_emit_refuses_an_event_type_a_webhook_refuses_with_the_same_message(cli: Cli) -> None:
    done = cli("emit", "deploy/prod")

    assert done.returncode == 2
    assert_one_error_line(done)
    assert done.stderr.strip() == f"relay: error: {event_type_problem('deploy/prod')}"
    assert cli.json("events")["events"] == []


def test_runs_shows_the_column_it_sorts_by_and_how_long_each_took(cli: Cli) -> None:
    first = cli.json("run", "hello")["run_id"]
    second = cli.json("run", "hello")["run_id"]

    header, *rows = cli("runs").stdout.splitlines()

    assert header.split("  ")[:1] == ["RUN"]
    assert "CREATED (NEWEST FIRST)" in header
    assert "TOOK" in header
    assert [row.split()[0] for row in rows] == [second, first]
    assert all(re.search(r"\d+ ms$|\d+\.\d s$", row) for row in rows)


def test_times_for_people_carry_their_zone(cli: Cli) -> None:
    run_id = cli.json("run", "hello")["run_id"]

    status = cli("status", run_id, TZ="Europe/Paris").stdout
    progress = cli("run", "hello", TZ="Asia/Tokyo").stdout

    assert re.search(r"started by cli at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T,", status), status
    assert re.match(r"\[\d\d:\d\d:\d\d JST\] run ", progress), progress
