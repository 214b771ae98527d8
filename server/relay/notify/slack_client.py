"""A small async client for Slack's Web API and incoming webhooks, on httpx2.


It makes one attempt per call and never sleeps: retries belong to the durable outbox. Every
failure raises one class of `relay.notify.errors`, which tells the outbox what to do next.
Secrets (the token, the webhook URL) appear in no message and no repr.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx2

from relay.errors import (
    DeliveryFailed,
    DeliveryTransient,
    DestinationRefused,
    MessageRefused,
    RateLimited,
)
from relay.notify.errors import (
    AUTH_CODES,
    error_for_code,
    parse_retry_after,
)
from relay.notify.redact import register_secret

DEFAULT_API_BASE_URL = "https://slack.com/api"
# A generous read timeout: Slack has no idempotency key, so a timeout after Slack committed
# a post becomes a duplicate on retry; waiting longer makes that rarer. Connecting is quick.
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0
# Slack's webhook errors are short plain-text codes; any other body is not quoted back.
_CODE_SHAPE = re.compile(r"^[a-z_]{1,64}$")

Block = Mapping[str, Any]


def _error_for_status(response: httpx2.Response, method: str, code: str | None) -> DeliveryFailed:
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(
            f"Slack {method} rate limited (HTTP 429); retry after {retry_after:g} s",
            retry_after_seconds=retry_after, method=method, code=code or "ratelimited",
            http_status=status,
        )  # fmt: skip
    if status >= 500 or status == 408:
        return DeliveryTransient(
            f"Slack {method} failed: HTTP {status}" + (f" {code}" if code else ""),
            may_have_committed=True, method=method, code=code, http_status=status,
        )  # fmt: skip
    if code:
        return error_for_code(code, method=method, http_status=status)
    return MessageRefused(
        f"Slack {method} failed: HTTP {status}", method=method, http_status=status
    )


def _transport_error(exc: httpx2.TransportError, method: str) -> DeliveryTransient:
    committed = not isinstance(
        exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout
    )
    kind = "timed out" if isinstance(exc, httpx2.TimeoutException) else "connection failed"
    # Only the exception's class name: httpx messages may quote the URL, which is secret
    # for webhooks.
    return DeliveryTransient(
        f"Slack {method} {kind} ({type(exc).__name__})", may_have_committed=committed, method=method
    )


def _json_or_none(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _warnings(data: Mapping[str, Any]) -> tuple[str, ...]:
    found = [w for w in str(data.get("warning") or "").split(",") if w]
    metadata = data.get("response_metadata")
    if isinstance(metadata, dict):
        found += [str(w) for w in metadata.get("warnings") or ()]
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class SlackMessageRef:
    """Where a posted or updated message lives; `ts` is kept as Slack's string."""

    channel: str
    ts: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlackIdentity:
    """Who the token is, per `auth.test`."""

    team_id: str
    user_id: str
    bot_id: str | None
    team: str | None = None


def _timeout(timeout_seconds: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds))


class _HttpOwner:
    """Owns an httpx2.AsyncClient; usable as an async context manager."""

    _http: httpx2.AsyncClient

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.aclose()


class SlackClient(_HttpOwner):
    """Slack's Web API with a bot token: `chat.postMessage`, `chat.update`, `auth.test`."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_BASE_URL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._http = httpx2.AsyncClient(timeout=_timeout(timeout_seconds), transport=transport)

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self.base_url!r}, token='***')"

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        *,
        attachments: Sequence[Block] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SlackMessageRef:
        """Post a message (a reply when `thread_ts`, the root's ts, is given)."""
        body: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False,
                                "unfurl_media": False}  # fmt: skip
        body.update(_content(blocks, attachments, metadata))
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
            body["reply_broadcast"] = reply_broadcast
        data = await self._call("chat.postMessage", body)
        return SlackMessageRef(str(data["channel"]), str(data["ts"]), _warnings(data))

    async def update_message(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        attachments: Sequence[Block] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SlackMessageRef:
        """Replace a message's text and blocks (Slack drops blocks that are not sent again)."""
        body: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        body.update(_content(blocks, attachments, metadata))
        data = await self._call("chat.update", body)
        return SlackMessageRef(str(data.get("channel", channel)), str(data.get("ts", ts)),
                               _warnings(data))  # fmt: skip

    async def auth_test(self) -> SlackIdentity:
        """Check the token; raises `CredentialsRefused` when Slack refuses it."""
        data = await self._call("auth.test", {})
        bot_id = data.get("bot_id")
        return SlackIdentity(
            str(data.get("team_id", "")), str(data.get("user_id", "")),
            str(bot_id) if bot_id else None, data.get("team"),
        )  # fmt: skip

    async def _call(self, method: str, body: Mapping[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}",
                   "Content-Type": "application/json; charset=utf-8"}  # fmt: skip
        try:
            response = await self._http.post(
                f"{self.base_url}/{method}", json=body, headers=headers
            )
        except httpx2.TransportError as exc:
            raise _transport_error(exc, method) from None
        data = _json_or_none(response)
        code = str(data.get("error")) if data and data.get("error") else None
        if response.status_code != 200:
            raise _error_for_status(response, method, code)
        if data is None:
            raise DeliveryTransient(
                f"Slack {method} answered HTTP 200 without JSON", may_have_committed=True,
                method=method, http_status=200,
            )  # fmt: skip
        if not data.get("ok"):
            raise error_for_code(code or "unknown_error", method=method, http_status=200)
        return data


def _content(
    blocks: Sequence[Block] | None,
    attachments: Sequence[Block] | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if blocks is not None:
        content["blocks"] = [dict(b) for b in blocks]
    if attachments is not None:
        content["attachments"] = [dict(a) for a in attachments]
    if metadata is not None:
        content["metadata"] = dict(metadata)
    return content


class WebhookClient(_HttpOwner):
    """An incoming webhook: flat messages to its one channel, no ts back, so no threads."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        register_secret(url)
        self._http = httpx2.AsyncClient(timeout=_timeout(timeout_seconds), transport=transport)

    def __repr__(self) -> str:
        # The whole path is the credential; only the host is safe to show.
        return f"WebhookClient(host={urlsplit(self._url).hostname!r}, url='***')"

    async def post(
        self,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        attachments: Sequence[Block] | None = None,
    ) -> None:
        """Post one message; Slack answers `200 ok` and nothing else on success."""
        body: dict[str, Any] = {"text": text, "unfurl_links": False, "unfurl_media": False}
        body.update(_content(blocks, attachments, None))
        try:
            response = await self._http.post(self._url, json=body)
        except httpx2.TransportError as exc:
            raise _transport_error(exc, "webhook") from None
        if response.status_code == 200:
            return
        reply = response.text.strip()
        code = reply if _CODE_SHAPE.match(reply) else None
        raise _webhook_error(response, code)


def _webhook_error(response: httpx2.Response, code: str | None) -> DeliveryFailed:
    # Slack: "interpret a HTTP 200 response as success and any other response code as a
    # failure", so the status decides; the body code only refines it.
    status = response.status_code
    if status == 429 or status >= 500 or status == 408:
        return _error_for_status(response, "webhook", code)
    if status in (403, 404, 410) and code not in AUTH_CODES:
        return DestinationRefused(
            f"Slack webhook failed: HTTP {status} {code or ''}".rstrip(),
            method="webhook", code=code, http_status=status,
        )  # fmt: skip
    if code:
        return error_for_code(code, method="webhook", http_status=status)
    return MessageRefused(f"Slack webhook failed: HTTP {status}", method="webhook",
                           http_status=status)  # fmt: skip
