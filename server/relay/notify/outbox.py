"""The outbox sender: delivers queued notifications (Slack, and Apprise's channels).

Notifications are written to the store in the same transaction as the state change that
causes them; this sender (one per process that runs an engine) drains the due ones:

- pacing: at most one message per `pace_seconds` per channel (Slack: ~1/s per channel);
- 429: the whole queue waits `Retry-After`, then the same message is tried again;
- 5xx, timeouts, connection errors: exponential backoff with jitter, capped; a timeout
  after which Slack may have posted is retried too (at worst a duplicate, never a loss);
- auth errors (`invalid_auth`, `token_revoked`...): the whole queue pauses for
  `auth_pause_seconds` and is kept;
- destination errors (`channel_not_found`, archived...): that destination's pending
  notifications are dead-lettered, others go on;
- rejected content: retried once as plain text, then dead-lettered.

Order within a thread comes from the store: it hands out only the oldest pending
notification of each thread, so a root precedes its replies and one of a thread is in
flight at a time. Claims are leases, so a process that dies mid-send loses nothing.
"""

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio

from relay.model.notification import Notification, NotificationKind
from relay.notify.apprise_channel import DESTINATION as APPRISE
from relay.notify.apprise_channel import AppriseChannels, AppriseError
from relay.notify.errors import (
    SlackAuthError,
    SlackBadRequest,
    SlackContentRejected,
    SlackDestinationError,
    SlackError,
    SlackRateLimited,
    SlackTargetGone,
    SlackTransientError,
)
from relay.notify.messages import MAX_FALLBACK_TEXT, cut
from relay.notify.slack_client import SlackClient, SlackMessageRef, WebhookClient
from relay.store.base import Outbox
from relay.store.feed import ChangeFeed

log = logging.getLogger("relay.notify.outbox")

IDLE_SECONDS = 1.0  # the longest nap between looks (commits by other processes wake it sooner)
BATCH = 20


class OutboxSender:
    """Drains the outbox; `run()` until cancelled."""

    def __init__(
        self,
        outbox: Outbox,
        feed: ChangeFeed,
        *,
        owner: str,
        slack: SlackClient | None = None,
        webhook: WebhookClient | None = None,
        channels: AppriseChannels | None = None,
        pace_seconds: float = 1.0,
        backoff_base_seconds: float = 2.0,
        backoff_cap_seconds: float = 300.0,
        auth_pause_seconds: float = 600.0,
        lease_seconds: float = 30.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.outbox, self.feed = outbox, feed
        self.owner = owner
        self.slack = slack
        self.webhook = webhook
        self.channels = channels
        self.pace_seconds = pace_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.auth_pause_seconds = auth_pause_seconds
        # Longer than one send (the client's timeout), so a live sender never loses its claim.
        self.lease_seconds = lease_seconds
        self._jitter = jitter
        self._last_sent: dict[tuple[str, str], float] = {}
        self.paused_until = 0.0  # monotonic
        self.paused_reason: str | None = None  # why the queue is paused (no secret)

    # the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self._turn()
            except Exception:  # a store hiccup must not end delivery for the process
                log.exception("the outbox sender failed; retrying shortly")
                await anyio.sleep(IDLE_SECONDS)

    async def _turn(self) -> None:
        pause = self.paused_until - time.monotonic()
        if pause > 0:
            await anyio.sleep(min(pause, IDLE_SECONDS))
            return
        generation = self.feed.generation()
        due = await self.outbox.next_notification_due()
        wait = IDLE_SECONDS if due is None else (due - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            await self.drain_once()
            return
        await self.feed.wait_changed(generation, min(wait, IDLE_SECONDS))

    async def drain_once(self) -> int:
        """Claim the due notifications and try each once; returns how many were claimed."""
        claimed = await self.outbox.claim_notifications(self.owner, self.lease_seconds, BATCH)
        for i, notification in enumerate(claimed):
            if time.monotonic() < self.paused_until:
                await self._hold(claimed[i:])
                break
            await self._deliver(notification)
        return len(claimed)

    async def _hold(self, rest: list[Notification]) -> None:
        """Give back claims while the queue is paused; they are due when it resumes."""
        delay = max(self.paused_until - time.monotonic(), 0.0)
        for n in rest:
            await self.outbox.reschedule_notification(
                n.id, delay, n.last_error or "delivery paused", count_attempt=False
            )

    # one notification -------------------------------------------------------------------

    async def _deliver(self, n: Notification) -> None:
        if n.kind is NotificationKind.EDIT and n.destination == "slack" and n.target_ts is None:
            await self._no_target(n)
            return
        await self._pace(n)
        try:
            ref = await self._send(n)
        except SlackError as exc:
            await self._failed(n, exc)
            return
        self.paused_reason = None  # whatever paused the queue is over
        if ref is None:
            await self.outbox.notification_sent(n.id, None, None)
        else:
            await self.outbox.notification_sent(n.id, ref.ts, ref.channel)

    async def _no_target(self, n: Notification) -> None:
        """An edit whose message is not posted (yet): wait for it, or give up if it never was."""
        if n.target_pending:
            await self.outbox.reschedule_notification(
                n.id, self.backoff_base_seconds, "waiting for the message it edits to be posted",
                count_attempt=False,
            )  # fmt: skip
        else:
            await self.outbox.dead_letter_notification(n.id, "the message to edit was never posted")

    async def _pace(self, n: Notification) -> None:
        key = (n.destination, n.channel)
        wait = self._last_sent.get(key, -1e9) + self.pace_seconds - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        self._last_sent[key] = time.monotonic()

    async def _send(self, n: Notification) -> SlackMessageRef | None:
        payload = n.payload
        text = str(payload.get("text") or " ")
        blocks = payload.get("blocks")
        attachments = payload.get("attachments")
        if n.destination == APPRISE:
            await self._channels().send(n.channel, payload)
            return None
        if n.destination == "webhook":
            if n.kind in (NotificationKind.UPDATE, NotificationKind.EDIT):
                return None  # a webhook's messages cannot be edited: nothing to do
            await self._webhook().post(text, blocks, attachments=attachments)
            return None
        slack = self._slack()
        if n.kind is NotificationKind.EDIT:
            assert n.target_ts is not None  # see _deliver
            return await slack.update_message(
                n.target_channel or n.channel, n.target_ts, text, blocks, attachments=attachments
            )
        if n.kind is NotificationKind.UPDATE:
            if n.thread_ts is None:
                raise SlackTargetGone("the thread has no root message to update")
            return await slack.update_message(
                n.root_channel or n.channel, n.thread_ts, text, blocks, attachments=attachments
            )
        in_thread = n.kind is NotificationKind.REPLY and not payload.get("top_level")
        thread_ts = n.thread_ts if in_thread else None
        event = {"notification_id": n.id, "run_id": n.run_id or ""}
        metadata = {"event_type": "relay_notification", "event_payload": event}
        return await slack.post_message(
            n.channel, text, blocks, thread_ts,
            reply_broadcast=bool(payload.get("reply_broadcast")) and thread_ts is not None,
            attachments=attachments, metadata=metadata,
        )  # fmt: skip

    def _slack(self) -> SlackClient:
        if self.slack is None:
            raise SlackAuthError("Slack is not configured in this process (SLACK_BOT_TOKEN)")
        return self.slack

    def _channels(self) -> AppriseChannels:
        if self.channels is None:
            # Another process may have them: keep it pending (and visible), retried later.
            raise AppriseError(
                "no notification URLs are configured in this process (RELAY_NOTIFY_URLS)",
                method=APPRISE,
            )
        return self.channels

    def _webhook(self) -> WebhookClient:
        if self.webhook is None:
            raise SlackAuthError("Slack is not configured in this process (SLACK_WEBHOOK_URL)")
        return self.webhook

    async def _failed(self, n: Notification, exc: SlackError) -> None:
        error = str(exc)
        log.warning("notification %s: %s", n.id, error)
        outbox = self.outbox
        if isinstance(exc, SlackRateLimited):
            self._pause(exc.retry_after_seconds, None)
            await outbox.reschedule_notification(n.id, exc.retry_after_seconds, error)
        elif isinstance(exc, SlackTransientError):
            await outbox.reschedule_notification(n.id, self.backoff(n.attempts), error)
        elif isinstance(exc, SlackAuthError):
            self._pause(self.auth_pause_seconds, error)
            await outbox.reschedule_notification(
                n.id, self.auth_pause_seconds, error, count_attempt=False
            )
        elif isinstance(exc, SlackDestinationError):
            count = await outbox.dead_letter_destination(n.destination, n.channel, error)
            log.error("dead-lettered %d notification(s) to %s: %s", count, n.channel, error)
        elif isinstance(exc, SlackContentRejected) and not n.payload.get("plain"):
            await outbox.reschedule_notification(n.id, 0.0, error, payload=_plain(n.payload))
        elif isinstance(exc, SlackTargetGone) and n.kind is NotificationKind.REPLY:
            # The thread's root is gone: post at the top level rather than not at all.
            payload = {**n.payload, "top_level": True}
            await outbox.reschedule_notification(n.id, 0.0, error, payload=payload)
        else:
            assert isinstance(exc, SlackBadRequest)
            await outbox.dead_letter_notification(n.id, error)

    def _pause(self, seconds: float, reason: str | None) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.paused_reason = reason

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with (half) jitter: base·2^attempts, capped."""
        delay = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2.0 ** min(attempts, 32))
        return delay * (0.5 + 0.5 * self._jitter())


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The degraded form of a rejected message: its fallback text alone, cut."""
    text = cut(str(payload.get("text") or " "), MAX_FALLBACK_TEXT)
    return {"text": text, "plain": True, "reply_broadcast": payload.get("reply_broadcast", False)}
