"""Live updates: `GET /api/live`, a server-sent event stream that says "change" each time
the store commits anything, in this process or any other (the store's change feed).
Pages answer by fetching themselves again and swapping what changed; nothing is sent
but the store's generation number."""

from collections.abc import AsyncIterator

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.dashboard.board import Board
from relay.http_app.streams import EndsOpenResponses

KEEPALIVE_SECONDS = 15.0


def live_stream(board: Board) -> ASGIApp:
    """The stream's ASGI app; at shutdown (the server stops open streams) its response is
    finished properly, as the MCP transports' are."""

    async def changes() -> AsyncIterator[ServerSentEvent]:
        shown: int | None = None
        async for generation in board.relay.changes(KEEPALIVE_SECONDS):
            if shown is None:
                yield ServerSentEvent(data=str(generation), event="ready")
            elif generation != shown:
                yield ServerSentEvent(data=str(generation), event="change")
            shown = generation

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        response = EventSourceResponse(
            changes(), ping=KEEPALIVE_SECONDS, headers={"Cache-Control": "no-store"}
        )
        await response(scope, receive, send)

    return EndsOpenResponses(stream)
