"""Shared parts of the dashboard tests: a RELAY_HOME with small workflows (one of them
with untrusted-looking text), `relay` subprocesses on it (`serve --transport http`,
`ui`, CLI commands), and a Services of the test's own on the same store."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from starlette.applications import Starlette
from tests.served import ServedProcess

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services

BASE = "http://127.0.0.1:8765"  # the in-process app's made-up address
TOKEN = "t0ken-for-the-dashboard"
COMMAND_TIMEOUT_SECONDS = 30.0
SCRIPT = "<script>window.__pwned = 1</script>"

WORKFLOWS = {
    "gated.yaml": """\
id: gated
description: Prepare, wait for an approval, ship.
steps:
  - {id: prepare, action: log, params: {message: preparing}}
  - {id: gate, action: approval, params: {message: "Ship it?"}}
  - {id: ship, action: log, params: {message: shipped}}
""",
    "steps.yaml": """\
id: steps
description: Three steps, the middle one slowed down by a parameter.
inputs:
  pause: {type: number, default: 0.2}
  label: {type: string, default: plain}
  loud: {type: boolean, default: false}
steps:
  - {id: first, action: log, params: {message: "one ${{ inputs.label }}"}}
  - {id: middle, action: delay, params: {seconds: "${{ inputs.pause }}"}}
  - {id: last, action: log, params: {message: three}}
""",
    "hostile.yaml": f"""\
id: hostile
name: "Hostile <b>name</b>"
inputs:
  tags: {{type: array, default: ['x" autofocus onfocus="window.__pwned=3']}}
steps:
  - id: say
    name: "Say <img src=x onerror=window.__pwned=2>"
    action: log
    params: {{message: "{SCRIPT}"}}
""",
    "handoff.yaml": """\
id: handoff
steps:
  - id: review
    action: handoff
    params: {to: pycharm, task: "Review <i>this</i>", context: {file: a.py}}
""",
    "fails.yaml": """\
id: fails
steps:
  - {id: boom, action: shell, params: {command: "exit 3"}, retry: {max_attempts: 1}}
""",
    "broken.yaml": "id: broken\nsteps:\n  - {id: x, action: no_such_action}\n",
}


@dataclass(frozen=True)
class Home:
    """One RELAY_HOME and workflow folder shared by the processes of a test module."""

    root: Path
    database_url: str | None = None  # None: SQLite in the home

    @classmethod
    def create(cls, root: Path, database_url: str | None = None) -> "Home":
        (root / "workflows").mkdir(parents=True)
        for name, text in WORKFLOWS.items():
            (root / "workflows" / name).write_text(text)
        return cls(root, database_url)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "RELAY_HOME": str(self.root / "home"),
            "RELAY_WORKFLOWS_PATH": str(self.root / "workflows"),
            **({"RELAY_DATABASE_URL": self.database_url} if self.database_url else {}),
            **extra,
        }

    def settings(self, **values: object) -> Settings:
        values = {"database_url": self.database_url, **values}
        return Settings(
            home=self.root / "home", workflows_path=str(self.root / "workflows"), **values
        )

    @asynccontextmanager
    async def relay(self) -> AsyncIterator[Services]:
        """The test's own Services on the store (it drives nothing)."""
        async with open_relay(self.settings(), Role.CLIENT, participant="pytest") as relay:
            yield relay

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`relay ARGS...` as a shell would run it."""
        return subprocess.run(
            [sys.executable, "-m", "relay", *args],
            env=self.env(**env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )


class Server(ServedProcess):
    """`relay serve --transport http` (or `relay ui`) on 127.0.0.1, stderr in a file."""

    def __init__(self, home: Home, command: tuple[str, ...], **env: str) -> None:
        argv = [sys.executable, "-m", "relay", *command]
        super().__init__("the server", argv, home.env(**env), home.root, home.root)


def client_of(app: Starlette, **headers: str) -> httpx2.AsyncClient:
    """A client of `app` that does not follow redirects (the tests look at them)."""
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url=BASE,
        headers=headers,
        follow_redirects=False,
    )
