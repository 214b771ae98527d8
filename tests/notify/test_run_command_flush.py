"""`relay run` waits (a bounded time, and only while Slack answers) for its run's
notifications before it exits; settings that can never work are refused at start."""

import os
import sys
import time
from pathlib import Path

import anyio
import pytest
from tests.fake_slack import FakeSlack, closed_port_url

from relay.model.notification import NotificationStatus
from relay.store import connect_store

WORKFLOW = """
id: tiny
steps:
  - {id: a, action: log, params: {message: hi}}
  - {id: b, action: log, params: {message: there}}
"""
# What an unreachable or silent Slack may add to `relay run` at most (today's: 10 s).
ADDED_SECONDS = 2.0


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    (tmp_path / "tiny.yaml").write_text(WORKFLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "SLACK_"))}
    return env | {"RELAY_HOME": str(tmp_path / "home"), "RELAY_WORKFLOWS_PATH": str(tmp_path),
                  **settings}  # fmt: skip


async def _relay_run(env: dict[str, str]) -> tuple[float, int, str, str]:
    """`relay run tiny`: how long it took, its exit code, stdout and stderr."""
    began = time.monotonic()
    done = await anyio.run_process(
        [sys.executable, "-m", "relay", "run", "tiny"], env=env, check=False
    )
    took = time.monotonic() - began
    return took, done.returncode, done.stdout.decode(), done.stderr.decode()


async def _pending(tmp_path: Path) -> int:
    store = await connect_store(f"sqlite:///{tmp_path / 'home' / 'relay.db'}")
    try:
        return len(await store.outbox.list_notifications(NotificationStatus.PENDING))
    finally:
        await store.aclose()


async def test_relay_run_delivers_its_runs_notifications_before_exiting(tmp_path: Path) -> None:
    with FakeSlack.running() as slack:
        channel = slack.add_channel("runs")
        env = _env(tmp_path, SLACK_BOT_TOKEN=slack.add_token(), SLACK_CHANNEL=channel,
                   SLACK_API_BASE_URL=slack.api_base, RELAY_SLACK_PACE_SECONDS="0.2")  # fmt: skip
        done = await anyio.run_process(
            [sys.executable, "-m", "relay", "run", "tiny", "--json"], env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == b""
        [root] = slack.top_level(channel)
        assert root.text == "Completed: tiny"
        assert [m.text for m in slack.thread(channel, root.ts)[1:]] == ["Completed: tiny"]
    assert await _pending(tmp_path) == 0


@pytest.mark.parametrize("slack_is", ["unreachable", "silent"])
async def test_a_slack_that_fails_or_never_answers_adds_under_2_s_and_one_line(
    tmp_path: Path, slack_is: str
) -> None:
    without_slack, code, _, _ = await _relay_run(_env(tmp_path))
    assert code == 0
    with FakeSlack.running() as slack:
        if slack_is == "silent":
            slack.hang(60.0, scope="chat.postMessage")  # answers nothing, closes nothing
        base = slack.api_base if slack_is == "silent" else f"{closed_port_url()}/api"
        env = _env(tmp_path, SLACK_BOT_TOKEN=slack.add_token(), SLACK_CHANNEL="C0123ABCD",
                   SLACK_API_BASE_URL=base)  # fmt: skip
        took, code, stdout, stderr = await _relay_run(env)
    assert code == 0, stderr
    added = took - without_slack
    assert added < ADDED_SECONDS, f"Slack {slack_is} added {added:.1f} s (target: < 2 s)"
    [line] = stderr.splitlines()
    assert line.startswith("relay: note: Slack ")
    assert "notifications of run" in line
    assert "are queued: any `relay serve` or `relay worker`" in line
    # the live view: each line a progress line, the summary, or its outputs; no warning
    for shown in stdout.splitlines():
        assert shown.startswith(("[", "run ", "outputs:")), shown
    assert await _pending(tmp_path) == int(line.split(" notifications")[0].rsplit(" ", 1)[1])


async def test_a_malformed_webhook_url_is_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    secret = "hooks.slack.com/services/T0/B0/s3cr3t-part"
    _, code, stdout, stderr = await _relay_run(_env(tmp_path, SLACK_WEBHOOK_URL=secret))
    assert code == 2
    assert stdout == ""
    assert stderr.startswith("relay: error: SLACK_WEBHOOK_URL is not a URL"), stderr
    assert "s3cr3t" not in stderr
    assert not (tmp_path / "home").exists()  # no store opened, no run recorded


async def test_notifications_that_can_never_be_sent_are_reported_in_one_line(
    tmp_path: Path,
) -> None:
    with FakeSlack.running() as slack:
        env = _env(tmp_path, SLACK_BOT_TOKEN=slack.add_token(), SLACK_CHANNEL="C-missing",
                   SLACK_API_BASE_URL=slack.api_base, RELAY_SLACK_PACE_SECONDS="0.01")  # fmt: skip
        _, code, _, stderr = await _relay_run(env)
    assert code == 0, stderr
    [line] = stderr.splitlines()
    assert line.startswith("relay: warning: "), line
    assert "dead-lettered, never to be sent (Slack chat.postMessage failed: channel_not_found)" in (
        line
    )
    assert await _pending(tmp_path) == 0
