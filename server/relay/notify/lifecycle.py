"""Which notifications a run's lifecycle queues, and what they say.

A run posts for the moments its `notify.slack.on` lists (default: started, completed,
failed, approval; the seed's `notify_slack: false` or `notify.slack.enabled: false` turn
them off). The run's first post becomes its thread's root; later ones reply in the thread
and edit the root to the run's latest status. Failures and approval requests are also
broadcast to the channel.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relay.model.notification import NewNotification
from relay.model.run import Approval, ApprovalStatus, Run, StepRun, StepStatus
from relay.model.workflow import SlackNotify, Workflow
from relay.notify.messages import (
    SlackMessage,
    Status,
    approval_decided_message,
    approval_request_message,
    process_message,
    run_completed_message,
    run_failed_message,
)

ENGINE_SOURCE = "workflow_engine"


@dataclass(frozen=True)
class SlackRoute:
    """Where this process's runs post: a bot token's channel, or a webhook (flat)."""

    destination: str  # slack | webhook
    channel: str  # "" for a webhook

    def for_workflow(self, workflow: Workflow) -> "RunNotices | None":
        """The notices of one workflow's runs, or None when it posts nothing."""
        settings = (workflow.notify.slack if workflow.notify else None) or SlackNotify()
        if workflow.notify_slack is False or not settings.enabled or not settings.on:
            return None
        channel = self.channel
        if settings.channel and self.destination == "slack":
            channel = settings.channel
        return RunNotices(self.destination, channel, frozenset(settings.on),
                          workflow.source or ENGINE_SOURCE)  # fmt: skip


@dataclass(frozen=True)
class RunNotices:
    destination: str
    channel: str
    moments: frozenset[str]
    source: str

    def _notice(
        self,
        run: Run,
        message: SlackMessage,
        root: SlackMessage | None,
        *,
        broadcast: bool = False,
        key: str | None = None,
    ) -> NewNotification:
        """`message` in the run's thread (its root if first); `root`: the root's new look."""
        payload: dict[str, Any] = {**message.as_payload(), "reply_broadcast": broadcast}
        return NewNotification(
            self.channel, payload, destination=self.destination, thread_key=run.id,
            run_id=run.id, root_payload=None if root is None else root.as_payload(),
            message_key=key,
        )  # fmt: skip

    def _status(self, run: Run, status: Status, note: str | None = None) -> SlackMessage:
        return process_message(status, run.workflow, run.id, source=self.source, note=note)

    def started(self, run: Run) -> NewNotification | None:
        if "started" not in self.moments:
            return None
        return self._notice(run, self._status(run, Status.STARTED), None)

    def completed(self, run: Run, steps: list[StepRun]) -> NewNotification | None:
        if "completed" not in self.moments:
            return None
        done = sum(1 for s in steps if s.status is StepStatus.COMPLETED)
        message = run_completed_message(
            run.workflow, run.id, duration_seconds=_age(run), steps_succeeded=done,
            steps_total=len(steps), outputs=run.outputs, source=self.source,
        )  # fmt: skip
        return self._notice(run, message, self._status(run, Status.COMPLETED))

    def failed(self, run: Run, steps: list[StepRun]) -> NewNotification | None:
        if "failed" not in self.moments:
            return None
        failed_step = next((s.id for s in steps if s.status is StepStatus.FAILED), None)
        error = run.error or "failed"
        message = run_failed_message(
            run.workflow, run.id, failed_step=failed_step, error=error,
            duration_seconds=_age(run), source=self.source,
        )  # fmt: skip
        root = self._status(run, Status.FAILED, note=error)
        return self._notice(run, message, root, broadcast=True)

    def approval(self, run: Run, approval: Approval) -> NewNotification | None:
        if "approval" not in self.moments:
            return None
        message = approval_request_message(
            approval.id, run.workflow, run.id, approval.step_id, prompt=approval.message,
            approvers=approval.approvers, source=self.source,
            buttons=self.destination == "slack",
        )  # fmt: skip
        root = self._status(run, Status.PENDING_APPROVAL, note=f"waiting at {approval.step_id}")
        return self._notice(run, message, root, broadcast=True, key=approval_key(approval.id))


CLOSED = {ApprovalStatus.EXPIRED: "Expired", ApprovalStatus.CANCELLED: "Cancelled"}


def approval_key(approval_id: str) -> str:
    """The outbox's name for an approval request's message (its later edit finds it)."""
    return f"approval:{approval_id}"


def approval_decided_notice(approval: Approval, source: str | None) -> NewNotification | None:
    """The edit of a decided approval's request message: who decided, buttons gone.

    It goes wherever the request went (the store looks the message up by its key) and is
    queued only if a request was; None while the approval is still pending."""
    if approval.status is ApprovalStatus.PENDING:
        return None
    message = approval_decided_message(
        approval.id, approval.workflow, approval.run_id, approval.step_id,
        approved=approval.status is ApprovalStatus.APPROVED,
        decided_by=approval.decided_by or "", comment=approval.comment or None,
        source=source or ENGINE_SOURCE,
        closed=CLOSED.get(approval.status),
    )  # fmt: skip
    return NewNotification(
        "", message.as_payload(), run_id=approval.run_id, edit_of=approval_key(approval.id)
    )


# A Python process's lifecycle (the seed's `notify_process_*` hooks): its moment and status.
PROCESS_MOMENTS: dict[str, Status] = {
    "started": Status.STARTED,
    "completed": Status.COMPLETED,
    "failed": Status.FAILED,
}


def process_notice(
    route: SlackRoute,
    moment: str,
    process_id: str,
    process_name: str,
    source: str | None,
    *,
    details: Mapping[str, object] | None = None,
    note: str | None = None,
) -> NewNotification:
    """One moment of a process in its own thread (keyed by its id), as runs have theirs:
    `started` posts the root; `completed` and `failed` reply and edit the root's status."""
    status = PROCESS_MOMENTS[moment]
    message = process_message(status, process_name, process_id, source=source,
                              details=details, note=note)  # fmt: skip
    root = None
    if moment != "started":
        root = process_message(status, process_name, process_id, source=source, note=note)
    payload: dict[str, Any] = {**message.as_payload(), "reply_broadcast": moment == "failed"}
    return NewNotification(
        route.channel, payload, destination=route.destination,
        thread_key=f"process:{process_id}",
        root_payload=None if root is None else root.as_payload(),
    )  # fmt: skip


def _age(run: Run) -> float:
    return max((datetime.now(UTC) - run.created_at).total_seconds(), 0.0)
