"""What a tool gets from its request: the typed `Context`, its progress channel, and the
bounds every waiting call shares."""

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from relay.mcp_server.prose import prose
from relay.mcp_server.state import Ctx, RelayHandle
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


def add_tool(server: MCPServer[RelayHandle], fn: Callable[..., Any], **options: Any) -> None:
    """Register a tool whose description is its docstring as prose (see `prose`)."""
    server.add_tool(fn, description=prose(fn.__doc__), **options)
