"""Long-running processes: `worker` now; `serve` and `ui` arrive with the MCP server."""

import argparse

import anyio

from relay.bootstrap import open_relay
from relay.cli.interrupt import StopOnSignal
from relay.cli.output import note
from relay.cli.parsing import Handler, Subcommands, add_command
from relay.cli.session import participant
from relay.config import Settings
from relay.errors import UsageError


async def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    name = participant(settings)
    async with StopOnSignal(), open_relay(settings, participant=name, worker=True) as relay:
        note(f"worker {relay.rt.worker_id} is running; stop it with Ctrl-C or SIGTERM")
        await anyio.sleep_forever()
    return 0  # stopped by a signal: the normal end of a worker


def not_yet(command: str) -> Handler:
    async def refuse(settings: Settings, args: argparse.Namespace) -> int:
        raise UsageError(
            f"`relay {command}` arrives with the MCP server; it is not in this version"
        )

    return refuse


def register(commands: Subcommands) -> None:
    add_command(
        commands,
        "worker",
        run_worker,
        "run the engine: execute every runnable run until stopped",
        reports=False,
    )
    add_command(commands, "serve", not_yet("serve"), "serve MCP (not yet)", reports=False)
    add_command(commands, "ui", not_yet("ui"), "serve the dashboard (not yet)", reports=False)
