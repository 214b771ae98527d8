"""`relay run` waits (a bounded time) for its run's notifications before it exits."""

import os
import sys
from pathlib import Path

import anyio
from tests.fake_slack import FakeSlack

from relay.model.notification import NotificationStatus
from relay.store import connect_store

WORKFLOW = """
id: tiny
steps:
  - {id: a, action: log, params: {message: hi}}
  - {id: b, action: log, params: {message: there}}
"""


async def test_relay_run_delivers_its_runs_notifications_before_exiting(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(WORKFLOW)
    with FakeSlack.running() as slack:
        channel = slack.add_channel("runs")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "SLACK_"))}
        env |= {"RELAY_HOME": str(tmp_path / "home"), "RELAY_WORKFLOWS_PATH": str(tmp_path),
                "SLACK_BOT_TOKEN": slack.add_token(), "SLACK_CHANNEL": channel,
                "SLACK_API_BASE_URL": slack.api_base,
                "RELAY_SLACK_PACE_SECONDS": "0.2"}  # fmt: skip
        done = await anyio.run_process(
            [sys.executable, "-m", "relay", "run", "tiny", "--json"], env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        [root] = slack.top_level(channel)
        assert root.text == "Completed: tiny"
        assert [m.text for m in slack.thread(channel, root.ts)[1:]] == ["Completed: tiny"]
    store = await connect_store(f"sqlite:///{tmp_path / 'home' / 'relay.db'}")
    try:
        assert await store.outbox.list_notifications(NotificationStatus.PENDING) == []
    finally:
        await store.aclose()
