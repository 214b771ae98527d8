"""The Slack client against the fake Slack over a real socket: results and error classes."""

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from fake_slack import FakeSlack, closed_port_url
from relay.errors import (
    ContentRejected,
    CredentialsRefused,
    DeliveryFailed,
    DeliveryTransient,
    DestinationRefused,
    MessageRefused,
    NotifierError,
    RateLimited,
    TargetGone,
)
from relay.notify.errors import (
    DEFAULT_RETRY_AFTER_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    classify_error_code,
    parse_retry_after,
)
from relay.notify.messages import approval_request_message
from relay.notify.slack_client import SlackClient, WebhookClient

TOKEN = "xoxb-secret-token-1234567890"
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack.running() as fake:
        yield fake


@pytest.fixture
def channel(slack: FakeSlack) -> str:
    slack.faults.clear()
    slack.outage_until = 0.0
    slack.add_token(TOKEN)
    return slack.add_channel("general")


@pytest.fixture
async def client(slack: FakeSlack, channel: str) -> AsyncIterator[SlackClient]:
    async with SlackClient(TOKEN, base_url=slack.api_base, timeout_seconds=TIMEOUT) as client:
        yield client


async def test_post_root_reply_and_update_build_one_thread(
    slack: FakeSlack, client: SlackClient, channel: str
) -> None:
    root = await client.post_message(channel, "started", [{"type": "divider"}])
    reply = await client.post_message(channel, "failed", None, root.ts, reply_broadcast=True)
    updated = await client.update_message(channel, root.ts, "completed", [{"type": "divider"}])

    assert (root.channel, updated.ts) == (channel, root.ts)
    thread = slack.thread(channel, root.ts)
    assert [m.ts for m in thread] == [root.ts, reply.ts]
    assert thread[0].text == "completed"
    assert [e["text"] for e in thread[0].edits] == ["started"]
    assert thread[1].thread_ts == root.ts
    assert thread[1].reply_broadcast


async def test_posting_by_channel_name_returns_the_channel_id(
    client: SlackClient, channel: str
) -> None:
    posted = await client.post_message("#general", "hi")
    assert posted.channel.startswith("C")


async def test_sends_json_with_charset_and_bearer_token(
    slack: FakeSlack, client: SlackClient
) -> None:
    await client.auth_test()
    call = slack.calls_to("auth.test")[-1]
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"


async def test_auth_test_returns_the_identity(client: SlackClient) -> None:
    identity = await client.auth_test()
    assert (identity.team_id, identity.bot_id) == ("T0001", "B0001")


async def test_truncation_warning_is_returned(client: SlackClient, channel: str) -> None:
    posted = await client.post_message(channel, "x" * 40_001)
    assert "message_truncated" in posted.warnings


async def test_an_approval_layout_is_accepted(
    slack: FakeSlack, client: SlackClient, channel: str
) -> None:
    message = approval_request_message("appr-1", "deploy", "run-1", "promote")
    posted = await client.post_message(
        channel, message.text, message.blocks, attachments=message.attachments
    )
    assert slack.messages[(channel, posted.ts)].blocks == message.blocks


async def test_429_is_rate_limited_with_retry_after(slack: FakeSlack, client: SlackClient) -> None:
    slack.ratelimit(retry_after="7", scope="chat.postMessage")
    with pytest.raises(RateLimited) as caught:
        await client.post_message("#general", "hi")
    assert caught.value.retry_after_seconds == 7
    assert caught.value.http_status == 429


async def test_429_without_retry_after_uses_the_default(
    slack: FakeSlack, client: SlackClient
) -> None:
    slack.ratelimit(retry_after=None)
    with pytest.raises(RateLimited) as caught:
        await client.post_message("#general", "hi")
    assert caught.value.retry_after_seconds == DEFAULT_RETRY_AFTER_SECONDS


async def test_http_200_rate_limited_is_rate_limited(slack: FakeSlack, client: SlackClient) -> None:
    slack.ok_false("rate_limited")
    with pytest.raises(RateLimited):
        await client.post_message("#general", "hi")


def test_retry_after_parses_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=1795600800.0) == 30
    assert parse_retry_after("soon") == DEFAULT_RETRY_AFTER_SECONDS
    assert parse_retry_after("999999") == MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("-5") == 0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_with_html_is_transient(
    slack: FakeSlack, client: SlackClient, status: int
) -> None:
    slack.server_error(status)
    with pytest.raises(DeliveryTransient) as caught:
        await client.post_message("#general", "hi")
    assert caught.value.http_status == status
    assert type(caught.value) is DeliveryTransient


async def test_a_burst_of_5xx_then_success(slack: FakeSlack, client: SlackClient) -> None:
    slack.server_error(503, count=3)
    for _ in range(3):
        with pytest.raises(DeliveryTransient):
            await client.post_message("#general", "hi")
    assert (await client.post_message("#general", "hi")).ts


async def test_outage_is_transient_until_it_ends(slack: FakeSlack, client: SlackClient) -> None:
    slack.outage(0.3)
    with pytest.raises(DeliveryTransient):
        await client.update_message("C0", "1.0", "x")
    slack.outage_until = 0.0
    assert await client.auth_test()


async def test_hang_past_the_timeout_is_transient_and_maybe_committed(
    slack: FakeSlack, client: SlackClient, channel: str
) -> None:
    slack.hang(TIMEOUT + 0.4, then="commit")
    before = len(slack.top_level(channel))
    with pytest.raises(DeliveryTransient) as caught:
        await client.post_message(channel, "slow")
    assert caught.value.may_have_committed
    assert "timed out" in caught.value.message
    for _ in range(100):  # the hang ends 0.4 s after the timeout, then the fake commits
        if len(slack.top_level(channel)) > before:
            break
        await anyio.sleep(0.05)
    assert len(slack.top_level(channel)) == before + 1  # Slack acted: a retry would duplicate


async def test_connection_refused_is_transient_and_not_committed() -> None:
    async with SlackClient(TOKEN, base_url=closed_port_url(), timeout_seconds=TIMEOUT) as client:
        with pytest.raises(DeliveryTransient) as caught:
            await client.auth_test()
    assert not caught.value.may_have_committed


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("internal_error", DeliveryTransient),
        ("fatal_error", DeliveryTransient),
        ("invalid_auth", CredentialsRefused),
        ("token_revoked", CredentialsRefused),
        ("missing_scope", CredentialsRefused),
        ("channel_not_found", DestinationRefused),
        ("not_in_channel", DestinationRefused),
        ("is_archived", DestinationRefused),
        ("msg_too_long", ContentRejected),
        ("invalid_blocks", ContentRejected),
        ("msg_blocks_too_long", ContentRejected),
        ("message_not_found", TargetGone),
        ("something_new", MessageRefused),
    ],
)
async def test_ok_false_codes_are_classified(
    slack: FakeSlack, client: SlackClient, code: str, error_class: type[DeliveryFailed]
) -> None:
    slack.ok_false(code)
    with pytest.raises(error_class) as caught:
        await client.post_message("#general", "hi")
    assert type(caught.value) is error_class
    assert caught.value.code == code
    assert isinstance(caught.value, NotifierError)


async def test_real_channel_problems_are_destination_errors(
    slack: FakeSlack, client: SlackClient
) -> None:
    archived = slack.add_channel("old", archived=True)
    outside = slack.add_channel("private", is_member=False)
    for target, code in [("C404", "channel_not_found"), (archived, "is_archived"),
                         (outside, "not_in_channel")]:  # fmt: skip
        with pytest.raises(DestinationRefused) as caught:
            await client.post_message(target, "hi")
        assert caught.value.code == code


async def test_a_revoked_token_is_an_auth_error(slack: FakeSlack, channel: str) -> None:
    token = slack.add_token()
    slack.revoke_token(token)
    async with SlackClient(token, base_url=slack.api_base) as client:
        with pytest.raises(CredentialsRefused):
            await client.auth_test()


async def test_replying_to_a_reply_or_unknown_ts_is_target_gone(
    client: SlackClient, channel: str
) -> None:
    root = await client.post_message(channel, "root")
    reply = await client.post_message(channel, "reply", thread_ts=root.ts)
    for parent in (reply.ts, "1.000001"):
        with pytest.raises(TargetGone):
            await client.post_message(channel, "again", thread_ts=parent)


async def test_updating_an_unknown_message_is_target_gone(
    client: SlackClient, channel: str
) -> None:
    with pytest.raises(TargetGone):
        await client.update_message(channel, "1.000001", "x")


def test_classification_table_covers_slack_md() -> None:
    assert classify_error_code("ratelimited") is RateLimited
    assert classify_error_code("service_unavailable") is DeliveryTransient
    assert classify_error_code("channel_is_archived") is DestinationRefused
    assert classify_error_code("thread_not_found") is TargetGone


async def test_webhook_posts_flat_messages(slack: FakeSlack) -> None:
    url = slack.webhook_url("ops")
    async with WebhookClient(url) as webhook:
        await webhook.post("deployed", [{"type": "divider"}])
    assert slack.webhook_messages["ops"][-1]["text"] == "deployed"


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (404, "no_service", DestinationRefused),
        (404, "channel_not_found", DestinationRefused),
        (410, "channel_is_archived", DestinationRefused),
        (403, "action_prohibited", DestinationRefused),
        (400, "invalid_payload", ContentRejected),
        (500, "rollup_error", DeliveryTransient),
    ],
)
async def test_webhook_errors_are_classified_by_status(
    slack: FakeSlack, status: int, body: str, error_class: type[DeliveryFailed]
) -> None:
    url = slack.webhook_url("ops", status=status, body=body)
    async with WebhookClient(url) as webhook:
        with pytest.raises(error_class) as caught:
            await webhook.post("hi")
    assert (caught.value.http_status, caught.value.code) == (status, body)


async def test_webhook_429_has_retry_after(slack: FakeSlack) -> None:
    slack.ratelimit(retry_after="2", scope="webhook")
    async with WebhookClient(slack.webhook_url("ops")) as webhook:
        with pytest.raises(RateLimited) as caught:
            await webhook.post("hi")
    assert caught.value.retry_after_seconds == 2


async def test_secrets_appear_in_no_error_or_repr(slack: FakeSlack, channel: str) -> None:
    url = slack.webhook_url("ops", status=404, body="no_service")
    secret = url.rsplit("/", 1)[-1]
    texts: list[str] = []
    async with WebhookClient(url) as webhook, SlackClient(TOKEN, base_url=slack.api_base) as api:
        texts += [repr(webhook), repr(api)]
        for fault in ("invalid_auth", "channel_not_found"):
            slack.ok_false(fault)
            with pytest.raises(DeliveryFailed) as caught:
                await api.post_message(channel, "hi")
            texts += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
        with pytest.raises(DeliveryFailed) as webhook_error:
            await webhook.post("hi")
        texts += [str(webhook_error.value), repr(webhook_error.value)]
    async with WebhookClient(closed_port_url() + "/services/T/B/" + "s3cret") as refused:
        with pytest.raises(DeliveryTransient) as transport_error:
            await refused.post("hi")
        texts += [repr(refused), str(transport_error.value)]
    assert transport_error.value.__cause__ is None
    for text in texts:
        assert TOKEN not in text
        assert "s3cret" not in text
        assert secret not in text


async def test_oversized_blocks_are_rejected_as_content(client: SlackClient, channel: str) -> None:
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(ContentRejected) as caught:
        await client.post_message(channel, "hi", too_many)
    assert caught.value.code == "invalid_blocks"
