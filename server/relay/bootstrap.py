"""The composition root: settings and a role in, the process's services out.

A role (`Role`) says what the process composes: an engine, the trigger loop, an outbox
sender. Only this module names concrete backends and channels; everything below it
receives plain values in its constructor, and nothing is assigned after construction.
"""

import math
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

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
from relay.model.events import Event
from relay.notify.apprise_channel import AppriseChannels
from relay.notify.channels import ConfiguredChannels
from relay.notify.lifecycle import SlackRoute
from relay.notify.outbox import OutboxSender
from relay.notify.slack_client import SlackClient, WebhookClient
from relay.service.coordination import Coordination
from relay.service.events import Events
from relay.service.host import Host
from relay.service.notifications import Notifications
from relay.service.presence import Presence
from relay.service.runs import Runs
from relay.service.services import Services
from relay.service.triggers import Clock, Triggers
from relay.service.workflows import Workflows
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


class Role(StrEnum):
    """What a process is for, which says what it composes."""

    SERVER = "server"  # relay serve, worker, ui: drives every run, fires triggers, delivers
    RUNNER = "runner"  # relay run, resume: drives the runs it starts (and their children)
    CLIENT = "client"  # one-shot commands: reads and records, drives nothing
    HOOK = "hook"  # the Python hooks: records, and delivers its own notices while open


@dataclass(frozen=True)
class Composition:
    engine: bool = False
    own_runs_only: bool = False  # the engine claims only this process's runs and children
    triggers: bool = False  # the trigger loop: schedules, and events no process matched
    sender: bool = False  # an outbox sender, when any notification channel is configured
    quiet: bool = False  # its failures at INFO: the command reports them itself


COMPOSITIONS = {
    Role.SERVER: Composition(engine=True, triggers=True, sender=True),
    Role.RUNNER: Composition(engine=True, own_runs_only=True, sender=True, quiet=True),
    Role.CLIENT: Composition(),
    Role.HOOK: Composition(sender=True),
}


@asynccontextmanager
async def open_relay(
    settings: Settings, role: Role, *, participant: str, clock: Clock | None = None
) -> AsyncIterator[Services]:
    """This process's services, composed for its `role`, until the block ends (then the
    engine hands its leases back and the store closes). Settings that can never work are
    a ConfigError before anything is opened. `clock` is the triggers' (tests move it)."""
    check_settings(settings)
    prepare_home(settings)
    registry = build_registry(settings)
    environ = process_environment()
    store = await connect_store(
        settings.store_url(),
        synchronous=settings.sqlite_synchronous,
        poll_interval_seconds=settings.poll_interval_seconds,
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(store.aclose)
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
        yield await _compose(settings, COMPOSITIONS[role], runtime, catalog, stack, clock)


async def _compose(
    settings: Settings,
    plan: Composition,
    runtime: Runtime,
    catalog: WorkflowCatalog,
    stack: AsyncExitStack,
    clock: Clock | None,
) -> Services:
    """The services over `runtime`, with the engine, sender and loops `plan` asks for
    running in `stack` (which stops them, the engine last)."""
    engine, receive = None, None
    if plan.engine:
        send, receive = anyio.create_memory_object_stream[Event](math.inf)
        stack.enter_context(send)  # closed once the engine has stopped
        stack.enter_context(receive)
        engine = Engine(
            runtime,
            max_concurrent_runs=settings.max_concurrent_runs,
            own_runs_only=plan.own_runs_only,
            step_events=send,
        )
        await stack.enter_async_context(engine)
    has_channels = settings.slack_configured() or bool(settings.notify_destinations())
    sender = None
    if plan.sender and has_channels:
        sender = await start_outbox_sender(settings, runtime, stack, quiet=plan.quiet)
    services = build_services(settings, Host(runtime, engine), catalog, sender, clock)
    tg = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(tg.cancel_scope.cancel)  # the loops stop first, at the block's end
    if sender is not None:
        tg.start_soon(sender.run)
    if plan.triggers:
        tg.start_soon(services.triggers.run_loop)
    if receive is not None:
        tg.start_soon(services.triggers.fire_each, receive)
    return services


def build_services(
    settings: Settings,
    host: Host,
    catalog: WorkflowCatalog,
    sender: OutboxSender | None = None,
    clock: Clock | None = None,
) -> Services:
    """The services of one process, each given what it needs."""
    presence = Presence(host)
    runs = Runs(host, presence)
    triggers = Triggers(catalog, runs, clock)
    notifications = Notifications(host, sender)
    return Services(
        workflows=Workflows(catalog, host.rt.actions, allow_inline_code=settings.allow_inline_code),
        runs=runs,
        events=Events(host, runs, triggers, notifications),
        coordination=Coordination(host, runs, presence),
        notifications=notifications,
        presence=presence,
        triggers=triggers,
    )
