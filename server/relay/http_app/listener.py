"""Serving the HTTP app: the exposure rule, the listening socket, and uvicorn.

relay opens the socket itself (a clear error when the port is taken, and the exposure
rule is checked before anything is bound) and owns SIGINT/SIGTERM: uvicorn's own
handlers would re-raise the signal after its shutdown and kill the process before the
engine hands its leases back.
"""

import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import uvicorn
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette

from relay.config import Settings
from relay.errors import ConfigError
from relay.http_app.security import auth_token, is_loopback

# After a stop signal, requests still running get this long before uvicorn cancels them.
GRACEFUL_SHUTDOWN_SECONDS = 2


def check_exposure(host: str, settings: Settings) -> None:
    """Refuse to listen beyond loopback without a token.

    Raises:
        ConfigError: `host` is not a loopback address and RELAY_AUTH_TOKEN is unset.
    """
    if not is_loopback(host) and auth_token(settings) is None:
        raise ConfigError(
            f"refusing to serve on {host} without RELAY_AUTH_TOKEN: set a token, "
            "or serve on 127.0.0.1"
        )


def open_listener(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (port 0: any free port).

    Raises:
        ConfigError: the address cannot be resolved or bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket, path: str = "") -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # relay's signal receiver stops the server (see the module docstring)


@contextlib.contextmanager
def stop_signals() -> Iterator[AsyncIterator[int]]:
    """SIGINT and SIGTERM, received from here on (enter it before opening anything)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        yield received


async def serve(
    app: Starlette,
    sock: socket.socket,
    signals: AsyncIterator[int],
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve `app` on `sock` until the first signal (which calls `on_stop`, to end the
    app's open streams); a second one stops at once."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _Server(config)

    async def stop_on_signal() -> None:
        async for _ in signals:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True
            # Open event streams (SSE, a legacy client's GET /mcp) end now, cleanly: they
            # watch this flag, which uvicorn's own signal handler would have set.
            AppStatus.should_exit = True
            if on_stop is not None:
                on_stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signal)
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()
