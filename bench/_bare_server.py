"""The baseline of `bench/mcp.py`: a bare SDK `MCPServer` over stdio with one echo tool."""

import sys
from pathlib import Path

# bench/ holds mcp.py: while it leads sys.path, `import mcp` would import that file.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

from mcp.server.mcpserver import MCPServer  # noqa: E402

server = MCPServer("bare")


@server.tool()
async def echo(text: str) -> str:
    """Echo `text` back."""
    return text


if __name__ == "__main__":
    server.run()
