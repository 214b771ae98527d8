"""Notifications waiting in (or delivered from) the durable outbox: pure data."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class NotificationKind(StrEnum):
    ROOT = "root"  # the first post of a thread; its ts becomes the thread's
    REPLY = "reply"  # a post in the thread (a root-less reply is posted as the root)
    UPDATE = "update"  # an edit of the thread's root
    POST = "post"  # a top-level message belonging to no thread
    EDIT = "edit"  # an edit of the earlier message that carries the same `message_key`


@dataclass(frozen=True)
class NewNotification:
    """A message to deliver. With a `thread_key` (a run id), the store makes the first
    one of that thread its root and the later ones replies; `root_payload` then also
    queues an edit of the root (the run's latest status)."""

    channel: str  # the Slack channel as configured ("" for a webhook)
    payload: dict[str, Any]  # text, blocks, attachments, reply_broadcast
    destination: str = "slack"  # slack | webhook | apprise
    thread_key: str | None = None
    run_id: str | None = None
    root_payload: dict[str, Any] | None = None
    # A name for this message (e.g. `approval:<id>`), so a later edit can find it.
    message_key: str | None = None
    # Edit the message named so instead of posting: destination, channel and thread come
    # from that message; nothing is queued when no such message was ever queued.
    edit_of: str | None = None


@dataclass(frozen=True)
class Notification:
    id: int
    created_at: datetime
    destination: str
    channel: str
    run_id: str | None
    thread_key: str | None
    kind: NotificationKind
    payload: dict[str, Any]
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    ts: str | None = None
    thread_ts: str | None = None  # the root's ts, when the thread has one
    root_channel: str | None = None  # the channel id Slack answered for the root
    sent_at: datetime | None = None
    message_key: str | None = None
    # For an edit: the (channel id, ts) of the message to edit, once it is posted, and
    # whether that message is still waiting to be posted.
    target_channel: str | None = None
    target_ts: str | None = None
    target_pending: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "destination": self.destination,
            "channel": self.channel,
            "run_id": self.run_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "text": str(self.payload.get("text", "")),
        }
