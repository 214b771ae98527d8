"""The guard in front of every HTTP route: Host and Origin against DNS rebinding, the
bearer token, and the rule that refuses a non-loopback bind without one."""

import socket
from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from relay.config import Settings
from relay.errors import ConfigError
from relay.http_app.listener import check_exposure, open_listener
from relay.http_app.security import (
    Guard,
    allowed_names,
    auth_token,
    hostname,
    is_loopback,
    sdk_transport_security,
)

TOKEN = "t0ken"


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def guarded_app(token: str | None = None, extra_hosts: str = "") -> Starlette:
    names = allowed_names(extra_hosts, "127.0.0.1")
    return Starlette(
        routes=[Route("/healthz", hello), Route("/mcp", hello, methods=["GET", "POST"])],
        middleware=[Middleware(Guard, names=names, token=token)],
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    app = guarded_app(TOKEN, extra_hosts="relay.example.com, other.test:8443")
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
        yield c


@pytest.mark.parametrize(
    ("authority", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8765", "::1"),
        ("::1", "::1"),
        ("Relay.Example.com:443", "relay.example.com"),
    ],
)
def test_hostname_drops_the_port_and_the_case(authority: str, name: str) -> None:
    assert hostname(authority) == name


def test_loopback_names_and_addresses_are_loopback() -> None:
    assert all(is_loopback(h) for h in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
    assert not any(is_loopback(h) for h in ["0.0.0.0", "::", "192.0.2.1", "example.com"])


def test_allowed_names_add_a_specific_bind_address_but_not_every_interface() -> None:
    assert "192.0.2.7" in allowed_names("", "192.0.2.7")
    assert "0.0.0.0" not in allowed_names("", "0.0.0.0")
    assert allowed_names("a.test, B.test:8000,", "::") >= {"a.test", "b.test", "localhost"}


def test_the_sdk_transports_get_the_same_names() -> None:
    security = sdk_transport_security({"localhost", "::1"})
    assert "localhost:*" in security.allowed_hosts
    assert "[::1]:*" in security.allowed_hosts
    assert "http://localhost:*" in security.allowed_origins
    assert "https://[::1]" in security.allowed_origins


def test_a_blank_token_counts_as_none() -> None:
    assert auth_token(Settings(auth_token=SecretStr("  "))) is None
    assert auth_token(Settings(auth_token=SecretStr(TOKEN))) == TOKEN


async def test_healthz_needs_no_token(http: httpx2.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
async def test_other_routes_refuse_a_missing_or_wrong_token(
    http: httpx2.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await http.get("/mcp", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


async def test_the_right_token_passes(http: httpx2.AsyncClient) -> None:
    response = await http.get("/mcp", headers={"Authorization": f"bearer {TOKEN}"})
    assert (response.status_code, response.text) == (200, "hello")


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "file://", "http://127.0.0.1.evil.example:8765"]
)
async def test_a_foreign_origin_is_forbidden_even_on_healthz(
    http: httpx2.AsyncClient, origin: str
) -> None:
    response = await http.get("/healthz", headers={"Origin": origin})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "origin", ["http://localhost:3000", "https://relay.example.com", "http://other.test:1"]
)
async def test_own_origins_are_allowed(http: httpx2.AsyncClient, origin: str) -> None:
    assert (await http.get("/healthz", headers={"Origin": origin})).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "relay.example.com.evil"])
async def test_a_foreign_host_is_misdirected(http: httpx2.AsyncClient, host: str) -> None:
    response = await http.get("/healthz", headers={"Host": host})
    assert response.status_code == 421
    assert "RELAY_ALLOWED_HOSTS" in response.json()["error"]


async def test_an_allowed_host_is_served(http: httpx2.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"Host": "relay.example.com:8765"})
    assert response.status_code == 200


async def test_without_a_token_every_route_is_open_to_loopback() -> None:
    transport = httpx2.ASGITransport(app=guarded_app(token=None))
    async with httpx2.AsyncClient(transport=transport, base_url="http://localhost:8765") as c:
        assert (await c.post("/mcp")).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(host: str) -> None:
    check_exposure(host, Settings())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "relay.example.com"])
def test_any_other_address_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="RELAY_AUTH_TOKEN"):
        check_exposure(host, Settings())
    check_exposure(host, Settings(auth_token=SecretStr(TOKEN)))


def test_a_taken_port_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            open_listener("127.0.0.1", port)


def test_port_zero_listens_on_a_free_port() -> None:
    with open_listener("127.0.0.1", 0) as sock:
        assert sock.getsockname()[1] > 0
