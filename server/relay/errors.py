"""Every error relay raises on purpose, in one tree.

```
RelayError                     base; the class docstring is the default message
├── ConfigError                bad settings, unsupported database URL, bad plugin
├── UsageError                 bad arguments from a caller (CLI flag, tool argument, input value)
├── WorkflowError
│   ├── InvalidWorkflow        a definition that does not load (carries its problems)
│   ├── WorkflowNotFound
│   └── ExpressionError        a `${{ }}` expression that fails to parse or evaluate
├── RunError
│   ├── RunNotFound
│   ├── TaskNotFound
│   ├── InvalidTransition      e.g. approving a run that waits for no approval
│   └── StepFailed             an action's failure, as recorded on its step
│       └── StepTimedOut
├── StoreError                 driver error kept on __cause__ (one of no class below: a bug)
│   ├── StoreUnavailable       the database cannot be reached or stays locked; retryable
│   │   └── UnsureCommit       the connection broke during COMMIT: it may have landed
│   ├── ConflictError          lost an optimistic-lock race or a unique constraint
│   │   └── FenceRefused       a lease holder's save was refused (the store says why)
│   └── LeaseLost              another process took over a run this process held
└── NotifierError              a notification could not be sent; never fails a run
```

Adapters (CLI, MCP, HTTP) map these to exit codes, tool errors and statuses in one
table each, walking the MRO so that the most specific class wins.
"""

from collections.abc import Sequence
from dataclasses import dataclass


class RelayError(Exception):
    """relay failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(RelayError):
    """relay's configuration is invalid."""


class UsageError(RelayError):
    """The request was malformed."""


class WorkflowError(RelayError):
    """The workflow definition is invalid."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow definition, located in its source."""

    path: str
    line: int | None
    column: int | None
    message: str
    step: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "step": self.step,
            "field": self.field,
        }


class InvalidWorkflow(WorkflowError):
    """The workflow definition does not load."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems] or ["invalid workflow"]
        super().__init__("\n".join(lines))


class WorkflowNotFound(WorkflowError):
    """No workflow has that id."""

    def __init__(self, workflow: str, known: Sequence[str] = (), *, searched: str = "") -> None:
        hint = f"; known workflows: {', '.join(sorted(known))}" if known else ""
        if searched:
            hint += f" (looked in {searched})" if known else f" in {searched}"
        super().__init__(f"no workflow {workflow!r}{hint}")
        self.workflow = workflow


class ExpressionError(WorkflowError):
    """An expression could not be evaluated."""

    def __init__(self, expression: str, reason: str, *, step: str | None = None) -> None:
        where = f"step {step!r}: " if step else ""
        super().__init__(f"{where}expression ${{{{ {expression} }}}}: {reason}")
        self.expression = expression
        self.reason = reason
        self.step = step


class RunError(RelayError):
    """The run cannot do that."""


class RunNotFound(RunError):
    """No run has that id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class TaskNotFound(RunError):
    """No task has that id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class InvalidTransition(RunError):
    """The run is not in a state that allows this."""


class StepFailed(RunError):
    """A step failed."""

    def __init__(self, message: str, *, output: object = None) -> None:
        super().__init__(message)
        self.output = output


class StepTimedOut(StepFailed):
    """A step ran past its timeout."""


class StoreError(RelayError):
    """The store failed."""


class StoreUnavailable(StoreError):
    """The store is unavailable; try again shortly."""


class UnsureCommit(StoreUnavailable):
    """The connection broke during COMMIT: the transaction may or may not have landed."""


class ConflictError(StoreError):
    """Another writer changed the same record first."""


class FenceRefused(ConflictError):
    """A lease holder's save was refused by its fence: the lease or the run's signal moved.

    The store turns it into LeaseLost, ConflictError or RunNotFound before a caller sees it.
    """


class LeaseLost(StoreError):
    """Another process now holds this run's lease."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"lost the lease on run {run_id!r} to another process")
        self.run_id = run_id


class NotifierError(RelayError):
    """A notification could not be delivered."""
