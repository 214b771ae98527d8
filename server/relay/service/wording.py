"""What relay tells people, as opposed to models: the `relay ...` command that unblocks
a waiting run, durations and times with their zone. The CLI and the dashboard word
their pages with these; MCP results name tool calls instead (`next` in views.py).

The facts of a wait (which event, from whom, with what data) are derived here once, so
that a command printed for a shell is one that, pasted, does what it says.
"""

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from relay.model.run import WaitKind

# The approval channel of `relay approve` (an approval's `channels` may leave it out).
SHELL_CHANNEL = "cli"

# The parts of an event that `relay emit` sets, by the name a `match` gives them.
_EMIT_FLAGS = {
    "source": "--source",
    "correlation_id": "--correlation-id",
    "idempotency_key": "--idempotency-key",
}


@dataclass(frozen=True)
class AwaitedEvent:
    """The event a waiting step accepts, as `relay emit` (or `emit_event`) would send it."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # source, correlation_id...
    unsettable: tuple[str, ...] = ()  # match paths no emitted event can carry (seq, id)

    def emit_call(self) -> str:
        """The `emit_event(...)` tool call that sends it (MCP's syntax, for MCP results)."""
        fields = "".join(f", {name}={json.dumps(value)}" for name, value in self.fields.items())
        return f"emit_event(type={json.dumps(self.type)}{fields}, data={json.dumps(self.data)})"

    def emit_command(self) -> str | None:
        """The shell command that emits it; None when no emitted event can match."""
        if self.unsettable:
            return None
        words = ["relay", "emit", self.type]
        if self.data:
            words += ["--data", json.dumps(self.data)]
        for name, value in self.fields.items():
            words += [_EMIT_FLAGS[name], value]
        return shlex.join(words)


def awaited_event(detail: Mapping[str, Any]) -> AwaitedEvent:
    """What an event wait's `detail` (`{"type": ..., "match": {path: value}}`) accepts:
    `data.a.b: 1` becomes data `{"a": {"b": 1}}`; `source` and the like, their flags."""
    data: dict[str, Any] = {}
    fields: dict[str, str] = {}
    unsettable: list[str] = []
    match: Mapping[str, Any] = detail.get("match") or {}
    whole = match.get("data")
    if isinstance(whole, dict):
        data.update(whole)
    for path, value in match.items():
        head, _, rest = path.partition(".")
        if head == "data" and rest:
            _put(data, rest.split("."), value)
        elif path in _EMIT_FLAGS and isinstance(value, str) and value:
            fields[path] = value
        elif not (path == "data" and isinstance(whole, dict)):
            unsettable.append(path)
    return AwaitedEvent(str(detail.get("type")), data, fields, tuple(unsettable))


def _put(target: dict[str, Any], keys: Sequence[str], value: Any) -> None:
    for key in keys[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target[keys[-1]] = value


def approve_command(run_id: str, step: str, approvers: Sequence[str] = ()) -> str:
    """`relay approve RUN --step STEP`, deciding as the first approver when only some
    participants may decide."""
    words = ["relay", "approve", run_id, "--step", step]
    if approvers:
        words += ["--as", approvers[0]]
    return shlex.join(words)


def complete_command(task_id: str) -> str:
    """`relay complete TASK --result '{}'`: a result to fill in that works as it is."""
    return shlex.join(["relay", "complete", task_id, "--result", "{}"])


def decidable_through(detail: Mapping[str, Any], channel: str) -> bool:
    """Whether an approval wait may be decided through `channel` (cli, dashboard...)."""
    channels = detail.get("channels") or ()
    return not channels or channel in channels


def unblock_command(run_id: str, waiting: Mapping[str, Any]) -> str | None:
    """The `relay ...` command, for a shell, that gives a waiting run what it waits for:
    None for a timer (it goes on by itself) and for a wait no command can satisfy."""
    kind, detail, step = waiting["kind"], waiting["detail"], waiting["step"]
    if kind == WaitKind.APPROVAL.value:
        if not decidable_through(detail, SHELL_CHANNEL):
            return None
        return approve_command(run_id, step, detail.get("approvers") or ())
    if kind == WaitKind.EVENT.value:
        return awaited_event(detail).emit_command()
    if kind == WaitKind.TASK.value:
        return complete_command(str(detail.get("task_id")))
    if kind == WaitKind.RUN.value:
        return shlex.join(["relay", "status", str(detail.get("run_id")), "--wait", "60"])
    return None


def seconds_text(seconds: float | None) -> str:
    """A duration for people: 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min."""
    if seconds is None:
        return "\u2013"  # an en dash: no figure
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def time_text(
    value: datetime | str | None,
    zone: tzinfo | None = None,
    *,
    with_date: bool = True,
    missing: str = "\u2013",
) -> str:
    """An aware time (or its ISO text) to the second, in `zone` (default: this machine's),
    with the zone's name: `2026-11-25 21:30:05 CET`; `missing` for none."""
    if not value:
        return missing
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    shown = moment.astimezone(zone)
    text = shown.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    return f"{text} {shown.tzname() or shown.strftime('%z')}"
