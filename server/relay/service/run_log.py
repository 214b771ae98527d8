"""A run's history as log lines: what happened, at what level, for people who follow it.

The lines come from the run's append-only history, so they are the same whichever
process drove the run: the `log` action's messages (and any action's `ctx.log`), step
failures and retries, waits, and the run's end. MCP clients receive them as log messages.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relay.model.run import HistoryEntry

# MCP's log levels (RFC 5424), lowest first.
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


@dataclass(frozen=True)
class RunLogLine:
    level: str
    run_id: str
    step: str | None
    message: str

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run_id": self.run_id, "message": self.message}
        if self.step is not None:
            data["step"] = self.step
        return data


def at_least(level: str, threshold: str) -> bool:
    """`level` is `threshold` or more severe (unknown levels count as info)."""
    return _rank(level) >= _rank(threshold)


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 1


def log_lines(entries: list[HistoryEntry]) -> list[RunLogLine]:
    """The log lines that history entries make, in order."""
    lines: list[RunLogLine] = []
    for entry in entries:
        lines += _written(entry)
        said = _said(entry)
        if said is not None:
            lines.append(RunLogLine(said[0], entry.run_id, entry.step_id, said[1]))
    return lines


def _written(entry: HistoryEntry) -> list[RunLogLine]:
    """What the step's action logged during the attempt this entry ends."""
    return [
        RunLogLine(str(line.get("level", "info")), entry.run_id, entry.step_id, line["message"])
        for line in entry.data.get("log", ())
        if isinstance(line, dict) and "message" in line
    ]


def _retrying(data: dict[str, Any], step: str | None) -> str:
    delay = data.get("delay_seconds", 0)
    return (
        f"step {step} attempt {data.get('attempt')} failed: {data.get('error')}; "
        f"trying again in {delay:.3g} s"
    )


# What each kind of history entry says, and at which level.
SAYS: dict[str, tuple[str, Callable[[dict[str, Any], str | None], str]]] = {
    "run.started": ("info", lambda d, s: f"run started by {d.get('by')}"),
    "step.started": ("debug", lambda d, s: f"step {s} started (attempt {d.get('attempt')})"),
    "step.completed": ("debug", lambda d, s: f"step {s} completed"),
    "step.retrying": ("warning", _retrying),
    "step.failed": ("error", lambda d, s: f"step {s} failed: {d.get('error')}"),
    "step.waiting": ("info", lambda d, s: f"step {s} waits for {d.get('kind')}"),
    "step.skipped": ("info", lambda d, s: f"step {s} skipped: {d.get('reason')}"),
    "run.completed": ("info", lambda d, s: "run completed"),
    "run.failed": ("error", lambda d, s: f"run failed: {d.get('error')}"),
    "run.cancelled": ("warning", lambda d, s: f"run cancelled: {d.get('error')}"),
}


def _said(entry: HistoryEntry) -> tuple[str, str] | None:
    says = SAYS.get(entry.kind)
    if says is None:
        return None
    level, text = says
    return level, text(entry.data, entry.step_id)
