"""A `relay` HTTP process on a free loopback port for end-to-end tests: started, awaited
on `/healthz`, stopped with SIGTERM, its stderr kept in a file for failure messages."""

import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import httpx2

START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedProcess:
    """`argv --port PORT` on 127.0.0.1, started at once; `name` is what failures call it."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, logs: Path
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"{name.replace(' ', '-')}-{self.port}.log"
        self._stderr = self.log.open("w")
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait_ready(self) -> Self:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.stderr()}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx2.TransportError:
                time.sleep(0.05)  # polling a starting process: nothing to wait on
        raise AssertionError(f"{self.name} did not answer /healthz: {self.stderr()}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then the exit code (SIGKILL if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM: {self.stderr()}") from None
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.log.read_text()
