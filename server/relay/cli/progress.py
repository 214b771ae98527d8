"""The live display of a run that `relay run` and `relay resume` watch.

On a terminal, a small block (the run, one line per step, what it waits for) is redrawn
in place with ANSI escapes; elsewhere (a pipe, a CI log) each change is printed once as a
timestamped line. With `--json` stdout holds only the final document, and each wait
(with the command that ends it) is said on stderr.
"""

import shutil
import sys
from datetime import UTC, datetime
from typing import Protocol, TextIO

from relay.cli.output import local_time, note
from relay.cli.run_text import (
    failed_attempt,
    hint_lines,
    retry_text,
    step_lines,
    step_state,
    symbols_for,
)
from relay.model.run import Run, RunStatus, StepStatus

CURSOR_UP = "\x1b[{n}A\r"
CLEAR_LINE = "\x1b[2K"
CLEAR_BELOW = "\x1b[J"


class Progress(Protocol):
    def show(self, run: Run) -> None: ...


class WaitNotes:
    """For `--json`, whose stdout holds only the final document: each wait, and the
    command that ends it, said once on stderr."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def show(self, run: Run) -> None:
        for hint in hint_lines(run):
            if hint not in self.said:
                self.said.add(hint)
                note(f"run {run.id}: {hint.strip()}")


class LineProgress:
    """One timestamped line per change of the run or of a step; each hint once; a failed
    attempt's error before its retry."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.status: RunStatus | None = None
        self.states: dict[str, str] = {}
        self.hints: set[str] = set()
        self.failures: set[tuple[str, int]] = set()  # (step, attempt) whose error was said

    def show(self, run: Run) -> None:
        for step in run.steps:
            failure = failed_attempt(step)
            if failure is not None and (step.id, failure[0]) not in self.failures:
                # Said even when the retry began before this look: its error stays known.
                self.failures.add((step.id, failure[0]))
                self._step(step.id, retry_text(*failure))
            self._step(step.id, step_state(step))
        if run.status != self.status:
            self.status = run.status
            self._line(f"run {run.id} ({run.workflow}): {run.status.value}")
        for hint in hint_lines(run):
            if hint not in self.hints:
                self.hints.add(hint)
                self._line(hint)

    def _step(self, step_id: str, state: str) -> None:
        if self.states.get(step_id, StepStatus.PENDING.value) != state:
            self._line(f"step {step_id}: {state}")
        self.states[step_id] = state

    def _line(self, text: str) -> None:
        stamp = local_time(datetime.now(UTC), with_date=False)
        self.stream.write(f"[{stamp}] {text}\n")
        self.stream.flush()


class TerminalProgress:
    """A block of lines redrawn in place: the run, its steps, what it waits for."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.symbols = symbols_for(stream)
        self.drawn = 0

    def show(self, run: Run) -> None:
        took = (datetime.now(UTC) - run.created_at).total_seconds()
        if run.status.is_final:
            took = (run.updated_at - run.created_at).total_seconds()
        self._draw(
            [
                f"run {run.id} ({run.workflow}): {run.status.value}  {took:.0f}s",
                *step_lines(run, self.symbols),
                *hint_lines(run),
            ]
        )

    def _draw(self, lines: list[str]) -> None:
        # Lines longer than the terminal would wrap and break the cursor arithmetic.
        width = max(20, shutil.get_terminal_size().columns - 1)
        parts = [CURSOR_UP.format(n=self.drawn)] if self.drawn else []
        parts += [f"{CLEAR_LINE}{line[:width]}\n" for line in lines]
        parts.append(CLEAR_BELOW)
        self.stream.write("".join(parts))
        self.stream.flush()
        self.drawn = len(lines)


def progress_for(as_json: bool, stream: TextIO | None = None) -> Progress:
    """The display that suits the output: notes of waits, a live block, or plain lines."""
    out = stream or sys.stdout
    if as_json:
        return WaitNotes()
    if out.isatty():
        return TerminalProgress(out)
    return LineProgress(out)
