"""`relay`: parse argv, build Settings once, run one command, map errors to exit codes.

Exit codes: 0 done (a run completed), 1 failed (a run failed, a file is invalid, the
store refused), 2 bad usage or input, 3 a run was cancelled, 130 interrupted. A
`RelayError` or a bad flag prints `relay: error: ...` and never a traceback.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio

from relay import __version__
from relay.cli import (
    commands_coordination,
    commands_events,
    commands_init,
    commands_runs,
    commands_server,
    commands_workflows,
)
from relay.cli.output import error
from relay.errors import (
    ConfigError,
    ConflictError,
    InvalidTransition,
    RelayError,
    RunNotFound,
    StoreError,
    TaskNotFound,
    UsageError,
    WorkflowError,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process its pipe ended

# The most specific class wins (walking the MRO); RelayError catches the rest.
EXIT_CODES: dict[type[RelayError], int] = {
    UsageError: EXIT_USAGE,
    WorkflowError: EXIT_USAGE,
    RunNotFound: EXIT_USAGE,
    TaskNotFound: EXIT_USAGE,
    ConfigError: EXIT_USAGE,
    InvalidTransition: 1,
    ConflictError: 1,
    StoreError: 1,
    RelayError: 1,
}

DESCRIPTION = """\
relay: durable workflows that AI chats, scripts and people drive together.

Every command uses the same store as the MCP servers (RELAY_HOME, default ~/.relay, or
RELAY_DATABASE_URL), so a shell script, a git hook or a CI job joins the coordination.
Workflows are found on RELAY_WORKFLOWS_PATH (default ./workflows, then $RELAY_HOME/workflows).
"""

EPILOG = """\
exit codes: 0 ok or run completed, 1 run failed or error, 2 bad usage or input,
3 run cancelled, 130 interrupted. `relay COMMAND --help` describes each command.
"""


def exit_code(exc: RelayError) -> int:
    return next(EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"relay {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in (
        commands_init,
        commands_runs,
        commands_events,
        commands_coordination,
        commands_workflows,
        commands_server,
    ):
        module.register(commands)
    return parser


def _innermost(exc: BaseException) -> BaseException:
    """The one error inside (nested) task-group exception groups, or `exc` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; its RelayError becomes a message and an exit code."""
    from relay.config import load_settings  # pydantic-settings: not before a server answers

    try:
        if args.reads_settings_itself:
            code: int = anyio.run(args.handler, args)
        else:
            code = anyio.run(args.handler, load_settings(), args)
    except BaseException as exc:  # re-raised unless it is one of ours
        cause = _innermost(exc)
        if isinstance(cause, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(cause, BrokenPipeError):
            return _reader_gone()
        if not isinstance(cause, RelayError):
            raise
        error(str(cause))
        return exit_code(cause)
    return code


def _reader_gone() -> int:
    """The output's reader left (`relay ... | head`): stop quietly, as `cat` does. Output
    still buffered for it goes nowhere, so that exiting raises no second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The `relay` console script."""
    logging.basicConfig(level=logging.WARNING, format="relay: %(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    code = run_command(args)
    if args.exits_at_once:
        # A server has stopped in order (leases handed back, store closed): skip the
        # interpreter's teardown of the SDK's hundreds of modules (about 0.2 s), which a
        # client that sends SIGTERM 100 ms after SIGINT would cut short anyway.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
