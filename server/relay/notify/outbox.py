"""The outbox sender: delivers queued notifications (Slack, and Apprise's channels).

Notifications are written to the store in the same transaction as the state change that
causes them; this sender (one per process that runs an engine) drains the due ones:

- pacing: at most one message per `pace_seconds` per channel (Slack: ~1/s per channel);
- 429: the whole queue waits `Retry-After`, then the same message is tried again;
- 5xx, timeouts, connection errors: exponential backoff with jitter, capped; a timeout
  after which Slack may have posted is retried too (at worst a duplicate, never a loss);
- auth errors (`invalid_auth`, `token_revoked`...): the whole queue pauses for
  `auth_pause_seconds` and is kept;
- after `max_attempts` failed attempts (of those two kinds, or an Apprise destination's),
  a notification is dead-lettered with its last error (for an auth error, every pending
  one of its destination): a URL or a token that can never work is not tried forever;
- destination errors (`channel_not_found`, archived...): that destination's pending
  notifications are dead-lettered, others go on;
- rejected content: retried once as plain text, then dead-lettered;
- a destination this process has no settings for: left to a process that has them.

`trouble()` says when waiting for this sender is pointless (the queue is paused, the last
attempt failed, or Slack has not answered for ANSWER_SECONDS): a command that waits for
its notifications stops waiting then instead of stalling on an unreachable Slack.

Order within a thread comes from the store: it hands out only the oldest pending
notification of each thread, so a root precedes its replies and one of a thread is in
flight at a time. Claims are leases, so a process that dies mid-send loses nothing.
"""

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import anyio

from relay.errors import (
    ContentRejected,
    CredentialsRefused,
    DeliveryFailed,
    DeliveryTransient,
    DestinationNotConfigured,
    DestinationRefused,
    MessageRefused,
    RateLimited,
    TargetGone,
)
from relay.model.notification import Notification, NotificationKind
from relay.notify.apprise_channel import DESTINATION as APPRISE
from relay.notify.apprise_channel import AppriseChannels
from relay.notify.messages import MAX_FALLBACK_TEXT, cut
from relay.notify.slack_client import SlackClient, SlackMessageRef, WebhookClient
from relay.store.base import Outbox
from relay.store.feed import ChangeFeed

log = logging.getLogger("relay.notify.outbox")

IDLE_SECONDS = 1.0  # the longest nap between looks (commits by other processes wake it sooner)
BATCH = 20
# A request Slack has not answered for this long means "Slack is not answering now" to a
# command waiting for its notifications (the send itself goes on, up to its timeout).
ANSWER_SECONDS = 1.0
# A rate-limit pause longer than this is not worth waiting out for such a command.
LONG_PAUSE_SECONDS = 5.0


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
        max_attempts: int = 15,
        quiet: bool = False,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """`quiet`: failures and dead letters are logged at INFO, not WARNING and ERROR
        (for a command that reports undelivered notifications itself)."""
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
        self.max_attempts = max_attempts
        self._failure_level = logging.INFO if quiet else logging.WARNING
        self._dead_level = logging.INFO if quiet else logging.ERROR
        self._jitter = jitter
        self._last_sent: dict[tuple[str, str], float] = {}
        self.paused_until = 0.0  # monotonic
        self.paused_reason: str | None = None  # why the queue is paused (no secret)
        self.failing: str | None = None  # the last attempt's error, until one succeeds
        self._asked_at: float | None = None  # monotonic: when the request in flight left
        self._asked = ""  # whom it asked: "Slack", or an Apprise destination's name
        self._look_in = 0.0  # how long the loop waits for a commit before looking again

    def trouble(self) -> str | None:
        """Why waiting for this sender to deliver is pointless now (no secret), or None
        while it delivers (or waits its turn)."""
        if self.paused_reason or self.failing:
            return self.paused_reason or self.failing
        paused = self.paused_until - time.monotonic()
        if paused > LONG_PAUSE_SECONDS:
            return f"Slack rate-limits relay for {paused:.0f} s more"
        if self._asked_at is not None and time.monotonic() - self._asked_at >= ANSWER_SECONDS:
            return f"{self._asked} has not answered for {ANSWER_SECONDS:g} s"
        return None

    def seconds_to_trouble(self) -> float:
        """How long the request in flight may still go unanswered before `trouble()`
        says so (IDLE_SECONDS when none is in flight)."""
        if self._asked_at is None:
            return IDLE_SECONDS
        return max(0.0, self._asked_at + ANSWER_SECONDS - time.monotonic())

    # the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        async for _ in self.feed.changes(lambda: self._look_in):
            try:
                self._look_in = await self._turn()
            except Exception:  # a store hiccup must not end delivery for the process
                log.exception("the outbox sender failed; retrying shortly")
                await anyio.sleep(IDLE_SECONDS)
                self._look_in = 0.0

    async def _turn(self) -> float:
        """Deliver what is due; returns how long to wait for a commit before looking again."""
        pause = self.paused_until - time.monotonic()
        if pause > 0:
            await anyio.sleep(min(pause, IDLE_SECONDS))
            return 0.0
        due = await self.outbox.next_notification_due()
        wait = IDLE_SECONDS if due is None else (due - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            await self.drain_once()
            return 0.0
        return min(wait, IDLE_SECONDS)

    async def drain_once(self) -> int:
        """Claim the due notifications and try each once; returns how many were claimed."""
        claimed = await self.outbox.claim_notifications(self.owner, self.lease_seconds, BATCH)
        i = 0
        try:
            for i, notification in enumerate(claimed):
                if time.monotonic() < self.paused_until:
                    await self._hold(claimed[i:])
                    break
                await self._deliver(notification)
        except anyio.get_cancelled_exc_class():
            # This process stops: hand back what it has not sent (the one in flight too,
            # at worst a duplicate) for any other sender to deliver now, not after the claim.
            with anyio.CancelScope(shield=True), anyio.move_on_after(0.5):
                await self._hold(claimed[i:], "the process sending it stopped")
            raise
        return len(claimed)

    async def _hold(self, rest: list[Notification], why: str = "delivery paused") -> None:
        """Give back claims while the queue is paused; they are due when it resumes."""
        delay = max(self.paused_until - time.monotonic(), 0.0)
        for n in rest:
            await self.outbox.reschedule_notification(
                n.id, delay, n.last_error or why, count_attempt=False
            )

    # one notification -------------------------------------------------------------------

    async def _deliver(self, n: Notification) -> None:
        if n.kind is NotificationKind.EDIT and n.destination == "slack" and n.target_ts is None:
            await self._no_target(n)
            return
        await self._pace(n)
        try:
            with self._asking(n):
                ref = await self._send(n)
        except DeliveryFailed as exc:
            await self._failed(n, exc)
            return
        self.paused_reason = self.failing = None  # whatever stopped delivery is over
        if ref is None:
            await self.outbox.notification_sent(n.id, None, None)
        else:
            await self.outbox.notification_sent(n.id, ref.ts, ref.channel)

    @contextmanager
    def _asking(self, n: Notification) -> Iterator[None]:
        self._asked = f"the destination {n.channel!r}" if n.destination == APPRISE else "Slack"
        self._asked_at = time.monotonic()
        try:
            yield
        finally:
            self._asked_at = None

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
                raise TargetGone("the thread has no root message to update")
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
            raise DestinationNotConfigured(
                "Slack is not configured in this process (SLACK_BOT_TOKEN)"
            )
        return self.slack

    def _channels(self) -> AppriseChannels:
        if self.channels is None:
            raise DestinationNotConfigured(
                "no notification URLs are configured in this process (RELAY_NOTIFY_URLS)",
                method=APPRISE,
            )
        return self.channels

    def _webhook(self) -> WebhookClient:
        if self.webhook is None:
            raise DestinationNotConfigured(
                "Slack is not configured in this process (SLACK_WEBHOOK_URL)"
            )
        return self.webhook

    async def _failed(self, n: Notification, exc: DeliveryFailed) -> None:
        error = str(exc)
        log.log(self._failure_level, "notification %s: %s", n.id, error)
        outbox = self.outbox
        if isinstance(exc, DestinationNotConfigured):
            # Another process may have the settings: keep it pending (and visible).
            await outbox.reschedule_notification(
                n.id, self.backoff_cap_seconds, error, count_attempt=False
            )
            return
        if _unreachable(exc):
            self.failing = error
        if isinstance(exc, RateLimited):
            self._pause(exc.retry_after_seconds, None)
            await outbox.reschedule_notification(n.id, exc.retry_after_seconds, error)
        elif isinstance(exc, DeliveryTransient | CredentialsRefused) and self._last_try(n):
            await self._give_up(n, exc)
        elif isinstance(exc, DeliveryTransient):
            await outbox.reschedule_notification(n.id, self.backoff(n.attempts), error)
        elif isinstance(exc, CredentialsRefused):
            self._pause(self.auth_pause_seconds, error)
            await outbox.reschedule_notification(n.id, self.auth_pause_seconds, error)
        elif isinstance(exc, DestinationRefused):
            count = await outbox.dead_letter_destination(n.destination, n.channel, error)
            log.log(self._dead_level, "dead-lettered %d notification(s) to %s: %s", count,
                    n.channel, error)  # fmt: skip
        elif isinstance(exc, ContentRejected) and not n.payload.get("plain"):
            await outbox.reschedule_notification(n.id, 0.0, error, payload=_plain(n.payload))
        elif isinstance(exc, TargetGone) and n.kind is NotificationKind.REPLY:
            # The thread's root is gone: post at the top level rather than not at all.
            payload = {**n.payload, "top_level": True}
            await outbox.reschedule_notification(n.id, 0.0, error, payload=payload)
        else:
            assert isinstance(exc, MessageRefused)
            await outbox.dead_letter_notification(n.id, error)

    def _last_try(self, n: Notification) -> bool:
        return n.attempts + 1 >= self.max_attempts

    async def _give_up(self, n: Notification, exc: DeliveryFailed) -> None:
        """Dead-letter after the last attempt: for an auth error (the token can never
        work), every pending notification of the destination; else this one."""
        reason = f"gave up after {n.attempts + 1} attempts: {exc}"
        if isinstance(exc, CredentialsRefused):
            self._pause(self.auth_pause_seconds, str(exc))
            count = await self.outbox.dead_letter_destination(n.destination, n.channel, reason)
        else:
            await self.outbox.dead_letter_notification(n.id, reason)
            count = 1
        where = n.channel or n.destination
        log.log(self._dead_level, "dead-lettered %d notification(s) to %s: %s", count, where,
                reason)  # fmt: skip

    def _pause(self, seconds: float, reason: str | None) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.paused_reason = reason

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with (half) jitter: base·2^attempts, capped."""
        delay = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2.0 ** min(attempts, 32))
        return delay * (0.5 + 0.5 * self._jitter())


def _unreachable(exc: DeliveryFailed) -> bool:
    """Whether the destination cannot take messages now (down, silent, refusing the
    credentials), as opposed to refusing one message or asking to slow down."""
    return isinstance(exc, DeliveryTransient | CredentialsRefused) and not isinstance(
        exc, RateLimited
    )


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The degraded form of a rejected message: its fallback text alone, cut."""
    text = cut(str(payload.get("text") or " "), MAX_FALLBACK_TEXT)
    return {"text": text, "plain": True, "reply_broadcast": payload.get("reply_broadcast", False)}
