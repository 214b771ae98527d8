"""The live display of a run that `relay run` and `relay resume` watch.

On a terminal, a small block (the run, one line per step, what it waits for) is redrawn
in place with ANSI escapes; elsewhere (a pipe, a CI log) each change is printed once as a
timestamped line. With `--json` nothing is shown until the final document.
"""

import shutil
import sys
from datetime import UTC, datetime
from typing import Protocol, TextIO

from relay.cli.output import local_time
from relay.cli.run_text import hint_lines, step_lines, step_state, symbols_for
from relay.model.run import Run, RunStatus, StepStatus

CURSOR_UP = "\x1b[{n}A\r"
CLEAR_LINE = "\x1b[2K"
CLEAR_BELOW = "\x1b[J"


class Progress(Protocol):
    def show(self, run: Run) -> None: ...


class QuietProgress:
    """Shows nothing (for `--json`)."""

    def show(self, run: Run) -> None:
        pass


class LineProgress:
    """One timestamped line per change of the run or of a step; each hint once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.status: RunStatus | None = None
        self.states: dict[str, str] = {}
        self.hints: set[str] = set()

    def show(self, run: Run) -> None:
        for step in run.steps:
            state = step_state(step)
            if self.states.get(step.id, StepStatus.PENDING.value) != state:
                self._line(f"step {step.id}: {state}")
            self.states[step.id] = state
        if run.status != self.status:
            self.status = run.status
            self._line(f"run {run.id} ({run.workflow}): {run.status.value}")
        for hint in hint_lines(run):
            if hint not in self.hints:
                self.hints.add(hint)
                self._line(hint)

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


def progress_for(quiet: bool, stream: TextIO | None = None) -> Progress:
    """The display that suits the output: none, a live block, or plain lines."""
    out = stream or sys.stdout
    if quiet:
        return QuietProgress()
    if out.isatty():
        return TerminalProgress(out)
    return LineProgress(out)
