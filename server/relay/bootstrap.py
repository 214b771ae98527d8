"""The composition root: settings in, a ready `Relay` (store, actions, catalog, engine) out.

Only this module names concrete backends; everything below it receives plain values.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio

from relay.catalog import WorkflowCatalog
from relay.config import Settings, process_environment
from relay.config_checks import check_settings
from relay.engine.actions import ActionRegistry, load_plugins, registered_actions
from relay.engine.builtin_actions import builtin_specs
from relay.engine.engine import Engine
from relay.engine.mcp_call import mcp_call_spec, servers_from_config
from relay.engine.notify_action import notify_spec
from relay.engine.runtime import Runtime
from relay.engine.waiting import waiting_specs
from relay.notify.apprise_channel import AppriseChannels
from relay.notify.channels import ConfiguredChannels
from relay.notify.lifecycle import SlackRoute
from relay.notify.outbox import OutboxSender
from relay.notify.slack_client import SlackClient, WebhookClient
from relay.service.relay import Relay
from relay.service.triggers import trigger_loop
from relay.store import connect_store


def build_registry(settings: Settings) -> ActionRegistry:
    """Built-ins, then plugins (RELAY_PLUGINS, the relay.actions entry points)."""
    registry = ActionRegistry()
    mcp_servers = servers_from_config(settings.mcp_server_table())
    specs = [*builtin_specs(), *waiting_specs(), mcp_call_spec(mcp_servers)]
    for spec in [*specs, notify_spec(channels_of(settings))]:
        registry.add(spec)
    load_plugins(settings.plugin_modules())
    for spec in registered_actions():
        registry.add(spec)
    return registry


def prepare_home(settings: Settings) -> None:
    """RELAY_HOME is one user's trust boundary: created 0700."""
    if settings.database_url is None:
        settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)


def channels_of(settings: Settings) -> ConfiguredChannels:
    """The notification channels the settings configure: Slack, and Apprise's by name."""
    return ConfiguredChannels(slack_route(settings), frozenset(settings.notify_destinations()))


def slack_route(settings: Settings) -> SlackRoute | None:
    """Where run notifications go: the bot token's channel (threads), else the webhook."""
    if settings.slack_bot_token and settings.slack_channel:
        return SlackRoute("slack", settings.slack_channel)
    if settings.slack_webhook_url:
        return SlackRoute("webhook", "")
    return None


async def start_outbox_sender(
    settings: Settings, runtime: Runtime, stack: AsyncExitStack, *, quiet: bool = False
) -> OutboxSender:
    """The background sender's clients (closed with `stack`) and the sender itself
    (`quiet`: for a command that reports undelivered notifications itself)."""
    timeout = settings.slack_timeout_seconds
    slack = webhook = None
    if settings.slack_bot_token:
        slack = SlackClient(settings.slack_bot_token.get_secret_value(),
                            settings.slack_api_base_url, timeout)  # fmt: skip
        await stack.enter_async_context(slack)
    if settings.slack_webhook_url:
        webhook = WebhookClient(settings.slack_webhook_url.get_secret_value(), timeout)
        await stack.enter_async_context(webhook)
    destinations = settings.notify_destinations()
    channels = AppriseChannels(destinations) if destinations else None
    return OutboxSender(
        runtime.store.outbox, runtime.store.feed, owner=runtime.worker_id, slack=slack,
        webhook=webhook, channels=channels,
        pace_seconds=settings.slack_pace_seconds,
        backoff_base_seconds=settings.slack_backoff_base_seconds,
        backoff_cap_seconds=settings.slack_backoff_cap_seconds,
        auth_pause_seconds=settings.slack_auth_pause_seconds,
        max_attempts=settings.slack_max_attempts,
        lease_seconds=2 * timeout + 5, quiet=quiet,
    )  # fmt: skip


@asynccontextmanager
async def open_relay(
    settings: Settings,
    *,
    participant: str,
    worker: bool = False,
    own_runs_only: bool = False,
    triggers: bool = True,
    deliver: bool = False,
) -> AsyncIterator[Relay]:
    """A Relay for this process; with `worker`, its engine claims and drives runs
    (with `own_runs_only`, only the runs this process starts and their children). A
    worker delivers queued notifications; with `deliver`, a process without an engine
    (a hook's) does too, while it is open. Settings that can never work are a ConfigError
    before anything is opened."""
    check_settings(settings)
    prepare_home(settings)
    registry = build_registry(settings)
    environ = process_environment()
    store = await connect_store(
        settings.store_url(),
        synchronous=settings.sqlite_synchronous,
        poll_interval_seconds=settings.poll_interval_seconds,
    )
    try:
        catalog = WorkflowCatalog(settings.workflow_dirs(), registry, environ)
        runtime = Runtime(
            store=store,
            actions=registry,
            worker_id=f"{participant}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            participant=participant,
            lease_seconds=settings.lease_seconds,
            environ=environ,
            workflows=catalog,
            channels=channels_of(settings),
        )
        has_channels = settings.slack_configured() or bool(settings.notify_destinations())
        if not worker:
            relay = Relay(runtime, catalog, allow_inline_code=settings.allow_inline_code)
            if not (deliver and has_channels):
                yield relay
                return
            async with AsyncExitStack() as clients, anyio.create_task_group() as tg:
                relay.sender = await start_outbox_sender(settings, runtime, clients)
                tg.start_soon(relay.sender.run)
                yield relay
                tg.cancel_scope.cancel()
            return
        engine = Engine(
            runtime, max_concurrent_runs=settings.max_concurrent_runs, own_runs_only=own_runs_only
        )
        async with engine, AsyncExitStack() as clients:
            relay = Relay(
                runtime, catalog, engine=engine, allow_inline_code=settings.allow_inline_code
            )
            async with anyio.create_task_group() as tg:
                if triggers:
                    tg.start_soon(trigger_loop, relay)
                if has_channels:
                    relay.sender = await start_outbox_sender(
                        settings, runtime, clients, quiet=own_runs_only
                    )
                    tg.start_soon(relay.sender.run)
                yield relay
                tg.cancel_scope.cancel()
    finally:
        await store.aclose()
