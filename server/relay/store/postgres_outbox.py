"""The PostgreSQL backend's outbox queries (they mirror `relay.store.sqlite_outbox`)."""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.model.notification import (
    NewNotification,
    Notification,
    NotificationStatus,
)
from relay.store import rows
from relay.store.sqlite_outbox import (
    HEAD_OF_THREAD,
    SELECT_WITH_THREAD,
    TARGET,
    edit_values,
    from_row,
    row_values,
)

if TYPE_CHECKING:
    from relay.store.postgres_db import Conn

INSERT = (
    "INSERT INTO outbox (created_at, destination, channel, run_id, thread_key, kind, payload, "
    "status, attempts, next_attempt_at, message_key) VALUES (%(now)s, %(destination)s, "
    "%(channel)s, %(run_id)s, %(thread_key)s, %(kind)s, %(payload)s, 'pending', 0, %(now)s, "
    "%(message_key)s) RETURNING id"
)
# The message an edit edits (see `sqlite_outbox.TARGET`), whose place the edit copies.
EDIT_TARGET = f"SELECT * FROM outbox WHERE id = ({TARGET.replace(':key', '%(key)s')})"
HAS_ROOT = (
    "SELECT 1 FROM outbox WHERE destination = %s AND channel = %s AND thread_key = %s "
    "AND kind IN ('root', 'reply') LIMIT 1"
)
# Heads of their threads, leased in one statement; rows another sender is claiming are
# skipped rather than waited for.
CLAIM = (
    "UPDATE outbox SET claimed_by = %(owner)s, claimed_until = %(until)s WHERE id IN "
    "(SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= %(now)s "
    "AND (o.claimed_until IS NULL OR o.claimed_until < %(now)s) "
    f"AND {HEAD_OF_THREAD} ORDER BY o.next_attempt_at, o.id LIMIT %(limit)s "
    "FOR UPDATE SKIP LOCKED) RETURNING id"
)
NEXT_DUE = (
    "SELECT MIN(GREATEST(o.next_attempt_at, COALESCE(o.claimed_until, 0))) AS t FROM outbox o "
    f"WHERE o.status = 'pending' AND {HEAD_OF_THREAD}"
)
MARK_SENT = (
    "UPDATE outbox SET status = 'sent', ts = %s, thread_ts = %s, sent_at = %s, channel_id = %s, "
    "claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1 WHERE id = %s"
)
INSERT_THREAD = "INSERT INTO slack_threads VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
RESCHEDULE = (
    "UPDATE outbox SET next_attempt_at = %s, last_error = %s, attempts = attempts + %s, "
    "claimed_by = NULL, claimed_until = NULL, payload = COALESCE(%s, payload) "
    "WHERE id = %s AND status = 'pending'"
)
DEAD_LETTER = (
    "UPDATE outbox SET status = 'dead', last_error = %s, attempts = attempts + 1, "
    "claimed_by = NULL, claimed_until = NULL WHERE id = %s AND status = 'pending'"
)
DEAD_LETTER_DESTINATION = (
    "UPDATE outbox SET status = 'dead', last_error = %s, claimed_by = NULL, "
    "claimed_until = NULL WHERE destination = %s AND channel = %s AND status = 'pending' "
    "RETURNING id"
)
LIST = (
    f"{SELECT_WITH_THREAD} WHERE (%(status)s::text IS NULL OR o.status = %(status)s::text) "
    "AND (%(run_id)s::text IS NULL OR o.run_id = %(run_id)s::text) ORDER BY o.id LIMIT %(limit)s"
)


async def _insert(conn: "Conn", values: dict[str, Any]) -> int:
    row = await (await conn.execute(INSERT, values)).fetchone()
    assert row is not None
    return int(row["id"])


async def _enqueue_edit(conn: "Conn", new: NewNotification) -> list[int]:
    """Queue an edit of the message named `new.edit_of`, to where that one went."""
    target = await (await conn.execute(EDIT_TARGET, {"key": new.edit_of})).fetchone()
    if target is None:
        return []  # that message was never queued (e.g. its workflow posts no approvals)
    return [await _insert(conn, edit_values(new, target))]


async def enqueue(conn: "Conn", new: NewNotification) -> list[int]:
    """Queue a notification (and the edit of its thread's root); returns the new ids."""
    if new.edit_of is not None:
        return await _enqueue_edit(conn, new)
    has_root = new.thread_key is not None and (
        await (await conn.execute(HAS_ROOT, (new.destination, new.channel, new.thread_key)))
        .fetchone()
    ) is not None  # fmt: skip
    return [await _insert(conn, values) for values in row_values(new, has_root=has_root)]


async def enqueue_all(conn: "Conn", news: Sequence[NewNotification]) -> list[int]:
    return [i for new in news for i in await enqueue(conn, new)]


async def claim(conn: "Conn", owner: str, lease_seconds: float, limit: int) -> list[Notification]:
    """Lease up to `limit` due notifications, each the head of its thread."""
    now = rows.now_ts()
    params = {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit}
    ids = [r["id"] for r in await (await conn.execute(CLAIM, params)).fetchall()]
    if not ids:
        return []
    found = await (
        await conn.execute(f"{SELECT_WITH_THREAD} WHERE o.id = ANY(%s)", (ids,))
    ).fetchall()
    found.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
    return [from_row(r) for r in found]


async def next_due(conn: "Conn") -> datetime | None:
    row = await (await conn.execute(NEXT_DUE)).fetchone()
    return None if row is None else rows.dt(row["t"])


async def mark_sent(
    conn: "Conn", notification_id: int, ts: str | None, channel_id: str | None
) -> None:
    """Record the delivery; a root's (channel id, ts) becomes its thread's."""
    row = await (
        await conn.execute(f"{SELECT_WITH_THREAD} WHERE o.id = %s", (notification_id,))
    ).fetchone()
    if row is None:
        return
    await conn.execute(MARK_SENT, (ts, row["root_ts"], rows.now_ts(), channel_id, notification_id))
    is_first = row["kind"] in ("root", "reply") and row["root_ts"] is None
    if is_first and row["thread_key"] is not None and ts is not None:
        await conn.execute(
            INSERT_THREAD,
            (row["destination"], row["channel"], row["thread_key"], channel_id or row["channel"],
             ts, rows.now_ts()),
        )  # fmt: skip


async def reschedule(
    conn: "Conn",
    notification_id: int,
    delay_seconds: float,
    error: str,
    *,
    count_attempt: bool = True,
    payload: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        RESCHEDULE,
        (rows.now_ts() + delay_seconds, error, int(count_attempt),
         None if payload is None else rows.dumps(payload), notification_id),
    )  # fmt: skip


async def dead_letter(conn: "Conn", notification_id: int, error: str) -> None:
    await conn.execute(DEAD_LETTER, (error, notification_id))


async def dead_letter_destination(conn: "Conn", destination: str, channel: str, error: str) -> int:
    cursor = await conn.execute(DEAD_LETTER_DESTINATION, (error, destination, channel))
    return len(await cursor.fetchall())


async def list_notifications(
    conn: "Conn", status: NotificationStatus | None, run_id: str | None, limit: int
) -> list[Notification]:
    params = {"status": None if status is None else status.value, "run_id": run_id, "limit": limit}
    return [from_row(r) for r in await (await conn.execute(LIST, params)).fetchall()]
