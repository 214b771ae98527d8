"""Python integration: the seed's hooks, writing to the same store as every other surface.

A plain Python process (a script, a notebook, a test run) takes part without an MCP
client: `relay.emit_event(...)`, `relay.notify_process_started|completed|failed(...)`
and the `@relay.with_workflow_notifications` decorator for sync and async functions.
Each call opens the store named by the RELAY_* settings, appends, and closes it; with
Slack configured, a process hook also delivers its notice before it returns (waiting at
most DELIVER_SECONDS; what is left stays queued for any serving process).
"""

import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

import anyio

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.model.events import Event

# A hook waits this long for its Slack notice to go out (Slack slow or down: the notice
# stays queued, and any `relay serve` or `relay worker` delivers it later).
DELIVER_SECONDS = 5.0

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
    async with open_relay(settings, Role.CLIENT, participant=participant) as relay:
        result = await relay.events.emit(
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


async def _arecord(
    moment: str, data: dict[str, Any], source: Source, notify_slack: bool = True
) -> Event:
    """A process's moment: its event, and (Slack configured) its notice, in one write."""
    settings = Settings()
    participant = str(source) if source else (settings.participant or "python")
    async with open_relay(settings, Role.HOOK, participant=participant) as relay:
        result = await relay.events.record_process(
            moment, data, notify_slack=notify_slack, deliver_seconds=DELIVER_SECONDS
        )
    return result.event


def notify_process_started(
    process_id: str, process_name: str, source: Source, metadata: dict[str, Any] | None = None
) -> Event:
    """Emit `process_started` for a process of yours (correlated by `process_id`); with
    Slack configured, its notice starts the process's thread."""
    data = {"process_id": process_id, "process_name": process_name, "metadata": metadata or {}}
    return _blocking(_arecord("started", data, source))


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
    return _blocking(_arecord("completed", data, source))


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
    return _blocking(_arecord("failed", data, source))


def _results(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"result": repr(value)[:2000]}


def with_workflow_notifications(
    process_name: str,
    source: Source = None,
    notify_slack: bool = True,
    emit_events: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Emit process_started, then process_complete or process_failed, around a call.

    Works on sync and async functions. With `notify_slack` (and Slack configured) each
    moment is also posted to Slack, in one thread per call.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        moments = _Moments(process_name, source, notify_slack) if emit_events else None
        if inspect.iscoroutinefunction(func):
            return _async_wrapper(func, moments)
        return _sync_wrapper(func, moments)

    return decorate


class _Moments:
    """One decorated call's started / completed / failed records."""

    def __init__(self, name: str, source: Source, notify_slack: bool) -> None:
        self.name, self.source, self.notify_slack = name, source, notify_slack

    async def record(self, moment: str, process_id: str, **data: Any) -> None:
        data = {"process_id": process_id, "process_name": self.name, **data}
        await _arecord(moment, data, self.source, self.notify_slack)

    async def started(self, process_id: str) -> None:
        await self.record("started", process_id, metadata={})

    async def failed(self, process_id: str, exc: Exception) -> None:
        await self.record("failed", process_id, error=f"{type(exc).__name__}: {exc}", metadata={})

    async def completed(self, process_id: str, result: Any) -> None:
        await self.record("completed", process_id, results=_results(result), next_steps=[])


def _sync_wrapper(func: Callable[P, R], moments: _Moments | None) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        process_id = str(uuid.uuid4())
        if moments:
            _blocking(moments.started(process_id))
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            if moments:
                _blocking(moments.failed(process_id, exc))
            raise
        if moments:
            _blocking(moments.completed(process_id, result))
        return result

    return wrapper


def _async_wrapper(func: Callable[P, Any], moments: _Moments | None) -> Callable[P, Any]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        process_id = str(uuid.uuid4())
        if moments:
            await moments.started(process_id)
        try:
            result = await func(*args, **kwargs)
        except Exception as exc:
            if moments:
                await moments.failed(process_id, exc)
            raise
        if moments:
            await moments.completed(process_id, result)
        return result

    return wrapper
