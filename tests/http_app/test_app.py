"""`create_app`: the MCP transports and /healthz behind the guard, over a real Relay, in
process (the end-to-end tests in tests/mcp_server serve it over a real socket)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr
from starlette.applications import Starlette

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.http_app.app import create_app

TOKEN = "t0ken"
BASE = "http://127.0.0.1:8765"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "hello.yaml").write_text(
        "id: hello\nsteps:\n  - {id: hi, action: log, params: {message: hi}}\n"
    )
    return Settings(
        home=tmp_path / "home", workflows_path=str(workflows), auth_token=SecretStr(TOKEN)
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        app = create_app(relay, settings)
        async with app.router.lifespan_context(app):  # what uvicorn does on start-up
            yield app


def client_of(app: Starlette, **headers: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=BASE, headers=headers
    )


async def test_the_app_serves_both_transports_and_healthz(app: Starlette) -> None:
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/healthz", "/mcp", "/sse", "/messages"} <= paths


async def test_healthz_reveals_nothing_but_ok(app: Starlette) -> None:
    async with client_of(app) as http:
        response = await http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("path", ["/mcp", "/sse", "/messages/?session_id=x", "/nowhere"])
async def test_every_other_path_needs_the_token(app: Starlette, path: str) -> None:
    async with client_of(app, Authorization="Bearer wrong") as http:
        response = await http.post(path, json={})
    assert response.status_code == 401


async def test_a_2026_client_calls_a_tool_with_the_token(app: Starlette) -> None:
    async with (
        client_of(app, Authorization=f"Bearer {TOKEN}") as http,
        Client(streamable_http_client(f"{BASE}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("list_workflows", {})
    assert result.structured_content is not None
    assert [w["id"] for w in result.structured_content["workflows"]] == ["hello"]
