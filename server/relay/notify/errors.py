"""Slack's answers, classified for the outbox: one error class per thing to do next.

The Slack clients raise only these (subclasses of `relay.errors.NotifierError`). Messages
name the method and Slack's code, never a token or a webhook URL.

```
NotifierError (relay.errors)
└── SlackError                   carries method, code, http_status; never a secret
    ├── SlackTransientError      5xx, timeouts, connection errors, internal_error...: retry
    │   └── SlackRateLimited     429 / ratelimited: wait retry_after_seconds, then retry
    ├── SlackAuthError           invalid_auth, token_revoked...: pause the queue, keep it
    ├── SlackDestinationError    channel_not_found, is_archived...: dead-letter the destination
    ├── DestinationNotConfigured this process has no settings for it: leave it to another
    └── SlackBadRequest          anything else: this message cannot be sent as is
        ├── SlackContentRejected msg_too_long, invalid_blocks...: retry once as plain text
        └── SlackTargetGone      message_not_found, thread_not_found...: post anew instead
```
"""

import email.utils
import time
from typing import Any

from relay.errors import NotifierError

# Used when Slack rate-limits without a usable Retry-After (e.g. HTTP 200 `rate_limited`).
DEFAULT_RETRY_AFTER_SECONDS = 30.0
# A bogus Retry-After must not park the queue for days.
MAX_RETRY_AFTER_SECONDS = 900.0


class SlackError(NotifierError):
    """Slack did not accept the request."""

    def __init__(
        self,
        message: str | None = None,
        *,
        method: str = "",
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class SlackTransientError(SlackError):
    """Slack is unavailable or slow; the same request may succeed later."""

    def __init__(
        self, message: str | None = None, *, may_have_committed: bool = False, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        # True when Slack may have acted before the failure (a read timeout, a dropped
        # connection): a retry can then duplicate the message, never lose it.
        self.may_have_committed = may_have_committed


class SlackRateLimited(SlackTransientError):
    """Slack is rate-limiting this app; wait `retry_after_seconds` before the next call."""

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: float, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after_seconds = retry_after_seconds


class SlackAuthError(SlackError):
    """Slack refused the credentials; pause delivery until they are fixed."""


class SlackDestinationError(SlackError):
    """The destination cannot receive messages (missing, archived, not joined)."""


class DestinationNotConfigured(SlackError):
    """This process has no settings for the destination; a process that has them
    delivers it."""


class SlackBadRequest(SlackError):
    """Slack rejected this request as malformed."""


class SlackContentRejected(SlackBadRequest):
    """Slack rejected the message's content (too long, invalid blocks)."""


class SlackTargetGone(SlackBadRequest):
    """The message to update or reply to cannot be used."""


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


def classify_error_code(code: str) -> type[SlackError]:
    """The error class for one of Slack's `error` codes (unknown codes: `SlackBadRequest`)."""
    for codes, cls in (
        (RATE_LIMIT_CODES, SlackRateLimited),
        (TRANSIENT_CODES, SlackTransientError),
        (AUTH_CODES, SlackAuthError),
        (DESTINATION_CODES, SlackDestinationError),
        (CONTENT_CODES, SlackContentRejected),
        (TARGET_CODES, SlackTargetGone),
    ):
        if code in codes:
            return cls
    return SlackBadRequest


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


def error_for_code(code: str, *, method: str, http_status: int | None = None) -> SlackError:
    """The exception to raise for Slack's `error` code in answer to `method`."""
    cls = classify_error_code(code)
    message = f"Slack {method} failed: {code}"
    if cls is SlackRateLimited:
        return SlackRateLimited(
            message, retry_after_seconds=DEFAULT_RETRY_AFTER_SECONDS, method=method, code=code,
            http_status=http_status,
        )  # fmt: skip
    return cls(message, method=method, code=code, http_status=http_status)
