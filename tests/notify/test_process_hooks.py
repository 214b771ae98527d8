"""The seed's Python hooks post to Slack through the outbox: one thread per process,
the source shown with its label, the notice written with the event."""

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tests.fake_slack import FakeSlack

import relay
from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.model.notification import NotificationStatus


@pytest.fixture
def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack.running() as fake:
        monkeypatch.setenv("RELAY_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("RELAY_WORKFLOWS_PATH", str(tmp_path / "none"))
        monkeypatch.setenv("SLACK_BOT_TOKEN", fake.add_token())
        monkeypatch.setenv("SLACK_CHANNEL", fake.add_channel("processes"))
        monkeypatch.setenv("SLACK_API_BASE_URL", fake.api_base)
        monkeypatch.setenv("RELAY_SLACK_PACE_SECONDS", "0.01")
        yield fake


async def deliver_queued() -> None:
    """What a running `relay serve` / `relay worker` does: drain the outbox."""
    async with open_relay(Settings(), Role.SERVER, participant="worker") as worker:
        with anyio.fail_after(15):
            while await worker.notifications.list_notifications("pending"):  # noqa: ASYNC110
                await anyio.sleep(0.02)


def channel_of(slack: FakeSlack) -> str:
    return next(iter(slack.channels))


async def test_process_hooks_make_one_thread_per_process(slack: FakeSlack) -> None:
    source = relay.ProcessSource.CLAUDE_CODE
    relay.notify_process_started("abc-123", "NBA Data Analysis", source, {"query": "lakers"})
    relay.notify_process_completed("abc-123", "NBA Data Analysis", source, {"rows": 82},
                                   ["review the report"])  # fmt: skip
    relay.notify_process_failed("def-456", "Nightly sync", "pycharm", "disk full")
    await deliver_queued()
    roots = {m.text: m for m in slack.top_level(channel_of(slack))}
    assert set(roots) == {"Completed: NBA Data Analysis", "Failed: Nightly sync"}
    done = roots["Completed: NBA Data Analysis"]
    assert [e["text"] for e in done.edits] == ["Started: NBA Data Analysis"]
    assert "Claude Code" in str(done.attachments)  # the seed's source, with its label
    [reply] = slack.thread(done.channel, done.ts)[1:]
    assert reply.text == "Completed: NBA Data Analysis"
    assert "*rows*\\n82" in str(reply.attachments)
    assert "review the report" in str(reply.attachments)
    failed = roots["Failed: Nightly sync"]
    assert "PyCharm" in str(failed.attachments)
    assert "disk full" in str(failed.attachments)


async def test_the_decorator_posts_unless_told_not_to(slack: FakeSlack) -> None:
    @relay.with_workflow_notifications("Synthesis", source="mcp_server")
    async def synthesis() -> dict[str, str]:
        return {"model": "ok"}

    @relay.with_workflow_notifications("Quiet job", source="api", notify_slack=False)
    def quiet() -> int:
        return 1

    await synthesis()
    quiet()
    await deliver_queued()
    [root] = slack.top_level(channel_of(slack))
    assert root.text == "Completed: Synthesis"
    assert "MCP server" in str(root.attachments)
    async with open_relay(Settings(), Role.CLIENT, participant="reader") as reader:
        events = [e.type for e in await reader.events.list_events(limit=20)]
        sent = await reader.notifications.list_notifications("sent")
    assert events.count("process_complete") == 2  # the quiet job still emits its events
    assert all(n.status is NotificationStatus.SENT for n in sent)
    assert len(slack.calls_to("chat.postMessage")) == 2  # Synthesis: root and one reply


async def test_a_hook_delivers_its_own_notice_before_it_returns(slack: FakeSlack) -> None:
    relay.notify_process_started("p-1", "Report build", "api")

    [root] = slack.top_level(channel_of(slack))  # no serving process: the hook sent it
    assert root.text == "Started: Report build"
    async with open_relay(Settings(), Role.CLIENT, participant="reader") as reader:
        assert await reader.notifications.list_notifications("pending") == []


async def test_with_slack_down_a_hook_returns_and_leaves_its_notice_queued(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay.hooks, "DELIVER_SECONDS", 0.5)
    slack.outage(30)

    event = relay.notify_process_failed("p-2", "Nightly sync", "pycharm", "disk full")

    assert event.type == "process_failed"
    assert slack.top_level(channel_of(slack)) == []
    async with open_relay(Settings(), Role.CLIENT, participant="reader") as reader:
        queued = await reader.notifications.list_notifications("pending")
    assert queued
    assert {n.thread_key for n in queued} == {"process:p-2"}
    slack.outage_until = 0.0  # Slack is back: any serving process delivers it
    await deliver_queued()
    assert [m.text for m in slack.top_level(channel_of(slack))] == ["Failed: Nightly sync"]
