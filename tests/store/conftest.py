"""Fixtures for the store contract: a real SQLite file or PostgreSQL schema per test (each
test runs on both), and a factory of runs."""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from relay.model.run import Run, StepRun
from relay.store import connect_store
from relay.store.base import NewRun, Store


@pytest.fixture
async def other_store(store_url: str, store: Store) -> AsyncIterator[Store]:
    """A second connection to the same file, as another process would have."""
    opened = await connect_store(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()


MakeRun = Callable[..., NewRun]


@pytest.fixture
def make_run() -> MakeRun:
    def make(*, steps: tuple[str, ...] = ("a", "b"), **overrides: Any) -> NewRun:
        now = datetime.now(UTC)
        run_fields: dict[str, Any] = {
            "id": uuid.uuid4().hex[:12],
            "workflow": "wf",
            "workflow_name": "Workflow",
            "definition_hash": "hash-1",
            "created_at": now,
            "updated_at": now,
            "started_by": "pytest",
            "steps": tuple(StepRun(id=s, name=s.upper()) for s in steps),
        }
        new_fields = {
            k: overrides.pop(k) for k in list(overrides) if k in NewRun.__dataclass_fields__
        }
        run = Run(**{**run_fields, **overrides})
        return NewRun(run=run, definition={"id": "wf", "steps": []}, **new_fields)

    return make
