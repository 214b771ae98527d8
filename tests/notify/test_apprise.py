"""Channels beyond Slack through Apprise: a `notify` step names a destination from
RELAY_NOTIFY_URLS and the outbox delivers it, over a real socket, to a local HTTP server
that Apprise's `json://` service posts to; failures are retried; the URL's secrets reach
no event, notification, resource, log line or error."""

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.fake_slack import serve

from relay.bootstrap import Role, open_relay
from relay.config import Settings, parse_notify_urls
from relay.config_checks import check_settings
from relay.errors import ConfigError
from relay.mcp_server.server import build_server
from relay.model.loading import load_workflow
from relay.model.run import Run
from relay.notify.apprise_channel import AppriseChannels
from relay.service.services import Services

pytest.importorskip("apprise", reason="the apprise extra is not installed")

PASSWORD = "pa55-w0rd-7c1e"
TOKEN = "tok3n-58f0d2a9"

WORKFLOW = """
id: reporting
steps:
  - id: build
    action: log
    params: {message: built}
  - id: tell
    action: notify
    params:
      title: Nightly report
      message: "all ${{ steps.build.status }}"
      status: success
      fields: {rows: 82}
      channels: [ops, "#elsewhere"]
"""


@dataclass
class Receiver:
    """A local HTTP endpoint: records what Apprise posts; fails the first `failures`."""

    failures: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> PlainTextResponse:
        if request.path_params["token"] != TOKEN:
            return PlainTextResponse("unknown hook", 404)
        if self.failures > 0:
            self.failures -= 1
            return PlainTextResponse("try later", 503)
        self.auth.append(request.headers.get("authorization", ""))
        self.posts.append(json.loads(await request.body()))
        return PlainTextResponse("ok")

    def apprise_url(self) -> str:
        host = self.url.removeprefix("http://")
        return f"json://relay:{PASSWORD}@{host}/hook/{TOKEN}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/hook/{token}", found.hook, methods=["POST"])])
    with serve(app) as url:
        found.url = url
        yield found


def settings_for(tmp_path: Path, urls: str) -> Settings:
    return Settings(
        home=tmp_path / "home", workflows_path=str(tmp_path), notify_urls=urls,
        slack_pace_seconds=0.01, slack_backoff_base_seconds=0.05,
        slack_backoff_cap_seconds=0.2,
    )  # fmt: skip


async def run_and_drain(relay: Services) -> Run:
    run, _ = await relay.runs.start_run(load_workflow(WORKFLOW, catalog=relay.runtime.actions))
    with anyio.fail_after(20):
        while not (done := await relay.store.runs.get_run(run.id)).status.is_final:  # noqa: ASYNC110
            await anyio.sleep(0.02)
        while await relay.notifications.list_notifications("pending"):  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return done


async def test_a_notify_step_reaches_an_apprise_destination(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.failures = 2  # the outbox retries past them
    settings = settings_for(tmp_path, f"ops={receiver.apprise_url()}")
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        run = await run_and_drain(relay)
        [sent] = await relay.notifications.list_notifications("sent")
    assert run.status.value == "completed"
    output = run.step("tell").output
    # `ops` is an Apprise destination; `#elsewhere` would be Slack, which is not set up.
    assert output["channels"] == ["ops"]
    assert output["reason"].startswith("Slack is not configured")
    [post] = receiver.posts
    assert post["title"] == "Nightly report"
    assert post["type"] == "success"
    assert post["message"].splitlines() == ["all completed", "rows: 82",
                                            f"run {run.id} (reporting)"]  # fmt: skip
    expected = base64.b64encode(f"relay:{PASSWORD}".encode()).decode()
    assert receiver.auth == [f"Basic {expected}"]
    assert (sent.destination, sent.channel, sent.attempts) == ("apprise", "ops", 3)


async def test_apprise_urls_leak_nowhere_even_when_delivery_fails(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.failures = 10**6  # it never takes the message
    url = receiver.apprise_url()
    settings = settings_for(tmp_path, f"ops={url}")
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        run, _ = await relay.runs.start_run(load_workflow(WORKFLOW, catalog=relay.runtime.actions))
        with anyio.fail_after(20):
            while True:
                found = await relay.notifications.list_notifications("pending")
                if found and found[0].attempts >= 2:
                    break
                await anyio.sleep(0.02)
        [pending] = found
        texts = [
            json.dumps([e.as_dict() for e in await relay.events.list_events(limit=1000)]),
            json.dumps([h.model_dump(mode="json") for h in await relay.store.runs.history(run.id)]),
            json.dumps([n.as_dict() for n in await relay.notifications.list_notifications("all")]),
            json.dumps((await relay.store.runs.get_run(run.id)).model_dump(mode="json")),
            repr(settings), str(settings), repr(relay.runtime.actions),
        ]  # fmt: skip
        async with Client(build_server(relay)) as client:
            for uri in ("relay://notifications/pending", f"relay://runs/{run.id}",
                        "relay://events/recent"):  # fmt: skip
                texts.append(str((await client.read_resource(uri)).contents))
    texts.append(caplog.text)
    everything = "\n".join(texts)
    assert "did not accept the message" in (pending.last_error or "")
    assert "Failed to send JSON" in caplog.text  # Apprise's own log lines were searched
    for secret in (PASSWORD, TOKEN, url):
        assert secret not in everything


def test_notify_urls_are_name_url_pairs_and_errors_never_quote_a_url() -> None:
    urls = "ops=json://u:p@host/a  team=mailto://user:pw@example.com?to=a@x.io,b@x.io\n"
    assert parse_notify_urls(urls) == {
        "ops": "json://u:p@host/a",
        "team": "mailto://user:pw@example.com?to=a@x.io,b@x.io",
    }
    for bad, message in (
        ("json://secret-token@host", "entry 1 is not `name=scheme://...`"),
        ("ops=not-a-url-s3cret", "'ops' is not `name=scheme://...`"),
        ("ops=json://a ops=json://b-s3cret", "the name 'ops' is given twice"),
    ):
        with pytest.raises(ConfigError, match="RELAY_NOTIFY_URLS") as caught:
            parse_notify_urls(bad)
        assert message in str(caught.value)
        assert "s3cret" not in str(caught.value)
        assert "secret-token" not in str(caught.value)


def test_a_url_apprise_does_not_understand_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as caught:
        AppriseChannels({"pager": "discord://k3y-abcdef"})  # a known scheme, a bad URL
    assert "Apprise does not understand the URL named 'pager'" in str(caught.value)
    assert "k3y-abcdef" not in str(caught.value)


def test_an_unknown_scheme_is_refused_at_start_by_its_entry(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, notify_urls="ops=json://127.0.0.1:9 pager=nosuchservice://k3y-abcdef@host"
    )
    with pytest.raises(ConfigError) as caught:
        check_settings(settings)
    assert str(caught.value).startswith(
        "RELAY_NOTIFY_URLS: the entry 'pager' uses 'nosuchservice://', which Apprise does not know"
    )
    assert "k3y-abcdef" not in str(caught.value)
    check_settings(Settings(home=tmp_path, notify_urls="ops=json://127.0.0.1:9"))
