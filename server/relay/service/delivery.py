"""Waiting for this process to deliver some queued notifications, but only while that
can succeed: a command never stalls on a Slack that is down, refuses or does not answer.
"""

import time
from dataclasses import dataclass

from relay.model.notification import Notification, NotificationStatus
from relay.notify.outbox import OutboxSender
from relay.store.base import Store


@dataclass(frozen=True)
class Undelivered:
    """What is still queued after a flush: `pending` of them (any sender with the settings
    delivers them later) and why this process stopped waiting, when it did not simply
    run out of time (no secret)."""

    pending: int
    reason: str | None = None


async def flush(
    store: Store,
    sender: OutboxSender | None,
    wait_seconds: float,
    *,
    run_id: str | None = None,
    thread_key: str | None = None,
) -> Undelivered:
    """Wait at most `wait_seconds` until `sender` has delivered the queued notifications
    of a run (or a thread); return at once when it has none to deliver, or when its
    `trouble()` says that it cannot deliver them now."""
    deadline = time.monotonic() + wait_seconds
    while True:
        generation = store.generation()
        pending = await _pending(store, run_id, thread_key)
        remaining = deadline - time.monotonic()
        if not pending or sender is None or remaining <= 0:
            return Undelivered(len(pending))
        trouble = sender.trouble()
        if trouble is not None:
            return Undelivered(len(pending), trouble)
        # A hung request changes nothing in the store: look again when it counts as one.
        await store.wait_changed(generation, min(remaining, sender.seconds_to_trouble()))


async def _pending(store: Store, run_id: str | None, thread_key: str | None) -> list[Notification]:
    pending = await store.list_notifications(NotificationStatus.PENDING, run_id)
    if thread_key is None:
        return pending
    return [n for n in pending if n.thread_key == thread_key]
