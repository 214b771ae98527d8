"""Following a run: where a wait stops, and the progress it reports meanwhile.

A caller that waits on a run (`get_status(wait_seconds)`, `start_workflow(wait_seconds)`,
a decision that waits for the engine to act on it) returns once the run is *settled*:
finished, or blocked on something that a participant must supply (an approval, an
event, a task; or a child run that is itself blocked). A timer (a `delay` step, a
retry's backoff) is not settled: the run goes on by itself. The transitions in between
are reported as progress, whose value strictly increases for the whole wait.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from relay.model.run import Run, StepStatus, WaitKind
from relay.service.views import waiting_for

# What a participant must supply: a wait on one of these stops until someone acts.
BLOCKING_KINDS = frozenset({WaitKind.APPROVAL.value, WaitKind.EVENT.value, WaitKind.TASK.value})

# A child run is followed down at most this far (run_workflow chains).
CHILD_DEPTH = 8

# A decision (an approval, a task's result, an event) reports the state of the run it
# moved on, waiting at most this long for the engine to act on it.
FOLLOW_DECISION_SECONDS = 2.0
# An event reports the state of at most this many of the runs it resumed.
FOLLOW_RESUMED_RUNS = 10

# A decided gate or a completed task that no engine has acted on yet.
NOT_PICKED_UP = (
    "the decision is recorded; the run goes on as soon as a relay process (relay serve or "
    "relay worker) picks it up"
)
NO_PROCESS = "; none is running now (start one, e.g. `relay worker`)"

Progress = Callable[[float, float | None, str], Awaitable[None]]


def is_blocked(run: Run) -> bool:
    """Waiting for an approval, an event or a task (not a timer, not a child run)."""
    waiting = waiting_for(run)
    return waiting is not None and waiting["kind"] in BLOCKING_KINDS


def child_waited_on(run: Run) -> str | None:
    """The id of the child run this run waits for, when that is all it waits for."""
    waiting = waiting_for(run)
    if waiting is None or waiting["kind"] != WaitKind.RUN.value:
        return None
    child: str | None = waiting["detail"].get("run_id")
    return child


def waits_at(run: Run, step_id: str) -> bool:
    """`step_id` still waits (e.g. a gate decided a moment ago, not yet acted on)."""
    return any(s.id == step_id and s.status is StepStatus.WAITING for s in run.steps)


def moment(run: Run) -> tuple[object, ...]:
    """What a person following the run would call its state: a change of any part of it
    (a retry's error between two looks included) is a transition worth showing."""
    return (
        run.status,
        tuple((s.id, s.status, s.attempts, s.error) for s in run.steps),
        str(waiting_for(run)),
    )


def changed_from(run: Run) -> Callable[[Run], bool]:
    """A `wait_run` condition for live displays: the run ended, or moved at all."""
    then = moment(run)
    return lambda now: now.status.is_final or moment(now) != then


def progress_message(run: Run) -> str:
    """`running: 2/5 steps done (build running)`."""
    done = sum(s.status.is_final for s in run.steps)
    active = [s.id for s in run.steps if s.status in (StepStatus.RUNNING, StepStatus.WAITING)]
    waiting = waiting_for(run)
    status = "waiting" if waiting is not None and not run.status.is_final else run.status.value
    text = f"{status}: {done}/{len(run.steps)} steps done"
    if waiting is not None:
        return f"{text} (waiting for {waiting['kind']} at {waiting['step']})"
    return f"{text} ({', '.join(active)} running)" if active else text


@dataclass
class ProgressClock:
    """Progress values that strictly increase, as MCP requires for one progress token.

    The value is the number of steps done; the transitions between two step ends add a
    fraction that grows towards the next whole number without reaching it (1/2, 2/3,
    3/4...), so the value still reads as "steps done" against the total.
    """

    last: float = -1.0
    _done: int = -1
    _between: int = 0

    def tick(self, done: int) -> float:
        if done > self._done and done > self.last:
            self._done, self._between = done, 0
            self.last = float(done)
            return self.last
        self._between += 1
        base = max(self._done, int(self.last))
        value = base + self._between / (self._between + 1)
        self.last = max(value, self.last + 1e-9)
        return self.last


@dataclass
class RunProgress:
    """Reports a followed run's transitions (once each) through `report`."""

    report: Progress | None
    clock: ProgressClock = field(default_factory=ProgressClock)
    seen: tuple[object, ...] | None = None

    async def show(self, run: Run) -> None:
        now = moment(run)
        if self.report is None or now == self.seen:
            return
        self.seen = now
        done = sum(s.status.is_final for s in run.steps)
        await self.report(self.clock.tick(done), float(len(run.steps)), progress_message(run))
