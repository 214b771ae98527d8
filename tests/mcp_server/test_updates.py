"""Subscribers hear of changes to runs and to the event log, whichever process made them:
here a second Services on the same store stands for another `relay serve` process."""

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceUpdatedNotification
from mcp_harness import call

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.mcp_server.state import McpState
from relay.service.services import Services

EVENTS = "relay://events/recent"


class Heard:
    """The URIs of `notifications/resources/updated` a legacy client received."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._new = anyio.Event()

    async def handle(self, message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.uris.append(message.params.uri)
            self._new.set()
            self._new = anyio.Event()

    async def wait_for(self, uri: str) -> None:
        with anyio.fail_after(10):
            while uri not in self.uris:
                await self._new.wait()


@asynccontextmanager
async def other_process(settings: Settings) -> AsyncIterator[Services]:
    async with open_relay(settings, Role.SERVER, participant="other-chat") as relay:
        yield relay


async def subscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():  # resources/subscribe is the 2025 era's way: deprecated
        warnings.simplefilter("ignore")
        await client.subscribe_resource(uri)


async def test_a_legacy_subscriber_hears_of_a_run_another_process_advances(
    server: MCPServer[McpState], settings: Settings
) -> None:
    heard = Heard()
    async with Client(server, mode="legacy", message_handler=heard.handle) as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        uri = f"relay://runs/{run['run_id']}"
        await subscribe(client, uri)
        async with other_process(settings) as other:
            await other.coordination.approve(run["run_id"], "gate")
            await heard.wait_for(uri)
        assert EVENTS not in heard.uris  # not subscribed


async def test_a_legacy_subscriber_hears_of_events_another_process_appends(
    server: MCPServer[McpState], settings: Settings
) -> None:
    heard = Heard()
    async with Client(server, mode="legacy", message_handler=heard.handle) as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        await subscribe(client, EVENTS)
        await subscribe(client, f"relay://runs/{run['run_id']}")
        async with other_process(settings) as other:
            await other.events.emit("manual", {"from": "elsewhere"})
            await heard.wait_for(EVENTS)
        assert heard.uris == [EVENTS]  # the run did not change: no word of it


async def test_a_legacy_client_cannot_subscribe_to_what_does_not_exist(
    server: MCPServer[McpState],
) -> None:
    async with Client(server, mode="legacy") as client:
        with pytest.raises(MCPError, match="no resource 'relay://runs/nope'"):
            await subscribe(client, "relay://runs/nope")


async def test_a_2026_listener_hears_of_a_run_another_process_advances(
    server: MCPServer[McpState], settings: Settings
) -> None:
    async with Client(server, mode="auto") as client:
        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        uri = f"relay://runs/{run['run_id']}"
        async with (
            client.listen(resource_subscriptions=[uri, EVENTS]) as stream,
            other_process(settings) as other,
        ):
            await other.coordination.approve(run["run_id"], "gate")
            heard: set[str] = set()
            with anyio.fail_after(10):
                async for event in stream:
                    heard.add(event.uri)  # type: ignore[union-attr]
                    if heard == {uri, EVENTS}:  # the run moved; approval events appended
                        break
        done = await call(client, "get_status", run_id=run["run_id"], wait_seconds=10)
        assert done["status"] == "completed"


async def test_a_2026_listener_hears_of_an_event_from_another_process(
    server: MCPServer[McpState], settings: Settings
) -> None:
    async with (
        Client(server, mode="auto") as client,
        client.listen(resource_subscriptions=[EVENTS]) as stream,
        other_process(settings) as other,
    ):
        await other.events.emit("manual", {"n": 1})
        with anyio.fail_after(10):
            event = await stream.__anext__()
        assert event.uri == EVENTS  # type: ignore[union-attr]


async def test_a_legacy_client_that_unsubscribes_hears_no_more(
    server: MCPServer[McpState], settings: Settings
) -> None:
    heard = Heard()
    async with Client(server, mode="legacy", message_handler=heard.handle) as client:
        await subscribe(client, EVENTS)
        await subscribe(client, "relay://approvals/pending")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.unsubscribe_resource(EVENTS)
        async with other_process(settings) as other:
            await other.events.emit("manual", {})
            await other.runs.start_run(other.workflows.workflow_for("gated"))
            await heard.wait_for("relay://approvals/pending")  # any subscribed resource works
        assert EVENTS not in heard.uris
