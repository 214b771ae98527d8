"""Fixtures shared by the engine tests: settings on a real SQLite file in `tmp_path`, an
in-process Services with its engine, inline workflow definitions, and bounded waits."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixture_types import MakeSettings, OpenRelay, Spawn, StartWorker, WorkerProcess

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.service.services import Services


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_relay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RELAY_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    return folder


@pytest.fixture
def make_settings(tmp_path: Path, workflows_dir: Path, database_url: str | None) -> MakeSettings:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "home": tmp_path / "home",
            "database_url": database_url,
            "workflows_path": str(workflows_dir),
            "lease_seconds": 5.0,
            "poll_interval_seconds": 0.01,
        }
        return Settings(**{**values, **overrides})

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def open_other(settings: Settings) -> OpenRelay:
    """Another Services on the same database (e.g. a second process's view of it)."""

    def make(*, participant: str = "other", role: Role = Role.CLIENT) -> Any:
        return open_relay(settings, role, participant=participant)

    return make


@pytest.fixture
async def relay(settings: Settings) -> AsyncIterator[Services]:
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        yield relay


# separate processes ------------------------------------------------------------------


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start `workers.py` processes; each is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def make(*args: str, cwd: Path | None = None) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        process = WorkerProcess(list(args), cwd=cwd or tmp_path, log=log)
        started.append(process)
        return process

    yield make
    for process in started:
        process.close()


@pytest.fixture
def start_worker(spawn: Spawn, settings: Settings) -> StartWorker:
    """A serving worker process on the test's database, once it is ready."""

    def make(name: str, *, cwd: Path | None = None) -> WorkerProcess:
        process = spawn(
            "serve",
            str(settings.home),
            settings.workflows_path or "",
            name,
            str(settings.lease_seconds),
            settings.database_url or "",
            cwd=cwd,
        )
        assert process.read_line() == "ready"
        return process

    return make
