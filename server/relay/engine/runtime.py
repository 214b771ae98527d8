"""What every run driver of one engine shares: the store, the actions, the clock."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from relay.engine.actions import ActionRegistry
from relay.model.run import Run
from relay.model.workflow import Workflow
from relay.notify.channels import Channels, ConfiguredChannels
from relay.store.base import Store

# Source of the lifecycle events the engine itself appends to the shared log.
ENGINE_SOURCE = "workflow_engine"


class WorkflowSource(Protocol):
    """Where child runs (`run_workflow`) and triggers find definitions."""

    def get(self, workflow_id: str) -> Workflow: ...  # WorkflowNotFound
    def all(self) -> list[Workflow]: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    store: Store
    actions: ActionRegistry
    worker_id: str
    participant: str
    lease_seconds: float
    environ: Mapping[str, str]
    workflows: WorkflowSource | None = None
    definitions: dict[str, Workflow] = field(default_factory=dict)
    # Where notifications go (a run's lifecycle, decided approvals): none configured, none.
    channels: Channels = field(default_factory=ConfiguredChannels)

    async def workflow_of(self, run: Run) -> Workflow:
        """The definition snapshot a run started with (cached by its hash)."""
        cached = self.definitions.get(run.definition_hash)
        if cached is None:
            body = await self.store.runs.get_definition(run.definition_hash)
            cached = Workflow.from_snapshot(body)
            self.definitions[run.definition_hash] = cached
        return cached


class StepsView(Mapping[str, Any]):
    """`steps.<id>.output|status|error` for expressions, built lazily from step rows."""

    def __init__(self, steps: Mapping[str, Any]) -> None:
        self._steps = steps

    def __getitem__(self, key: str) -> dict[str, Any]:
        step = self._steps[key]
        return {"output": step.output, "status": step.status.value, "error": step.error}

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


def json_safe(value: Any) -> Any:
    """The value itself when it is JSON-serialisable; raises TypeError otherwise."""
    json.dumps(value)
    return value
