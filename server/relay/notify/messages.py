"""Block Kit layouts for relay's Slack messages: pure functions, no I/O.

Each layout returns a `SlackMessage`: fallback `text`, top-level `blocks` (the status line
and, for approvals, the buttons, which must never be collapsed) and one legacy attachment
that carries the status colour bar. User-supplied text is escaped and cut to Slack's
limits, so a layout is never rejected for its size.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from relay.errors import UsageError

# Slack's documented limits (docs.slack.dev/reference/block-kit).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_MESSAGE_TEXT = 40_000
# Our own, tighter budgets: Slack answers `msg_blocks_too_long` around 11-13k characters of
# block text even when each documented limit holds, and keeps fallbacks short for pushes.
MAX_FALLBACK_TEXT = 3000
MAX_FIELD_VALUE = 300
MAX_BODY_TEXT = 2500
MAX_BLOCK_TEXT_TOTAL = 8000

APPROVE_ACTION_ID = "relay.approve"
REJECT_ACTION_ID = "relay.reject"

Block = dict[str, Any]


class Status(StrEnum):
    STARTED = "started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class StatusStyle:
    label: str
    emoji: str
    colour: str


STATUS_STYLES: Mapping[Status, StatusStyle] = {
    Status.STARTED: StatusStyle("Started", ":large_blue_circle:", "#36C5F0"),
    Status.IN_PROGRESS: StatusStyle("In progress", ":hourglass_flowing_sand:", "#36C5F0"),
    Status.COMPLETED: StatusStyle("Completed", ":white_check_mark:", "#2EB67D"),
    Status.FAILED: StatusStyle("Failed", ":x:", "#E01E5A"),
    Status.PENDING_APPROVAL: StatusStyle("Pending approval", ":raising_hand:", "#ECB22E"),
    Status.APPROVED: StatusStyle("Approved", ":white_check_mark:", "#2EB67D"),
    Status.REJECTED: StatusStyle("Rejected", ":no_entry:", "#E01E5A"),
}

SOURCE_LABELS: Mapping[str, str] = {
    "claude_code": "Claude Code",
    "pycharm": "PyCharm",
    "mcp_server": "MCP server",
    "web_chat": "Web chat",
    "api": "API",
    "workflow_engine": "Workflow engine",
}


@dataclass(frozen=True)
class SlackMessage:
    """A rendered message, ready for `chat.postMessage` / `chat.update` or a webhook."""

    text: str
    blocks: list[Block]
    attachments: list[Block] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        # `attachments` is always sent, even empty, so an update also replaces the colour bar.
        return {"text": self.text, "blocks": self.blocks, "attachments": self.attachments}


def source_label(source: str | None) -> str:
    """The seed's label for a source (`claude_code` → `Claude Code`); others as given."""
    if not source:
        return "unknown"
    return SOURCE_LABELS.get(str(source), str(source))


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 0)]
    # Never leave half of an escape such as `&amp;` at the end.
    amp = head.rfind("&", max(len(head) - 5, 0))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + "…"


def escape(text: object) -> str:
    """Escape user text for mrkdwn (only `&`, `<`, `>`), so it cannot ping or link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> Block:
    return {"type": "mrkdwn", "text": cut(text, limit)}


def _plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def _fields(pairs: Mapping[str, object]) -> list[Block]:
    items = list(pairs.items())[:MAX_FIELDS]
    return [
        _mrkdwn(f"*{cut(escape(k), 60)}*\n{cut(escape(v), MAX_FIELD_VALUE)}", MAX_FIELD_TEXT)
        for k, v in items
    ]


def _section(text: str, fields: Mapping[str, object] | None = None, block_id: str = "") -> Block:
    block: Block = {"type": "section", "text": _mrkdwn(text)}
    if fields:
        block["fields"] = _fields(fields)
    if block_id:
        block["block_id"] = cut(block_id, MAX_ID)
    return block


def _context(*parts: str) -> Block:
    elements = [_mrkdwn(p, MAX_FIELD_TEXT) for p in parts if p][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements}


def _status_line(status: Status, title: str) -> str:
    style = STATUS_STYLES[status]
    return f"{style.emoji} *{style.label}* · {cut(escape(title), 200)}"


def build_message(
    status: Status, title: str, body: Sequence[Block], top: Sequence[Block] = ()
) -> SlackMessage:
    """The status line on top, `top` blocks (e.g. buttons), and `body` in a coloured bar."""
    style = STATUS_STYLES[status]
    fallback = cut(escape(f"{style.label}: {title}"), MAX_FALLBACK_TEXT)
    blocks = [_section(_status_line(status, title)), *top][:MAX_BLOCKS]
    attachment: Block = {
        "color": style.colour,
        "fallback": fallback,
        "blocks": list(body)[:MAX_BLOCKS],
    }
    return SlackMessage(text=fallback, blocks=blocks, attachments=[attachment] if body else [])


def _run_context(run_id: str, source: str | None, extra: str = "") -> Block:
    parts = [f"run `{cut(escape(run_id), 100)}`"]
    if source:
        parts.append(f"from {cut(escape(source_label(source)), 100)}")
    if extra:
        parts.append(extra)
    return _context(" · ".join(parts))


def format_duration(seconds: float) -> str:
    """`3m 12s`, `1h 2m`, `4.2s`."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def process_message(
    status: Status,
    process_name: str,
    process_id: str,
    *,
    source: str | None = None,
    details: Mapping[str, object] | None = None,
    note: str | None = None,
) -> SlackMessage:
    """A lifecycle message (started ... rejected) for a process or run; also the thread root."""
    body: list[Block] = []
    if note or details:
        body.append(_section(cut(escape(note or " "), MAX_BODY_TEXT), details))
    body.append(_run_context(process_id, source))
    return build_message(status, process_name, body)


def notification_message(
    title: str,
    message: str,
    *,
    status: Status = Status.IN_PROGRESS,
    fields: Mapping[str, object] | None = None,
    run_id: str | None = None,
    source: str | None = None,
) -> SlackMessage:
    """A `notify` step's or tool's free-form message: title, text and fields."""
    body = [_section(cut(escape(message) or " ", MAX_BODY_TEXT), fields)]
    if run_id:
        body.append(_run_context(run_id, source))
    return build_message(status, title, body)


def run_completed_message(
    workflow: str,
    run_id: str,
    *,
    duration_seconds: float,
    steps_succeeded: int,
    steps_total: int,
    outputs: Mapping[str, object] | None = None,
    source: str | None = None,
) -> SlackMessage:
    """A run's completion: duration, steps and (cut) outputs."""
    facts = {"Duration": format_duration(duration_seconds),
             "Steps": f"{steps_succeeded}/{steps_total} succeeded"}  # fmt: skip
    body = [_section(f"`{cut(escape(workflow), 200)}` finished.", facts)]
    if outputs:
        lines = "\n".join(f"• *{cut(escape(k), 60)}*: {escape(v)}" for k, v in outputs.items())
        body.append(_section("*Outputs*\n" + cut(lines, MAX_BODY_TEXT)))
    body.append(_run_context(run_id, source))
    return build_message(Status.COMPLETED, workflow, body)


def run_failed_message(
    workflow: str,
    run_id: str,
    *,
    failed_step: str | None,
    error: str,
    duration_seconds: float | None = None,
    source: str | None = None,
) -> SlackMessage:
    """A run's failure: the failed step and its (cut) error."""
    facts: dict[str, object] = {"Failed step": failed_step or "—"}
    if duration_seconds is not None:
        facts["Duration"] = format_duration(duration_seconds)
    error_text = cut(escape(error), MAX_BODY_TEXT).replace("```", "'''")
    body = [_section(f"`{cut(escape(workflow), 200)}` failed.", facts),
            _section(f"*Error*\n```{error_text}```")]  # fmt: skip
    body.append(_run_context(run_id, source))
    return build_message(Status.FAILED, workflow, body)


def _approval_summary(workflow: str, run_id: str, step: str, prompt: str | None) -> str:
    line = f"Step *{cut(escape(step), 200)}* of `{cut(escape(workflow), 200)}` run "
    line += f"`{cut(escape(run_id), 100)}`"
    return line + (f"\n{cut(escape(prompt), MAX_BODY_TEXT)}" if prompt else "")


def approval_request_message(
    approval_id: str,
    workflow: str,
    run_id: str,
    step: str,
    *,
    prompt: str | None = None,
    approvers: Sequence[str] = (),
    source: str | None = None,
    buttons: bool = True,
) -> SlackMessage:
    """An approval request with Approve / Reject buttons whose `value` is `approval_id`;
    without `buttons` (a webhook's flat message, which relay cannot edit afterwards) it
    says how to decide instead."""
    # Slack allows 2000 characters, but two such values would blow the block-text budget;
    # relay's approval ids are far shorter, so this cut never bites in practice.
    value = cut(approval_id, MAX_ID)
    actions: Block = {
        "type": "actions",
        "block_id": cut(f"approval-{approval_id}-actions", MAX_ID),
        "elements": [
            _button("Approve", APPROVE_ACTION_ID, value, "primary"),
            {
                **_button("Reject", REJECT_ACTION_ID, value, "danger"),
                "confirm": _reject_confirm(step),
            },
        ],
    }
    who = ", ".join(escape(a) for a in approvers) if approvers else "anyone allowed"
    summary = _approval_summary(workflow, run_id, step, prompt) + " is waiting for a decision."
    top = [_section(summary, {"Approvers": who})]
    if buttons:
        top.append(actions)
    else:
        how = f"Decide with `relay approve {cut(escape(run_id), 100)} --step "
        how += f"{cut(escape(step), 100)}` (or `--reject`), or the `approve` tool."
        top.append(_context(how))
    body = [_run_context(run_id, source, f"approval `{cut(escape(approval_id), 100)}`")]
    return build_message(Status.PENDING_APPROVAL, f"Approval needed: {workflow}", body, top)


def _button(label: str, action_id: str, value: str, style: str) -> Block:
    return {"type": "button", "text": _plain(label, MAX_BUTTON_TEXT), "action_id": action_id,
            "value": value, "style": style}  # fmt: skip


def _reject_confirm(step: str) -> Block:
    return {
        "title": _plain("Reject this run?", 100),
        "text": _plain(f"The workflow will stop at step {step}.", 300),
        "confirm": _plain("Reject", 30),
        "deny": _plain("Cancel", 30),
        "style": "danger",
    }


def approval_decided_message(
    approval_id: str,
    workflow: str,
    run_id: str,
    step: str,
    *,
    approved: bool,
    decided_by: str,
    comment: str | None = None,
    source: str | None = None,
    closed: str | None = None,
) -> SlackMessage:
    """The approval message after the decision: who decided, and no buttons left.
    `closed` (`Expired`, `Cancelled`): the gate closed with nobody's decision."""
    status = Status.APPROVED if approved else Status.REJECTED
    verdict = "Approved" if approved else "Rejected"
    summary = _approval_summary(workflow, run_id, step, None)
    if closed:
        verdict = cut(escape(closed), 40)
        summary += f"\n*{verdict}* with no decision"
    else:
        summary += f"\n*{verdict}* by {_mention(decided_by)}"
    if comment:
        summary += f": {cut(escape(comment), MAX_BODY_TEXT)}"
    # New block ids: Slack asks for fresh ones when a message is updated.
    top = [_section(summary, block_id=f"approval-{approval_id}-decided")]
    body = [_run_context(run_id, source, f"approval `{cut(escape(approval_id), 100)}`")]
    title = f"{workflow} ({verdict.lower()})" if closed else workflow
    return build_message(status, title, body, top)


def _mention(decided_by: str) -> str:
    """`slack:U123` becomes a user mention; anything else is shown escaped."""
    prefix, _, user = decided_by.partition(":")
    if prefix == "slack" and user.isalnum():
        return f"<@{user}>"
    return f"*{cut(escape(decided_by), 100)}*"


def block_text_length(blocks: Sequence[Block]) -> int:
    """Characters of text in `blocks` (attachments' blocks included), for the size budget."""
    total = 0
    for block in blocks:
        for value in block.values():
            total += _text_in(value)
    return total


def _text_in(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(_text_in(v) for v in value)
    return 0


# Colour words a model or a workflow may use, beside the lifecycle statuses themselves.
STATUS_WORDS: Mapping[str, Status] = {
    "success": Status.COMPLETED,
    "failure": Status.FAILED,
    "warning": Status.PENDING_APPROVAL,
    "info": Status.IN_PROGRESS,
}


def status_from_word(word: str | None) -> Status:
    """The Status a `notify` step or the `notify_slack` tool names (default: in progress).

    Raises:
        UsageError: an unknown word, with the known ones.
    """
    if word is None:
        return Status.IN_PROGRESS
    try:
        return STATUS_WORDS.get(word) or Status(word)
    except ValueError:
        known = [*STATUS_WORDS, *(s.value for s in Status)]
        raise UsageError(f"unknown status {word!r}; use one of {', '.join(known)}") from None
