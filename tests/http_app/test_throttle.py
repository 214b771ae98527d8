"""Wrong tokens slow their sender down: the throttle itself on a fake clock, then the guard
and the dashboard's login page refusing a client address that guessed too often."""

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from relay.http_app.security import SESSION_COOKIE, Guard, allowed_names
from relay.http_app.throttle import SignInThrottle

TOKEN = "t0ken"
MakeClient = Callable[[str], httpx2.AsyncClient]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_its_allowed_failures_until_the_window_passes() -> None:
    clock = Clock()
    throttle = SignInThrottle(allowed=3, window_seconds=60, clock=clock)
    for _ in range(2):
        throttle.failed("10.0.0.7")
        clock.now += 1
    assert throttle.retry_after("10.0.0.7") is None
    throttle.failed("10.0.0.7")

    assert throttle.retry_after("10.0.0.7") == 58  # the first failure leaves the window then
    assert throttle.retry_after("10.0.0.8") is None  # another address is not concerned
    clock.now += 58
    assert throttle.retry_after("10.0.0.7") is None


def test_only_failures_within_the_window_count() -> None:
    clock = Clock()
    throttle = SignInThrottle(allowed=2, window_seconds=10, clock=clock)
    throttle.failed("a")
    clock.now += 11
    throttle.failed("a")
    assert throttle.retry_after("a") is None


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def app_with(throttle: SignInThrottle) -> Starlette:
    return Starlette(
        routes=[Route("/mcp", hello), Route("/healthz", hello)],
        middleware=[
            Middleware(Guard, names=allowed_names("", "127.0.0.1"), token=TOKEN, throttle=throttle)
        ],
    )


@pytest.fixture
async def client_from() -> AsyncIterator[MakeClient]:
    throttle = SignInThrottle(allowed=3, window_seconds=60)
    app = app_with(throttle)
    clients: list[httpx2.AsyncClient] = []

    def make(address: str) -> httpx2.AsyncClient:
        transport = httpx2.ASGITransport(app=app, client=(address, 50000))
        client = httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_the_guard_refuses_a_guesser_even_its_right_token_and_tells_when_to_retry(
    client_from: MakeClient,
) -> None:
    guesser = client_from("192.0.2.10")
    other = client_from("192.0.2.11")
    wrong = [
        (await guesser.get("/mcp", headers={"Authorization": f"Bearer guess{i}"})).status_code
        for i in range(3)
    ]
    right = await guesser.get("/mcp", headers={"Authorization": f"Bearer {TOKEN}"})
    cookie = await guesser.get("/mcp", headers={"Cookie": f"{SESSION_COOKIE}=forged"})
    public = await guesser.get("/healthz")
    elsewhere = await other.get("/mcp", headers={"Authorization": f"Bearer {TOKEN}"})

    assert wrong == [401, 401, 401]
    assert right.status_code == 429  # compared with nothing: a right guess shows no change
    assert 0 < int(right.headers["retry-after"]) <= 60
    assert "too many wrong tokens" in right.json()["error"]
    assert TOKEN not in right.text
    assert cookie.status_code == 429
    assert public.status_code == 200  # the public paths stay open
    assert (elsewhere.status_code, elsewhere.text) == (200, "hello")


async def test_a_missing_token_is_not_a_guess(client_from: MakeClient) -> None:
    client = client_from("192.0.2.20")
    missing = [(await client.get("/mcp")).status_code for _ in range(5)]
    right = await client.get("/mcp", headers={"Authorization": f"Bearer {TOKEN}"})

    assert missing == [401] * 5
    assert right.status_code == 200
