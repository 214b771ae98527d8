"""Python integration: the seed's hooks, writing to the same store as every other surface.

A plain Python process (a script, a notebook, a test run) takes part without an MCP
client: `relay.emit_event(...)`, `relay.notify_process_started|completed|failed(...)`
and the `@relay.with_workflow_notifications` decorator for sync and async functions.
Each call opens the store named by the RELAY_* settings, appends, and closes it.
"""

import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

import anyio

from relay.bootstrap import open_relay
from relay.config import Settings
from relay.model.events import Event

P = ParamSpec("P")
R = TypeVar("R")


class ProcessSource(StrEnum):
    """The seed's participants; any other string is accepted as a source too."""

    CLAUDE_CODE = "claude_code"
    PYCHARM = "pycharm"
    MCP_SERVER = "mcp_server"
    WEB_CHAT = "web_chat"
    API = "api"
    WORKFLOW_ENGINE = "workflow_engine"


Source = ProcessSource | str | None


async def aemit_event(
    type: str,  # noqa: A002 - the seed's signature
    data: dict[str, Any] | None = None,
    *,
    source: Source = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
) -> Event:
    """`emit_event` for async code."""
    settings = Settings()
    participant = str(source) if source else (settings.participant or "python")
    async with open_relay(settings, participant=participant) as relay:
        result = await relay.emit(
            type,
            data,
            source=participant,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
    return result.event


def emit_event(
    type: str,  # noqa: A002 - the seed's signature
    data: dict[str, Any] | None = None,
    *,
    source: Source = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
) -> Event:
    """Append an event to relay's shared log; workflows waiting for it resume."""
    return _blocking(
        aemit_event(
            type,
            data,
            source=source,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
    )


def _blocking(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(lambda: coro)
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((anyio.run(lambda: coro), None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box.append((None, exc))

    thread = threading.Thread(target=target, name="relay-hook")
    thread.start()
    thread.join()
    result, error = box[0]
    if error is not None:
        raise error
    return result  # type: ignore[no-any-return]


def notify_process_started(
    process_id: str, process_name: str, source: Source, metadata: dict[str, Any] | None = None
) -> Event:
    """Emit `process_started` for a process of yours (correlated by `process_id`)."""
    data = {"process_id": process_id, "process_name": process_name, "metadata": metadata or {}}
    return emit_event("process_started", data, source=source, correlation_id=process_id)


def notify_process_completed(
    process_id: str,
    process_name: str,
    source: Source,
    results: dict[str, Any] | None = None,
    next_steps: list[str] | None = None,
) -> Event:
    """Emit `process_complete`: the event the seed's cross-chat workflows wait for."""
    data = {
        "process_id": process_id,
        "process_name": process_name,
        "results": results or {},
        "next_steps": next_steps or [],
    }
    return emit_event("process_complete", data, source=source, correlation_id=process_id)


def notify_process_failed(
    process_id: str,
    process_name: str,
    source: Source,
    error: str,
    metadata: dict[str, Any] | None = None,
) -> Event:
    """Emit `process_failed` with the error."""
    data = {
        "process_id": process_id,
        "process_name": process_name,
        "error": error,
        "metadata": metadata or {},
    }
    return emit_event("process_failed", data, source=source, correlation_id=process_id)


def _results(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"result": repr(value)[:2000]}


def with_workflow_notifications(
    process_name: str,
    source: Source = None,
    notify_slack: bool = True,
    emit_events: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Emit process_started, then process_complete or process_failed, around a call.

    Works on sync and async functions. `notify_slack` is accepted for the seed's
    signature; Slack delivery follows the store's notification settings.
    """
    del notify_slack

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):
            return _async_wrapper(func, process_name, source, emit_events)
        return _sync_wrapper(func, process_name, source, emit_events)

    return decorate


def _sync_wrapper(func: Callable[P, R], name: str, source: Source, emit: bool) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        process_id = str(uuid.uuid4())
        if emit:
            notify_process_started(process_id, name, source)
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            if emit:
                notify_process_failed(process_id, name, source, f"{type(exc).__name__}: {exc}")
            raise
        if emit:
            notify_process_completed(process_id, name, source, _results(result))
        return result

    return wrapper


def _async_wrapper(
    func: Callable[P, Any], name: str, source: Source, emit: bool
) -> Callable[P, Any]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        process_id = str(uuid.uuid4())
        started = {"process_id": process_id, "process_name": name, "metadata": {}}
        if emit:
            await aemit_event("process_started", started, source=source, correlation_id=process_id)
        try:
            result = await func(*args, **kwargs)
        except Exception as exc:
            if emit:
                failed = {**started, "error": f"{type(exc).__name__}: {exc}"}
                await aemit_event(
                    "process_failed", failed, source=source, correlation_id=process_id
                )
            raise
        if emit:
            done = {
                "process_id": process_id,
                "process_name": name,
                "results": _results(result),
                "next_steps": [],
            }
            await aemit_event("process_complete", done, source=source, correlation_id=process_id)
        return result

    return wrapper
