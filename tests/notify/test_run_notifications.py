"""A run's lifecycle, through the engine, into one Slack thread via the durable outbox."""

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from tests.fake_slack import FakeSlack

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.errors import UsageError
from relay.model.loading import load_workflow
from relay.model.notification import NotificationStatus
from relay.model.run import Run
from relay.service.services import Services

GATED = """
id: deploy
source: claude_code
steps:
  - id: build
    action: shell
    params: {command: "true"}
  - id: ship
    action: shell
    needs: [build]
    requires_approval: true
    params: {command: "true"}
"""

FAILING = """
id: broken
steps:
  - id: boom
    action: shell
    params: {command: "exit 3"}
"""

QUIET = """
id: quiet
notify_slack: false
steps:
  - id: a
    action: shell
    params: {command: "true"}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def relay(
    tmp_path: Path, slack: FakeSlack, database_url: str | None
) -> AsyncIterator[Services]:
    """On SQLite and on PostgreSQL (the `backend` parameter)."""
    settings = Settings(
        home=tmp_path / "home", workflows_path=str(tmp_path), lease_seconds=5.0,
        database_url=database_url,
        slack_bot_token=slack.add_token(), slack_channel=slack.add_channel("deploys"),
        slack_api_base_url=slack.api_base, slack_pace_seconds=0.01, slack_timeout_seconds=2.0,
        slack_backoff_base_seconds=0.05, slack_backoff_cap_seconds=0.3,
    )  # fmt: skip
    async with open_relay(settings, Role.SERVER, participant="pytest") as opened:
        yield opened


async def run_to_end(relay: Services, text: str, approve: str | None = None) -> Run:
    run, _ = await relay.runs.start_run(load_workflow(text, catalog=relay.runtime.actions), {})
    with anyio.fail_after(20):
        while not (current := await relay.store.runs.get_run(run.id)).status.is_final:
            if approve and current.step(approve).status.value == "waiting":
                await relay.coordination.approve(run.id, approve, approver="alice")
                approve = None
            await anyio.sleep(0.02)
        while await relay.store.outbox.list_notifications(NotificationStatus.PENDING):  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return current


def channel_of(slack: FakeSlack) -> str:
    return next(iter(slack.channels))


async def test_a_run_is_one_thread_whose_root_ends_with_the_final_status(
    relay: Services, slack: FakeSlack
) -> None:
    run = await run_to_end(relay, GATED, approve="ship")
    assert run.status.value == "completed"
    [root] = slack.top_level(channel_of(slack))
    thread = slack.thread(root.channel, root.ts)
    assert root.text == "Completed: deploy"
    assert [e["text"] for e in root.edits] == ["Started: deploy", "Pending approval: deploy"]
    replies = thread[1:]
    assert [m.text for m in replies] == ["Approved: deploy", "Completed: deploy"]
    assert replies[0].reply_broadcast
    # The approval request had the buttons; deciding it (here through the service, as
    # the MCP tool and the CLI do) edited it to say who decided, without them.
    [request] = replies[0].edits
    assert request["text"] == "Pending approval: Approval needed: deploy"
    assert any(b.get("type") == "actions" for b in request["blocks"])
    assert all(b.get("type") != "actions" for b in replies[0].blocks)
    assert "*Approved* by *alice*" in str(replies[0].blocks)
    assert "Claude Code" in str(root.attachments)
    sent = await relay.store.outbox.list_notifications(run_id=run.id)
    assert {n.status for n in sent} == {NotificationStatus.SENT}


async def test_a_failed_run_broadcasts_its_failure(relay: Services, slack: FakeSlack) -> None:
    run = await run_to_end(relay, FAILING)
    assert run.status.value == "failed"
    [root] = slack.top_level(channel_of(slack))
    [failure] = slack.thread(root.channel, root.ts)[1:]
    assert root.text == failure.text == "Failed: broken"
    assert failure.reply_broadcast
    assert "boom" in str(failure.attachments)


async def test_notify_slack_false_posts_nothing(relay: Services, slack: FakeSlack) -> None:
    run = await run_to_end(relay, QUIET)
    assert run.status.value == "completed"
    assert await relay.store.outbox.list_notifications() == []
    assert slack.calls_to("chat.postMessage") == []


async def test_notify_slack_queues_a_message_in_the_runs_thread(
    relay: Services, slack: FakeSlack
) -> None:
    run = await run_to_end(relay, FAILING)
    queued = await relay.notifications.notify_slack(
        "a note", title="Heads up", status="warning", run_id=run.id, fields={"env": "prod"}
    )
    assert queued["queued"] is True
    assert queued["delivered"] is False
    with anyio.fail_after(10):
        while await relay.store.outbox.list_notifications(NotificationStatus.PENDING):  # noqa: ASYNC110
            await anyio.sleep(0.02)
    [root] = slack.top_level(channel_of(slack))
    note = slack.thread(root.channel, root.ts)[-1]
    assert "Heads up" in note.text
    assert "prod" in str(note.attachments)


async def test_notify_slack_refuses_an_unknown_status(relay: Services) -> None:
    with pytest.raises(UsageError, match="unknown status 'purple'"):
        await relay.notifications.notify_slack("x", status="purple")


NOTIFYING = """
id: notifying
steps:
  - id: build
    action: shell
    params: {command: "true"}
  - id: tell
    action: notify
    params: {message: "build ${{ steps.build.status }}", title: Build, status: success,
             fields: {branch: main}}
"""


async def test_a_notify_step_replies_in_the_runs_thread(relay: Services, slack: FakeSlack) -> None:
    run = await run_to_end(relay, NOTIFYING)
    assert run.status.value == "completed"
    assert run.step("tell").output == {
        "delivered": False,
        "queued": True,
        "channels": [channel_of(slack)],
    }
    [root] = slack.top_level(channel_of(slack))
    texts = [m.text for m in slack.thread(root.channel, root.ts)]
    assert any("Build" in t for t in texts)
    assert "build completed" in str(slack.thread(root.channel, root.ts))


async def test_a_notify_step_without_slack_completes_undelivered(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", workflows_path=str(tmp_path))
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        run = await run_to_end(relay, NOTIFYING)
    assert run.status.value == "completed"
    output = run.step("tell").output
    assert output["delivered"] is False
    assert output["reason"].startswith("Slack is not configured")
