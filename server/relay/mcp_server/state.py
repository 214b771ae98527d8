"""What every request of every connection shares (`McpState`, the server's lifespan
context) and who is calling (`caller`). The tool, resource and prompt modules import this
module, never the server's.
"""

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from mcp.server.mcpserver import Context

from relay.mcp_server.handle import RelayHandle
from relay.mcp_server.logs import RunLogs

if TYPE_CHECKING:
    from relay.service.services import Services

# The SDK's request_state lives 600 s by default; a question unanswered for longer is gone.
ASKED_TTL_SECONDS = 600.0


@dataclass
class AskedGates:
    """Which run a pending in-chat question is about, per (caller, arguments)."""

    asked: dict[str, tuple[str, float]] = field(default_factory=dict)

    def remember(self, key: str, run_id: str) -> None:
        self._expire()
        self.asked[key] = (run_id, time.monotonic())

    def recall(self, key: str) -> str | None:
        self._expire()
        held = self.asked.get(key)
        return None if held is None else held[0]

    def forget(self, key: str, run_id: str) -> None:
        """Done with the question about `run_id` (an identical call's stays)."""
        if self.recall(key) == run_id:
            del self.asked[key]

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, at) in self.asked.items() if now - at > ASKED_TTL_SECONDS]:
            del self.asked[key]


@dataclass(frozen=True)
class McpState:
    """The process's Services (maybe still opening), the log lines its clients follow, and
    the approvals asked in chats."""

    handle: RelayHandle
    logs: RunLogs = field(default_factory=RunLogs)
    asked: AskedGates = field(default_factory=AskedGates)


Ctx = Context[McpState, Any]


def state_of(ctx: Ctx) -> McpState:
    state: McpState = ctx.request_context.lifespan_context
    return state


class Caller(NamedTuple):
    """The shared Services and who this request comes from (every decision names them)."""

    relay: "Services"
    who: str


async def caller(ctx: Ctx) -> Caller:
    """The shared Services, and the participant this request comes from, seen now."""
    handle = state_of(ctx).handle
    relay = await handle.relay()
    who = handle.participant or client_name(ctx) or "mcp"
    await relay.presence.seen(who)
    return Caller(relay, who)


def client_name(ctx: Ctx) -> str | None:
    params = ctx.session.client_params
    info = None if params is None else params.client_info
    return None if info is None else info.name
