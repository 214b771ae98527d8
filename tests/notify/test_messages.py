"""Block Kit layouts: content, buttons, escaping, and Slack's limits for huge inputs."""

import json
from typing import Any

import pytest

from relay.notify.messages import (
    APPROVE_ACTION_ID,
    MAX_BLOCK_TEXT_TOTAL,
    REJECT_ACTION_ID,
    STATUS_STYLES,
    SlackMessage,
    Status,
    approval_decided_message,
    approval_request_message,
    block_text_length,
    cut,
    escape,
    format_duration,
    notification_message,
    process_message,
    run_completed_message,
    run_failed_message,
    source_label,
)

HUGE = "<!channel> & " + "x" * 100_000


def _all_blocks(message: SlackMessage) -> list[dict[str, Any]]:
    nested = [b for a in message.attachments for b in a.get("blocks", [])]
    return message.blocks + nested


def _assert_within_slack_limits(message: SlackMessage) -> None:
    assert len(message.text) <= 3000
    assert len(message.blocks) <= 50
    for attachment in message.attachments:
        assert len(attachment["blocks"]) <= 50
        assert len(attachment["fallback"]) <= 3000
    for block in _all_blocks(message):
        _assert_block_within_limits(block)
    assert block_text_length(_all_blocks(message)) <= MAX_BLOCK_TEXT_TOTAL


def _assert_block_within_limits(block: dict[str, Any]) -> None:
    assert len(block.get("block_id", "")) <= 255
    if block["type"] == "header":
        assert len(block["text"]["text"]) <= 150
    if block["type"] == "section":
        assert len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    if block["type"] == "context":
        assert len(block["elements"]) <= 10
    if block["type"] == "actions":
        assert len(block["elements"]) <= 25
        for button in block["elements"]:
            assert len(button["text"]["text"]) <= 75
            assert len(button["value"]) <= 2000
            assert len(button["action_id"]) <= 255


def _text(message: SlackMessage) -> str:
    return json.dumps(message.as_payload(), ensure_ascii=False)


@pytest.mark.parametrize("status", list(Status))
def test_every_lifecycle_status_shows_its_emoji_label_and_colour(status: Status) -> None:
    message = process_message(status, "nightly-etl", "run-42", source="claude_code")
    style = STATUS_STYLES[status]
    assert message.blocks[0]["text"]["text"].startswith(f"{style.emoji} *{style.label}*")
    assert message.attachments[0]["color"] == style.colour
    assert message.text == f"{style.label}: nightly-etl"
    assert "from Claude Code" in _text(message)


@pytest.mark.parametrize(
    ("source", "label"),
    [("claude_code", "Claude Code"), ("pycharm", "PyCharm"), ("mcp_server", "MCP server"),
     ("web_chat", "Web chat"), ("api", "API"), ("workflow_engine", "Workflow engine"),
     ("my_script", "my_script"), (None, "unknown")],
)  # fmt: skip
def test_sources_are_shown_with_their_labels(source: str | None, label: str) -> None:
    assert source_label(source) == label


def test_run_completion_shows_duration_steps_and_outputs() -> None:
    message = run_completed_message(
        "nightly-etl", "run-42", duration_seconds=192, steps_succeeded=7, steps_total=7,
        outputs={"rows": 1200, "report": "s3://bucket/r.csv"},
    )  # fmt: skip
    text = _text(message)
    assert "3m 12s" in text
    assert "7/7 succeeded" in text
    assert "*rows*: 1200" in text
    assert message.attachments[0]["color"] == STATUS_STYLES[Status.COMPLETED].colour


def test_run_failure_shows_the_failed_step_and_error() -> None:
    message = run_failed_message("deploy", "run-9", failed_step="migrate", error="boom: 42")
    text = _text(message)
    assert "*Failed step*\\nmigrate" in text
    assert "```boom: 42```" in text
    assert message.blocks[0]["text"]["text"].startswith(":x: *Failed*")


def test_approval_request_has_approve_and_reject_buttons_carrying_the_id() -> None:
    message = approval_request_message(
        "appr-9b2e", "deploy-prod", "run-42", "promote", approvers=["alice", "bob"]
    )
    actions = next(b for b in message.blocks if b["type"] == "actions")
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == (
        APPROVE_ACTION_ID, "appr-9b2e", "primary",
    )  # fmt: skip
    assert (reject["action_id"], reject["value"], reject["style"]) == (
        REJECT_ACTION_ID, "appr-9b2e", "danger",
    )  # fmt: skip
    assert reject["confirm"]["confirm"]["text"] == "Reject"
    assert "alice, bob" in _text(message)
    assert message.attachments[0]["color"] == STATUS_STYLES[Status.PENDING_APPROVAL].colour


@pytest.mark.parametrize(("approved", "verdict"), [(True, "Approved"), (False, "Rejected")])
def test_the_decided_message_names_the_decider_and_has_no_buttons(
    approved: bool, verdict: str
) -> None:
    request = approval_request_message("appr-1", "deploy", "run-1", "promote")
    decided = approval_decided_message(
        "appr-1", "deploy", "run-1", "promote", approved=approved, decided_by="slack:U024BE7LH"
    )
    assert all(b["type"] != "actions" for b in _all_blocks(decided))
    assert f"*{verdict}* by <@U024BE7LH>" in _text(decided)
    old_ids = {b.get("block_id") for b in request.blocks} - {None}
    assert old_ids.isdisjoint({b.get("block_id") for b in decided.blocks})


def test_a_non_slack_decider_is_shown_escaped() -> None:
    decided = approval_decided_message(
        "a", "w", "r", "s", approved=True, decided_by="cli:<bob>", comment="ok"
    )
    assert "*cli:&lt;bob&gt;*: ok" in _text(decided)


def test_user_text_cannot_ping_or_link() -> None:
    message = notification_message("<!channel> deploy", "see <https://evil|here> & more")
    text = _text(message)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    assert "&lt;https://evil|here&gt; &amp; more" in text


def test_huge_inputs_are_cut_to_slack_limits() -> None:
    many = {f"{HUGE}{i}": HUGE for i in range(40)}
    messages = [
        process_message(Status.FAILED, HUGE, HUGE, source=HUGE, details=many, note=HUGE),
        run_completed_message(HUGE, HUGE, duration_seconds=1e9, steps_succeeded=1,
                              steps_total=2, outputs=many, source=HUGE),
        run_failed_message(HUGE, HUGE, failed_step=HUGE, error=HUGE, duration_seconds=5),
        approval_request_message(HUGE, HUGE, HUGE, HUGE, prompt=HUGE, approvers=[HUGE] * 50),
        approval_decided_message(HUGE, HUGE, HUGE, HUGE, approved=False, decided_by=HUGE,
                                 comment=HUGE),
        notification_message(HUGE, HUGE, fields=many, run_id=HUGE, source=HUGE),
    ]  # fmt: skip
    for message in messages:
        _assert_within_slack_limits(message)


def test_cut_ends_with_an_ellipsis_and_never_splits_an_escape() -> None:
    assert cut("abcdef", 4) == "abc…"
    assert cut("short", 10) == "short"
    cut_text = cut(escape("aaaaaa&bbbb"), 9)
    assert cut_text == "aaaaaa…"
    assert len(cut(escape(HUGE), 3000)) <= 3000


@pytest.mark.parametrize(
    ("seconds", "shown"), [(4.24, "4.2s"), (42, "42s"), (192, "3m 12s"), (3720, "1h 2m")]
)
def test_durations_read_naturally(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_a_payload_always_replaces_the_colour_bar() -> None:
    payload = SlackMessage(text="t", blocks=[]).as_payload()
    assert payload == {"text": "t", "blocks": [], "attachments": []}


def test_a_webhooks_approval_request_says_how_to_decide_instead_of_buttons() -> None:
    request = approval_request_message("appr-1", "deploy", "run-1", "promote", buttons=False)
    assert all(b["type"] != "actions" for b in _all_blocks(request))
    assert "`relay approve run-1 --step promote`" in _text(request)
