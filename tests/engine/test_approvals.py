"""Approval gates (`requires_approval`) and the `approval` action: who may decide, the
first decision wins, what the step records, and what happens when nobody decides."""

from pathlib import Path

import pytest
from engine_harness import finished, start, waiting_step

from relay.errors import ConflictError, InvalidTransition
from relay.model.run import ApprovalStatus
from relay.service.services import Services

GATED = """
id: gated
steps:
  - id: deploy
    action: shell
    requires_approval: true
    params: {{command: "touch {marker}"}}
"""

APPROVAL = """
id: ask
steps:
  - id: gate
    action: approval
    params: {message: "Ship it?"}
"""


async def test_a_gated_step_runs_its_action_only_after_approval(
    relay: Services, tmp_path: Path
) -> None:
    marker = tmp_path / "deployed"
    run = await start(relay, GATED.format(marker=marker))
    gate = (await waiting_step(relay, run.id, "deploy")).step("deploy").waiting
    assert gate is not None
    assert gate.kind.value == "approval"
    assert not marker.exists()
    await relay.coordination.approve(run.id, "deploy", approver="alice")
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("deploy").output["exit_code"] == 0
    assert marker.exists()


async def test_rejecting_a_gate_fails_the_step_with_who_and_comment(
    relay: Services, tmp_path: Path
) -> None:
    marker = tmp_path / "deployed"
    run = await start(relay, GATED.format(marker=marker))
    await waiting_step(relay, run.id, "deploy")
    await relay.coordination.approve(
        run.id, "deploy", approved=False, approver="bob", comment="not today"
    )
    done = await finished(relay, run.id)
    error = done.step("deploy").error or ""
    assert done.status.value == "failed"
    assert done.step("deploy").status.value == "failed"
    assert "bob" in error
    assert "not today" in error
    assert not marker.exists()


async def test_the_first_decision_wins_and_a_second_is_refused_with_the_reason(
    relay: Services,
) -> None:
    run = await start(relay, APPROVAL)
    await waiting_step(relay, run.id, "gate")
    await relay.coordination.approve(run.id, "gate", approver="alice", comment="yes")
    with pytest.raises(InvalidTransition) as refused:
        await relay.coordination.approve(run.id, "gate", approved=False, approver="bob")
    done = await finished(relay, run.id)
    assert done.status.value == "completed"
    assert done.step("gate").output["approver"] == "alice"
    assert "already approved by alice via mcp" in str(refused.value)


async def test_a_decision_racing_another_is_refused_naming_the_first(relay: Services) -> None:
    run = await start(relay, APPROVAL)
    await waiting_step(relay, run.id, "gate")
    (pending,) = await relay.store.coordination.list_approvals(None, run.id)
    await relay.coordination.approve(run.id, "gate", approver="alice")
    # A second decider who read the approval before the first decision landed:
    with pytest.raises(ConflictError, match="already approved by alice"):
        await relay.store.coordination.decide_approval(
            pending.id, ApprovalStatus.REJECTED, by="bob", channel="cli", comment=""
        )
    assert (await finished(relay, run.id)).status.value == "completed"


async def test_only_named_approvers_may_decide(relay: Services) -> None:
    run = await start(
        relay,
        """
id: named
steps:
  - {id: gate, action: approval, params: {approvers: [carol]}}
""",
    )
    await waiting_step(relay, run.id, "gate")
    with pytest.raises(InvalidTransition, match="carol"):
        await relay.coordination.approve(run.id, "gate", approver="mallory")
    await relay.coordination.approve(run.id, "gate", approver="carol")
    done = await finished(relay, run.id)
    assert done.step("gate").output["approver"] == "carol"


async def test_allow_self_false_refuses_the_participant_that_started_the_run(
    relay: Services,
) -> None:
    run = await start(
        relay,
        """
id: four_eyes
steps:
  - {id: gate, action: approval, params: {allow_self: false}}
""",
    )
    await waiting_step(relay, run.id, "gate")
    with pytest.raises(InvalidTransition, match="self-approval"):
        await relay.coordination.approve(run.id, "gate")  # the caller is `pytest`, who started it
    await relay.coordination.approve(run.id, "gate", approver="reviewer")
    assert (await finished(relay, run.id)).status.value == "completed"


async def test_the_approval_action_outputs_the_decision(relay: Services) -> None:
    run = await start(relay, APPROVAL)
    await waiting_step(relay, run.id, "gate")
    await relay.coordination.approve(
        run.id, "gate", approver="alice", comment="lgtm", channel="cli"
    )
    done = await finished(relay, run.id)
    output = done.step("gate").output
    assert set(output) == {"approved", "approver", "channel", "comment", "decided_at"}
    assert output["approved"] is True
    assert (output["approver"], output["channel"], output["comment"]) == ("alice", "cli", "lgtm")
    assert output["decided_at"]


async def test_an_approval_nobody_decides_in_time_is_rejected(relay: Services) -> None:
    run = await start(
        relay,
        """
id: hurry
steps:
  - {id: gate, action: approval, params: {timeout_minutes: 0.002, on_timeout: reject}}
""",
    )
    done = await finished(relay, run.id, within_seconds=5)
    (approval,) = await relay.store.coordination.list_approvals(None, run.id)
    assert done.status.value == "failed"
    assert "timed out" in (done.step("gate").error or "")
    assert approval.status.value == "expired"


async def test_approval_requested_and_decided_events_are_appended(relay: Services) -> None:
    run = await start(relay, APPROVAL)
    await waiting_step(relay, run.id, "gate")
    await relay.coordination.approve(run.id, "gate", approver="alice")
    await finished(relay, run.id)
    events = await relay.events.list_events(correlation_id=run.id, limit=100)
    requested = [e for e in events if e.type == "approval.requested"]
    decided = [e for e in events if e.type == "approval.decided"]
    assert len(requested) == 1
    assert requested[0].data["message"] == "Ship it?"
    assert len(decided) == 1
    assert decided[0].data["approver"] == "alice"
