"""The event-to-resume probe, shared by both processes of `bench/engine.py`.

A run of `RESUME_WORKFLOW` parks on `wait_for_event`; `emit_resume` emits the one event
it waits for, stamped with `time.perf_counter()` just before the `emit` call; the next
step (a `python` action calling `resumed_at`) stamps the moment its code starts. Both
stamps read CLOCK_MONOTONIC, which on Linux is one clock for every process.

Run as a script, this module is the second process: it opens its own Services (no engine)
on the same database, reads run ids on stdin and answers `ok` once each event is emitted.
"""

import argparse
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services

RESUME_WORKFLOW = """
id: bench-resume
steps:
  - id: wait
    action: wait_for_event
    params:
      type: bench.resume
      match: {data.run: "${{ run.id }}"}
  - id: mark
    action: python
    params: {function: "_resume:resumed_at"}
"""
SCRIPT = str(Path(__file__).resolve())


async def resumed_at() -> float:
    """The step after the wait: its output is the moment it started."""
    return time.perf_counter()


async def emit_resume(relay: Services, run_id: str) -> None:
    """Emit the event the run `run_id` waits for."""
    await relay.events.emit("bench.resume", {"run": run_id, "emitted_at": time.perf_counter()})


def resume_seconds(wait_output: Any, mark_output: Any) -> float:
    """From the start of the `emit` call to the start of the step after the wait."""
    return float(mark_output) - float(wait_output["data"]["emitted_at"])


async def _expect(lines: BufferedByteReceiveStream, token: bytes) -> None:
    line = await lines.receive_until(b"\n", 1024)
    if line != token:
        raise RuntimeError(f"the emitter process said {line!r}, not {token!r}")


@asynccontextmanager
async def emitter_process(settings: Settings) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """This module as a second process on `settings`' database; yields its `emit(run_id)`."""
    command = [sys.executable, SCRIPT, "--home", str(settings.home)]
    command += ["--database-url", settings.store_url()]
    command += ["--synchronous", settings.sqlite_synchronous]
    async with await anyio.open_process(command, stderr=None) as process:
        stdin, stdout = process.stdin, process.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the emitter process has no pipes")
        lines = BufferedByteReceiveStream(stdout)
        with anyio.fail_after(60):
            await _expect(lines, b"ready")

        async def emit(run_id: str) -> None:
            await stdin.send(run_id.encode() + b"\n")
            await _expect(lines, b"ok")

        yield emit
        await stdin.aclose()


async def serve(settings: Settings) -> None:
    async with open_relay(settings, Role.CLIENT, participant="bench-emitter") as relay:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        async for line in anyio.wrap_file(sys.stdin):
            await emit_resume(relay, line.strip())
            sys.stdout.write("ok\n")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    settings = Settings(
        home=args.home,
        database_url=args.database_url,
        workflows_path=str(args.home / "workflows"),
        sqlite_synchronous=args.synchronous,
    )
    anyio.run(serve, settings)


if __name__ == "__main__":
    main()
