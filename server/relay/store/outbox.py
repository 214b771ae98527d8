"""The store's notification outbox: enqueued in the transaction of the state change that
causes it (a run's save, an event, a decision), handed to senders in thread order, and
updated with what the sender learned. Written once for both backends; the sender is
`relay.notify.outbox`.

Within a thread (destination, channel, thread_key) delivery is in id order, one at a
time: only the oldest pending notification of each thread is due. Claims are leases
taken `{skip_locked}` (on PostgreSQL two senders skip each other's rows instead of
waiting), so a sender that dies mid-send loses nothing.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from relay.model.notification import (
    NewNotification,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from relay.store import rows
from relay.store.sql import Connection

INSERT = (
    "INSERT INTO outbox (created_at, destination, channel, run_id, thread_key, kind, payload, "
    "status, attempts, next_attempt_at, message_key) "
    "VALUES (:now, :destination, :channel, :run_id, :thread_key, :kind, :payload, 'pending', "
    "0, :now, :message_key) RETURNING id"
)
HAS_ROOT = (
    "SELECT 1 FROM outbox WHERE destination = ? AND channel = ? AND thread_key = ? "
    "AND kind IN ('root', 'reply') LIMIT 1"
)
# No earlier notification of the same thread is still pending: that keeps the order within
# a thread, puts a root before its replies and keeps at most one of a thread in flight.
HEAD_OF_THREAD = (
    "(o.thread_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p "
    "WHERE p.destination = o.destination AND p.channel = o.channel "
    "AND p.thread_key = o.thread_key AND p.status = 'pending' AND p.id < o.id))"
)
# The message an edit edits: the first non-edit notification with the edit's message_key.
TARGET = "SELECT MIN(x.id) FROM outbox x WHERE x.message_key = {key} AND x.kind != 'edit'"
EDIT_TARGET = "SELECT * FROM outbox WHERE id = (" + TARGET.replace("{key}", ":key") + ")"
SELECT_WITH_THREAD = (
    "SELECT o.*, t.root_channel, t.root_ts, COALESCE(e.channel_id, t.root_channel) "
    "AS target_channel, e.ts AS target_ts, e.status AS target_status "
    "FROM outbox o LEFT JOIN slack_threads t "
    "ON t.destination = o.destination AND t.channel = o.channel AND t.thread_key = o.thread_key "
    "LEFT JOIN outbox e ON o.kind = 'edit' AND e.id = "
    "(" + TARGET.replace("{key}", "o.message_key") + ")"
)
CLAIM = (
    "UPDATE outbox SET claimed_by = :owner, claimed_until = :until WHERE id IN "
    "(SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= :now "
    "AND (o.claimed_until IS NULL OR o.claimed_until < :now) "
    "AND " + HEAD_OF_THREAD + " ORDER BY o.next_attempt_at, o.id LIMIT :limit "
    "{skip_locked}) RETURNING id"
)
NEXT_DUE = (
    "SELECT MIN(CASE WHEN COALESCE(o.claimed_until, 0) > o.next_attempt_at "
    "THEN o.claimed_until ELSE o.next_attempt_at END) AS t FROM outbox o "
    "WHERE o.status = 'pending' AND " + HEAD_OF_THREAD
)
MARK_SENT = (
    "UPDATE outbox SET status = 'sent', ts = ?, thread_ts = ?, sent_at = ?, channel_id = ?, "
    "claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1 WHERE id = ?"
)
INSERT_THREAD = "INSERT INTO slack_threads VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
RESCHEDULE = (
    "UPDATE outbox SET next_attempt_at = ?, last_error = ?, attempts = attempts + ?, "
    "claimed_by = NULL, claimed_until = NULL, payload = COALESCE(?, payload) "
    "WHERE id = ? AND status = 'pending'"
)
DEAD_LETTER = (
    "UPDATE outbox SET status = 'dead', last_error = ?, attempts = attempts + 1, "
    "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND status = 'pending'"
)
DEAD_LETTER_DESTINATION = (
    "UPDATE outbox SET status = 'dead', last_error = ?, claimed_by = NULL, "
    "claimed_until = NULL WHERE destination = ? AND channel = ? AND status = 'pending'"
)
LIST = (
    SELECT_WITH_THREAD + " WHERE (CAST(:status AS TEXT) IS NULL OR o.status = CAST(:status AS "
    "TEXT)) AND (CAST(:run_id AS TEXT) IS NULL OR o.run_id = CAST(:run_id AS TEXT)) "
    "ORDER BY o.id LIMIT :limit"
)


# enqueueing --------------------------------------------------------------------------------


def kinds_of(
    new: NewNotification, *, has_root: bool
) -> list[tuple[NotificationKind, dict[str, Any]]]:
    """The rows one notification becomes: a post; or a thread's root (and a reply when the
    root says something else); or a reply (and the edit of its root)."""
    kinds: list[tuple[NotificationKind, dict[str, Any]]]
    if new.thread_key is None:
        kinds = [(NotificationKind.POST, new.payload)]
    elif not has_root:
        kinds = [(NotificationKind.ROOT, new.root_payload or new.payload)]
        if new.root_payload is not None and new.root_payload != new.payload:
            kinds.append((NotificationKind.REPLY, new.payload))
    else:
        kinds = [(NotificationKind.REPLY, new.payload)]
        if new.root_payload is not None:
            kinds.append((NotificationKind.UPDATE, new.root_payload))
    return kinds


def key_of(new: NewNotification, kind: NotificationKind, n_kinds: int) -> str | None:
    """The message key of one of `new`'s rows: it names the message that shows
    `new.payload` (not a root's status edit)."""
    carries = kind in (NotificationKind.REPLY, NotificationKind.POST) or n_kinds == 1
    return new.message_key if carries else None


def row_values(new: NewNotification, *, has_root: bool) -> list[dict[str, Any]]:
    """The outbox rows (INSERT's parameters) that `new` becomes."""
    now = rows.now_ts()
    kinds = kinds_of(new, has_root=has_root)
    return [
        {"now": now, "destination": new.destination, "channel": new.channel,
         "run_id": new.run_id, "thread_key": new.thread_key, "kind": kind.value,
         "payload": rows.dumps(payload), "message_key": key_of(new, kind, len(kinds))}
        for kind, payload in kinds
    ]  # fmt: skip


def edit_values(new: NewNotification, target: Mapping[str, Any]) -> dict[str, Any]:
    """The row (INSERT's parameters) of an edit of `target`, going where it went."""
    return {"now": rows.now_ts(), "destination": target["destination"],
            "channel": target["channel"], "run_id": target["run_id"],
            "thread_key": target["thread_key"], "kind": NotificationKind.EDIT.value,
            "payload": rows.dumps(new.payload), "message_key": new.edit_of}  # fmt: skip


async def _insert(c: Connection, values: dict[str, Any]) -> int:
    row = await c.one(INSERT, values)
    assert row is not None
    return int(row["id"])


async def enqueue(c: Connection, new: NewNotification) -> list[int]:
    """Queue a notification (and the edit of its thread's root); returns the new ids."""
    if new.edit_of is not None:  # an edit of the message named `new.edit_of`
        target = await c.one(EDIT_TARGET, {"key": new.edit_of})
        if target is None:
            return []  # that message was never queued (e.g. its workflow posts no approvals)
        return [await _insert(c, edit_values(new, target))]
    has_root = new.thread_key is not None and (
        await c.one(HAS_ROOT, (new.destination, new.channel, new.thread_key)) is not None
    )
    return [await _insert(c, values) for values in row_values(new, has_root=has_root)]


async def enqueue_all(c: Connection, news: Sequence[NewNotification]) -> list[int]:
    return [i for new in news for i in await enqueue(c, new)]


# delivering --------------------------------------------------------------------------------


def from_row(row: rows.Row) -> Notification:
    keys = row.keys()
    root_ts = row["root_ts"] if "root_ts" in keys else None
    return Notification(
        id=row["id"],
        created_at=_dt(row["created_at"]),
        destination=row["destination"],
        channel=row["channel"],
        run_id=row["run_id"],
        thread_key=row["thread_key"],
        kind=NotificationKind(row["kind"]),
        payload=rows.loads(row["payload"]),
        status=NotificationStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]),
        last_error=row["last_error"],
        ts=row["ts"],
        thread_ts=row["thread_ts"] or root_ts,
        root_channel=row["root_channel"] if "root_channel" in keys else None,
        sent_at=rows.dt(row["sent_at"]),
        message_key=row["message_key"],
        target_channel=row["target_channel"] if "target_channel" in keys else None,
        target_ts=row["target_ts"] if "target_ts" in keys else None,
        target_pending="target_status" in keys and row["target_status"] == "pending",
    )


def _dt(value: float) -> datetime:
    found = rows.dt(value)
    assert found is not None
    return found


async def claim(c: Connection, owner: str, lease_seconds: float, limit: int) -> list[Notification]:
    """Lease up to `limit` due notifications, each the head of its thread."""
    now = rows.now_ts()
    params = {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit}
    ids = [r["id"] for r in await c.all(CLAIM, params)]
    if not ids:
        return []
    found = await c.all(SELECT_WITH_THREAD + " WHERE o.id {in_ids}", {"ids": c.dialect.ids(ids)})
    return [from_row(r) for r in sorted(found, key=lambda r: (r["next_attempt_at"], r["id"]))]


async def next_due(c: Connection) -> datetime | None:
    """When the next notification is due (or its claim lapses)."""
    row = await c.one(NEXT_DUE)
    return None if row is None else rows.dt(row["t"])


async def mark_sent(
    c: Connection, notification_id: int, ts: str | None, channel_id: str | None
) -> None:
    """Record the delivery; a root's (channel id, ts) becomes its thread's."""
    row = await c.one(SELECT_WITH_THREAD + " WHERE o.id = ?", (notification_id,))
    if row is None:
        return
    await c.execute(MARK_SENT, (ts, row["root_ts"], rows.now_ts(), channel_id, notification_id))
    is_first = row["kind"] in ("root", "reply") and row["root_ts"] is None
    if is_first and row["thread_key"] is not None and ts is not None:
        await c.execute(
            INSERT_THREAD,
            (row["destination"], row["channel"], row["thread_key"], channel_id or row["channel"],
             ts, rows.now_ts()),
        )  # fmt: skip


async def reschedule(
    c: Connection,
    notification_id: int,
    delay_seconds: float,
    error: str,
    *,
    count_attempt: bool = True,
    payload: dict[str, Any] | None = None,
) -> None:
    await c.execute(
        RESCHEDULE,
        (rows.now_ts() + delay_seconds, error, int(count_attempt),
         None if payload is None else rows.dumps(payload), notification_id),
    )  # fmt: skip


async def dead_letter(c: Connection, notification_id: int, error: str) -> None:
    await c.execute(DEAD_LETTER, (error, notification_id))


async def dead_letter_destination(c: Connection, destination: str, channel: str, error: str) -> int:
    """Every pending notification to one destination becomes dead; returns how many."""
    return await c.execute(DEAD_LETTER_DESTINATION, (error, destination, channel))


async def list_notifications(
    c: Connection, status: NotificationStatus | None, run_id: str | None, limit: int
) -> list[Notification]:
    params = {"status": None if status is None else status.value, "run_id": run_id, "limit": limit}
    return [from_row(r) for r in await c.all(LIST, params)]
