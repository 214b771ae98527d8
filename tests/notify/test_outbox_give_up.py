"""The outbox stops trying what can never work (a revoked token, a webhook URL where
nothing answers) after its retries, leaves to others what this process has no settings
for, says when waiting for it is pointless, and hands its claims back when it stops."""

import time

import anyio
from tests.fake_slack import FakeSlack, closed_port_url
from tests.notify.test_outbox import FAST, drained, enqueue_lifecycle, say, sending

from relay.model.notification import NewNotification, NotificationStatus
from relay.notify.outbox import ANSWER_SECONDS, OutboxSender
from relay.notify.slack_client import SlackClient, WebhookClient
from relay.store.base import Store


async def test_a_revoked_token_dead_letters_its_destination_after_its_retries(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.revoke_token(token)
    await enqueue_lifecycle(store, channel, "run-a")
    async with sending(store, slack, token, auth_pause_seconds=0.05, max_attempts=3) as sender:
        await drained(store)
        assert sender.trouble() is not None
    dead = await store.outbox.list_notifications(NotificationStatus.DEAD)
    assert len(dead) == 7  # the root, its replies and edits: the token works for none
    reason = "gave up after 3 attempts: Slack chat.postMessage failed: invalid_auth"
    assert {n.last_error for n in dead} == {reason}
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert all(token not in (n.last_error or "") for n in dead)


async def test_a_webhook_where_nothing_answers_is_dead_lettered_after_its_retries(
    store: Store,
) -> None:
    url = f"{closed_port_url()}/services/T0001/B0001/s3cr3t-hook"
    for text in ("one", "two"):
        await store.outbox.enqueue_notification(
            NewNotification("", say(text), destination="webhook")
        )
    async with WebhookClient(url) as hook, anyio.create_task_group() as tg:
        sender = OutboxSender(
            store.outbox, store.feed, owner="w", webhook=hook, **{**FAST, "max_attempts": 3}
        )
        tg.start_soon(sender.run)
        await drained(store)
        tg.cancel_scope.cancel()
    dead = await store.outbox.list_notifications(NotificationStatus.DEAD)
    assert [(n.attempts, n.last_error) for n in dead] == [
        (3, "gave up after 3 attempts: Slack webhook connection failed (ConnectError)")
    ] * 2
    assert sender.trouble() == "Slack webhook connection failed (ConnectError)"


async def test_a_destination_this_process_has_no_settings_for_is_left_to_others(
    store: Store,
) -> None:
    await store.outbox.enqueue_notification(NewNotification("C0123ABCD", say("hi")))
    sender = OutboxSender(
        store.outbox, store.feed, owner="w", **{**FAST, "max_attempts": 1}
    )  # no Slack here
    assert await sender.drain_once() == 1
    [kept] = await store.outbox.list_notifications(NotificationStatus.PENDING)
    assert kept.attempts == 0
    assert "Slack is not configured in this process" in (kept.last_error or "")
    assert (sender.paused_reason, sender.trouble()) == (None, None)  # others are not held up


async def test_a_silent_slack_is_trouble_after_a_second_and_a_stopped_sender_hands_back(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.hang(30.0, scope="chat.postMessage")
    await store.outbox.enqueue_notification(NewNotification(channel, say("hi")))
    async with sending(store, slack, token, client_timeout=30.0) as sender:
        with anyio.fail_after(10):
            while sender.trouble() is None:  # noqa: ASYNC110 - a hung request writes nothing
                await anyio.sleep(0.02)
        [asked] = slack.calls_to("chat.postMessage")
        assert time.monotonic() - asked.at >= ANSWER_SECONDS - 0.05
        assert sender.trouble() == "Slack has not answered for 1 s"
    # Stopped mid-request: the claim is handed back, so another sender takes it at once.
    [taken] = await store.outbox.claim_notifications("another", 30.0, 10)
    assert taken.last_error == "the process sending it stopped"
    assert taken.attempts == 0


async def test_a_long_rate_limit_is_trouble_a_short_one_is_not(
    store: Store, slack: FakeSlack
) -> None:
    token, channel = slack.add_token(), slack.add_channel("general")
    slack.ratelimit(retry_after="1")
    await store.outbox.enqueue_notification(NewNotification(channel, say("hi")))
    async with SlackClient(token, base_url=slack.api_base) as client:
        sender = OutboxSender(
            store.outbox, store.feed, owner="w", slack=client, **FAST
        )  # driven by hand here
        assert await sender.drain_once() == 1
        assert sender.trouble() is None  # worth waiting a second for
        slack.ratelimit(retry_after="30")
        with anyio.fail_after(10):  # due again once the first Retry-After (1 s) has passed
            while await sender.drain_once() == 0:  # noqa: ASYNC110 - due by the clock alone
                await anyio.sleep(0.05)
        assert (sender.trouble() or "").startswith("Slack rate-limits relay for 30 s more")
