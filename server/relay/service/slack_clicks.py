"""Approve / Reject clicked in Slack: the same first-decision-wins rule as every channel.

The HTTP route has verified Slack's signature before this runs. The click is recorded
with approver `slack:<user id>` through channel `slack`; the approval's `approvers` (and
`channels`) are enforced as for any other decider. A click that decides nothing (already
decided, not an approver, an unknown approval) changes nothing and says why.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.errors import ConflictError, InvalidTransition
from relay.model.run import ApprovalStatus
from relay.notify.interactions import Click
from relay.service import coordination

if TYPE_CHECKING:
    from relay.service.relay import Relay

SLACK_CHANNEL = "slack"


@dataclass(frozen=True)
class ClickOutcome:
    decided: bool
    explanation: str  # for the clicker alone, when the click decided nothing


async def decide_click(relay: "Relay", click: Click) -> ClickOutcome:
    try:
        approval = await relay.store.coordination.get_approval(click.approval_id)
    except InvalidTransition:
        return ClickOutcome(False, "relay does not know this approval (any more).")
    if approval.status is not ApprovalStatus.PENDING:
        who = f" by {approval.decided_by}" if approval.decided_by else ""
        via = f" via {approval.decided_channel}" if approval.decided_channel else ""
        return ClickOutcome(
            False, f"Step {approval.step_id} was already {approval.status.value}{who}{via}."
        )
    try:
        await coordination.decide(
            relay, approval, click.approved, click.approver, "", SLACK_CHANNEL
        )
    except (ConflictError, InvalidTransition) as exc:  # a decision won meanwhile; refused
        return ClickOutcome(False, str(exc))
    await relay.touch(click.approver)
    return ClickOutcome(True, "")
