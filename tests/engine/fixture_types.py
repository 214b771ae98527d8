"""What the engine tests' fixtures hand out: their types, and the worker process that
`spawn` and `start_worker` start (`workers.py`). Tests import these from here, never from
`conftest` (which pytest may have imported under another name)."""

import select
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import pytest

from relay.config import Settings
from relay.service.services import Services

MakeSettings = Callable[..., Settings]
OpenRelay = Callable[..., AbstractAsyncContextManager[Services]]

WORKERS_SCRIPT = Path(__file__).with_name("workers.py")
READY_TIMEOUT_SECONDS = 20.0


class WorkerProcess:
    """A `workers.py` process; its stderr goes to a file shown when a test fails."""

    def __init__(self, args: list[str], *, cwd: Path, log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKERS_SCRIPT), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_line(self, timeout: float = READY_TIMEOUT_SECONDS) -> str:
        """The next line of its stdout; fails the test if none comes in time."""
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        if not line:
            pytest.fail(f"worker {self.pid} said nothing; its stderr:\n{self.stderr()}")
        return line.strip()

    def stderr(self) -> str:
        self._stderr.flush()
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to hand anything back."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


class Spawn(Protocol):
    def __call__(self, *args: str, cwd: Path | None = None) -> WorkerProcess: ...


StartWorker = Callable[..., WorkerProcess]
