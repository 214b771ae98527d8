"""End to end over HTTP: `relay serve --transport http` on 127.0.0.1, driven by the SDK's
client over streamable HTTP (both protocol eras) and legacy SSE, and by raw requests for
the guard (token, Origin, Host) and /healthz."""

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from e2e_harness import SERVE, Home, HttpServer, call, finish
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from tests.served import free_port

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home.create(tmp_path_factory.mktemp("http"))


@pytest.fixture(scope="module")
def server(home: Home) -> Iterator[HttpServer]:
    """One open server (no token) for the module; RELAY_PARTICIPANT unset: each client
    is known by its own name."""
    running = HttpServer(home).wait_ready()
    yield running
    assert running.stop() == 0, running.stderr()


@pytest.fixture(scope="module")
def guarded(home: Home) -> Iterator[HttpServer]:
    running = HttpServer(
        home, RELAY_AUTH_TOKEN=TOKEN, RELAY_ALLOWED_HOSTS="relay.test"
    ).wait_ready()
    yield running
    assert running.stop() == 0, running.stderr()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_gated_run_is_approved_over_streamable_http(server: HttpServer, mode: str) -> None:
    async with Client(f"{server.url}/mcp", mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert {"start_workflow", "approve", "get_status"} <= {t.name for t in tools}

        run = await call(client, "start_workflow", workflow="gated", wait_seconds=10)
        assert run["waiting_for"]["kind"] == "approval", run
        assert "approve(" in run["next"]
        decided = await call(client, "approve", run_id=run["run_id"])
        assert decided["step"] == "gate"
        done = await finish(client, run["run_id"])
        assert done["status"] == "completed", done

        resource = await client.read_resource(f"relay://runs/{run['run_id']}")
        assert json.loads(getattr(resource.contents[0], "text", ""))["status"] == "completed"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sse_serves_the_same_server(server: HttpServer, mode: str) -> None:
    async with Client(f"{server.url}/mcp") as http:
        run = await call(http, "start_workflow", workflow="gated", wait_seconds=10)
    async with Client(sse_client(f"{server.url}/sse"), mode=mode) as sse:
        seen = await call(sse, "get_status", run_id=run["run_id"])
        assert seen["waiting_for"]["kind"] == "approval"
        workflows = await call(sse, "list_workflows")
        assert {w["id"] for w in workflows["workflows"]} >= {"gated", "cross-chat", "slow"}


async def test_healthz_says_ok_and_nothing_else(server: HttpServer) -> None:
    response = httpx2.get(f"{server.url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_foreign_origin_gets_403_and_a_foreign_host_421(server: HttpServer) -> None:
    evil_origin = httpx2.get(f"{server.url}/healthz", headers={"Origin": "http://evil.example"})
    evil_host = httpx2.get(f"{server.url}/mcp", headers={"Host": "evil.example"})
    local_origin = httpx2.get(f"{server.url}/healthz", headers={"Origin": "http://localhost:3000"})

    assert evil_origin.status_code == 403
    assert evil_host.status_code == 421
    assert local_origin.status_code == 200


async def test_with_a_token_mcp_needs_it_and_healthz_does_not(guarded: HttpServer) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    wrong = httpx2.post(
        f"{guarded.url}/mcp", json=initialize, headers={"Authorization": "Bearer nope"}
    )
    missing = httpx2.get(f"{guarded.url}/sse")
    health = httpx2.get(f"{guarded.url}/healthz")

    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert missing.status_code == 401
    assert health.status_code == 200


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_right_token_gets_in(guarded: HttpServer, mode: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(f"{guarded.url}/mcp", http_client=http), mode=mode) as client,
    ):
        workflows = await call(client, "list_workflows")
        assert workflows["errors"] == []


async def test_an_allowed_host_name_gets_in(guarded: HttpServer) -> None:
    response = httpx2.get(
        f"{guarded.url}/healthz",
        headers={"Host": f"relay.test:{guarded.port}", "Origin": "https://relay.test"},
    )
    assert response.status_code == 200


def test_no_token_on_a_non_loopback_address_refuses_to_start(tmp_path: Path) -> None:
    home = Home.create(tmp_path)
    port = free_port()
    done = subprocess.run(
        [*SERVE, "--transport", "http", "--host", "0.0.0.0", "--port", str(port)],
        env=home.env("claude_code"),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "relay: error: refusing to serve on 0.0.0.0 without RELAY_AUTH_TOKEN: "
        "set a token, or serve on 127.0.0.1"
    ]
    assert not (tmp_path / "home").exists()  # refused before opening (or binding) anything


async def test_sigterm_stops_the_server_cleanly_while_legacy_streams_are_open(
    tmp_path: Path,
) -> None:
    home = Home.create(tmp_path)
    running = HttpServer(home, participant="api").wait_ready()
    assert len(await home.worker_pids("api")) == 1
    async with (
        httpx2.AsyncClient(base_url=running.url, timeout=10) as http,
        http.stream("GET", "/sse") as sse,  # a legacy SSE client
        _legacy_streamable_session(http) as session,
        http.stream("GET", "/mcp", headers=session) as standalone,  # its server-push stream
    ):
        assert (sse.status_code, standalone.status_code) == (200, 200)
        code = await anyio.to_thread.run_sync(running.stop)

    assert code == 0, running.stderr()
    assert "ERROR" not in running.stderr()
    assert "Traceback" not in running.stderr()
    assert await home.worker_pids("api") == []  # the engine stopped and said so


@asynccontextmanager
async def _legacy_streamable_session(http: httpx2.AsyncClient) -> AsyncIterator[dict[str, str]]:
    """A 2025-era session over streamable HTTP; yields the headers its requests carry."""
    headers = {"Accept": "application/json, text/event-stream"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    opened = await http.post("/mcp", json=initialize, headers=headers)
    assert opened.status_code == 200, opened.text
    headers |= {
        "Mcp-Session-Id": opened.headers["mcp-session-id"],
        "Mcp-Protocol-Version": "2025-11-25",
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post("/mcp", json=initialized, headers=headers)).status_code == 202
    yield headers | {"Accept": "text/event-stream"}


async def test_sigterm_stops_the_server_at_once_and_cleanly_while_a_listen_stream_is_open(
    tmp_path: Path,
) -> None:
    """A 2026-07-28 `subscriptions/listen` stream is ended with its final result, not
    left to the graceful shutdown's timeout (which cancels it with a traceback)."""
    home = Home.create(tmp_path)
    running = HttpServer(home, participant="api").wait_ready()
    ended = anyio.Event()
    async with (
        Client(f"{running.url}/mcp") as client,
        client.listen(resource_subscriptions=["relay://events/recent"]) as updates,
        anyio.create_task_group() as tg,
    ):

        async def drain() -> None:
            async for _ in updates:
                pass
            ended.set()  # the server ended the stream, gracefully

        tg.start_soon(drain)
        await call(client, "list_runs")
        with anyio.fail_after(1.5):  # the graceful shutdown's timeout is 2 s
            code = await anyio.to_thread.run_sync(running.stop)
            await ended.wait()
    assert code == 0, running.stderr()
    assert "Traceback" not in running.stderr()
    assert "ERROR" not in running.stderr()
