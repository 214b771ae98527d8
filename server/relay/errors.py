"""Every error relay raises on purpose, in one tree.

```
RelayError                       base; the class docstring is the default message
├── ConfigError                  bad settings, unsupported database URL, bad plugin
├── UsageError                   bad arguments from a caller (CLI flag, tool argument, input)
│   └── RequestTooLarge          an HTTP request body over its limit
├── WorkflowError
│   ├── InvalidWorkflow          a definition that does not load (carries its problems)
│   ├── WorkflowNotFound
│   ├── ExpressionError          a `${{ }}` expression that fails to parse or evaluate
│   ├── MissingEnvironmentVariable   `${VAR}` in a workflow file, VAR unset
│   └── ParamsError              a step's params, once rendered, do not fit its action
├── RunError
│   ├── RunNotFound
│   ├── TaskNotFound
│   ├── InvalidTransition        e.g. approving a run that waits for no approval
│   └── StepFailed               an action's failure, as recorded on its step
│       └── StepTimedOut
├── StoreError                   driver error kept on __cause__ (one of no class below: a bug)
│   ├── StoreUnavailable         the database cannot be reached or stays locked; retryable
│   │   ├── UnsureCommit         the connection broke during COMMIT: it may have landed
│   │   └── ConnectionBroke      the connection broke before COMMIT: safe to run again
│   ├── ConflictError            lost an optimistic-lock race or a unique constraint
│   │   ├── FenceRefused         a lease holder's save was refused (the store says why)
│   │   └── BatchRefused         a save of a group commit was: each goes again alone
│   └── LeaseLost                another process took over a run this process held
└── NotifierError                a notification could not be sent; never fails a run
    └── DeliveryFailed           a destination did not take a message (method, code, status)
        ├── DeliveryTransient    down, slow, unreachable: the same message may go later
        │   └── RateLimited      wait `retry_after_seconds`, then try again
        ├── CredentialsRefused   the token or key was refused: pause, keep the messages
        ├── DestinationRefused   the channel cannot take messages (missing, archived)
        ├── DestinationNotConfigured   this process has no settings for it: leave it
        └── MessageRefused       this message cannot be sent as it is
            ├── ContentRejected  too long, invalid blocks: try once as plain text
            └── TargetGone       the message to edit or reply to is gone: post anew
```

Slack's codes and Apprise's failures map onto the delivery classes (`relay.notify.errors`);
no class is a Slack one.

Adapters (CLI, MCP, HTTP) map these to exit codes, tool errors and statuses in one
table each, walking the MRO so that the most specific class wins.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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


class RequestTooLarge(UsageError):
    """The request's body is larger than this route takes."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"the request body is over {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


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


class MissingEnvironmentVariable(WorkflowError):
    """A `${VAR}` in a workflow file names a variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )
        self.name = name


class ParamsError(WorkflowError):
    """A step's params are invalid once rendered; retrying would not help."""


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


class ConnectionBroke(StoreUnavailable):
    """The connection broke before COMMIT: the transaction may safely run again."""


class ConflictError(StoreError):
    """Another writer changed the same record first."""


class FenceRefused(ConflictError):
    """A lease holder's save was refused by its fence: the lease or the run's signal moved.

    The store turns it into LeaseLost, ConflictError or RunNotFound before a caller sees it.
    """


class BatchRefused(ConflictError):
    """One save of a group commit was refused by its fence: the batch rolled back, and
    each of its saves goes again on its own (and learns its own outcome)."""


class LeaseLost(StoreError):
    """Another process now holds this run's lease."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"lost the lease on run {run_id!r} to another process")
        self.run_id = run_id


class NotifierError(RelayError):
    """A notification could not be delivered."""


class DeliveryFailed(NotifierError):
    """A destination did not accept the request. Messages name the method and the
    destination's code, never a token or a URL."""

    def __init__(
        self,
        message: str | None = None,
        *,
        method: str = "",
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class DeliveryTransient(DeliveryFailed):
    """The destination is unavailable or slow; the same request may succeed later."""

    def __init__(
        self, message: str | None = None, *, may_have_committed: bool = False, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        # True when the destination may have acted before the failure (a read timeout, a
        # dropped connection): a retry can then duplicate the message, never lose it.
        self.may_have_committed = may_have_committed


class RateLimited(DeliveryTransient):
    """The destination rate-limits relay; wait `retry_after_seconds` before the next call."""

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: float, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after_seconds = retry_after_seconds


class CredentialsRefused(DeliveryFailed):
    """The destination refused the credentials; pause delivery until they are fixed."""


class DestinationRefused(DeliveryFailed):
    """The destination cannot receive messages (missing, archived, not joined)."""


class DestinationNotConfigured(DeliveryFailed):
    """This process has no settings for the destination; a process that has them
    delivers it."""


class MessageRefused(DeliveryFailed):
    """The destination rejected this request as malformed."""


class ContentRejected(MessageRefused):
    """The destination rejected the message's content (too long, invalid blocks)."""


class TargetGone(MessageRefused):
    """The message to update or reply to cannot be used."""
