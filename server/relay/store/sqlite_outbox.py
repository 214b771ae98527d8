"""The SQLite backend's outbox queries: enqueue (also inside a run's save), claim in
thread order, and record what the sender learned."""

import sqlite3
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

INSERT = (
    "INSERT INTO outbox (created_at, destination, channel, run_id, thread_key, kind, payload, "
    "status, attempts, next_attempt_at, message_key) "
    "VALUES (:now, :destination, :channel, :run_id, :thread_key, :kind, :payload, 'pending', "
    "0, :now, :message_key) RETURNING id"
)
# No earlier notification of the same thread is still pending: that keeps the order within
# a thread, puts a root before its replies and keeps at most one of a thread in flight.
HEAD_OF_THREAD = (
    "(o.thread_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p "
    "WHERE p.destination = o.destination AND p.channel = o.channel "
    "AND p.thread_key = o.thread_key AND p.status = 'pending' AND p.id < o.id))"
)
# The message an edit edits: the first non-edit notification with the edit's message_key.
TARGET = "SELECT MIN(x.id) FROM outbox x WHERE x.message_key = :key AND x.kind != 'edit'"
SELECT_WITH_THREAD = (
    "SELECT o.*, t.root_channel, t.root_ts, COALESCE(e.channel_id, t.root_channel) "
    "AS target_channel, e.ts AS target_ts, e.status AS target_status "
    "FROM outbox o LEFT JOIN slack_threads t "
    "ON t.destination = o.destination AND t.channel = o.channel AND t.thread_key = o.thread_key "
    "LEFT JOIN outbox e ON o.kind = 'edit' AND e.id = "
    f"({TARGET.replace(':key', 'o.message_key')})"
)
DUE = (
    f"{SELECT_WITH_THREAD} WHERE o.status = 'pending' AND o.next_attempt_at <= :now "
    f"AND (o.claimed_until IS NULL OR o.claimed_until < :now) AND {HEAD_OF_THREAD} "
    "ORDER BY o.next_attempt_at, o.id LIMIT :limit"
)
NEXT_DUE = (
    "SELECT MIN(MAX(o.next_attempt_at, COALESCE(o.claimed_until, 0))) FROM outbox o "
    f"WHERE o.status = 'pending' AND {HEAD_OF_THREAD}"
)


def _has_root(conn: sqlite3.Connection, new: NewNotification) -> bool:
    row = conn.execute(
        "SELECT 1 FROM outbox WHERE destination = ? AND channel = ? AND thread_key = ? "
        "AND kind IN ('root', 'reply') LIMIT 1",
        (new.destination, new.channel, new.thread_key),
    ).fetchone()
    return row is not None


def _enqueue_edit(conn: sqlite3.Connection, new: NewNotification) -> list[int]:
    """Queue an edit of the message named `new.edit_of`, to where that one went."""
    conn.row_factory = sqlite3.Row
    target = conn.execute(
        f"SELECT * FROM outbox WHERE id = ({TARGET})", {"key": new.edit_of}
    ).fetchone()
    if target is None:
        return []  # that message was never queued (e.g. its workflow posts no approvals)
    return [int(conn.execute(INSERT, edit_values(new, target)).fetchone()[0])]


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
    """The outbox rows (INSERT's parameters, both backends) that `new` becomes."""
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


def enqueue(conn: sqlite3.Connection, new: NewNotification) -> list[int]:
    """Queue a notification (and the edit of its thread's root); returns the new ids."""
    if new.edit_of is not None:
        return _enqueue_edit(conn, new)
    has_root = new.thread_key is not None and _has_root(conn, new)
    return [
        int(conn.execute(INSERT, values).fetchone()[0])
        for values in row_values(new, has_root=has_root)
    ]


def enqueue_all(conn: sqlite3.Connection, news: Sequence[NewNotification]) -> list[int]:
    return [i for new in news for i in enqueue(conn, new)]


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


def claim(
    conn: sqlite3.Connection, owner: str, lease_seconds: float, limit: int
) -> list[Notification]:
    """Lease up to `limit` due notifications, each the head of its thread."""
    conn.row_factory = sqlite3.Row
    now = rows.now_ts()
    found = conn.execute(DUE, {"now": now, "limit": limit}).fetchall()
    conn.executemany(
        "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
        [(owner, now + lease_seconds, r["id"]) for r in found],
    )
    return [from_row(r) for r in found]


def next_due(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute(NEXT_DUE).fetchone()
    return rows.dt(row[0]) if row and row[0] is not None else None


def mark_sent(
    conn: sqlite3.Connection, notification_id: int, ts: str | None, channel_id: str | None
) -> None:
    """Record the delivery; a root's (channel id, ts) becomes its thread's."""
    conn.row_factory = sqlite3.Row
    row = conn.execute(f"{SELECT_WITH_THREAD} WHERE o.id = ?", (notification_id,)).fetchone()
    if row is None:
        return
    conn.execute(
        "UPDATE outbox SET status = 'sent', ts = ?, thread_ts = ?, sent_at = ?, channel_id = ?, "
        "claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1 WHERE id = ?",
        (ts, row["root_ts"], rows.now_ts(), channel_id, notification_id),
    )
    is_first = row["kind"] in ("root", "reply") and row["root_ts"] is None
    if is_first and row["thread_key"] is not None and ts is not None:
        conn.execute(
            "INSERT OR IGNORE INTO slack_threads VALUES (?, ?, ?, ?, ?, ?)",
            (row["destination"], row["channel"], row["thread_key"], channel_id or row["channel"],
             ts, rows.now_ts()),
        )  # fmt: skip


def reschedule(
    conn: sqlite3.Connection,
    notification_id: int,
    delay_seconds: float,
    error: str,
    *,
    count_attempt: bool = True,
    payload: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "UPDATE outbox SET next_attempt_at = ?, last_error = ?, attempts = attempts + ?, "
        "claimed_by = NULL, claimed_until = NULL, payload = COALESCE(?, payload) "
        "WHERE id = ? AND status = 'pending'",
        (rows.now_ts() + delay_seconds, error, int(count_attempt),
         None if payload is None else rows.dumps(payload), notification_id),
    )  # fmt: skip


def dead_letter(conn: sqlite3.Connection, notification_id: int, error: str) -> None:
    conn.execute(
        "UPDATE outbox SET status = 'dead', last_error = ?, attempts = attempts + 1, "
        "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND status = 'pending'",
        (error, notification_id),
    )


def dead_letter_destination(
    conn: sqlite3.Connection, destination: str, channel: str, error: str
) -> int:
    """Every pending notification to one destination becomes dead; returns how many."""
    cursor = conn.execute(
        "UPDATE outbox SET status = 'dead', last_error = ?, claimed_by = NULL, "
        "claimed_until = NULL WHERE destination = ? AND channel = ? AND status = 'pending'",
        (error, destination, channel),
    )
    return cursor.rowcount


def list_notifications(
    conn: sqlite3.Connection,
    status: NotificationStatus | None,
    run_id: str | None,
    limit: int,
) -> list[Notification]:
    conn.row_factory = sqlite3.Row
    found = conn.execute(
        f"{SELECT_WITH_THREAD} WHERE (:status IS NULL OR o.status = :status) "
        "AND (:run_id IS NULL OR o.run_id = :run_id) ORDER BY o.id LIMIT :limit",
        {"status": None if status is None else status.value, "run_id": run_id, "limit": limit},
    ).fetchall()
    return [from_row(r) for r in found]
