"""Fixtures for the whole suite: no RELAY_* setting leaks in from the environment."""

import os

import pytest

from pg_fixtures import backend, database_url, store, store_url  # noqa: F401 - suite-wide


@pytest.fixture(autouse=True)
def _no_relay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RELAY_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
