"""Slack's secrets (bot token, webhook URL, signing secret) and Apprise's URLs appear in
no event, run history, notification, MCP resource, log line or error — even when Slack
(or the Apprise destination) refuses them."""

import json
import logging
from pathlib import Path

import anyio
import pytest
from mcp import Client
from tests.fake_slack import FakeSlack, closed_port_url

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.mcp_server.server import build_server
from relay.model.loading import load_workflow
from relay.service.services import Services

WORKFLOW = """
id: secretive
steps:
  - id: ok
    action: shell
    params: {command: "true"}
  - id: tell
    action: notify
    params: {message: "hello"}
  - id: boom
    action: shell
    params: {command: "exit 2"}
"""
SIGNING_SECRET = "signing-secret-4f9d2c"
RESOURCES = (
    "relay://runs", "relay://events/recent", "relay://workflows", "relay://participants",
    "relay://approvals/pending", "relay://notifications/pending", "relay://notifications/dead",
)  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_no_secret_reaches_events_history_notifications_resources_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeSlack.running() as slack:
        token = slack.add_token()
        channel = slack.add_channel("ops")
        slack.revoke_token(token)  # Slack refuses it: errors get recorded
        settings = Settings(
            home=tmp_path / "home", workflows_path=str(tmp_path),
            slack_bot_token=token, slack_channel=channel, slack_api_base_url=slack.api_base,
            slack_signing_secret=SIGNING_SECRET, slack_pace_seconds=0.01,
            slack_timeout_seconds=1.0, slack_backoff_base_seconds=0.05,
            slack_backoff_cap_seconds=0.2, slack_auth_pause_seconds=0.2,
        )  # fmt: skip
        async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
            run, _ = await relay.runs.start_run(
                load_workflow(WORKFLOW, catalog=relay.runtime.actions)
            )
            with anyio.fail_after(20):
                while not (await relay.store.runs.get_run(run.id)).status.is_final:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
                await anyio.sleep(0.5)  # let the sender try (and fail) a few times
            texts = [
                json.dumps([e.as_dict() for e in await relay.events.list_events(limit=1000)]),
                json.dumps(
                    [h.model_dump(mode="json") for h in await relay.store.runs.history(run.id)]
                ),
                json.dumps([n.as_dict() for n in await relay.store.outbox.list_notifications()]),
                repr(settings),
                str(settings),
            ]
            async with Client(build_server(relay)) as client:
                for uri in (*RESOURCES, f"relay://runs/{run.id}"):
                    texts.append(str((await client.read_resource(uri)).contents))
                failed = await client.call_tool("notify_slack", {"message": "x", "channel": "nope"})
                texts.append(str(failed.content))
    texts.append(caplog.text)
    everything = "\n".join(texts)
    assert run.id in everything  # the search looked at real material
    for secret in (token, SIGNING_SECRET):
        assert secret not in everything


APPRISE_PASSWORD = "apprise-pa55-91c3"
APPRISE_TOKEN = "apprise-tok3n-4be7"
TO_EVERYONE = """
id: to-everyone
steps:
  - id: tell
    action: notify
    params: {message: "hello", channels: [pager]}
  - id: tell-slack
    action: notify
    params: {message: "hello again"}
  - id: boom
    action: shell
    params: {command: "exit 2"}
"""


async def test_no_webhook_or_apprise_url_reaches_events_notifications_resources_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("apprise", reason="the apprise extra is not installed")
    caplog.set_level(logging.DEBUG)
    with FakeSlack.running() as slack:
        # Slack answers this webhook `404 no_service`, and nothing listens where the Apprise
        # URL points: both failures get recorded everywhere.
        url = slack.webhook_url("ops", status=404, body="no_service")
        host = closed_port_url().removeprefix("http://")
        apprise_url = f"json://relay:{APPRISE_PASSWORD}@{host}/hook/{APPRISE_TOKEN}"
        settings = Settings(
            home=tmp_path / "home", workflows_path=str(tmp_path), slack_webhook_url=url,
            notify_urls=f"pager={apprise_url}", slack_pace_seconds=0.01,
            slack_timeout_seconds=1.0, slack_backoff_base_seconds=0.05,
            slack_backoff_cap_seconds=0.1,
        )  # fmt: skip
        async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
            workflow = load_workflow(TO_EVERYONE, catalog=relay.runtime.actions)
            run, _ = await relay.runs.start_run(workflow)
            with anyio.fail_after(20):
                while not (await relay.store.runs.get_run(run.id)).status.is_final:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
                while not await _slack_dead_and_apprise_retried(relay):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            dead = await relay.notifications.list_notifications("dead")
            texts = [
                json.dumps([e.as_dict() for e in await relay.events.list_events(limit=1000)]),
                json.dumps(
                    [h.model_dump(mode="json") for h in await relay.store.runs.history(run.id)]
                ),
                json.dumps(
                    [n.as_dict() for n in await relay.notifications.list_notifications("all")]
                ),
                json.dumps((await relay.store.runs.get_run(run.id)).model_dump(mode="json")),
                repr(settings),
                str(settings),
            ]
            async with Client(build_server(relay)) as client:
                for uri in (*RESOURCES, f"relay://runs/{run.id}"):
                    texts.append(str((await client.read_resource(uri)).contents))
                note = await client.call_tool("notify_slack", {"message": "x", "run_id": "nope"})
                texts.append(str(note.content))
    texts.append(caplog.text)
    everything = "\n".join(texts)
    assert dead
    assert "no_service" in everything  # the search looked at the recorded failures
    assert "'pager' did not accept the message" in everything
    secret_path = url.split("/services/", 1)[1]
    for secret in (secret_path, url, apprise_url, APPRISE_PASSWORD, APPRISE_TOKEN):
        assert secret not in everything


async def _slack_dead_and_apprise_retried(relay: Services) -> bool:
    queued = await relay.notifications.list_notifications("all")
    webhook = [n for n in queued if n.destination == "webhook"]
    apprise = [n for n in queued if n.destination == "apprise"]
    return all(n.status.value == "dead" for n in webhook) and all(n.attempts >= 2 for n in apprise)
