"""Approve / Reject in Slack, end to end over real sockets: relay's HTTP app on 127.0.0.1
receives clicks signed the way Slack signs them (by the fake Slack, independently of
relay's own signature code), decides the gate once, and edits the request message in
the fake Slack through the outbox."""

import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
import uvicorn
from tests.fake_slack import ClickResult, FakeSlack, StoredMessage, post_signed

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.http_app.app import create_app
from relay.model.loading import load_workflow
from relay.model.notification import NotificationKind, NotificationStatus
from relay.model.run import Approval, ApprovalStatus, Run
from relay.notify.messages import APPROVE_ACTION_ID, REJECT_ACTION_ID
from relay.service.services import Services

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
ALICE, BOB = "U0ALICE", "U0BOB"

GATED = f"""
id: deploy
source: pycharm
steps:
  - id: build
    action: log
    params: {{message: built}}
  - id: gate
    action: approval
    params: {{message: "Ship it?", approvers: ["slack:{ALICE}"]}}
  - id: ship
    action: log
    params: {{message: shipped}}
"""


@dataclass
class Harness:
    relay: Services
    slack: FakeSlack
    url: str  # relay's /slack/interactions

    async def start(self) -> Run:
        run, _ = await self.relay.runs.start_run(
            load_workflow(GATED, catalog=self.relay.runtime.actions)
        )
        return run

    async def request_message(self, run_id: str) -> StoredMessage:
        """The approval request once it is in Slack, with its buttons."""
        with anyio.fail_after(15):
            while True:
                for message in list(self.slack.messages.values()):
                    first = message.edits[0]["blocks"] if message.edits else message.blocks
                    if _has_buttons_in(first) and run_id in str(message.attachments):
                        return message
                await anyio.sleep(0.02)

    async def approval(self, run_id: str) -> Approval:
        [approval] = await self.relay.store.coordination.list_approvals(None, run_id)
        return approval

    async def click(self, message: StoredMessage, action: str, user: str, **kw: Any) -> ClickResult:
        return await self.slack.click(self.url, message, action, user, signing_secret=SECRET, **kw)

    async def settled(self, run_id: str) -> Run:
        """The run at its end, with every notification out of the outbox."""
        with anyio.fail_after(15):
            while not (run := await self.relay.store.runs.get_run(run_id)).status.is_final:  # noqa: ASYNC110
                await anyio.sleep(0.02)
            while await self.relay.store.outbox.list_notifications(NotificationStatus.PENDING):  # noqa: ASYNC110
                await anyio.sleep(0.02)
        return run


def _has_buttons(message: StoredMessage) -> bool:
    return _has_buttons_in(message.blocks)


def _has_buttons_in(blocks: list[dict[str, Any]]) -> bool:
    return any(b.get("type") == "actions" for b in blocks)


async def _serve(app: Any, started: Callable[[str], Awaitable[None]]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
            await anyio.sleep(0.01)
        try:
            await started(f"http://127.0.0.1:{sock.getsockname()[1]}")
        finally:
            server.should_exit = True


def _settings(
    tmp_path: Path, slack: FakeSlack, secret: str | None = SECRET, database_url: str | None = None
) -> Settings:
    return Settings(
        home=tmp_path / "home", workflows_path=str(tmp_path), lease_seconds=5.0,
        database_url=database_url,
        slack_bot_token=slack.add_token(), slack_channel=slack.add_channel("deploys"),
        slack_api_base_url=slack.api_base, slack_signing_secret=secret,
        slack_pace_seconds=0.01, slack_timeout_seconds=2.0,
        auth_token="relay-bearer-token",  # Slack sends none: its signature stands in
    )  # fmt: skip


@pytest.fixture
async def harness(
    tmp_path: Path, slack: FakeSlack, database_url: str | None
) -> AsyncIterator[Harness]:
    """On SQLite and on PostgreSQL (the `backend` parameter)."""
    settings = _settings(tmp_path, slack, database_url=database_url)
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        ready: anyio.Event = anyio.Event()
        done: anyio.Event = anyio.Event()
        found: list[Harness] = []

        async def serving(base: str) -> None:
            found.append(Harness(relay, slack, f"{base}/slack/interactions"))
            ready.set()
            await done.wait()

        async with anyio.create_task_group() as tg:
            tg.start_soon(_serve, create_app(relay, settings), serving)
            await ready.wait()
            yield found[0]
            done.set()


async def _nothing_changed(h: Harness, run_id: str) -> None:
    approval = await h.approval(run_id)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.decided_by is None
    history = await h.relay.store.runs.history(run_id)
    assert "approval.decided" not in {e.kind for e in history}
    queued = await h.relay.store.outbox.list_notifications(None, run_id=run_id)
    assert NotificationKind.EDIT not in {n.kind for n in queued}


async def test_a_signed_approve_click_decides_the_gate_and_the_run_goes_on(
    harness: Harness,
) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    answer = await harness.click(message, APPROVE_ACTION_ID, ALICE)
    assert (answer.status_code, answer.body) == (200, "")
    done = await harness.settled(run.id)
    assert done.status.value == "completed"
    approval = await harness.approval(run.id)
    assert (approval.status, approval.decided_by, approval.decided_channel) == (
        ApprovalStatus.APPROVED, f"slack:{ALICE}", "slack"
    )  # fmt: skip
    assert done.step("gate").output["approver"] == f"slack:{ALICE}"
    # The request message now says who decided, and its buttons are gone.
    edited = harness.slack.messages[(message.channel, message.ts)]
    assert not _has_buttons(edited)
    assert f"*Approved* by <@{ALICE}>" in json.dumps(edited.blocks)
    assert edited.text == "Approved: deploy"
    assert len(edited.edits) == 1


async def test_a_reject_click_fails_the_run_and_says_so_in_slack(harness: Harness) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    answer = await harness.click(message, REJECT_ACTION_ID, ALICE)
    assert answer.status_code == 200
    done = await harness.settled(run.id)
    assert done.status.value == "failed"
    assert (await harness.approval(run.id)).status is ApprovalStatus.REJECTED
    edited = harness.slack.messages[(message.channel, message.ts)]
    assert f"*Rejected* by <@{ALICE}>" in json.dumps(edited.blocks)
    assert not _has_buttons(edited)


@pytest.mark.parametrize(
    ("what", "options"),
    [
        ("bad signature", {"tamper": True}),
        ("stale timestamp", {"skew_seconds": -301}),
        ("missing headers", {"omit_headers": True}),
    ],
)
async def test_an_unsigned_or_stale_click_gets_401_and_changes_nothing(
    harness: Harness, what: str, options: dict[str, Any]
) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    answer = await harness.click(message, APPROVE_ACTION_ID, ALICE, **options)
    assert answer.status_code == 401, what
    assert "signature" in json.loads(answer.body)["error"]
    await _nothing_changed(harness, run.id)
    assert _has_buttons(harness.slack.messages[(message.channel, message.ts)])


async def test_a_click_signed_with_another_secret_is_refused(harness: Harness) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    body = urlencode(
        {"payload": json.dumps(harness.slack.click_payload(message, APPROVE_ACTION_ID, ALICE))}
    )
    answer = await post_signed(harness.url, body.encode(), signing_secret="not-" + SECRET)
    assert answer.status_code == 401
    await _nothing_changed(harness, run.id)


async def _ephemeral(slack: FakeSlack) -> dict[str, Any]:
    with anyio.fail_after(10):
        while not slack.response_url_posts:  # noqa: ASYNC110 - the fake records, no event
            await anyio.sleep(0.02)
    return slack.response_url_posts[-1]


async def test_a_non_approver_is_told_privately_and_nothing_changes(harness: Harness) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    answer = await harness.click(message, APPROVE_ACTION_ID, BOB)
    assert answer.status_code == 200
    body = json.loads(answer.body)
    assert body["response_type"] == "ephemeral"
    assert f"'slack:{BOB}' may not decide step 'gate'" in body["text"]
    assert f"slack:{ALICE}" in body["text"]
    private = await _ephemeral(harness.slack)
    assert private == body  # through the response_url too, which is what Slack shows
    await _nothing_changed(harness, run.id)
    assert (await harness.relay.store.runs.get_run(run.id)).status.value == "waiting"


async def test_a_second_click_changes_nothing_and_says_who_decided(harness: Harness) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    # Both clicks come from the message as first shown (with its buttons), as when two
    # people click at once or one clicks twice before Slack redraws it.
    first = harness.slack.click_payload(message, APPROVE_ACTION_ID, ALICE)
    second = harness.slack.click_payload(message, REJECT_ACTION_ID, ALICE)
    for payload in (first, second):
        body = urlencode({"payload": json.dumps(payload)}).encode()
        answer = await post_signed(harness.url, body, signing_secret=SECRET)
        assert answer.status_code == 200
    assert json.loads(answer.body)["text"] == (
        f"Step gate was already approved by slack:{ALICE} via slack."
    )
    done = await harness.settled(run.id)
    assert done.status.value == "completed"
    approval = await harness.approval(run.id)
    assert approval.status is ApprovalStatus.APPROVED
    history = await harness.relay.store.runs.history(run.id)
    assert [e.kind for e in history].count("approval.decided") == 1
    assert (await _ephemeral(harness.slack))["response_type"] == "ephemeral"


async def test_a_decision_made_elsewhere_also_edits_the_slack_message(harness: Harness) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    late = harness.slack.click_payload(message, APPROVE_ACTION_ID, ALICE)
    # an approver, via MCP
    await harness.relay.coordination.approve(
        run.id, "gate", by=f"slack:{ALICE}", comment="looks good"
    )
    await harness.settled(run.id)
    edited = harness.slack.messages[(message.channel, message.ts)]
    assert not _has_buttons(edited)
    assert f"*Approved* by <@{ALICE}>: looks good" in json.dumps(edited.blocks)
    # A click afterwards is told it came too late.
    body = urlencode({"payload": json.dumps(late)}).encode()
    answer = await post_signed(harness.url, body, signing_secret=SECRET)
    assert "already approved" in json.loads(answer.body)["text"]


async def test_without_a_signing_secret_the_route_refuses_clearly(
    tmp_path: Path, slack: FakeSlack
) -> None:
    settings = _settings(tmp_path, slack, secret=None)
    async with open_relay(settings, Role.CLIENT, participant="pytest") as relay:
        answers: list[ClickResult] = []

        async def click(base: str) -> None:
            body = urlencode({"payload": "{}"}).encode()
            answers.append(
                await post_signed(f"{base}/slack/interactions", body, signing_secret="anything")
            )

        await _serve(create_app(relay, settings), click)
    [answer] = answers
    assert answer.status_code == 503
    assert "set SLACK_SIGNING_SECRET" in json.loads(answer.body)["error"]


async def test_a_gate_that_times_out_edits_its_message_to_expired(harness: Harness) -> None:
    quick = GATED.replace('message: "Ship it?",', 'message: "Ship it?", timeout_minutes: 0.005,')
    workflow = load_workflow(quick, catalog=harness.relay.runtime.actions)
    run, _ = await harness.relay.runs.start_run(workflow)
    message = await harness.request_message(run.id)
    done = await harness.settled(run.id)
    assert done.status.value == "failed"
    assert (await harness.approval(run.id)).status is ApprovalStatus.EXPIRED
    edited = harness.slack.messages[(message.channel, message.ts)]
    assert not _has_buttons(edited)
    assert "*Expired* with no decision" in json.dumps(edited.blocks)


async def test_a_signed_body_that_is_no_interaction_gets_400(harness: Harness) -> None:
    answer = await post_signed(harness.url, b"payload=not-json", signing_secret=SECRET)
    assert answer.status_code == 400
    assert "payload" in json.loads(answer.body)["error"]


async def test_relay_approve_in_another_process_edits_the_message_too(
    harness: Harness, tmp_path: Path, database_url: str | None
) -> None:
    run = await harness.start()
    message = await harness.request_message(run.id)
    # The deciding process has no Slack settings of its own: the edit goes into the outbox
    # anyway (to where the request went), and this process's sender delivers it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "SLACK_"))}
    env |= {"RELAY_HOME": str(tmp_path / "home"), "RELAY_WORKFLOWS_PATH": str(tmp_path),
            "RELAY_PARTICIPANT": f"slack:{ALICE}"}  # fmt: skip
    if database_url:
        env["RELAY_DATABASE_URL"] = database_url
    done = await anyio.run_process(
        [sys.executable, "-m", "relay", "approve", run.id, "--step", "gate"], env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    await harness.settled(run.id)
    approval = await harness.approval(run.id)
    assert (approval.decided_by, approval.decided_channel) == (f"slack:{ALICE}", "cli")
    edited = harness.slack.messages[(message.channel, message.ts)]
    assert not _has_buttons(edited)
    assert f"*Approved* by <@{ALICE}>" in json.dumps(edited.blocks)
