"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real
`relay serve --transport http`, while the CLI and an MCP client work on the same store.

Skipped, saying why, when the `playwright` package or /usr/bin/chromium is missing
(.ci/run installs the `chromium` package; a browser download is not possible here).
"""

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from dashboard_harness import SCRIPT, Home, Server
from mcp import Client

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LIVE_TIMEOUT_MS = 20_000

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed (pip install -e .[dev])"
)
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)",
        allow_module_level=True,
    )
expect = playwright_api.expect


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home.create(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(home: Home) -> Iterator[Server]:
    """One open (loopback, no token) HTTP app serving MCP and the dashboard."""
    running = Server(home, ("serve", "--transport", "http")).wait_ready()
    yield running
    assert running.stop() == 0, running.stderr()


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            yield await context.new_page()
        finally:
            await browser.close()


def start_detached(home: Home, workflow: str, *inputs: str) -> str:
    """`relay run WORKFLOW --detach` from a shell: the serving process executes it."""
    done = home.cli("run", workflow, "--detach", *inputs)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def open_live(page: Any, url: str) -> None:
    """Open `url` and wait until its live stream is connected; mark the document so
    that a reload (a new document) would be noticed."""
    await page.goto(url)
    await expect(page.locator("html")).to_have_attribute("data-live", "connected")
    await page.evaluate("window.__sameDocument = true")


async def assert_not_reloaded(page: Any) -> None:
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def test_a_run_started_from_the_cli_appears_and_advances_without_a_reload(
    server: Server, home: Home, page: Any
) -> None:
    await open_live(page, f"{server.url}/ui/")

    run_id = await anyio.to_thread.run_sync(start_detached, home, "gated")
    row = page.locator(f'tr[data-run="{run_id}"]')
    await expect(row).to_have_attribute("data-status", "waiting", timeout=LIVE_TIMEOUT_MS)
    approved = await anyio.to_thread.run_sync(home.cli, "approve", run_id)
    assert approved.returncode == 0, approved.stderr
    await expect(row).to_have_attribute("data-status", "completed", timeout=LIVE_TIMEOUT_MS)

    await assert_not_reloaded(page)


async def test_the_run_page_draws_the_graph_by_status_and_is_saved_as_a_screenshot(
    server: Server, home: Home, page: Any
) -> None:
    run_id = await anyio.to_thread.run_sync(start_detached, home, "gated")
    await open_live(page, f"{server.url}/ui/runs/{run_id}")

    graph = page.locator("svg.dag")
    await expect(graph.locator('g.node[data-step="gate"]')).to_have_attribute(
        "data-status", "waiting", timeout=LIVE_TIMEOUT_MS
    )
    await expect(graph.locator('g.node[data-step="prepare"]')).to_have_attribute(
        "data-status", "completed"
    )
    await expect(graph.locator('g.node[data-step="ship"]')).to_have_attribute(
        "data-status", "pending"
    )
    await expect(graph.locator("line.edge")).to_have_count(2)
    await expect(page.locator("svg.timeline g.bar")).not_to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "run-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


async def test_approving_on_the_approvals_page_completes_the_run_and_unblocks_an_mcp_wait(
    server: Server, home: Home, page: Any
) -> None:
    run_id = await anyio.to_thread.run_sync(start_detached, home, "gated")
    waiting = anyio.Event()
    seen: dict[str, Any] = {}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        waiting.set()  # the server is inside get_status's wait

    async with Client(f"{server.url}/mcp") as mcp, anyio.create_task_group() as tg:
        status = await mcp.call_tool("get_status", {"run_id": run_id, "wait_seconds": 5})
        assert (status.structured_content or {}).get("status") == "waiting", status

        async def wait_over_mcp() -> None:
            # A wait on a blocked run returns at once; a chat that waits for the decision
            # waits for the run's end in the shared log.
            result = await mcp.call_tool(
                "wait_for_event",
                {"type": "workflow.completed", "match": {"correlation_id": run_id},
                 "timeout_seconds": 60},
                progress_callback=on_progress,
            )  # fmt: skip
            seen.update((result.structured_content or {}).get("event") or {})

        tg.start_soon(wait_over_mcp)
        await open_live(page, f"{server.url}/ui/approvals")
        card = page.locator(f'div.card[data-run="{run_id}"]')
        await card.locator('input[name="comment"]').fill("looks <b>good</b>")
        with anyio.fail_after(20):
            await waiting.wait()
        await card.get_by_role("button", name="Approve").click()

        await page.wait_for_url(f"**/ui/runs/{run_id}")
        await expect(page.locator("#run-status")).to_have_attribute(
            "data-status", "completed", timeout=LIVE_TIMEOUT_MS
        )
    assert seen["data"]["run_id"] == run_id, seen  # the approval ended the wait
    assert seen["data"]["status"] == "completed", seen
    async with home.relay() as relay:
        approvals = [
            a for a in await relay.coordination.list_approvals("all") if a["run_id"] == run_id
        ]
    assert [(a["decided_by"], a["channel"], a["comment"]) for a in approvals] == [
        ("dashboard", "dashboard", "looks <b>good</b>")
    ]
    await expect(page.locator("main")).to_contain_text("looks <b>good</b>")  # as text
    assert await page.locator("main b", has_text="good").count() == 0


async def test_a_step_output_with_a_script_tag_is_shown_as_text(
    server: Server, home: Home, page: Any
) -> None:
    run_id = await anyio.to_thread.run_sync(start_detached, home, "hostile")
    await open_live(page, f"{server.url}/ui/runs/{run_id}")
    output = page.locator('tr[data-step="say"] pre.output')
    await expect(output).to_contain_text(SCRIPT, timeout=LIVE_TIMEOUT_MS)

    await page.goto(f"{server.url}/ui/events?type=step.completed")
    await expect(page.locator("table")).to_contain_text("window.__pwned")
    assert await page.evaluate("window.__pwned === undefined")
    scripts = await page.locator("script").evaluate_all("els => els.map(e => e.src)")
    assert scripts == [f"{server.url}/ui/static/app.js"]
    assert await page.locator("img").count() == 0  # a step name's <img> stayed text


async def test_with_a_token_the_browser_signs_in_once_and_keeps_an_httponly_cookie(
    home: Home, page: Any
) -> None:
    guarded = Server(home, ("ui",), RELAY_AUTH_TOKEN="br0wser-t0ken").wait_ready()
    try:
        await page.goto(f"{guarded.url}/ui/approvals")
        await expect(page).to_have_url(f"{guarded.url}/ui/login?next=%2Fui%2Fapprovals")
        await page.fill('input[name="token"]', "wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#login-error")).to_be_visible()
        await page.fill('input[name="token"]', "br0wser-t0ken")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{guarded.url}/ui/approvals")
        await expect(page.locator("html")).to_have_attribute("data-live", "connected")
        (cookie,) = await page.context.cookies()
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert await page.evaluate("document.cookie") == ""  # out of a script's reach
    finally:
        assert guarded.stop() == 0, guarded.stderr()
