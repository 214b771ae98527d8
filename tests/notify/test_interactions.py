"""Reading Slack's interaction payloads, and where a private answer may be sent."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from relay.errors import UsageError
from relay.notify.interactions import Click, parse_click, response_url_allowed
from relay.notify.messages import APPROVE_ACTION_ID, REJECT_ACTION_ID


def body(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(action_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": "U1"}, "response_url": "https://x/y",
            "actions": [{"action_id": action_id, "value": "appr-1"}], **extra}  # fmt: skip


def test_an_approve_or_reject_click_is_read() -> None:
    assert parse_click(body(click(APPROVE_ACTION_ID))) == Click("appr-1", True, "U1", "https://x/y")
    rejected = parse_click(body(click(REJECT_ACTION_ID)))
    assert rejected is not None
    assert (rejected.approved, rejected.approver) == (False, "slack:U1")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "shortcut", "user": {"id": "U1"}},
        click("someone.elses.button"),
        {"type": "block_actions", "user": {"id": "U1"}, "actions": "nope"},
    ],
)
def test_other_interactions_are_none(payload: dict[str, Any]) -> None:
    assert parse_click(body(payload)) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"payload=not-json", "form-encoded `payload` field holding JSON"),
        (b"other=1", "form-encoded `payload` field"),
        (b"\xff\xfe", "form-encoded `payload` field"),
        (body({**click(APPROVE_ACTION_ID), "user": {}}), "names no `user.id`"),
    ],
)
def test_a_body_that_is_no_interaction_is_a_usage_error(raw: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_click(raw)


def test_private_answers_go_only_to_slack_or_the_configured_api_host() -> None:
    slack_api = "https://slack.com/api"
    assert response_url_allowed("https://hooks.slack.com/actions/T1/2/x", slack_api)
    assert not response_url_allowed("https://evil.example/actions/T1/2/x", slack_api)
    assert not response_url_allowed("file:///etc/passwd", slack_api)
    assert response_url_allowed("http://127.0.0.1:9/actions/x", "http://127.0.0.1:9/api")
