"""The plain built-in actions (`log`, `emit_event`, `http`, `shell`, `python`): each a
pydantic model of its params, checked when a workflow loads, and an async function
`(params, ctx) -> output` that the engine runs for a step. A failure whose output is
still worth recording (an HTTP status, a non-zero exit code) raises `StepFailed` with
that output; messages name what went wrong but never a header value or a traceback.
"""

import functools
import importlib
import inspect
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import httpx2
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relay.engine.actions import ActionContext, ActionSpec
from relay.engine.shell import OUTPUT_LIMIT_BYTES, decode_capped, run_command
from relay.errors import StepFailed, StepTimedOut
from relay.model.events import NewEvent

workflow_log = logging.getLogger("relay.workflow")

_PARAMS_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
_STATUS_CLASS = re.compile(r"[1-5]xx")
_FUNCTION_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_MESSAGE_BODY_CHARS = 200  # of a response body quoted in a failure message
_MESSAGE_STDERR_CHARS = 300  # of the last stderr line quoted in a failure message
_PYTHON_DOC = "Call a Python callable named module:callable"


# -- log ------------------------------------------------------------------------------


class LogParams(BaseModel):
    model_config = _PARAMS_CONFIG

    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


async def log_message(params: LogParams, ctx: ActionContext) -> dict[str, Any]:
    """Write `message` to the `relay.workflow` logger, tagged with the run and step."""
    level = _LOG_LEVELS[params.level]
    extra = {"run_id": ctx.run_id, "step_id": ctx.step_id, "workflow": ctx.workflow}
    workflow_log.log(level, "[%s/%s] %s", ctx.run_id, ctx.step_id, params.message, extra=extra)
    ctx.log(params.message, params.level)
    return {"message": params.message}


# -- emit_event -----------------------------------------------------------------------


class EmitEventParams(BaseModel):
    model_config = _PARAMS_CONFIG

    type: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(default=None, min_length=1, max_length=200)
    correlation_id: str | None = None
    idempotency_key: str | None = None


async def emit_event(params: EmitEventParams, ctx: ActionContext) -> dict[str, Any]:
    """Append an event to the shared log; a re-run step reuses its idempotency key."""
    event = await ctx.emit(
        NewEvent(
            type=params.type,
            source=params.source or ctx.participant,
            data=params.data,
            correlation_id=params.correlation_id or ctx.run_id,
            idempotency_key=params.idempotency_key or ctx.idempotency_key,
        )
    )
    return event.as_dict()


# -- http -----------------------------------------------------------------------------


class HttpParams(BaseModel):
    model_config = _PARAMS_CONFIG

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30, gt=0)
    expect_status: str | int | list[int] = "2xx"

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        method = value.upper()
        if method not in _HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {value!r}; use one of {sorted(_HTTP_METHODS)}")
        return method

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL with a host, not {value!r}")
        return value

    @field_validator("expect_status")
    @classmethod
    def _status_pattern(cls, value: str | int | list[int]) -> str | int | list[int]:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, str) and not _STATUS_CLASS.fullmatch(value.lower()):
            raise ValueError('expect_status must be "2xx", "3xx", "4xx", "5xx", a code or a list')
        codes = value if isinstance(value, list) else [value] if isinstance(value, int) else []
        if any(not 100 <= code <= 599 for code in codes):
            raise ValueError(f"expect_status holds a code outside 100-599: {value!r}")
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_body(self) -> "HttpParams":
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


async def http_request(params: HttpParams, ctx: ActionContext) -> dict[str, Any]:
    """Send one HTTP request; a status outside `expect_status` fails the step."""
    where = f"{params.method} {_redacted(params.url)}"
    try:
        async with httpx2.AsyncClient(timeout=params.timeout_seconds) as client:
            response = await client.request(
                params.method,
                params.url,
                headers=_request_headers(params.headers, ctx.idempotency_key),
                params=params.params,
                json=params.json_body,
                content=None if params.body is None else params.body.encode(),
            )
    except httpx2.TimeoutException as exc:
        raise StepFailed(f"{where} timed out after {params.timeout_seconds:g} s") from exc
    except httpx2.ConnectError as exc:
        raise StepFailed(f"{where}: cannot connect: {exc}") from exc
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        # Other errors may quote the request (headers included), so only the class is named
        # and the original is not chained: header values may be secrets.
        raise StepFailed(f"{where} failed: {type(exc).__name__}") from None
    return _checked_response(response, params.expect_status, where)


def _request_headers(headers: dict[str, str], idempotency_key: str) -> dict[str, str]:
    if any(name.lower() == "idempotency-key" for name in headers):
        return headers
    return {**headers, "Idempotency-Key": idempotency_key}


def _redacted(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))


def _checked_response(
    response: httpx2.Response, expect: str | int | list[int], where: str
) -> dict[str, Any]:
    output = _response_output(response)
    if _is_expected(response.status_code, expect):
        return output
    body = response.text[:_MESSAGE_BODY_CHARS].strip()
    message = f"HTTP {response.status_code} from {where}" + (f": {body}" if body else "")
    raise StepFailed(message, output=output)


def _response_output(response: httpx2.Response) -> dict[str, Any]:
    output: dict[str, Any] = {
        "status": response.status_code,
        "headers": dict(response.headers.items()),
    }
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return {**output, "json": response.json()}
        except ValueError:
            pass  # announced as JSON but is not: keep it as text
    content = response.content
    cut_bytes = max(0, len(content) - OUTPUT_LIMIT_BYTES)
    text = decode_capped(content[:OUTPUT_LIMIT_BYTES], cut_bytes, response.encoding or "utf-8")
    return {**output, "text": text}


def _is_expected(status: int, expect: str | int | list[int]) -> bool:
    if isinstance(expect, str):
        return str(status)[0] == expect[0]
    if isinstance(expect, int):
        return status == expect
    return status in expect


# -- shell ----------------------------------------------------------------------------


class ShellParams(BaseModel):
    model_config = _PARAMS_CONFIG

    command: str | list[str]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0)
    input: str | None = None

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        if not value or (isinstance(value, str) and not value.strip()):
            raise ValueError("command must not be empty")
        return value


async def run_shell(params: ShellParams, ctx: ActionContext) -> dict[str, Any]:
    """Run a command (a string through `sh -c`, a list directly) in the run's directory."""
    argv = ["sh", "-c", params.command] if isinstance(params.command, str) else params.command
    result = await run_command(
        argv,
        cwd=_working_directory(params.cwd, ctx.cwd),
        env={**ctx.env, **params.env},
        input_text=params.input,
        timeout_seconds=params.timeout_seconds,
    )
    output = result.as_output()
    if result.exit_code is None:
        raise StepTimedOut(f"command timed out after {params.timeout_seconds:g} s", output=output)
    if result.exit_code != 0:
        raise StepFailed(_exit_message(result.exit_code, result.stderr_tail), output=output)
    return output


def _working_directory(cwd: str | None, run_cwd: str | None) -> str | None:
    if cwd is None:
        return run_cwd
    if run_cwd is None:
        return cwd
    return os.path.join(run_cwd, cwd)  # an absolute cwd replaces run_cwd


def _exit_message(exit_code: int, stderr_tail: str) -> str:
    message = (
        f"command was killed by signal {-exit_code}"
        if exit_code < 0
        else f"command exited with code {exit_code}"
    )
    lines = stderr_tail.strip().splitlines()
    return f"{message}: {lines[-1][:_MESSAGE_STDERR_CHARS]}" if lines else message


# -- python ---------------------------------------------------------------------------


class PythonParams(BaseModel):
    model_config = _PARAMS_CONFIG

    function: str
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("function")
    @classmethod
    def _module_colon_callable(cls, value: str) -> str:
        if not _FUNCTION_NAME.fullmatch(value):
            raise ValueError(f"function must look like 'package.module:callable', not {value!r}")
        return value


async def call_python(params: PythonParams, ctx: ActionContext) -> Any:
    """Call `module:callable` with `args` as keyword arguments; return its JSON result."""
    func = await _resolve(params.function)
    try:
        if inspect.iscoroutinefunction(func):
            result = await func(**params.args)
        else:
            # A step timeout or cancel must not wait for a thread that cannot be interrupted.
            call = functools.partial(func, **params.args)
            result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            if inspect.iscoroutine(result):
                result = await result
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
    return _json_checked(result, params.function)


async def _resolve(function: str) -> Callable[..., Any]:
    module_name, _, path = function.partition(":")
    try:
        # Importing may be slow (big libraries): keep the event loop free meanwhile.
        module = await anyio.to_thread.run_sync(importlib.import_module, module_name)
    except ImportError as exc:
        raise StepFailed(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise StepFailed(f"importing module {module_name!r} failed: {reason}") from exc
    try:
        target = functools.reduce(getattr, path.split("."), module)
    except AttributeError as exc:
        raise StepFailed(f"module {module_name!r} has no attribute {path!r}") from exc
    if not callable(target):
        raise StepFailed(f"{function!r} is a {type(target).__name__}, not a callable")
    return target


def _json_checked(result: Any, function: str) -> Any:
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StepFailed(
            f"{function} returned a value that is not JSON-serialisable "
            f"({type(result).__name__}): {exc}"
        ) from exc
    return result


def builtin_specs() -> list[ActionSpec]:
    """The plain built-in actions, ready for an `ActionRegistry`."""
    return [
        ActionSpec("log", LogParams, log_message, description="Write a message to the log"),
        ActionSpec("emit_event", EmitEventParams, emit_event, description="Emit an event"),
        ActionSpec("http", HttpParams, http_request, description="Send an HTTP request"),
        ActionSpec("shell", ShellParams, run_shell, description="Run a command", runs_code=True),
        ActionSpec("python", PythonParams, call_python, description=_PYTHON_DOC, runs_code=True),
    ]
