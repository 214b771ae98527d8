"""Who may use the dashboard: open on loopback without a token; with RELAY_AUTH_TOKEN,
the login page's HttpOnly SameSite=Strict cookie or the bearer token, pages redirecting
to /ui/login and the API answering 401; Origin checked on every state-changing request;
the token never on a page."""

from pathlib import Path

import httpx2
import pytest
from dashboard_harness import BASE, TOKEN, Home, client_of
from starlette.applications import Starlette

from relay.dashboard.routes import create_dashboard_app
from relay.http_app.security import SESSION_COOKIE, session_value
from relay.service.services import Services


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """On SQLite only: who may use the dashboard does not depend on the store."""
    return Home.create(tmp_path)


API_CALLS = [
    ("GET", "/api/runs"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs/some-run"),
    ("POST", "/api/runs/some-run/approve"),
    ("POST", "/api/runs/some-run/cancel"),
    ("POST", "/api/runs/some-run/resume"),
    ("GET", "/api/approvals"),
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks/some-task/complete"),
    ("GET", "/api/events"),
    ("GET", "/api/workflows"),
    ("GET", "/api/workflows/gated"),
    ("GET", "/api/participants"),
    ("GET", "/api/analytics"),
    ("GET", "/api/live"),
    ("GET", "/api/nowhere"),
]
PAGES = [
    "/ui/",
    "/ui/runs/some-run",
    "/ui/approvals",
    "/ui/events?type=x",
    "/ui/workflows",
    "/ui/workflows/gated",
    "/ui/participants",
    "/ui/analytics",
    "/ui/nowhere",
]
OWN = {"Origin": BASE}


async def sign_in(http: httpx2.AsyncClient, token: str = TOKEN) -> httpx2.Response:
    return await http.post("/ui/login", data={"token": token, "next": "/ui/approvals"}, headers=OWN)


@pytest.mark.parametrize(("method", "path"), API_CALLS)
async def test_every_api_call_without_cookie_or_token_gets_401(
    guarded_app: Starlette, method: str, path: str
) -> None:
    async with client_of(guarded_app) as http:
        plain = await http.request(method, path, headers=OWN)
        wrong = await http.request(method, path, headers={**OWN, "Authorization": "Bearer wrong"})
        http.cookies.set(SESSION_COOKIE, session_value("another token"))
        forged = await http.request(method, path, headers=OWN)
    assert (plain.status_code, wrong.status_code, forged.status_code) == (401, 401, 401)
    assert "error" in plain.json()


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_without_the_cookie_redirects_to_the_login_page(
    guarded_app: Starlette, path: str
) -> None:
    async with client_of(guarded_app) as http:
        response = await http.get(path)
    assert response.status_code == 303
    location = httpx2.URL(response.headers["location"])
    assert location.path == "/ui/login"
    assert location.params["next"] == path


async def test_the_login_page_sets_an_httponly_samesite_strict_cookie(
    guarded_app: Starlette,
) -> None:
    async with client_of(guarded_app) as http:
        form = await http.get("/ui/login?next=/ui/events")
        refused = await sign_in(http, "not the token")
        assert SESSION_COOKIE not in http.cookies
        accepted = await sign_in(http)
        page = await http.get("/ui/approvals")
        api = await http.get("/api/runs")

    assert form.status_code == 200
    assert 'name="next" value="/ui/events"' in form.text
    assert refused.status_code == 401
    assert "That is not the token" in refused.text
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/ui/approvals"
    cookie = accepted.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie  # derived from the token, not the token itself
    assert (page.status_code, api.status_code) == (200, 200)


async def test_after_too_many_wrong_tokens_the_login_page_and_the_api_refuse_that_address(
    guarded_app: Starlette,
) -> None:
    async with client_of(guarded_app) as http:
        wrong = [(await sign_in(http, f"guess {i}")).status_code for i in range(20)]
        right = await sign_in(http)
        api = await http.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})

    assert wrong == [401] * 20
    assert right.status_code == 429  # the right token, but it is not even compared now
    assert "Too many wrong tokens" in right.text
    assert 0 < int(right.headers["retry-after"]) <= 60
    assert SESSION_COOKIE not in right.headers.get("set-cookie", "")
    assert api.status_code == 429  # the guard and the login page count together


async def test_a_bearer_token_works_for_the_api_without_an_origin(
    guarded_app: Starlette, relay: Services
) -> None:
    async with client_of(guarded_app, Authorization=f"Bearer {TOKEN}") as http:
        listed = await http.get("/api/workflows")
        started = await http.post("/api/runs", json={"workflow": "steps", "inputs": {}})
    assert listed.status_code == 200
    assert started.status_code == 200, started.text
    assert (await relay.runs.get_run(started.json()["run_id"])).started_by == "dashboard"


@pytest.mark.parametrize(
    "origin", [{"Origin": "http://evil.example"}, {"Referer": "http://evil.example/x"}, {}]
)
async def test_a_state_changing_request_from_elsewhere_gets_403(
    guarded_app: Starlette, relay: Services, origin: dict[str, str]
) -> None:
    async with client_of(guarded_app) as http:
        await sign_in(http)
        api = await http.post("/api/runs", json={"workflow": "steps"}, headers=origin)
        form = await http.post("/ui/workflows/steps/start", data={}, headers=origin)
        listed = await http.get("/api/runs", headers=origin)
    assert (api.status_code, form.status_code) == (403, 403)
    # A foreign Origin is refused even for reading; no Origin at all is fine for a GET.
    assert listed.status_code == (403 if "Origin" in origin else 200)
    assert await relay.runs.list_runs() == []


async def test_a_same_origin_form_post_with_the_cookie_acts(
    guarded_app: Starlette, relay: Services
) -> None:
    async with client_of(guarded_app) as http:
        await sign_in(http)
        started = await http.post(
            "/ui/workflows/steps/start", data={"input.label": "x"}, headers=OWN
        )
    assert started.status_code == 303
    (run,) = await relay.runs.list_runs()
    assert started.headers["location"] == f"/ui/runs/{run.id}"


async def test_after_signing_in_next_only_leads_to_dashboard_pages(
    guarded_app: Starlette,
) -> None:
    async with client_of(guarded_app) as http:
        for target in ("//evil.example/ui/", "https://evil.example/", "/api/runs"):
            response = await http.post(
                "/ui/login", data={"token": TOKEN, "next": target}, headers=OWN
            )
            assert response.headers["location"] == "/ui/", target


async def test_signing_out_ends_the_session(guarded_app: Starlette) -> None:
    async with client_of(guarded_app) as http:
        await sign_in(http)
        out = await http.post("/ui/logout", headers=OWN)
        after = await http.get("/api/runs")
    assert out.status_code == 303
    assert after.status_code == 401


async def test_without_a_token_on_loopback_the_dashboard_is_open(open_app: Starlette) -> None:
    async with client_of(open_app) as http:
        pages = [(await http.get(path)).status_code for path in ("/ui/", "/ui/workflows")]
        api = await http.get("/api/runs")
        login = await http.get("/ui/login")
        foreign = await http.post(
            "/api/runs", json={"workflow": "steps"}, headers={"Origin": "http://evil.example"}
        )
        no_origin = await http.post("/api/runs", json={"workflow": "steps"})
    assert pages == [200, 200]
    assert api.status_code == 200
    assert (login.status_code, login.headers["location"]) == (303, "/ui/")
    assert (foreign.status_code, no_origin.status_code) == (403, 403)


async def test_the_token_never_reaches_a_page(guarded_app: Starlette, relay: Services) -> None:
    await relay.runs.start_run(relay.workflows.workflow_for(workflow="gated"))
    async with client_of(guarded_app) as http:
        bodies = [(await http.get("/ui/login")).text, (await sign_in(http, "wrong")).text]
        await sign_in(http)
        (run,) = await relay.runs.list_runs()
        for path in [*PAGES, f"/ui/runs/{run.id}", "/api/runs", f"/api/runs/{run.id}"]:
            bodies.append((await http.get(path)).text)
    assert all(TOKEN not in body for body in bodies)
    assert all(session_value(TOKEN) not in body for body in bodies)


async def test_pages_forbid_scripts_from_elsewhere(open_app: Starlette) -> None:
    async with client_of(open_app) as http:
        response = await http.get("/ui/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_relay_ui_serves_the_dashboard_alone(relay: Services, home: Home) -> None:
    app = create_dashboard_app(relay, home.settings(), bind_host="127.0.0.1")
    async with client_of(app) as http:
        root = await http.get("/")
        mcp = await http.post("/mcp", json={})
        runs = await http.get("/ui/")
        health = await http.get("/healthz")
    assert (root.status_code, root.headers["location"]) == (307, "/ui/")
    assert mcp.status_code == 404
    assert (runs.status_code, health.json()) == (200, {"status": "ok"})
