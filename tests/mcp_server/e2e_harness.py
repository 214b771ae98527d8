"""Real `relay serve` processes for the end-to-end tests: a shared RELAY_HOME with small
workflows, stdio server parameters for the SDK's client, HTTP servers on 127.0.0.1, and
the store's worker heartbeats (which carry each serving process's pid)."""

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from tests.served import ServedProcess

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services

SERVE = [sys.executable, "-m", "relay", "serve"]

GATED = """\
id: gated
description: Prepare, wait for an approval, ship.
steps:
  - {id: prepare, action: log, params: {message: preparing}}
  - {id: gate, action: approval, params: {message: "Ship it?"}}
  - {id: ship, action: log, params: {message: shipped}}
"""

# Like workflows/cross_chat.yaml: a handoff to pycharm, then an event from claude_code.
CROSS_CHAT = """\
id: cross-chat
description: Hand a review to pycharm, then wait for claude_code's fix.
steps:
  - id: review
    action: handoff
    params: {to: pycharm, task: "Review the retry logic", context: {file: sync.py}}
  - id: wait_for_fix
    action: wait_for_event
    params: {type: process_complete, source: claude_code, match: {data.process_name: fix}}
  - {id: done, action: log, params: {message: "reviewed and fixed"}}
outputs:
  review: "${{ steps.review.output }}"
  fixed_by: "${{ steps.wait_for_fix.output.source }}"
"""

# Transitions (a log, a short timer) before a gate: what a wait reports as progress.
PACED = """\
id: paced
steps:
  - {id: build, action: log, params: {message: built}}
  - {id: pause, action: delay, params: {seconds: 0.1}}
  - {id: gate, action: approval, params: {message: "Ship it?"}}
  - {id: ship, action: log, params: {message: shipped}}
"""

# A step that holds its run's lease for a while (a `delay` would park the run instead).
SLOW = """\
id: slow
steps:
  - {id: work, action: shell, params: {command: "sleep 2"}}
  - {id: after, action: log, params: {message: done}}
"""

# The 17 tools relay serves.
TOOLS = {
    "list_workflows",
    "validate_workflow",
    "start_workflow",
    "get_status",
    "list_runs",
    "cancel_workflow",
    "resume_workflow",
    "emit_event",
    "wait_for_event",
    "list_events",
    "approve",
    "list_approvals",
    "notify_slack",
    "list_tasks",
    "claim_task",
    "complete_task",
    "list_participants",
}

WORKFLOWS = {
    "gated.yaml": GATED,
    "cross_chat.yaml": CROSS_CHAT,
    "slow.yaml": SLOW,
    "paced.yaml": PACED,
}


@dataclass(frozen=True)
class Home:
    """One RELAY_HOME and workflow folder, shared by every server a test starts."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> "Home":
        (root / "workflows").mkdir(parents=True)
        for name, text in WORKFLOWS.items():
            (root / "workflows" / name).write_text(text)
        return cls(root)

    def env(self, participant: str | None, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "RELAY_HOME": str(self.root / "home"),
            "RELAY_WORKFLOWS_PATH": str(self.root / "workflows"),
            **extra,
        }
        if participant is not None:
            env["RELAY_PARTICIPANT"] = participant
        return env

    def stdio(self, participant: str | None, **extra: str) -> StdioServerParameters:
        return StdioServerParameters(
            command=SERVE[0], args=SERVE[1:], env=self.env(participant, **extra), cwd=self.root
        )

    def settings(self) -> Settings:
        return Settings(home=self.root / "home", workflows_path=str(self.root / "workflows"))

    @asynccontextmanager
    async def relay(self, *, worker: bool = False) -> AsyncIterator[Services]:
        """This test process's own Services on the store (with `worker`, its engine drives
        the runs it starts)."""
        role = Role.RUNNER if worker else Role.CLIENT
        async with open_relay(self.settings(), role, participant="pytest") as relay:
            yield relay

    async def worker_pids(self, participant: str) -> list[int]:
        """Pids of the live serving processes of `participant` (from their heartbeats:
        worker ids are `participant-pid-suffix`)."""
        async with self.relay() as relay:
            workers = await relay.store.presence.live_workers(60.0)
        prefix = f"{participant}-"
        return [int(w[len(prefix) :].split("-")[0]) for w in workers if w.startswith(prefix)]


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; fails the test with the tool's message on isError."""
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool}({arguments}) failed: {text}"
    assert isinstance(result.structured_content, dict), text
    return result.structured_content


FINAL = ("completed", "failed", "cancelled")


async def follow(
    client: Client,
    run_id: str,
    until: Callable[[dict[str, Any]], bool],
    within_seconds: float = 30.0,
) -> dict[str, Any]:
    """The run once `until(run)` holds: get_status returns at every change of the run's
    state, so call it until then."""
    with anyio.fail_after(within_seconds):
        while not until(run := await call(client, "get_status", run_id=run_id, wait_seconds=10)):
            pass
    return run


async def finish(client: Client, run_id: str) -> dict[str, Any]:
    """The run once it is completed, failed or cancelled."""
    return await follow(client, run_id, lambda run: run["status"] in FINAL)


def waits_for(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda run: (run["waiting_for"] or {}).get("kind") == kind


async def eventually(check: Callable[[], Awaitable[Any]], within_seconds: float = 20.0) -> Any:
    """The first truthy value of `await check()` within `within_seconds`."""
    with anyio.fail_after(within_seconds):
        # Polling on purpose: another process's commit has no event to wait on here.
        while not (value := await check()):  # noqa: ASYNC110
            await anyio.sleep(0.1)
    return value


class HttpServer(ServedProcess):
    """`relay serve --transport http` on 127.0.0.1, its stderr kept in a file."""

    def __init__(self, home: Home, *args: str, participant: str | None = None, **env: str):
        argv = [*SERVE, "--transport", "http", *args]
        super().__init__("relay serve", argv, home.env(participant, **env), home.root, home.root)
