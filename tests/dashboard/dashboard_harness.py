"""Shared parts of the dashboard tests: a RELAY_HOME with small workflows (one of them
with untrusted-looking text), `relay` subprocesses on it (`serve --transport http`,
`ui`, CLI commands), and a Relay of the test's own on the same store."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from starlette.applications import Starlette

from relay.bootstrap import open_relay
from relay.config import Settings
from relay.service.relay import Relay

BASE = "http://127.0.0.1:8765"  # the in-process app's made-up address
TOKEN = "t0ken-for-the-dashboard"
START_TIMEOUT_SECONDS = 20.0
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    async def relay(self) -> AsyncIterator[Relay]:
        """The test's own Relay on the store (it drives nothing)."""
        async with open_relay(self.settings(), participant="pytest") as relay:
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


class Server:
    """`relay serve --transport http` (or `relay ui`) on 127.0.0.1, stderr in a file."""

    def __init__(self, home: Home, command: tuple[str, ...], **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.root / f"server-{self.port}.log"
        self._stderr = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", *command, "--port", str(self.port)],
            env=home.env(**env),
            cwd=home.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait_ready(self) -> "Server":
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited: {self.stderr()}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx2.TransportError:
                time.sleep(0.05)  # polling a starting process: nothing to wait on
        raise AssertionError(f"the server did not answer /healthz: {self.stderr()}")

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server ignored SIGTERM: {self.stderr()}") from None
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.log.read_text()


def client_of(app: Starlette, **headers: str) -> httpx2.AsyncClient:
    """A client of `app` that does not follow redirects (the tests look at them)."""
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url=BASE,
        headers=headers,
        follow_redirects=False,
    )
