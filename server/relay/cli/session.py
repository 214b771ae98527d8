"""How a command reaches relay: who it speaks as, and which `Role` it opens relay in.

Most commands only read or record (no engine). `relay run` and `relay resume` drive their
own run in-process; `relay worker` drives everyone's. `validate`, `schema` and `graph`
never open the store. The engine, store and service are imported by the command that
opens them, not when the command line is parsed (see `relay.cli.commands_server`).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine, store and service load with the command that opens them
    from relay.config import Settings
    from relay.model.workflow import Workflow
    from relay.service.services import Services


def participant(settings: "Settings") -> str:
    return settings.participant or "cli"


@asynccontextmanager
async def client(settings: "Settings") -> AsyncIterator["Services"]:
    """The services of a process that reads and records but drives no run."""
    from relay.bootstrap import Role, open_relay

    async with open_relay(settings, Role.CLIENT, participant=participant(settings)) as relay:
        yield relay


@asynccontextmanager
async def driver(settings: "Settings") -> AsyncIterator["Services"]:
    """The services of a process whose engine drives only the runs it starts (and
    their children)."""
    from relay.bootstrap import Role, open_relay

    async with open_relay(settings, Role.RUNNER, participant=participant(settings)) as relay:
        yield relay


def resolve_offline(settings: "Settings", workflow_or_file: str) -> "Workflow":
    """`Workflows.resolve` without opening the store (for `graph`)."""
    from relay.bootstrap import build_registry
    from relay.catalog import WorkflowCatalog
    from relay.config import process_environment

    catalog = WorkflowCatalog(
        settings.workflow_dirs(), build_registry(settings), process_environment()
    )
    return catalog.resolve(workflow_or_file)
