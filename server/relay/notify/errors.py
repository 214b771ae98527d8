"""Slack's answers, classified for the outbox: one delivery error class (from
`relay.errors`) per thing to do next. The Slack clients raise only these; messages name
the method and Slack's code, never a token or a webhook URL.

- 5xx, timeouts, connection errors, `internal_error`...: `DeliveryTransient` (retry);
- 429 and `ratelimited`: `RateLimited` (wait `retry_after_seconds`, then retry);
- `invalid_auth`, `token_revoked`...: `CredentialsRefused` (pause the queue, keep it);
- `channel_not_found`, `is_archived`...: `DestinationRefused` (dead-letter the destination);
- `msg_too_long`, `invalid_blocks`...: `ContentRejected` (retry once as plain text);
- `message_not_found`, `thread_not_found`...: `TargetGone` (post anew instead);
- anything else: `MessageRefused` (this message cannot be sent as it is).
"""

import email.utils
import time

from relay.errors import (
    ContentRejected,
    CredentialsRefused,
    DeliveryFailed,
    DeliveryTransient,
    DestinationRefused,
    MessageRefused,
    RateLimited,
    TargetGone,
)

# Used when Slack rate-limits without a usable Retry-After (e.g. HTTP 200 `rate_limited`).
DEFAULT_RETRY_AFTER_SECONDS = 30.0
# A bogus Retry-After must not park the queue for days.
MAX_RETRY_AFTER_SECONDS = 900.0


TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout",
     "team_added_to_org", "rollup_error"}
)  # fmt: skip
RATE_LIMIT_CODES = frozenset({"ratelimited", "rate_limited"})
AUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
     "missing_scope", "not_allowed_token_type", "no_permission", "ekm_access_denied",
     "invalid_token"}
)  # fmt: skip
DESTINATION_CODES = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
     "action_prohibited", "user_not_found", "no_team", "no_service"}
)  # fmt: skip
CONTENT_CODES = frozenset(
    {"msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
     "invalid_attachments", "too_many_attachments", "msg_blocks_too_long",
     "invalid_arguments", "invalid_payload", "missing_text_or_fallback_or_attachments"}
)  # fmt: skip
TARGET_CODES = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "is_inactive",
     "thread_not_found"}
)  # fmt: skip


def classify_error_code(code: str) -> type[DeliveryFailed]:
    """The error class for one of Slack's `error` codes (unknown codes: `MessageRefused`)."""
    for codes, cls in (
        (RATE_LIMIT_CODES, RateLimited),
        (TRANSIENT_CODES, DeliveryTransient),
        (AUTH_CODES, CredentialsRefused),
        (DESTINATION_CODES, DestinationRefused),
        (CONTENT_CODES, ContentRejected),
        (TARGET_CODES, TargetGone),
    ):
        if code in codes:
            return cls
    return MessageRefused


def parse_retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a `Retry-After` header: delta seconds, an HTTP date, or a default."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_SECONDS
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def error_for_code(code: str, *, method: str, http_status: int | None = None) -> DeliveryFailed:
    """The exception to raise for Slack's `error` code in answer to `method`."""
    cls = classify_error_code(code)
    message = f"Slack {method} failed: {code}"
    if cls is RateLimited:
        return RateLimited(
            message, retry_after_seconds=DEFAULT_RETRY_AFTER_SECONDS, method=method, code=code,
            http_status=http_status,
        )  # fmt: skip
    return cls(message, method=method, code=code, http_status=http_status)
