"""Work between participants: approval gates (decided through any channel, the first
decision winning) and tasks handed to a participant (claimed, then completed).

A decision reports where its run stands once the engine has acted on it (up to
FOLLOW_DECISION_SECONDS). A Slack click (its signature checked by the surface) is decided
under the same rules as every other channel, recorded as approver `slack:<user id>`.
"""

from dataclasses import dataclass
from typing import Any

from relay.errors import ConflictError, InvalidTransition, UsageError
from relay.model.run import Approval, ApprovalStatus, Task, TaskStatus
from relay.notify.interactions import Click
from relay.service.follow import FOLLOW_DECISION_SECONDS
from relay.service.host import Host
from relay.service.paging import status_filter
from relay.service.presence import Presence
from relay.service.runs import Runs
from relay.service.views import approval_view

SLACK_CHANNEL = "slack"


@dataclass(frozen=True)
class ClickOutcome:
    decided: bool
    explanation: str  # for the clicker alone, when the click decided nothing


class Coordination:
    def __init__(self, host: Host, runs: Runs, presence: Presence) -> None:
        self.host = host
        self.runs = runs
        self.presence = presence

    # approvals --------------------------------------------------------------------------

    async def approve(
        self,
        run_id: str,
        step: str | None = None,
        *,
        by: str | None = None,
        approved: bool = True,
        approver: str = "",
        comment: str = "",
        channel: str = "mcp",
    ) -> dict[str, Any]:
        """Decide a gate (as `approver`, default: the caller), then report the run's state
        once the engine has acted on the decision."""
        who = await self.host.act(by)
        approval = await self._pending_gate(run_id, step)
        decided = await self._decide(approval, approved, approver or who, comment, channel)
        run = await self.runs.wait_run(run_id, FOLLOW_DECISION_SECONDS, leaving=decided.step_id)
        state = await self.runs.state_after(run, decided.step_id)
        return {
            "run_id": run_id,
            "step": decided.step_id,
            "approved": approved,
            "run_status": state["status"],
            "run": state,
        }

    async def slack_click(self, click: Click) -> ClickOutcome:
        """Decide an approval from a (signature-checked) Slack button click. A click that
        decides nothing (already decided, not an approver, an unknown approval) changes
        nothing and says why."""
        try:
            approval = await self.host.store.coordination.get_approval(click.approval_id)
        except InvalidTransition:
            return ClickOutcome(False, "relay does not know this approval (any more).")
        if approval.status is not ApprovalStatus.PENDING:
            who = f" by {approval.decided_by}" if approval.decided_by else ""
            via = f" via {approval.decided_channel}" if approval.decided_channel else ""
            return ClickOutcome(
                False, f"Step {approval.step_id} was already {approval.status.value}{who}{via}."
            )
        try:
            await self._decide(approval, click.approved, click.approver, "", SLACK_CHANNEL)
        except (ConflictError, InvalidTransition) as exc:  # a decision won meanwhile; refused
            return ClickOutcome(False, str(exc))
        await self.presence.seen(click.approver)
        return ClickOutcome(True, "")

    async def _decide(
        self, approval: Approval, approved: bool, approver: str, comment: str, channel: str
    ) -> Approval:
        """Record the first decision of `approval` (ConflictError if it was already
        decided), with the edit of its message (who decided, buttons gone) in the same
        transaction, and drive the run on here when the decision leased it to this process."""
        problem = decider_problem(approval, approver, channel)
        if problem is not None:
            raise InvalidTransition(problem)
        host = self.host
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
        decided = approval.model_copy(
            update={"status": status, "decided_by": approver, "decided_channel": channel,
                    "comment": comment}
        )  # fmt: skip
        run = await host.store.runs.get_run(approval.run_id)
        source = (await host.rt.workflow_of(run)).source
        edit = host.rt.channels.decided(decided, source)
        await host.store.coordination.decide_approval(
            approval.id,
            status,
            by=approver,
            channel=channel,
            comment=comment,
            claim_owner=host.owner,
            lease_seconds=host.rt.lease_seconds,
            outbox=[edit] if edit is not None else [],
        )
        await host.adopt_if_leased(approval.run_id)
        return decided

    async def decidable_gate(
        self, run_id: str, channel: str = "mcp", *, by: str | None = None
    ) -> Approval | None:
        """The first pending approval of `run_id` the caller may decide via `channel`."""
        store, who = self.host.store, self.host.acting(by)
        for approval in await store.coordination.list_approvals(ApprovalStatus.PENDING, run_id):
            if decider_problem(approval, who, channel) is None:
                return approval
        return None

    async def list_approvals(self, status: str | None = "pending") -> list[dict[str, Any]]:
        wanted = status_filter(ApprovalStatus, status, "approval")
        found = await self.host.store.coordination.list_approvals(wanted)
        return [approval_view(a) for a in found]

    async def _pending_gate(self, run_id: str, step: str | None) -> Approval:
        store = self.host.store
        run = await store.runs.get_run(run_id)
        approvals = await store.coordination.list_approvals(None, run_id)
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
            raise UsageError(
                f"run {run_id!r} waits for approval at several steps ({steps}); name one"
            )
        return pending[0]

    # tasks ------------------------------------------------------------------------------

    async def list_tasks(
        self, participant: str | None = None, status: str | None = "open"
    ) -> list[Task]:
        """`participant`'s tasks (default: this process's; `*`: everyone's)."""
        wanted = status_filter(TaskStatus, status, "task")
        who = self.host.acting(participant)
        return await self.host.store.coordination.list_tasks(None if who == "*" else who, wanted)

    async def claim_task(self, task_id: str, *, by: str | None = None) -> Task:
        return await self.host.store.coordination.update_task(
            task_id, expect=[TaskStatus.OPEN], status=TaskStatus.CLAIMED, by=await self.host.act(by)
        )

    async def complete_task(
        self,
        task_id: str,
        result: Any = None,
        *,
        by: str | None = None,
        failed: bool = False,
        error: str = "",
    ) -> tuple[Task, dict[str, Any]]:
        """Finish a task; with it the run's state once the engine has acted on the result."""
        host, who = self.host, await self.host.act(by)
        task = await host.store.coordination.get_task(task_id)
        if task.claimed_by and task.claimed_by != who and task.status is TaskStatus.CLAIMED:
            raise InvalidTransition(f"task {task_id!r} is claimed by {task.claimed_by!r}")
        done = await host.store.coordination.update_task(
            task_id,
            expect=[TaskStatus.OPEN, TaskStatus.CLAIMED],
            status=TaskStatus.FAILED if failed else TaskStatus.COMPLETED,
            by=who,
            result=result,
            error=error or None,
            claim_owner=host.owner,
            lease_seconds=host.rt.lease_seconds,
        )
        await host.adopt_if_leased(task.run_id)
        run = await self.runs.wait_run(task.run_id, FOLLOW_DECISION_SECONDS, leaving=task.step_id)
        return done, await self.runs.state_after(run, task.step_id)


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


def _last_decision(approvals: list[Approval]) -> str:
    """Why a later decision is refused: the first one (of the latest request) won."""
    decided = [a for a in approvals if a.status is not ApprovalStatus.PENDING]
    if not decided:
        return ""
    last = decided[-1]
    who = f" by {last.decided_by} via {last.decided_channel}" if last.decided_by else ""
    return f": step {last.step_id!r} was already {last.status.value}{who}"
