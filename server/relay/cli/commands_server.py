"""Long-running processes: `serve` (MCP over stdio, SSE or streamable HTTP), `worker`,
and `ui` (the dashboard alone).

Each opens the process's services with a worker engine, so that every serving process
also drives runs. Stopping it (stdin closed for stdio, SIGINT or SIGTERM for any) leaves
`open_relay`, whose engine hands its leases back: another process takes the runs over at
once instead of after the lease lapses; then the process exits without the interpreter's
teardown (`add_server_command`).

Start-up time matters: a chat spawns `relay serve` and its first model request leaves
about half a second later. So `relay serve` over stdio answers `initialize` and the lists
first, and only then reads its settings, imports the engine and opens the store (or at
once, when a request needs them). The MCP and HTTP modules are imported only by the
command that needs them.
"""

import argparse
import logging
import sys
from typing import TYPE_CHECKING, TextIO

import anyio

from relay.cli.interrupt import StopOnSignal
from relay.cli.output import note
from relay.cli.parsing import Subcommands, add_server_command
from relay.cli.session import participant
from relay.errors import RelayError

if TYPE_CHECKING:
    from relay.config import Settings  # imported by the commands that serve
    from relay.mcp_server.handle import RelayHandle
    from relay.mcp_server.stdio import InputQuiet

log = logging.getLogger("relay.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_UI_PORT = 8766  # beside a `relay serve --transport http` on the default port
DASHBOARD_PARTICIPANT = "dashboard"
# Over stdio, the store opens once the client's first burst of requests is answered and
# it has been quiet this long, or as soon as a request needs it, or after this at most.
QUIET_SECONDS = 0.05
OPEN_AT_THE_LATEST_SECONDS = 0.5
SERVE_HELP = """\
serve MCP to a client: over stdin/stdout (the default; what a chat's MCP config
runs), or over HTTP (`--transport http` or `sse`: one app serving streamable HTTP at
/mcp, legacy SSE at /sse, /healthz, and the dashboard at /ui/). The process also runs
the engine."""
UI_HELP = """\
serve the dashboard (/ui/) and its JSON API (/api/) alone, without the MCP transports;
it opens no browser. With RELAY_AUTH_TOKEN set, the browser asks for the token once.
The process also runs the engine, acting as RELAY_PARTICIPANT (default: dashboard)."""
ON_A_TERMINAL = (
    "this is an MCP server: it speaks JSON-RPC on stdin/stdout for an MCP client to run it "
    "(e.g. `claude mcp add relay -- {relay} serve`; `relay init` prints the set-up for "
    "Claude Code, Claude Desktop and PyCharm). Stop it with Ctrl-C."
)


def log_runs(stream: TextIO) -> None:
    """Say on `stream`, one timestamped line each, every run the engine takes and lets go."""
    from relay.engine.engine import runs_log  # here: `relay serve` starts without it

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("relay: %(asctime)s %(message)s", "%H:%M:%S %Z"))
    runs_log.addHandler(handler)
    runs_log.setLevel(logging.INFO)
    runs_log.propagate = False  # not twice, through the root logger's warnings format


async def run_worker(args: argparse.Namespace) -> int:
    from relay.bootstrap import Role, open_relay

    settings = _settings()
    name = participant(settings)
    log_runs(sys.stderr)
    async with StopOnSignal(), open_relay(settings, Role.SERVER, participant=name) as relay:
        note(f"worker {relay.runtime.worker_id} is running; stop it with Ctrl-C or SIGTERM")
        await anyio.sleep_forever()
    return 0  # stopped by a signal: the normal end of a worker


def _settings() -> "Settings":
    from relay.config import load_settings  # when the server starts: see the docstring

    return load_settings()


def serving_participant(settings: "Settings") -> str:
    """Who the serving process itself is (its engine's runs, its heartbeat); each MCP
    client is named by RELAY_PARTICIPANT, else by its own name."""
    return settings.participant or "mcp_server"


async def run_serve(args: argparse.Namespace) -> int:
    if args.transport == "stdio":
        return await _serve_stdio()
    return await _serve_http(_settings(), args.host, args.port)


async def _serve_stdio() -> int:
    from relay.mcp_server.handle import RelayHandle
    from relay.mcp_server.server import build_server
    from relay.mcp_server.stdio import stdio_transport

    on_a_terminal = sys.stdin.isatty()  # before the transport takes stdin over
    handle = RelayHandle()
    async with (
        StopOnSignal(),
        stdio_transport() as (serve, quiet),
        anyio.create_task_group() as tg,
    ):
        if on_a_terminal:
            note(ON_A_TERMINAL.format(relay=sys.argv[0]))
        tg.start_soon(_open_when_asked, handle, quiet)
        await serve(build_server(handle))
        tg.cancel_scope.cancel()
    return 0  # the client closed stdin, or a signal stopped the server


async def _open_when_asked(handle: "RelayHandle", quiet: "InputQuiet") -> None:
    """Open the process's services once the client's first requests are answered (or one
    needs it), and keep it open until cancelled."""
    async with anyio.create_task_group() as tg:

        async def when_wanted() -> None:
            await handle.wanted.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(when_wanted)
        await quiet.settled(idle_seconds=QUIET_SECONDS, at_most_seconds=OPEN_AT_THE_LATEST_SECONDS)
        tg.cancel_scope.cancel()
    try:
        settings = _settings()
        from relay.bootstrap import Role, open_relay

        async with open_relay(
            settings, Role.SERVER, participant=serving_participant(settings)
        ) as relay:
            handle.opened(relay, settings.participant)
            await anyio.sleep_forever()
    except RelayError as exc:
        log.error("%s", exc)
        handle.failed(exc)  # every request says why, and the chat can tell its user
        await anyio.sleep_forever()


async def _serve_http(settings: "Settings", host: str, port: int) -> int:
    from mcp.server.subscriptions import InMemorySubscriptionBus

    from relay.bootstrap import Role, open_relay
    from relay.http_app.app import MCP_PATH, SSE_PATH, create_app
    from relay.http_app.listener import check_exposure, open_listener, serve, stop_signals, url_of
    from relay.mcp_server.server import build_server
    from relay.mcp_server.updates import ResourceUpdates

    check_exposure(host, settings)  # before anything is bound or opened
    updates = ResourceUpdates(InMemorySubscriptionBus())
    with stop_signals() as signals, open_listener(host, port) as sock:
        async with open_relay(
            settings, Role.SERVER, participant=serving_participant(settings)
        ) as relay:
            mcp = build_server(relay, participant=settings.participant, updates=updates)
            app = create_app(relay, settings, bind_host=host, server=mcp)
            note(
                f"serving MCP at {url_of(sock, MCP_PATH)} (streamable HTTP) and "
                f"{url_of(sock, SSE_PATH)} (SSE), the dashboard at {url_of(sock, '/ui/')}; "
                "stop with Ctrl-C or SIGTERM"
            )
            await serve(app, sock, signals, on_stop=updates.end_streams)
    return 0


async def run_ui(args: argparse.Namespace) -> int:
    from relay.bootstrap import Role, open_relay
    from relay.dashboard.routes import create_dashboard_app
    from relay.http_app.listener import check_exposure, open_listener, serve, stop_signals, url_of

    settings = _settings()
    check_exposure(args.host, settings)  # before anything is bound or opened
    name = settings.participant or DASHBOARD_PARTICIPANT
    with stop_signals() as signals, open_listener(args.host, args.port) as sock:
        async with open_relay(settings, Role.SERVER, participant=name) as relay:
            app = create_dashboard_app(relay, settings, bind_host=args.host)
            note(f"dashboard at {url_of(sock, '/ui/')}; stop with Ctrl-C or SIGTERM")
            await serve(app, sock, signals)
    return 0


def register(commands: Subcommands) -> None:
    add_server_command(
        commands, "worker", run_worker, "run the engine: execute every runnable run until stopped"
    )
    serve = add_server_command(
        commands, "serve", run_serve, "serve MCP over stdio, streamable HTTP or SSE"
    )
    serve.description = SERVE_HELP
    serve.add_argument(
        "--transport",
        choices=("stdio", "sse", "http"),
        default="stdio",
        help="stdio (default); http and sse serve the same HTTP app (/mcp and /sse)",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; any other needs RELAY_AUTH_TOKEN)",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (default 8765)"
    )
    ui = add_server_command(commands, "ui", run_ui, "serve the dashboard and its JSON API")
    ui.description = UI_HELP
    ui.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; any other needs RELAY_AUTH_TOKEN)",
    )
    ui.add_argument(
        "--port", type=int, default=DEFAULT_UI_PORT, help="port to listen on (default 8766)"
    )
