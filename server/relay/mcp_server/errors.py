"""relay's errors as MCP errors: the MCP surface's one mapping table.

In a tool, a `RelayError` becomes a `ToolError` (an `isError` result whose text reaches
the model) saying what was wrong and what to do next; in a resource, a
`ResourceNotFoundError` (unknown id) or a `ResourceError`; in a prompt, an invalid-params
protocol error (the SDK would replace any other prompt error's message with its own).
Anything else is a bug: it is left to the SDK, which hides its message and logs the
traceback, so no stack trace or internal detail ever reaches a client.
"""

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from relay.errors import (
    ConflictError,
    InvalidWorkflow,
    RelayError,
    RunNotFound,
    StoreUnavailable,
    TaskNotFound,
    WorkflowError,
    WorkflowNotFound,
)

P = ParamSpec("P")
R = TypeVar("R")


def _invalid_workflow(exc: RelayError) -> str:
    problems = exc.problems if isinstance(exc, InvalidWorkflow) else ()
    lines = "\n".join(f"- {p}" for p in problems) or f"- {exc}"
    return (
        f"the workflow definition is invalid:\n{lines}\n"
        "Fix these and check again with validate_workflow(definition=...)."
    )


def _workflow_not_found(exc: RelayError) -> str:
    return f"{exc}. list_workflows shows every workflow and the files that failed to load."


# The most specific class wins (the MRO is walked); each entry says what to do next.
HINTS: dict[type[RelayError], Callable[[RelayError], str]] = {
    RunNotFound: lambda e: f"{e}; list_runs shows recent runs and their ids",
    TaskNotFound: lambda e: (
        f"{e}; list_tasks shows your open tasks (participant='*', status='all' shows everyone's)"
    ),
    WorkflowNotFound: _workflow_not_found,
    InvalidWorkflow: _invalid_workflow,
    ConflictError: lambda e: f"{e}; read the current state (get_status) and try again",
    StoreUnavailable: lambda e: f"{e} (the database is busy or unreachable); retry shortly",
}


def tool_message(exc: RelayError) -> str:
    """What the model reads for `exc`."""
    for cls in type(exc).__mro__:
        hint = HINTS.get(cls)
        if hint is not None:
            return hint(exc)
    return str(exc)


@contextmanager
def as_tool_errors() -> Iterator[None]:
    """Turn a `RelayError` raised inside into a `ToolError`."""
    try:
        yield
    except RelayError as exc:
        raise ToolError(tool_message(exc)) from exc


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate a tool (or resolver): its `RelayError`s become `ToolError`s."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with as_tool_errors():
            return await fn(*args, **kwargs)

    return wrapper


@contextmanager
def as_resource_errors() -> Iterator[None]:
    """Turn a `RelayError` raised inside into the matching resource error."""
    try:
        yield
    except (RunNotFound, TaskNotFound, WorkflowNotFound) as exc:
        raise ResourceNotFoundError(tool_message(exc)) from exc
    except WorkflowError as exc:
        raise ResourceError(tool_message(exc)) from exc
    except RelayError as exc:
        raise ResourceError(str(exc)) from exc


@contextmanager
def as_prompt_errors() -> Iterator[None]:
    """Turn a `RelayError` raised inside into an invalid-params error that keeps its text."""
    try:
        yield
    except RelayError as exc:
        raise MCPError(INVALID_PARAMS, tool_message(exc)) from exc
