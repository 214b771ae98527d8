"""What a tool gets from its request: the typed `Context`, its progress channel, and the
bounds every waiting call shares."""

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from relay.mcp_server.prose import prose
from relay.mcp_server.state import Ctx, McpState
from relay.service.follow import Progress

__all__ = ["Ctx", "add_tool", "check_wait", "progress_of"]

# A tool call that waits holds a request open: long enough to see most runs through, short
# enough for clients' own request timeouts (often 60 s to a few minutes).
MAX_WAIT_SECONDS = 300


def progress_of(ctx: Ctx) -> Progress:
    """The service's progress callback as MCP progress notifications (a no-op when the
    client sent no progress token)."""

    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


def check_wait(wait_seconds: float, again: str, name: str = "wait_seconds") -> float:
    """`wait_seconds` within 0..MAX_WAIT_SECONDS, or a ToolError saying how to wait longer."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise ToolError(
            f"{name} must be between 0 and {MAX_WAIT_SECONDS} (got {wait_seconds:g}); "
            f"to wait longer, call {again} again when it returns"
        )
    return wait_seconds


WAIT_SCHEMA: dict[str, Any] = {"minimum": 0, "maximum": MAX_WAIT_SECONDS}

RunId = Annotated[str, Field(description="The run's id, as start_workflow or list_runs gave it")]


def add_tool(server: MCPServer[McpState], fn: Callable[..., Any], **options: Any) -> None:
    """Register a tool whose description is its docstring as prose (see `prose`), and
    whose result is sent once, compactly (see `compact_result`)."""
    server.add_tool(compact_result(fn), description=prose(fn.__doc__), **options)


def compact_result(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The tool `fn`, its model result sent as the structured content without empty
    (None) fields, and as compact JSON text for clients that read the text only. The
    SDK would send the model with every None, and again as indented JSON text: about
    three times the bytes a client must read and check against the output schema."""

    @functools.wraps(fn)  # the SDK reads the signature (and output schema) through it
    async def tool(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        if not isinstance(result, BaseModel):
            return result
        data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )

    return tool
