"""Approvals, tasks and the views of workflows: the service's coordination half."""

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.engine.actions import ActionRegistry
from relay.engine.driver import RunDriver
from relay.engine.runtime import ENGINE_SOURCE
from relay.errors import InvalidTransition, InvalidWorkflow, Problem, UsageError
from relay.model.events import NewEvent
from relay.model.run import Approval, ApprovalStatus, Participant, Run, Task, TaskStatus
from relay.model.workflow import EventTrigger, Workflow
from relay.service.views import approval_view

if TYPE_CHECKING:
    from relay.service.relay import Relay

CODE_ACTIONS = ("shell", "python")


def workflow_view(workflow: Workflow, path: Path | None) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = []
    for trigger in workflow.on:
        if isinstance(trigger, EventTrigger):
            triggers.append({"event": trigger.event, "match": trigger.match})
        else:
            triggers.append({"schedule": trigger.schedule, "tz": trigger.tz})
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "inputs": {k: v.model_dump(exclude_none=True) for k, v in workflow.inputs.items()},
        "steps": [{"id": s.id, "name": s.name, "action": s.action} for s in workflow.steps],
        "triggers": triggers,
        "path": None if path is None else str(path),
    }


INLINE_CODE = (
    "step {step!r} uses {what}, which runs code on this machine; inline definitions may not "
    "do that unless the server runs with RELAY_ALLOW_INLINE_CODE=1 (or put the workflow in a "
    "file on RELAY_WORKFLOWS_PATH)"
)
INLINE_CODE_WARNING = (
    "step {step!r} uses {what}, which runs code on this machine: this definition can run only "
    "from a file on RELAY_WORKFLOWS_PATH (or when the server runs with "
    "RELAY_ALLOW_INLINE_CODE=1)"
)


def inline_code_problems(
    workflow: Workflow, actions: ActionRegistry, template: str = INLINE_CODE
) -> list[Problem]:
    """The steps of a definition from a model that would run code (shell, python, an
    mcp_call that spawns a command), each located at its `action:` line."""
    problems = []
    for index, step in enumerate(workflow.steps):
        alias = workflow.actions.get(step.action)
        name = alias.uses if alias else step.action
        spec = actions.get(name)
        params = alias.params if alias else step.params
        if name in CODE_ACTIONS or (spec is not None and spec.runs_code_with(params)):
            what = f"{name!r} with `command`" if spec and not spec.runs_code else repr(name)
            line, column = workflow.location(("steps", index, "action")) or (None, None)
            message = template.format(step=step.id, what=what)
            path = workflow.source_path or "<inline>"
            problems.append(Problem(path, line, column, message, step=step.id, field="action"))
    return problems


def refuse_inline_code(workflow: Workflow, actions: ActionRegistry) -> None:
    """Inline definitions come from a model: no shell, python or spawning mcp_call."""
    problems = inline_code_problems(workflow, actions)
    if problems:
        raise InvalidWorkflow(problems)


def lifecycle(run: Run, kind: str, data: dict[str, Any]) -> NewEvent:
    return NewEvent(
        type=kind,
        source=ENGINE_SOURCE,
        correlation_id=run.id,
        data={"run_id": run.id, "workflow": run.workflow, **data},
    )


async def drive_here(relay: "Relay", run_id: str) -> None:
    """Drive a run this process just leased, to the end or until it parks."""
    run = await relay.store.runs.get_run(run_id)
    driver = RunDriver(relay.rt, run, await relay.rt.workflow_of(run))
    await driver.drive()


# approvals -----------------------------------------------------------------------------


async def _pending_gate(relay: "Relay", run_id: str, step: str | None) -> Approval:
    run = await relay.store.runs.get_run(run_id)
    approvals = await relay.store.coordination.list_approvals(None, run_id)
    pending = [a for a in approvals if a.status is ApprovalStatus.PENDING]
    if step is not None:
        for approval in pending:
            if approval.step_id == step:
                return approval
        if step not in {s.id for s in run.steps}:
            raise UsageError(f"run {run_id!r} has no step {step!r}")
        raise InvalidTransition(
            f"step {step!r} of run {run_id!r} is not waiting for an approval"
            + _last_decision([a for a in approvals if a.step_id == step])
        )
    if not pending:
        raise InvalidTransition(
            f"run {run_id!r} ({run.status.value}) is not waiting for any approval"
            + _last_decision(approvals)
        )
    if len(pending) > 1:
        steps = ", ".join(a.step_id for a in pending)
        raise UsageError(f"run {run_id!r} waits for approval at several steps ({steps}); name one")
    return pending[0]


def _last_decision(approvals: list[Approval]) -> str:
    """Why a later decision is refused: the first one (of the latest request) won."""
    decided = [a for a in approvals if a.status is not ApprovalStatus.PENDING]
    if not decided:
        return ""
    last = decided[-1]
    who = f" by {last.decided_by} via {last.decided_channel}" if last.decided_by else ""
    return f": step {last.step_id!r} was already {last.status.value}{who}"


def decider_problem(approval: Approval, approver: str, channel: str) -> str | None:
    """Why `approver` may not decide `approval` through `channel`; None when they may."""
    if approval.approvers and approver not in approval.approvers:
        return (
            f"{approver!r} may not decide step {approval.step_id!r}: its approvers are "
            f"{', '.join(approval.approvers)}"
        )
    if not approval.allow_self and approver == approval.requested_by:
        return f"{approver!r} started this run and this approval does not allow self-approval"
    if approval.channels and channel not in approval.channels:
        return (
            f"step {approval.step_id!r} may only be decided through {', '.join(approval.channels)}"
        )
    return None


def _check_decider(approval: Approval, approver: str, channel: str) -> None:
    problem = decider_problem(approval, approver, channel)
    if problem is not None:
        raise InvalidTransition(problem)


async def decidable_gate(relay: "Relay", run_id: str, channel: str) -> Approval | None:
    """The first pending approval of `run_id` that the caller may decide via `channel`."""
    for approval in await relay.store.coordination.list_approvals(ApprovalStatus.PENDING, run_id):
        if decider_problem(approval, relay.participant, channel) is None:
            return approval
    return None


async def approve(
    relay: "Relay",
    run_id: str,
    step: str | None,
    approved: bool,
    approver: str,
    comment: str,
    channel: str,
) -> dict[str, Any]:
    approval = await _pending_gate(relay, run_id, step)
    return await decide(relay, approval, approved, approver, comment, channel)


async def decide(
    relay: "Relay",
    approval: Approval,
    approved: bool,
    approver: str,
    comment: str,
    channel: str,
) -> dict[str, Any]:
    """Record the first decision of `approval` (ConflictError if it was already decided),
    with the edit of its Slack message (who decided, buttons gone) in the same
    transaction, and drive the run on here when the decision leased it to this process."""
    _check_decider(approval, approver, channel)
    status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
    owner = relay.rt.worker_id if relay.engine is not None else None
    decided = approval.model_copy(
        update={"status": status, "decided_by": approver, "decided_channel": channel,
                "comment": comment}
    )  # fmt: skip
    run = await relay.store.runs.get_run(approval.run_id)
    source = (await relay.rt.workflow_of(run)).source
    edit = relay.rt.channels.decided(decided, source)
    await relay.store.coordination.decide_approval(
        approval.id,
        status,
        by=approver,
        channel=channel,
        comment=comment,
        claim_owner=owner,
        lease_seconds=relay.rt.lease_seconds,
        outbox=[edit] if edit is not None else [],
    )
    run = await _adopt_if_leased(relay, approval.run_id)
    return {
        "run_id": approval.run_id,
        "step": approval.step_id,
        "approved": approved,
        "run_status": run.status.value,
    }


async def list_approvals(relay: "Relay", status: str | None) -> list[dict[str, Any]]:
    try:
        wanted = None if status in (None, "all") else ApprovalStatus(status)
    except ValueError:
        raise UsageError(
            f"unknown approval status {status!r}; use one of "
            f"{', '.join(s.value for s in ApprovalStatus)} or all"
        ) from None
    return [approval_view(a) for a in await relay.store.coordination.list_approvals(wanted)]


# tasks ---------------------------------------------------------------------------------


async def list_tasks(relay: "Relay", participant: str, status: str | None) -> list[Task]:
    try:
        wanted = None if status in (None, "all") else TaskStatus(status)
    except ValueError:
        raise UsageError(
            f"unknown task status {status!r}; use one of "
            f"{', '.join(s.value for s in TaskStatus)} or all"
        ) from None
    to = None if participant == "*" else participant
    return await relay.store.coordination.list_tasks(to, wanted)


async def list_participants(relay: "Relay", addressed: bool) -> list[Participant]:
    """Those seen, then (with `addressed`) those that open tasks are addressed to and
    relay has never seen, with how many tasks wait for each."""
    seen = await relay.store.presence.list_participants()
    if not addressed:
        return seen
    waiting: Counter[str] = Counter()
    for status in (TaskStatus.OPEN, TaskStatus.CLAIMED):
        waiting.update(t.to for t in await relay.store.coordination.list_tasks(None, status))
    known = {p.name for p in seen}
    unseen = [
        Participant(name=name, last_seen=None, open_tasks=count)
        for name, count in sorted(waiting.items())
        if name not in known
    ]
    return [*seen, *unseen]


async def complete_task(
    relay: "Relay", task_id: str, result: Any, failed: bool, error: str
) -> tuple[Task, Run]:
    task = await relay.store.coordination.get_task(task_id)
    if (
        task.claimed_by
        and task.claimed_by != relay.participant
        and task.status is TaskStatus.CLAIMED
    ):
        raise InvalidTransition(f"task {task_id!r} is claimed by {task.claimed_by!r}")
    owner = relay.rt.worker_id if relay.engine is not None else None
    done = await relay.store.coordination.update_task(
        task_id,
        expect=[TaskStatus.OPEN, TaskStatus.CLAIMED],
        status=TaskStatus.FAILED if failed else TaskStatus.COMPLETED,
        by=relay.participant,
        result=result,
        error=error or None,
        claim_owner=owner,
        lease_seconds=relay.rt.lease_seconds,
    )
    return done, await _adopt_if_leased(relay, task.run_id)


async def _adopt_if_leased(relay: "Relay", run_id: str) -> Run:
    """Drive a run that a decision just leased to this process (it was parked)."""
    run = await relay.store.runs.get_run(run_id)
    if relay.engine is not None and run.lease_owner == relay.rt.worker_id:
        relay.engine.adopt([run_id])
    return run
