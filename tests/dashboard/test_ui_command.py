"""`relay ui`: the dashboard alone in its own process, its live stream fed by commits of
other processes, and the exposure and token rules of the HTTP app."""

from collections.abc import Iterator

import anyio
import httpx2
import pytest
from dashboard_harness import Home, Server

pytestmark = pytest.mark.slow

TOKEN = "ui-t0ken"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home.create(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def ui(home: Home) -> Iterator[Server]:
    running = Server(home, ("ui",)).wait_ready()
    yield running
    assert running.stop() == 0, running.stderr()


async def next_event(lines: object) -> str:
    """The name of the next server-sent event on the stream."""
    async for line in lines:  # type: ignore[attr-defined]
        if line.startswith("event: "):
            return str(line.removeprefix("event: "))
    raise AssertionError("the stream ended")


async def test_it_serves_the_dashboard_and_not_mcp(ui: Server) -> None:
    async with httpx2.AsyncClient(base_url=ui.url) as http:
        runs = await http.get("/ui/")
        mcp = await http.post("/mcp", json={})
        root = await http.get("/")
    assert runs.status_code == 200
    assert "acting as <b>dashboard</b>" in runs.text
    assert mcp.status_code == 404
    assert root.headers["location"] == "/ui/"


async def test_the_live_stream_reports_a_commit_made_by_another_process(
    ui: Server, home: Home
) -> None:
    async with (
        httpx2.AsyncClient(base_url=ui.url, timeout=30) as http,
        http.stream("GET", "/api/live") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        with anyio.fail_after(20):
            assert await next_event(lines) == "ready"
            emitted = await anyio.to_thread.run_sync(home.cli, "emit", "build.done")
            assert emitted.returncode == 0, emitted.stderr
            assert await next_event(lines) == "change"


async def test_with_a_token_the_api_needs_it_and_pages_lead_to_the_login(home: Home) -> None:
    guarded = Server(home, ("ui",), RELAY_AUTH_TOKEN=TOKEN).wait_ready()
    try:
        async with httpx2.AsyncClient(base_url=guarded.url) as http:
            api = await http.get("/api/runs")
            page = await http.get("/ui/analytics")
            with_bearer = await http.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        assert guarded.stop() == 0, guarded.stderr()
    assert api.status_code == 401
    assert (page.status_code, page.headers["location"]) == (303, "/ui/login?next=%2Fui%2Fanalytics")
    assert with_bearer.status_code == 200


def test_a_non_loopback_bind_without_a_token_refuses_to_start(home: Home) -> None:
    done = home.cli("ui", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without RELAY_AUTH_TOKEN" in done.stderr
