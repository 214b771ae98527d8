"""Commands about the shared event log: `emit` and `events` (with `--follow`)."""

import argparse
from typing import TYPE_CHECKING, Any

from relay.cli.interrupt import StopOnSignal
from relay.cli.output import local_time, short, write, write_json, write_json_line
from relay.cli.parsing import Subcommands, add_command, json_object
from relay.cli.run_text import state_lines
from relay.cli.session import client
from relay.model.events import Event
from relay.service.follow import FOLLOW_DECISION_SECONDS
from relay.service.views import event_view

if TYPE_CHECKING:
    from relay.config import Settings  # the service loads with the command that opens it
    from relay.service.services import Services

# `--follow` asks for at most this many events at a time, and looks again at the latest
# after this long even when no change was signalled (a safety net, as in the engine).
FOLLOW_PAGE = 500
FOLLOW_SECONDS = 1.0


def event_line(event: Event) -> str:
    view = event_view(event)
    correlation = f" [{view['correlation_id']}]" if view.get("correlation_id") else ""
    data = f" {short(view['data'])}" if view.get("data") else ""
    when = local_time(view.get("created_at"))
    return f"#{view['seq']} {when} {view['type']} from {view['source']}{correlation}{data}"


async def emit_event(settings: "Settings", args: argparse.Namespace) -> int:
    data = json_object("--data", args.data)
    async with client(settings) as relay:
        result = await relay.events.emit(
            args.type,
            data,
            source=args.source,
            correlation_id=args.correlation_id,
            idempotency_key=args.idempotency_key,
            follow_seconds=FOLLOW_DECISION_SECONDS,
        )
    if args.json:
        write_json(result.view())
        return 0
    seen = " (already recorded with this idempotency key: nothing appended)"
    write(event_line(result.event) + (seen if result.duplicate else ""))
    if result.started_runs:
        write(f"started runs: {', '.join(result.started_runs)}")
    if result.resumed_runs:
        write(f"resumed runs: {', '.join(result.resumed_runs)}")
    for state in result.resumed:
        for line in state_lines(state):
            write(line)
    return 0


async def list_events(settings: "Settings", args: argparse.Namespace) -> int:
    async with StopOnSignal(), client(settings) as relay:
        events, cursor = await relay.events.event_page(
            args.type, args.source, args.correlation_id, args.after_seq, args.limit
        )
        if not args.follow:
            _show_page(events, cursor, args.json)
            return 0
        _stream(events, args.json)
        await _follow(relay, args, cursor)
    return 0  # `--follow` ends with Ctrl-C or SIGTERM: that is its normal end


async def _page(
    relay: "Services", args: argparse.Namespace, after_seq: int | None, limit: int
) -> list[Event]:
    return await relay.events.list_events(
        args.type, args.source, args.correlation_id, after_seq, limit
    )


def _show_page(events: list[Event], last_seq: int, as_json: bool) -> None:
    if as_json:
        document: dict[str, Any] = {"events": [event_view(e) for e in events], "last_seq": last_seq}
        write_json(document)
    elif not events:
        write("no events")
    else:
        _stream(events, as_json=False)


def _stream(events: list[Event], as_json: bool) -> None:
    for event in events:
        if as_json:
            write_json_line(event_view(event))
        else:
            write(event_line(event))


async def _follow(relay: "Services", args: argparse.Namespace, cursor: int) -> None:
    async for _ in relay.changes(FOLLOW_SECONDS):
        while True:
            events = await _page(relay, args, cursor, FOLLOW_PAGE)
            _stream(events, args.json)
            cursor = events[-1].seq if events else cursor
            if len(events) < FOLLOW_PAGE:  # a full page: more are waiting
                break


def register(commands: Subcommands) -> None:
    emit = add_command(commands, "emit", emit_event, "append an event to the shared log")
    emit.add_argument("type", metavar="TYPE", help="the event type, e.g. process_complete")
    emit.add_argument("--data", metavar="JSON", help="the event's data: a JSON object")
    emit.add_argument("--source", help="who emits it (default: this participant)")
    emit.add_argument("--correlation-id", metavar="ID", help="ties related events together")
    emit.add_argument(
        "--idempotency-key", metavar="KEY", help="emitting the same key again appends nothing"
    )

    events = add_command(
        commands, "events", list_events, "show the latest events, or those after a seq"
    )
    events.add_argument("--type", help="only events of this type")
    events.add_argument("--source", help="only events from this source")
    events.add_argument("--correlation-id", metavar="ID", help="only events with this id")
    events.add_argument(
        "--after-seq", type=int, metavar="N", help="the first events after seq N (default: newest)"
    )
    events.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    events.add_argument(
        "--follow",
        action="store_true",
        help="then print new events as they arrive until Ctrl-C (with --json: one per line)",
    )
