"""Commands about runs: `run`, `resume`, `status`, `runs`, `cancel`.

`run` and `resume` drive their run in this process (an engine that claims only this
run and its children) and watch it to the end; Ctrl-C stops watching and hands the run
back to the store for any other worker, without cancelling it.
"""

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from relay.cli.interrupt import StopOnSignal
from relay.cli.output import local_time, note, table, write, write_json
from relay.cli.parsing import Subcommands, add_command
from relay.cli.progress import progress_for
from relay.cli.run_text import status_lines, summary_lines, symbols_for
from relay.cli.session import client, driver
from relay.errors import UsageError, WorkflowNotFound
from relay.model.run import Run, RunStatus
from relay.service.follow import changed_from
from relay.service.views import run_brief, run_summary
from relay.service.wording import seconds_text

if TYPE_CHECKING:
    from relay.config import Settings  # the service loads with the command that opens it
    from relay.model.workflow import Workflow
    from relay.service.delivery import Undelivered
    from relay.service.services import Services

EXIT_BY_STATUS = {RunStatus.COMPLETED: 0, RunStatus.FAILED: 1, RunStatus.CANCELLED: 3}
EXIT_INTERRUPTED = 130

# Each look at a watched run returns at the latest after this long (sooner when its
# status or what it waits for changes), so the display never lags by more.
WATCH_SECONDS = 1.0

# Before it exits, `relay run` gives its run's queued notifications this long to go out
# (it stops waiting as soon as a send fails or Slack stops answering).
FLUSH_SECONDS = 10.0

NO_WORKER = (
    "warning: no `relay worker` or `relay serve` process is running to execute run {run_id}; "
    "it waits in the store until one starts"
)


class Watch:
    """Follows one run to its end with a live display; remembers the last state seen."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.progress = progress_for(as_json)
        self.run: Run | None = None

    async def follow(self, relay: "Services", run: Run) -> int:
        self.run = run
        self.progress.show(run)
        while not run.status.is_final:
            run = self.run = await relay.runs.wait_run(
                run.id, WATCH_SECONDS, until=changed_from(run)
            )
            self.progress.show(run)
        unsent = await relay.notifications.flush_notifications(FLUSH_SECONDS, run_id=run.id)
        if unsent.pending:
            note(unsent_line(run.id, unsent))
        if unsent.dead:
            note(dead_line(run.id, unsent))
        if self.as_json:
            write_json(run_brief(run))
        else:
            for line in summary_lines(run):
                write(line)
        return EXIT_BY_STATUS[run.status]

    def interrupted(self) -> int:
        """Ctrl-C: say where the run stands and that it goes on elsewhere."""
        if self.run is None:
            return EXIT_INTERRUPTED
        if self.as_json:
            write_json(run_brief(self.run))
        note(
            f"stopped watching run {self.run.id} ({self.run.status.value}); it is not "
            "cancelled: any `relay worker` or `relay serve` process carries it on "
            f"(follow it with `relay status {self.run.id} --wait 60`)"
        )
        return EXIT_INTERRUPTED


def unsent_line(run_id: str, unsent: "Undelivered") -> str:
    """One line: why they are not sent, how many are queued and who delivers them."""
    why = unsent.reason or f"not delivered within {FLUSH_SECONDS:g} s"
    return (
        f"note: {why}; {_notifications(unsent.pending, run_id)} queued: any `relay serve` or "
        "`relay worker` with the same notification settings delivers them "
        "(`relay notifications` lists them)"
    )


def dead_line(run_id: str, unsent: "Undelivered") -> str:
    return (
        f"warning: {_notifications(unsent.dead, run_id)} dead-lettered, never to be sent "
        f"({unsent.dead_reason}); `relay notifications --status dead` lists them"
    )


def _notifications(count: int, run_id: str) -> str:
    if count == 1:
        return f"1 notification of run {run_id} is"
    return f"{count} notifications of run {run_id} are"


def _inputs(workflow: "Workflow", assignments: list[str]) -> dict[str, Any]:
    """`-i key=value` flags, parsed by the workflow's declared input types."""
    from relay.model.inputs import parse_input_assignments  # with the workflow model

    return parse_input_assignments(workflow, assignments)


def resolve(relay: "Services", workflow_or_file: str) -> "Workflow":
    """The workflow to run; with no workflow files at all, how to get some."""
    try:
        return relay.workflows.resolve(workflow_or_file)
    except WorkflowNotFound as exc:
        if relay.workflows.has_files():
            raise
        raise UsageError(f"{exc}; `relay init` creates workflows/ with examples here") from None


async def run_workflow(settings: "Settings", args: argparse.Namespace) -> int:
    if args.detach:
        return await _start_detached(settings, args)
    watch = Watch(args.json)
    async with StopOnSignal(), driver(settings) as relay:
        workflow = resolve(relay, args.workflow)
        inputs = _inputs(workflow, args.inputs)
        run, _ = await relay.runs.start_run(workflow, inputs, cwd=os.getcwd())
        return await watch.follow(relay, run)
    return watch.interrupted()


async def _start_detached(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        workflow = resolve(relay, args.workflow)
        inputs = _inputs(workflow, args.inputs)
        run, _ = await relay.runs.start_run(workflow, inputs, cwd=os.getcwd(), drive=False)
        workers = await relay.presence.live_workers()
    if args.json:
        write_json({"run_id": run.id})
    else:
        write(run.id)
    if not workers:
        note(NO_WORKER.format(run_id=run.id))
    return 0


async def resume_run(settings: "Settings", args: argparse.Namespace) -> int:
    if args.detach:
        return await _resume_detached(settings, args)
    watch = Watch(args.json)
    async with StopOnSignal(), driver(settings) as relay:
        run = await relay.runs.resume(args.run_id)
        return await watch.follow(relay, run)
    return watch.interrupted()


async def _resume_detached(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        run = await relay.runs.resume(args.run_id)
        workers = await relay.presence.live_workers()
    if args.json:
        write_json(run_brief(run))
    else:
        write(f"run {run.id} resumed: {run.status.value}")
    if not workers:
        note(NO_WORKER.format(run_id=run.id))
    return 0


async def show_status(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        if args.wait:
            run = await relay.runs.wait_run(args.run_id, args.wait)
        else:
            run = await relay.runs.get_run(args.run_id)
    if args.json:
        write_json(run_brief(run))
    else:
        for line in status_lines(run, symbols_for(sys.stdout)):
            write(line)
    return 0


async def list_runs(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        runs = await relay.runs.list_runs(args.status, args.workflow, args.limit)
    if args.json:
        write_json({"runs": [run_summary(r) for r in runs]})
        return 0
    rows = [
        [r.id, r.workflow, r.status.value, r.started_by, local_time(r.created_at), _took(r)]
        for r in runs
    ]
    headers = ["RUN", "WORKFLOW", "STATUS", "STARTED BY", "CREATED (NEWEST FIRST)", "TOOK"]
    table(headers, rows, empty="no runs")
    return 0


def _took(run: Run) -> str:
    """How long a run took, or has taken so far (`12.3 s so far`)."""
    if run.status.is_final:
        return seconds_text((run.updated_at - run.created_at).total_seconds())
    return f"{seconds_text((datetime.now(UTC) - run.created_at).total_seconds())} so far"


async def cancel_run(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        run = await relay.runs.cancel(args.run_id, args.reason)
    if args.json:
        write_json(run_brief(run))
    elif run.status.is_final:
        write(f"run {run.id} is {run.status.value}")
    else:
        write(
            f"cancellation of run {run.id} requested; it is still {run.status.value} and "
            "stops as soon as the process that runs it notices"
        )
    return 0


def register(commands: Subcommands) -> None:
    run = add_command(commands, "run", run_workflow, "start a workflow and follow it to its end")
    run.add_argument("workflow", metavar="WORKFLOW_OR_FILE", help="a workflow id or a YAML file")
    run.add_argument(
        "-i",
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input, parsed by its declared type (JSON for object and array); repeatable",
    )
    run.add_argument(
        "--detach", action="store_true", help="record the run, print its id and leave it to workers"
    )
    run.epilog = (
        "exit codes: 0 completed, 1 failed, 2 bad usage or input, 3 cancelled, 130 interrupted "
        "(Ctrl-C stops watching; the run is not cancelled and any worker carries it on)"
    )

    resume = add_command(
        commands, "resume", resume_run, "run a failed or cancelled run again from its failed steps"
    )
    resume.add_argument("run_id", metavar="RUN_ID")
    resume.add_argument("--detach", action="store_true", help="leave the run to workers")

    status = add_command(commands, "status", show_status, "show a run and its steps")
    status.add_argument("run_id", metavar="RUN_ID")
    status.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the run to finish or to stop at something it waits "
        "for (an approval, an event, a task)",
    )

    runs = add_command(commands, "runs", list_runs, "list recent runs, newest first")
    runs.add_argument("--status", help=f"only runs with this status: {', '.join(RunStatus)}")
    runs.add_argument("--workflow", help="only runs of this workflow id")
    runs.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    cancel = add_command(commands, "cancel", cancel_run, "cancel a run")
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.add_argument("--reason", default="", help="recorded with the cancellation")
