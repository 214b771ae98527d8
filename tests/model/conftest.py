"""Fixtures for the model tests: a small action catalog and the seed's example files."""

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

SEED_WORKFLOWS = Path(__file__).parents[2] / ".." / "shared" / "seed" / "workflows"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogParams(_Params):
    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


class DelayParams(_Params):
    seconds: float = Field(ge=0)


class EmitEventParams(_Params):
    type: str
    data: dict[str, Any] = {}
    source: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None


class WaitForEventParams(_Params):
    type: str | None = None
    event_type: str | None = None  # seed spelling of type
    match: dict[str, Any] = {}
    source: str | None = None
    timeout_seconds: float | None = None
    timeout_minutes: float | None = None  # seed spelling


class ApprovalParams(_Params):
    message: str | None = None
    approval_message: str | None = None  # seed spelling
    approvers: list[str] = []
    timeout_minutes: float | None = None


class HandoffParams(_Params):
    to: str
    task: str
    context: dict[str, Any] = {}
    timeout_seconds: float | None = None


class HttpParams(_Params):
    method: str = "GET"
    url: str
    headers: dict[str, str] = {}
    json_: Any = Field(None, alias="json")
    timeout_seconds: float | None = None


class ShellParams(_Params):
    command: str | list[str]
    cwd: str | None = None
    env: dict[str, str] = {}
    timeout_seconds: float | None = None


class PythonParams(_Params):
    function: str
    args: dict[str, Any] = {}


class RunWorkflowParams(_Params):
    workflow: str
    inputs: dict[str, Any] = {}
    wait: bool = True


class SmallCatalog:
    """A small catalog of built-ins for the model tests: without `notify`, so that the
    seed files report it missing."""

    models: dict[str, type[BaseModel]] = {
        "log": LogParams,
        "delay": DelayParams,
        "emit_event": EmitEventParams,
        "wait_for_event": WaitForEventParams,
        "approval": ApprovalParams,
        "handoff": HandoffParams,
        "http": HttpParams,
        "shell": ShellParams,
        "python": PythonParams,
        "run_workflow": RunWorkflowParams,
    }

    def params_model(self, action: str) -> type[BaseModel] | None:
        return self.models.get(action)

    def missing_action_hint(self, action: str) -> str:
        return f"Provide it with @relay.action({action!r}) in a module RELAY_PLUGINS names."

    def names(self) -> list[str]:
        return sorted(self.models)


@pytest.fixture
def catalog() -> SmallCatalog:
    return SmallCatalog()


@pytest.fixture
def seed_workflows() -> Path:
    if not SEED_WORKFLOWS.is_dir():
        pytest.skip(
            "the seed workflows are not present next to this repository "
            "(../shared/seed/workflows); these tests load them"
        )
    return SEED_WORKFLOWS
