"""Commands between participants: approvals, handed-off tasks, and who is around."""

import argparse
from collections import Counter
from typing import TYPE_CHECKING

from relay.cli.output import local_time, short, table, write, write_json
from relay.cli.parsing import Subcommands, add_command, json_value
from relay.cli.run_text import state_lines
from relay.cli.session import client, participant
from relay.model.run import ApprovalStatus, TaskStatus
from relay.service.views import participant_view, task_view
from relay.service.wording import SHELL_CHANNEL, complete_command

if TYPE_CHECKING:  # settings are read by `run_command` (and by servers when they start)
    from relay.config import Settings


async def approve(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        decision = await relay.coordination.approve(
            args.run_id,
            args.step,
            approved=not args.reject,
            approver=args.approver or "",
            comment=args.comment,
            channel=SHELL_CHANNEL,
        )
    if args.json:
        write_json(decision)
    else:
        verb = "approved" if decision["approved"] else "rejected"
        write(f"{verb} step {decision['step']} of run {decision['run_id']}")
        for line in state_lines(decision["run"]):
            write(line)
    return 0


async def list_approvals(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        approvals = await relay.coordination.list_approvals(args.status)
    if args.json:
        write_json({"approvals": approvals})
        return 0
    rows = [
        [
            a["run_id"],
            a["workflow"],
            a["step"],
            a["status"],
            local_time(a["requested_at"]),
            short(a["message"], 50),
        ]
        for a in approvals
    ]
    headers = ["RUN", "WORKFLOW", "STEP", "STATUS", "REQUESTED", "MESSAGE"]
    table(headers, rows, empty=f"no {args.status} approvals")
    return 0


async def list_tasks(settings: "Settings", args: argparse.Namespace) -> int:
    who = args.participant or participant(settings)
    async with client(settings) as relay:
        tasks = await relay.coordination.list_tasks(who, args.status)
        everyone = [] if tasks or who == "*" else await relay.coordination.list_tasks("*", "open")
    if args.json:
        write_json({"tasks": [task_view(t) for t in tasks]})
        return 0
    rows = [[t.id, t.to, t.status.value, t.run_id, t.step_id, short(t.task, 50)] for t in tasks]
    table(["TASK", "TO", "STATUS", "RUN", "STEP", "TASK"], rows, empty=_no_tasks(who, args.status))
    others = Counter(t.to for t in everyone if t.to != who)
    if others:
        each = ", ".join(f"{name}: {n}" for name, n in others.most_common())
        write(
            f"{others.total()} open task(s) for other participants ({each}); "
            "list them with: relay tasks --participant '*'"
        )
    return 0


def _no_tasks(who: str, status: str) -> str:
    whose = "anyone" if who == "*" else who
    return f"no tasks for {whose}" if status == "all" else f"no {status} tasks for {whose}"


async def claim_task(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        task = await relay.coordination.claim_task(args.task_id)
    if args.json:
        write_json(task_view(task))
        return 0
    write(f"claimed task {task.id} (run {task.run_id}, step {task.step_id}): {task.task}")
    if task.context:
        write(f"context: {short(task.context, 2000)}")
    write(
        f"finish it with: {complete_command(task.id)}   (its result as JSON, which becomes "
        "the step's output; or --failed --error WHY)"
    )
    return 0


async def complete_task(settings: "Settings", args: argparse.Namespace) -> int:
    result = json_value("--result", args.result, {})
    async with client(settings) as relay:
        task, run = await relay.coordination.complete_task(
            args.task_id, result, failed=args.failed, error=args.error
        )
    if args.json:
        write_json(
            {"task_id": task.id, "run_id": task.run_id, "run_status": run["status"], "run": run}
        )
    else:
        write(f"task {task.id} {task.status.value}")
        for line in state_lines(run):
            write(line)
    return 0


async def list_participants(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        participants = await relay.presence.list_participants(addressed=True)
    if args.json:
        write_json({"participants": [participant_view(p) for p in participants]})
        return 0
    rows = [[p.name, local_time(p.last_seen) if p.last_seen else "never", p.open_tasks]
            for p in participants]  # fmt: skip
    table(["NAME", "LAST SEEN", "OPEN TASKS"], rows, empty="no participants yet")
    return 0


async def list_notifications(settings: "Settings", args: argparse.Namespace) -> int:
    async with client(settings) as relay:
        found = await relay.notifications.list_notifications(args.status)
    if args.json:
        write_json({"notifications": [n.as_dict() for n in found]})
        return 0
    rows = [
        [n.id, n.status.value, n.kind.value, n.channel or n.destination, n.run_id or "-",
         n.attempts, local_time(n.next_attempt_at), short(n.last_error or n.payload.get("text"))]
        for n in found
    ]  # fmt: skip
    headers = ["ID", "STATUS", "KIND", "TO", "RUN", "TRIES", "NEXT TRY", "ERROR / TEXT"]
    table(headers, rows, empty=f"no {args.status} notifications")
    return 0


def register(commands: Subcommands) -> None:
    decide = add_command(commands, "approve", approve, "approve (or reject) a waiting gate")
    decide.add_argument("run_id", metavar="RUN_ID")
    decide.add_argument("--step", help="the gate's step id (default: the run's only gate)")
    decide.add_argument("--reject", action="store_true", help="reject instead of approving")
    decide.add_argument("--comment", default="", help="recorded with the decision")
    decide.add_argument(
        "--as", dest="approver", metavar="NAME", help="decide as NAME (default: this participant)"
    )

    approvals = add_command(commands, "approvals", list_approvals, "list approval gates")
    approvals.add_argument(
        "--status",
        default="pending",
        help=f"{', '.join(ApprovalStatus)} or all (default: pending)",
    )

    notes = add_command(
        commands, "notifications", list_notifications, "list the Slack outbox (pending, dead...)"
    )
    notes.add_argument(
        "--status", default="pending", help="pending, dead, sent or all (default: pending)"
    )

    tasks = add_command(commands, "tasks", list_tasks, "list tasks handed to a participant")
    tasks.add_argument("--participant", help="whose tasks (default: this participant; * for all)")
    tasks.add_argument(
        "--status", default="open", help=f"{', '.join(TaskStatus)} or all (default: open)"
    )

    claim = add_command(commands, "claim", claim_task, "take an open task")
    claim.add_argument("task_id", metavar="TASK_ID")

    complete = add_command(commands, "complete", complete_task, "finish a task with its result")
    complete.add_argument("task_id", metavar="TASK_ID")
    complete.add_argument(
        "--result", metavar="JSON", help="the result (JSON), the waiting step's output"
    )
    complete.add_argument("--failed", action="store_true", help="the task could not be done")
    complete.add_argument("--error", default="", help="why it failed (with --failed)")

    add_command(commands, "participants", list_participants, "list participants seen recently")
