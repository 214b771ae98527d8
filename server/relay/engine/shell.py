"""Child processes for the `shell` action: start one in its own session, feed its stdin,
capture stdout and stderr concurrently (each cut to `OUTPUT_LIMIT_BYTES`), and make sure
that a cancelled or timed-out command leaves nothing behind: its whole process group is
sent SIGTERM, then SIGKILL after `KILL_GRACE_SECONDS`, and the child is reaped before
`run_command` returns or raises.
"""

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc

from relay.errors import StepFailed

OUTPUT_LIMIT_BYTES = 64 * 1024  # per stream; a step's output is stored with the run
KILL_GRACE_SECONDS = 2.0  # time to exit cleanly on SIGTERM before the group gets SIGKILL
_TAIL_BYTES = 1024  # enough for the last line of stderr, quoted in failure messages
_READ_BYTES = 65536


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: `exit_code` is None when it timed out and was killed."""

    exit_code: int | None
    stdout: str
    stderr: str
    stderr_tail: str  # the end of stderr, kept even when the middle was cut

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None

    def as_output(self) -> dict[str, object]:
        return {"exit_code": self.exit_code, "stdout": self.stdout, "stderr": self.stderr}


@dataclass
class _Capture:
    """The first `OUTPUT_LIMIT_BYTES` of a stream, its last bytes, and how much was cut."""

    head: bytearray = field(default_factory=bytearray)
    tail: bytes = b""
    cut_bytes: int = 0

    def feed(self, chunk: bytes) -> None:
        room = OUTPUT_LIMIT_BYTES - len(self.head)
        self.head += chunk[:room]
        self.cut_bytes += max(0, len(chunk) - room)
        self.tail = (self.tail + chunk)[-_TAIL_BYTES:]

    def text(self) -> str:
        return decode_capped(bytes(self.head), self.cut_bytes)


def decode_capped(data: bytes, cut_bytes: int, encoding: str = "utf-8") -> str:
    """Decode captured bytes, noting how many bytes past the limit were cut."""
    text = data.decode(encoding, errors="replace")
    return f"{text}\n[... {cut_bytes} bytes cut]" if cut_bytes else text


async def run_command(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str],
    input_text: str | None = None,
    timeout_seconds: float | None = None,
) -> CommandResult:
    """Run `argv` to completion, or until `timeout_seconds`, capturing its output.

    Raises:
        StepFailed: the working directory or the executable does not exist.
    """
    process = await _start(argv, cwd=cwd, env=env, has_input=input_text is not None)
    stdout, stderr = _Capture(), _Capture()
    exit_code: int | None = None
    try:
        with anyio.move_on_after(timeout_seconds):
            exit_code = await _communicate(process, input_text, stdout, stderr)
    finally:
        # Cleanup must finish even while this task is being cancelled, or the child
        # (and anything it started) would outlive the run that owned it.
        with anyio.CancelScope(shield=True):
            if exit_code is None:
                await _terminate_group(process)
            await process.aclose()
    tail = stderr.tail.decode("utf-8", errors="replace")
    return CommandResult(exit_code, stdout.text(), stderr.text(), tail)


async def _start(
    argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str], has_input: bool
) -> anyio.abc.Process:
    try:
        return await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE if has_input else subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,  # its own process group, so that all of it can be killed
        )
    except FileNotFoundError as exc:
        if cwd is not None and exc.filename == cwd:
            raise StepFailed(f"working directory {cwd!r} does not exist") from exc
        raise StepFailed(f"executable {argv[0]!r} not found") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StepFailed(f"cannot start {argv[0]!r}: {reason}") from exc


async def _communicate(
    process: anyio.abc.Process, input_text: str | None, stdout: _Capture, stderr: _Capture
) -> int:
    async with anyio.create_task_group() as tg:
        if process.stdout is not None:
            tg.start_soon(_drain, process.stdout, stdout)
        if process.stderr is not None:
            tg.start_soon(_drain, process.stderr, stderr)
        if process.stdin is not None:
            tg.start_soon(_feed, process.stdin, input_text or "")
    return await process.wait()


async def _drain(stream: anyio.abc.ByteReceiveStream, capture: _Capture) -> None:
    # Keep reading past the limit: a child blocked on a full pipe would never exit.
    async for chunk in stream:
        capture.feed(chunk)


async def _feed(stream: anyio.abc.ByteSendStream, text: str) -> None:
    try:
        async with stream:
            await stream.send(text.encode())
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass  # the command exited or closed stdin without reading it all: not an error


async def _terminate_group(process: anyio.abc.Process) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    with anyio.move_on_after(KILL_GRACE_SECONDS):
        await process.wait()
    # Always follow up: grandchildren may ignore SIGTERM after the leader has exited.
    # The group id cannot be reused while any member is alive, so this hits only ours.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has gone
        os.killpg(pgid, signum)
