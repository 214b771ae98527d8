"""The durable outbox against the fake Slack over a real socket, on a SQLite file store
and on a PostgreSQL schema."""

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from tests.fake_slack import FakeSlack

from relay.model.notification import NewNotification, NotificationStatus
from relay.notify.messages import Status, process_message
from relay.notify.outbox import OutboxSender
from relay.notify.slack_client import SlackClient, WebhookClient
from relay.store import connect_store
from relay.store.base import Store

FAST = {"pace_seconds": 0.01, "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.3,
        "auth_pause_seconds": 0.3, "lease_seconds": 5.0}  # fmt: skip


@asynccontextmanager
async def sending(
    store: Store, slack: FakeSlack, token: str, *, client_timeout: float = 2.0, **options: Any
) -> AsyncIterator[OutboxSender]:
    client = SlackClient(token, base_url=slack.api_base, timeout_seconds=client_timeout)
    sender = OutboxSender(
        store.outbox, store.feed, owner="test-sender", slack=client, **{**FAST, **options}
    )
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(sender.run)
        yield sender
        tg.cancel_scope.cancel()


def status_payload(status: Status, run_id: str) -> dict[str, Any]:
    return process_message(status, "deploy", run_id).as_payload()


def say(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [], "attachments": []}


async def enqueue_lifecycle(store: Store, channel: str, run_id: str, n_replies: int = 3) -> None:
    """Started (the root), then replies, each also editing the root to the latest status."""
    start = status_payload(Status.STARTED, run_id)
    await store.outbox.enqueue_notification(
        NewNotification(channel, start, thread_key=run_id, run_id=run_id, root_payload=start)
    )
    for i in range(n_replies):
        final = Status.COMPLETED if i == n_replies - 1 else Status.IN_PROGRESS
        await store.outbox.enqueue_notification(
            NewNotification(
                channel,
                say(f"{run_id} step {i}"),
                thread_key=run_id,
                run_id=run_id,
                root_payload=status_payload(final, run_id),
            )
        )


async def drained(store: Store, within: float = 20.0) -> None:
    """Polls: the sender's progress has no event to wait on from here."""
    deadline = time.monotonic() + within
    while await store.outbox.list_notifications(NotificationStatus.PENDING):
        assert time.monotonic() < deadline, await store.outbox.list_notifications()
        await anyio.sleep(0.05)


def replies_in_order(slack: FakeSlack, channel: str, run_id: str, n_replies: int = 3) -> None:
    """One root for the run, showing its final status, and every reply once, in order."""
    roots = [m for m in slack.top_level(channel) if run_id in str(m.attachments)]
    assert len(roots) == 1, roots
    thread = slack.thread(channel, roots[0].ts)
    texts = [m.text for m in thread[1:]]
    assert [t for i, t in enumerate(texts) if t not in texts[:i]] == [
        f"{run_id} step {i}" for i in range(n_replies)
    ]
    assert roots[0].text.startswith("Completed"), roots[0].text


async def test_a_thread_gets_its_root_first_then_replies_in_order(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    await enqueue_lifecycle(store, channel, "run-a")
    await enqueue_lifecycle(store, channel, "run-b")
    async with sending(store, slack, token):
        await drained(store)
    replies_in_order(slack, channel, "run-a")
    replies_in_order(slack, channel, "run-b")
    sent = await store.outbox.list_notifications(NotificationStatus.SENT, run_id="run-a")
    root_ts = sent[0].ts
    assert [n.kind.value for n in sent] == ["root"] + ["reply", "update"] * 3
    assert all(n.thread_ts == root_ts for n in sent[1:])
    assert len(slack.thread(channel, root_ts)) == 4  # no duplicates without faults


async def test_pacing_spaces_posts_to_one_channel(store: Store, slack: FakeSlack) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    for i in range(4):
        await store.outbox.enqueue_notification(NewNotification(channel, say(f"m{i}")))
    async with sending(store, slack, token, pace_seconds=0.2):
        await drained(store)
    times = [c.at for c in slack.calls_to("chat.postMessage")]
    assert [m.text for m in slack.top_level(channel)] == ["m0", "m1", "m2", "m3"]
    assert all(b - a >= 0.18 for a, b in itertools.pairwise(times))


async def test_rate_limits_errors_hangs_and_an_outage_lose_nothing(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.ratelimit(retry_after="1")
    slack.server_error(status=503, count=4)
    slack.hang(1.0, then="drop", scope="chat.update")
    await enqueue_lifecycle(store, channel, "run-a")
    await enqueue_lifecycle(store, channel, "run-b")
    async with sending(store, slack, token, client_timeout=0.3) as sender:
        while len(slack.top_level(channel)) < 2:  # noqa: ASYNC110 (both roots are up)
            await anyio.sleep(0.02)
        # Slack posts a reply but the client gives up first: retried, so at worst a duplicate
        slack.hang(1.0, then="commit", scope="chat.postMessage")
        await anyio.sleep(0.5)
        slack.outage(1.0)
        await drained(store, within=30)
        assert sender.paused_reason is None
    replies_in_order(slack, channel, "run-a")
    replies_in_order(slack, channel, "run-b")
    retried = [n for n in await store.outbox.list_notifications() if n.attempts > 1]
    assert retried
    assert all(n.last_error and token not in n.last_error for n in retried)
    # the 429 was honoured: nothing was sent in the second after it
    calls = slack.calls
    limited = next(i for i, c in enumerate(calls) if c.method == "chat.postMessage")
    assert calls[limited + 1].at - calls[limited].at >= 0.9


async def test_invalid_auth_pauses_and_keeps_the_queue(store: Store, slack: FakeSlack) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.revoke_token(token)
    await enqueue_lifecycle(store, channel, "run-a")
    async with sending(store, slack, token, auth_pause_seconds=0.5) as sender:
        await anyio.sleep(0.3)
        assert sender.paused_reason is not None
        assert "invalid_auth" in sender.paused_reason
        assert token not in sender.paused_reason
        calls = len(slack.calls)
        await anyio.sleep(0.1)
        assert len(slack.calls) == calls  # paused: no hammering
        pending = await store.outbox.list_notifications(NotificationStatus.PENDING)
        assert len(pending) == 7
        assert not await store.outbox.list_notifications(NotificationStatus.DEAD)
        slack.tokens[token] = True  # the token is fixed
        await drained(store)
        assert sender.paused_reason is None
    replies_in_order(slack, channel, "run-a")


async def test_channel_not_found_dead_letters_that_destination_only(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    await enqueue_lifecycle(store, "C-missing", "run-x")
    await enqueue_lifecycle(store, channel, "run-a")
    async with sending(store, slack, token):
        await drained(store)
    dead = await store.outbox.list_notifications(NotificationStatus.DEAD)
    assert {n.channel for n in dead} == {"C-missing"}
    assert len(dead) == 7
    assert all(n.last_error and "channel_not_found" in n.last_error for n in dead)
    replies_in_order(slack, channel, "run-a")


async def test_rejected_content_is_retried_once_as_plain_text(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.ok_false("invalid_blocks")
    await store.outbox.enqueue_notification(
        NewNotification(channel, status_payload(Status.FAILED, "r"))
    )
    async with sending(store, slack, token):
        await drained(store)
    [message] = slack.top_level(channel)
    assert message.text.startswith("Failed")
    assert message.blocks == []


async def test_webhook_mode_posts_flat_messages_and_skips_edits(
    store: Store, slack: FakeSlack
) -> None:
    url = slack.webhook_url("alerts")
    flat = NewNotification(
        "", say("flat"), destination="webhook", thread_key="run-w", root_payload=say("root")
    )
    await store.outbox.enqueue_notification(flat)  # a root ("root"), a reply ("flat"), an edit
    await store.outbox.enqueue_notification(flat)  # a reply and an edit
    async with WebhookClient(url) as hook, anyio.create_task_group() as tg:
        sender = OutboxSender(store.outbox, store.feed, owner="w", webhook=hook, **FAST)
        tg.start_soon(sender.run)
        await drained(store)
        tg.cancel_scope.cancel()
    assert [m["text"] for m in slack.webhook_messages["alerts"]] == ["root", "flat", "flat"]
    sent = await store.outbox.list_notifications(NotificationStatus.SENT)
    assert [n.kind.value for n in sent] == ["root", "reply", "reply", "update"]


async def test_a_new_sender_on_the_same_store_keeps_the_thread(
    store_url: str, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    first = await connect_store(store_url)
    await enqueue_lifecycle(first, channel, "run-a", n_replies=1)
    async with sending(first, slack, token):
        await drained(first)
    for i in range(1, 3):
        await first.outbox.enqueue_notification(
            NewNotification(
                channel,
                say(f"run-a step {i}"),
                thread_key="run-a",
                root_payload=status_payload(Status.COMPLETED, "run-a"),
            )
        )
    await first.aclose()
    second = await connect_store(store_url)
    try:
        async with sending(second, slack, token):
            await drained(second)
    finally:
        await second.aclose()
    texts = [m.text for m in slack.thread(channel, slack.top_level(channel)[0].ts)]
    assert len(slack.top_level(channel)) == 1
    assert texts[1:] == ["run-a step 0", "run-a step 1", "run-a step 2"]
    [root] = slack.top_level(channel)
    assert root.text == "Completed: deploy"


async def test_an_edit_waits_for_its_message_and_edits_only_that_one(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    # A top-level message (no thread orders it before its edit) and its edit, queued together.
    await store.outbox.enqueue_notification(
        NewNotification(channel, say("asking"), message_key="ask:1")
    )
    await store.outbox.enqueue_notification(NewNotification(channel, say("other")))
    [edit_id] = await store.outbox.enqueue_notification(
        NewNotification("", say("answered"), edit_of="ask:1")
    )
    # Nothing names `ask:2`: its edit is not queued at all.
    assert (
        await store.outbox.enqueue_notification(NewNotification("", say("x"), edit_of="ask:2"))
        == []
    )
    async with sending(store, slack, token):
        await drained(store)
    asked, other = slack.top_level(channel)
    assert (asked.text, [e["text"] for e in asked.edits]) == ("answered", ["asking"])
    assert (other.text, other.edits) == ("other", [])
    [edit] = [n for n in await store.outbox.list_notifications() if n.id == edit_id]
    assert (edit.kind.value, edit.status, edit.channel) == (
        "edit",
        NotificationStatus.SENT,
        channel,
    )


async def test_an_edit_of_a_message_never_posted_is_dead_lettered(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    [asked] = await store.outbox.enqueue_notification(
        NewNotification(channel, say("asking"), message_key="ask:1")
    )
    await store.outbox.dead_letter_notification(asked, "given up")
    await store.outbox.enqueue_notification(NewNotification("", say("answered"), edit_of="ask:1"))
    async with sending(store, slack, token):
        await drained(store)
    dead = await store.outbox.list_notifications(NotificationStatus.DEAD)
    assert [(n.kind.value, n.last_error) for n in dead] == [
        ("post", "given up"), ("edit", "the message to edit was never posted")
    ]  # fmt: skip
    assert slack.calls_to("chat.update") == []
