"""The pieces every command's argument parser shares: registration, `--json`, JSON flags."""

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from relay.errors import UsageError

if TYPE_CHECKING:  # settings are read by `run_command` (and by servers when they start)
    from relay.config import Settings

Handler = Callable[["Settings", argparse.Namespace], Awaitable[int]]
# A long-running server that reads its settings when it needs them (`relay serve`
# answers its first requests first) and stops with os._exit once it stopped in order.
ServerHandler = Callable[[argparse.Namespace], Awaitable[int]]
# argparse exports no public name for what add_subparsers() returns.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

JSON_HELP = "print one JSON document shaped like the matching MCP tool's result"


def add_command(
    commands: Subcommands, name: str, handler: Handler, summary: str, *, reports: bool = True
) -> argparse.ArgumentParser:
    """A subcommand that runs `handler`; with `reports`, it takes `--json`."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=handler, reads_settings_itself=False, exits_at_once=False)
    if reports:
        parser.add_argument("--json", action="store_true", help=JSON_HELP)
    return parser


def add_server_command(
    commands: Subcommands, name: str, handler: ServerHandler, summary: str
) -> argparse.ArgumentParser:
    """A long-running server (see ServerHandler)."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=handler, reads_settings_itself=True, exits_at_once=True)
    return parser


def json_value(flag: str, text: str | None, default: Any) -> Any:
    """The JSON value a flag carries (`default` when the flag is absent).

    Raises:
        UsageError: the text is not JSON.
    """
    if text is None:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} must be JSON: {exc.msg} at column {exc.colno}") from None


def json_object(flag: str, text: str | None) -> dict[str, Any]:
    """The JSON object a flag carries ({} when the flag is absent).

    Raises:
        UsageError: the text is not JSON, or not an object.
    """
    value = json_value(flag, text, {})
    if not isinstance(value, dict):
        raise UsageError(f'{flag} must be a JSON object such as \'{{"key": "value"}}\'')
    return value
