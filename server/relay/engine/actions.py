"""Actions: what a step's `action:` names, and where relay finds them.

An action is an async callable `(params, ctx) -> output` with a pydantic model of its
params, so bad params fail when a definition loads. Built-ins register themselves here;
users add theirs with `@relay.action("name")` in a module that `RELAY_PLUGINS` names or
that the `relay.actions` entry-point group exposes. Waiting actions (approval, delay,
wait_for_event, handoff, run_workflow) have no callable: the engine parks the run.
"""

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, create_model

from relay.errors import ConfigError
from relay.model.events import Event, NewEvent
from relay.model.notification import NewNotification

ActionKind = Literal["plain", "waiting"]


@dataclass(frozen=True)
class LogLine:
    """A line an action logged for its run's history (see `ActionContext.log`)."""

    level: str
    message: str


@dataclass(frozen=True)
class ActionContext:
    """What an action may know about the step it runs for."""

    run_id: str
    workflow: str
    step_id: str
    attempt: int
    idempotency_key: str  # run_id/step_id: stable across retries and restarts
    cwd: str | None
    env: Mapping[str, str]  # the process environment plus the workflow's `env:`
    participant: str
    emit: Callable[[NewEvent], Awaitable[Event]]
    # Notifications to commit with the step's completion (the `notify` action's).
    outbox: list[NewNotification] = field(default_factory=list)
    # Log lines for the run's history (and MCP clients' logs), committed with the attempt.
    lines: list[LogLine] = field(default_factory=list)

    def log(self, message: str, level: str = "info") -> None:
        """Record a line in the run's history with this attempt's end: MCP clients that
        follow the run receive it as a log message at `level` (debug, info, warning, error)."""
        self.lines.append(LogLine(level, message))


ActionFunc = Callable[[Any, ActionContext], Awaitable[Any]]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    params_model: type[BaseModel]
    func: ActionFunc | None = None  # None for waiting actions, which the engine handles
    kind: ActionKind = "plain"
    description: str = ""
    runs_code: bool = False  # shell/python: refused in inline definitions unless allowed
    # Whether a step's (unrendered) params make it run code here (mcp_call with `command`).
    runs_code_when: Callable[[Mapping[str, Any]], bool] | None = None

    def runs_code_with(self, params: Mapping[str, Any]) -> bool:
        return self.runs_code or (self.runs_code_when is not None and self.runs_code_when(params))


_registered: dict[str, ActionSpec] = {}


@dataclass
class ActionRegistry:
    """The actions one process can run; it is also the loader's `ActionCatalog`."""

    specs: dict[str, ActionSpec] = field(default_factory=dict)

    def add(self, spec: ActionSpec) -> None:
        self.specs[spec.name] = spec

    def get(self, name: str) -> ActionSpec | None:
        return self.specs.get(name)

    def params_model(self, action: str) -> type[BaseModel] | None:
        spec = self.specs.get(action)
        return None if spec is None else spec.params_model

    def missing_action_hint(self, action: str) -> str:
        return (
            f"relay has no action {action!r}: define it under `actions:` in this file "
            f"(e.g. `{action}: {{uses: shell, params: {{command: ...}}}}`), or register it with "
            f'@relay.action("{action}") in a module named by RELAY_PLUGINS or exposed by the '
            "`relay.actions` entry-point group"
        )

    def names(self) -> list[str]:
        return sorted(self.specs)


def action(
    name: str, *, params: type[BaseModel] | None = None, description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as the action `name`.

    The function takes the step's params as keyword arguments (checked against its
    signature when a workflow loads), plus a `ctx: ActionContext` parameter if it wants
    one. It may be sync (run in a worker thread) or async, and returns the step's output.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        model = params or params_model_from_signature(name, func)
        _registered[name] = ActionSpec(
            name=name,
            params_model=model,
            func=_adapt(func, model),
            description=description or (inspect.getdoc(func) or "").split("\n")[0],
        )
        return func

    return register


def params_model_from_signature(name: str, func: Callable[..., Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.name == "ctx" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    config = ConfigDict(extra="allow") if _takes_kwargs(func) else ConfigDict(extra="forbid")
    model: type[BaseModel] = create_model(f"{name}_params", __config__=config, **fields)
    return model


def _takes_kwargs(func: Callable[..., Any]) -> bool:
    kinds = (p.kind for p in inspect.signature(func).parameters.values())
    return inspect.Parameter.VAR_KEYWORD in kinds


def _adapt(func: Callable[..., Any], model: type[BaseModel]) -> ActionFunc:
    wants_ctx = "ctx" in inspect.signature(func).parameters

    async def call(params: Any, ctx: ActionContext) -> Any:
        kwargs = params.model_dump() if isinstance(params, BaseModel) else dict(params)
        if isinstance(params, BaseModel) and params.model_extra:
            kwargs.update(params.model_extra)
        if wants_ctx:
            kwargs["ctx"] = ctx
        if inspect.iscoroutinefunction(func):
            return await func(**kwargs)
        return await anyio.to_thread.run_sync(lambda: func(**kwargs))

    return call


def registered_actions() -> Iterable[ActionSpec]:
    return list(_registered.values())


def _search_working_directory() -> None:
    """Put the current directory first on the import path, as `python -m` does: a
    console script such as `relay` puts its own bin/ folder there instead."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def load_plugins(modules: Iterable[str]) -> None:
    """Import RELAY_PLUGINS modules (found in the current directory first, as `python -m`
    finds them) and `relay.actions` entry points; each registers actions."""
    names = list(modules)
    if names:
        _search_working_directory()
    for module in names:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import plugin module {module!r} (RELAY_PLUGINS; looked in "
                f"{os.getcwd()} and the installed packages): {exc}"
            ) from exc
    for entry in entry_points(group="relay.actions"):
        try:
            loaded = entry.load()
        except ImportError as exc:
            raise ConfigError(
                f"cannot load entry point {entry.name!r} of relay.actions: {exc}"
            ) from exc
        if callable(loaded) and entry.name not in _registered and not isinstance(loaded, type):
            action(entry.name)(loaded)
