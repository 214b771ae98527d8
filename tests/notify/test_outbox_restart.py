"""A sending process SIGKILLed with notifications queued (one in flight): a new process on
the same store delivers them all, in the thread the first one started."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from tests.fake_slack import FakeSlack

from relay.model.notification import NotificationStatus
from relay.notify.outbox import OutboxSender
from relay.notify.slack_client import SlackClient
from relay.store import connect_store

CHILD = """
import asyncio, sys
from relay.model.notification import NewNotification
from relay.notify.outbox import OutboxSender
from relay.notify.slack_client import SlackClient
from relay.store import connect_store

async def main(url, api, token, channel):
    store = await connect_store(url)
    for i in range(5):
        await store.outbox.enqueue_notification(NewNotification(
            channel, {"text": f"m{i}"}, thread_key="run-1", run_id="run-1",
            root_payload={"text": f"status {i}"}))
    print("queued", flush=True)
    async with SlackClient(token, base_url=api, timeout_seconds=30) as client:
        sender = OutboxSender(
            store.outbox, store.feed, owner="doomed", slack=client, pace_seconds=0.01,
            lease_seconds=1.0,
        )
        await sender.run()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_killed_sender_loses_nothing_and_keeps_the_thread(
    tmp_path: Path, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    # Root, m0 and m1 go through; the first edit of the root hangs until the kill.
    slack.hang(20.0, then="drop", scope="chat.update")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(  # noqa: ASYNC220 (a real process, to SIGKILL)
        [sys.executable, str(script), url, slack.api_base, token, channel],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "queued", child.stderr
        deadline = time.monotonic() + 15
        while not slack.calls_to("chat.update"):
            assert time.monotonic() < deadline, child.stderr and child.poll()
            await anyio.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    [root] = slack.top_level(channel)
    assert [m.text for m in slack.thread(channel, root.ts)] == ["status 0", "m0", "m1"]

    store = await connect_store(url)
    try:
        pending = await store.outbox.list_notifications(NotificationStatus.PENDING)
        assert len(pending) == 7  # nothing lost: the edit in flight is still pending
        async with (
            SlackClient(token, base_url=slack.api_base) as client,
            anyio.create_task_group() as tg,
        ):
            sender = OutboxSender(
                store.outbox, store.feed, owner="heir", slack=client, pace_seconds=0.01
            )
            tg.start_soon(sender.run)
            with anyio.fail_after(15):
                while await store.outbox.list_notifications(NotificationStatus.PENDING):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    finally:
        await store.aclose()
    assert slack.top_level(channel) == [root]
    texts = [m.text for m in slack.thread(channel, root.ts)[1:]]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    assert root.text == "status 4"
    assert [e["text"] for e in root.edits] == ["status 0", "status 1", "status 2", "status 3"]
