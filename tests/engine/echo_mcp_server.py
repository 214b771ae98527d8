"""A tiny MCP server for the `mcp_call` tests: stdio by default, `--http PORT` for
streamable HTTP on 127.0.0.1. Tools: `echo` (structured output), `say` (text only),
`query` (a stand-in database), `fail` (a tool error), `slow` (sleeps), `whoami` (what the
process and the request carried)."""

import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer("echo")


class Echoed(BaseModel):
    text: str
    count: int


@server.tool()
async def echo(text: str, count: int = 1) -> Echoed:
    """Echo `text` back with `count`."""
    return Echoed(text=text, count=count)


@server.tool(structured_output=False)
async def say(text: str) -> str:
    """Answer with plain text (no structured content)."""
    return text


@server.tool()
async def query(sql: str) -> dict[str, Any]:
    """Pretend to run `sql`."""
    return {"sql": sql, "rows": [{"game_id": 1}, {"game_id": 2}]}


@server.tool()
async def fail(reason: str) -> str:
    """Fail with `reason` as a tool error."""
    raise ToolError(reason)


@server.tool()
async def slow(seconds: float) -> dict[str, Any]:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return {"slept": seconds}


@server.tool()
async def whoami(ctx: Context) -> dict[str, Any]:
    """The working directory, the ECHO_* environment and the X-Echo-* request headers."""
    env = {k: v for k, v in os.environ.items() if k.startswith("ECHO_")}
    request = ctx.request_context.request
    headers = getattr(request, "headers", {})
    echoed = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-echo-")}
    return {"cwd": os.getcwd(), "env": env, "headers": echoed}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
