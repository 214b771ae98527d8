"""Fixtures for the store contract: a real SQLite file or PostgreSQL schema per test (each
test runs on both), and a factory of runs."""

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relay.model.run import Run, StepRun
from relay.store import connect_store
from relay.store.base import NewRun, Store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_relay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RELAY_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def store_url(tmp_path: Path, database_url: str | None) -> str:
    """One SQLite file, or one PostgreSQL schema (the `backend` parameter)."""
    return database_url or f"sqlite:///{tmp_path / 'relay.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await connect_store(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()


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
