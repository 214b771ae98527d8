"""Fixtures of the in-process dashboard tests: the full HTTP app over a Services with its
engine on a real SQLite file or PostgreSQL schema, served through httpx2's ASGI transport."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx2
import pytest
from dashboard_harness import TOKEN, Home
from pydantic import SecretStr
from starlette.applications import Starlette

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.http_app.app import create_app
from relay.service.services import Services


@pytest.fixture
def home(tmp_path: Path, database_url: str | None) -> Home:
    """On SQLite and on PostgreSQL (the `backend` parameter)."""
    return Home.create(tmp_path, database_url)


@pytest.fixture
async def relay(home: Home) -> AsyncIterator[Services]:
    async with open_relay(home.settings(), Role.SERVER, participant="mcp_server") as relay:
        yield relay


async def _serving(app: Starlette) -> AsyncIterator[Starlette]:
    async with app.router.lifespan_context(app):  # what uvicorn does on start-up
        yield app


@pytest.fixture
async def open_app(relay: Services, home: Home) -> AsyncIterator[Starlette]:
    """Loopback, no token: the dashboard is open."""
    async for app in _serving(create_app(relay, home.settings())):
        yield app


@pytest.fixture
def guarded_settings(home: Home) -> Settings:
    return home.settings(auth_token=SecretStr(TOKEN))


@pytest.fixture
async def guarded_app(relay: Services, guarded_settings: Settings) -> AsyncIterator[Starlette]:
    async for app in _serving(create_app(relay, guarded_settings)):
        yield app


Http = Callable[..., httpx2.AsyncClient]
