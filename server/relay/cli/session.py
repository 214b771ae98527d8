"""How a command reaches relay: who it speaks as, and which kind of `Relay` it opens.

Most commands only read or record (no engine). `relay run` and `relay resume` drive their
own run in-process; `relay worker` drives everyone's. `validate`, `schema` and `graph`
never open the store.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from relay.bootstrap import build_registry, open_relay
from relay.catalog import WorkflowCatalog
from relay.config import Settings, process_environment
from relay.errors import WorkflowNotFound
from relay.model.loading import load_workflow_file
from relay.model.workflow import Workflow
from relay.service.relay import Relay


def participant(settings: Settings) -> str:
    return settings.participant or "cli"


@asynccontextmanager
async def client(settings: Settings) -> AsyncIterator[Relay]:
    """A Relay that reads and records but drives no run."""
    async with open_relay(settings, participant=participant(settings)) as relay:
        yield relay


@asynccontextmanager
async def driver(settings: Settings) -> AsyncIterator[Relay]:
    """A Relay whose engine drives only the runs this process starts (and their children)."""
    async with open_relay(
        settings,
        participant=participant(settings),
        worker=True,
        own_runs_only=True,
        triggers=False,
    ) as relay:
        yield relay


def resolve_offline(settings: Settings, workflow_or_file: str) -> Workflow:
    """`Relay.resolve` without a store: a catalog id or a YAML file path.

    Raises:
        WorkflowNotFound, InvalidWorkflow
    """
    registry = build_registry(settings)
    environ = process_environment()
    path = Path(workflow_or_file)
    if path.suffix in (".yaml", ".yml") or os.sep in workflow_or_file:
        if not path.is_file():
            raise WorkflowNotFound(workflow_or_file)
        return load_workflow_file(path, catalog=registry, environ=environ)
    return WorkflowCatalog(settings.workflow_dirs(), registry, environ).get(workflow_or_file)
