"""Waiting for this process to deliver some queued notifications, but only while that
can succeed: a command never stalls on a Slack that is down, refuses or does not answer.
"""

import math
import time
from dataclasses import dataclass

from relay.model.notification import Notification, NotificationStatus
from relay.notify.outbox import OutboxSender
from relay.store.base import Store


@dataclass(frozen=True)
class Undelivered:
    """What a flush left undelivered: `pending` notifications (any sender with the
    settings delivers them later) and why this process stopped waiting, when it did not
    simply run out of time; `dead` ones (never to be sent) and the last one's error. No
    secret in either reason."""

    pending: int
    reason: str | None = None
    dead: int = 0
    dead_reason: str | None = None


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

    def next_look() -> float:
        # A hung request changes nothing in the store: look again when it counts as one.
        to_trouble = math.inf if sender is None else sender.seconds_to_trouble()
        return min(deadline - time.monotonic(), to_trouble)

    async for _ in store.feed.changes(next_look):
        pending = await _listed(store, NotificationStatus.PENDING, run_id, thread_key)
        remaining = deadline - time.monotonic()
        trouble = None if sender is None else sender.trouble()
        if not pending or sender is None or remaining <= 0 or trouble is not None:
            dead = await _listed(store, NotificationStatus.DEAD, run_id, thread_key)
            last_error = dead[-1].last_error if dead else None
            return Undelivered(len(pending), trouble, len(dead), last_error)
    raise AssertionError("changes() never ends")


async def _listed(
    store: Store, status: NotificationStatus, run_id: str | None, thread_key: str | None
) -> list[Notification]:
    found = await store.outbox.list_notifications(status, run_id)
    if thread_key is None:
        return found
    return [n for n in found if n.thread_key == thread_key]
