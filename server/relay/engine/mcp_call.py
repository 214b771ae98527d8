"""The `mcp_call` action: call one tool on another MCP server, through the SDK's client.

A step names its server in one of three ways: `server` (a name from relay's config, which
bootstrap reads from `mcp_servers.json` and hands to `mcp_call_spec`), `command` + `args`
(spawned for the call, spoken to over stdio) or `url` (streamable HTTP). Each attempt opens
its own connection, calls the tool and closes it; `timeout_seconds` bounds all of that, the
step's own timeout and retry policy apply as to any step.

The output is the tool's structured result, else its text (decoded when it is JSON). A tool
error (`isError`) fails the step with the tool's text. Messages never quote a header or env
value: they are scrubbed from every message, and no exception is chained.
"""

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relay.engine.actions import ActionContext, ActionSpec
from relay.errors import ConfigError, StepFailed, StepTimedOut

if TYPE_CHECKING:  # `import mcp` loads ~600 modules: only a step that calls a server pays it
    from mcp import Client
    from mcp.types import CallToolResult

log = logging.getLogger("relay.mcp_call")

_MESSAGE_CHARS = 500  # of a tool's error text or a server's last stderr line, in a message
_SECRET_MIN_CHARS = 6  # shorter header/env values are not scrubbed (they would eat words)
_DESCRIPTION = "Call a tool on another MCP server"
_CONFIG_HINT = "$RELAY_HOME/mcp_servers.json, RELAY_MCP_CONFIG or RELAY_MCP_SERVERS"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an http:// or https:// URL with a host")
    return value


# -- servers: where a call goes -------------------------------------------------------


class StdioServer(BaseModel):
    """A server spawned for each call and spoken to over its stdin/stdout."""

    # Host config files carry keys of their own (`disabled`, `alwaysAllow`, ...): ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class HttpServer(BaseModel):
    """A server reached over streamable HTTP."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["http", "streamable-http", "streamable_http"] = "http"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    _check_url = field_validator("url")(_http_url)


McpServer = StdioServer | HttpServer


def servers_from_config(raw: Mapping[str, Any]) -> dict[str, McpServer]:
    """Validate the `mcpServers` table of relay's config (ConfigError names what is wrong)."""
    servers: dict[str, McpServer] = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"MCP server {name!r} ({_CONFIG_HINT}) must be an object")
        if entry.get("type") == "sse":
            raise ConfigError(f"MCP server {name!r}: SSE is not supported; use streamable HTTP")
        model: type[McpServer] = HttpServer if "url" in entry else StdioServer
        try:
            servers[name] = model.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"MCP server {name!r} ({_CONFIG_HINT}): {_problems(exc)}") from None
    return servers


def _problems(exc: ValidationError) -> str:
    """Field and message of each error, never the input (it may hold a secret)."""
    errors = exc.errors(include_url=False, include_input=False)
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in errors)


# -- params ---------------------------------------------------------------------------


class McpCallParams(BaseModel):
    """Exactly one of `server`, `command` or `url`; `tool`; its `arguments`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: str | None = None
    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=60, gt=0)

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _one_target(self) -> "McpCallParams":
        given = [k for k in ("server", "command", "url") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of server, command or url")
        if (self.args or self.env) and self.command is None:
            raise ValueError("args and env go with command")
        if self.headers and self.url is None:
            raise ValueError("headers go with url")
        return self


def _params_model(servers: Mapping[str, McpServer]) -> type[McpCallParams]:
    """The params model of this process: `server` must name a configured server."""

    class McpCallParamsHere(McpCallParams):
        @field_validator("server")
        @classmethod
        def _configured(cls, value: str | None) -> str | None:
            if value is not None and value not in servers:
                known = ", ".join(sorted(servers)) or "none"
                raise ValueError(
                    f"no MCP server named {value!r} in relay's config ({_CONFIG_HINT}); "
                    f"configured: {known}"
                )
            return value

    McpCallParamsHere.__name__ = McpCallParamsHere.__qualname__ = "McpCallParams"
    return McpCallParamsHere


def spawns_command(params: Mapping[str, Any]) -> bool:
    """Whether a step's (unrendered) params spawn a process: inline definitions may not."""
    return "command" in params


def mcp_call_spec(servers: Mapping[str, McpServer]) -> ActionSpec:
    """The `mcp_call` action over the named servers of relay's config."""
    table = dict(servers)

    async def mcp_call(params: McpCallParams, ctx: ActionContext) -> Any:
        if params.server is not None:
            target: McpServer = table[params.server]
            where = f"MCP server {params.server!r}"
        elif params.command is not None:
            target = StdioServer(command=params.command, args=params.args, env=params.env)
            where = f"MCP server `{os.path.basename(params.command)}`"
        else:
            assert params.url is not None
            target = HttpServer(url=params.url, headers=params.headers)
            where = f"MCP server at {_redacted(params.url)}"
        return await call_tool(target, params.tool, params.arguments, params, where, ctx.cwd)

    return ActionSpec(
        "mcp_call",
        _params_model(table),
        mcp_call,
        description=_DESCRIPTION,
        runs_code_when=spawns_command,
    )


# -- the call -------------------------------------------------------------------------


async def call_tool(
    target: McpServer,
    tool: str,
    arguments: dict[str, Any],
    params: McpCallParams,
    where: str,
    cwd: str | None,
) -> Any:
    """Connect, call `tool`, disconnect; the tool's output, or StepFailed."""
    secrets = _secret_values(target)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as file:
        errlog = cast(TextIO, file)  # the server's stderr: quoted when the call fails
        try:
            with anyio.fail_after(params.timeout_seconds):
                result = await _request(target, tool, arguments, cwd, errlog)
        except TimeoutError:
            message = f"{where}: tool {tool!r} timed out after {params.timeout_seconds:g} s"
            raise StepTimedOut(message) from None
        except Exception as exc:  # noqa: BLE001 - every connection failure is the step's
            message = f"{where}: {_failure(exc)}{_stderr_tail(errlog)}"
            raise StepFailed(_scrubbed(message, secrets)) from None
        _log_stderr(errlog, where)
    output = _output(result)
    if result.is_error:
        text = _text(result) or "the tool reported an error without a message"
        message = f"{where}: tool {tool!r} failed: {text[:_MESSAGE_CHARS]}"
        raise StepFailed(_scrubbed(message, secrets), output=output)
    return output


async def _request(
    target: McpServer, tool: str, arguments: dict[str, Any], cwd: str | None, errlog: TextIO
) -> "CallToolResult":
    from mcp import Client, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import Implementation

    info = Implementation(name="relay", version=_relay_version())
    if isinstance(target, StdioServer):
        from mcp.client.stdio import stdio_client

        # The SDK passes on only a safe part of the environment (PATH, HOME, ...) plus `env`:
        # relay's own secrets (tokens in its environment) never reach the server.
        spawn = StdioServerParameters(
            command=target.command, args=target.args, env=target.env, cwd=cwd
        )
        client = Client(stdio_client(spawn, errlog=errlog), client_info=info, cache=None)
        return await _call(client, tool, arguments)
    timeout = httpx2.Timeout(30.0, read=300.0)  # the SDK's; fail_after bounds the whole call
    async with httpx2.AsyncClient(headers=target.headers, timeout=timeout) as http:
        transport = streamable_http_client(target.url, http_client=http)
        return await _call(Client(transport, client_info=info, cache=None), tool, arguments)


def _relay_version() -> str:
    try:
        return version("relay-mcp")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


async def _call(client: "Client", tool: str, arguments: dict[str, Any]) -> "CallToolResult":
    async with client:
        return await client.call_tool(tool, arguments)


def _failure(exc: BaseException) -> str:
    """What went wrong with the connection, in words (the first error of a group)."""
    from mcp import MCPError

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"{exc.message} (MCP error {exc.code})"
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx2.ConnectError):
        return f"cannot connect: {exc}"
    if isinstance(exc, httpx2.HTTPError):
        return f"HTTP request failed: {type(exc).__name__}"  # its text may quote the request
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot start the server: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def _output(result: "CallToolResult") -> Any:
    if result.structured_content is not None:
        return result.structured_content
    text = _text(result)
    if text is None:
        return [block.model_dump(mode="json", exclude_none=True) for block in result.content]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _text(result: "CallToolResult") -> str | None:
    from mcp.types import TextContent

    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return "\n".join(texts) if texts else None


def _secret_values(target: McpServer) -> list[str]:
    values = target.headers.values() if isinstance(target, HttpServer) else target.env.values()
    words = {w for value in values for w in (value, *value.split())}
    return sorted((w for w in words if len(w) >= _SECRET_MIN_CHARS), key=len, reverse=True)


def _scrubbed(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _redacted(url: str) -> str:
    """The URL without user:password and query (either may carry a key), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def _read_stderr(errlog: TextIO) -> str:
    errlog.flush()
    errlog.seek(0)
    return errlog.read()


def _stderr_tail(errlog: TextIO) -> str:
    lines = _read_stderr(errlog).strip().splitlines()
    return f"; its stderr ends: {lines[-1][:_MESSAGE_CHARS]}" if lines else ""


def _log_stderr(errlog: TextIO, where: str) -> None:
    if log.isEnabledFor(logging.DEBUG) and (text := _read_stderr(errlog).strip()):
        log.debug("%s stderr:\n%s", where, text)
