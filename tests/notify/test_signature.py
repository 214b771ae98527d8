"""Slack request signatures: good, tampered, stale, missing; also over a real socket."""

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fake_slack import FakeSlack, StoredMessage, post_signed, serve
from relay.notify.messages import APPROVE_ACTION_ID, approval_request_message
from relay.notify.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_slack_signature,
    verify_slack_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
NOW = 1_764_000_000.0


def _sign(timestamp: str, body: bytes = BODY, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_a_good_signature_verifies() -> None:
    ts = str(int(NOW))
    assert verify_slack_signature(SECRET, ts, BODY, _sign(ts), now=NOW)
    assert compute_slack_signature(SECRET, ts, BODY) == _sign(ts)


def test_a_tampered_body_or_wrong_secret_fails() -> None:
    ts = str(int(NOW))
    assert not verify_slack_signature(SECRET, ts, BODY + b"x", _sign(ts), now=NOW)
    assert not verify_slack_signature(SECRET, ts, BODY, _sign(ts, secret="other"), now=NOW)
    assert not verify_slack_signature(SECRET, ts, BODY, "v0=deadbeef", now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_five_minutes_fails(skew: int) -> None:
    ts = str(int(NOW) + skew)
    assert not verify_slack_signature(SECRET, ts, BODY, _sign(ts), now=NOW)


def test_the_edge_of_the_window_passes() -> None:
    ts = str(int(NOW) - 300)
    assert verify_slack_signature(SECRET, ts, BODY, _sign(ts), now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature"), [(None, "v0=x"), ("1", None), ("", ""), ("soon", "v0=x")]
)
def test_missing_or_malformed_headers_fail(timestamp: str | None, signature: str | None) -> None:
    assert not verify_slack_signature(SECRET, timestamp, BODY, signature, now=NOW)


def test_an_empty_secret_never_verifies() -> None:
    ts = str(int(NOW))
    assert not verify_slack_signature("", ts, BODY, _sign(ts, secret=""), now=NOW)


def test_now_defaults_to_the_clock() -> None:
    ts = str(int(time.time()))
    assert verify_slack_signature(SECRET, ts, BODY, _sign(ts))


async def _interactions(request: Request) -> PlainTextResponse:
    body = await request.body()
    headers = request.headers
    if not verify_slack_signature(
        SECRET, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)
    ):
        return PlainTextResponse("bad signature", 401)
    payload = parse_qs(body.decode())["payload"][0]
    return PlainTextResponse(payload)


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    with serve(
        Starlette(routes=[Route("/slack/interactions", _interactions, methods=["POST"])])
    ) as url:
        yield f"{url}/slack/interactions"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack.running() as fake:
        yield fake


async def _approval_click(slack: FakeSlack, receiver: str, **options: object) -> tuple[int, str]:
    token = slack.add_token()
    channel = slack.add_channel("deploys")
    message = approval_request_message("appr-7", "deploy", "run-7", "promote")
    stored = StoredMessage(
        channel, "1.000001", message.text, message.blocks, [], None, False, None, token
    )
    result = await slack.click(
        receiver,
        stored,
        APPROVE_ACTION_ID,
        "U123",
        signing_secret=SECRET,
        **options,  # type: ignore[arg-type]
    )
    assert result.latency_seconds < 3
    return result.status_code, result.body


async def test_a_signed_click_reaches_the_app_with_the_approval_id(
    slack: FakeSlack, receiver: str
) -> None:
    status, body = await _approval_click(slack, receiver)
    assert status == 200
    assert '"value": "appr-7"' in body
    assert '"user": {"id": "U123"' in body


@pytest.mark.parametrize(
    "options", [{"tamper": True}, {"skew_seconds": -301}, {"omit_headers": True}]
)
async def test_bad_stale_or_unsigned_clicks_are_refused(
    slack: FakeSlack, receiver: str, options: dict[str, Any]
) -> None:
    status, _ = await _approval_click(slack, receiver, **options)
    assert status == 401


async def test_post_signed_signs_any_body(receiver: str) -> None:
    result = await post_signed(receiver, b"payload=%7B%7D", signing_secret=SECRET)
    assert (result.status_code, result.body) == (200, "{}")
