"""The store's record of who is there: participants (who last called, with their open
tasks) and live engine processes (a heartbeat every lease/3). Written once for both
backends."""

from relay.model.run import Participant
from relay.store import rows
from relay.store.sql import Connection

TOUCH = (
    "INSERT INTO participants VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen"
)
LIST_PARTICIPANTS = (
    "SELECT p.name, p.last_seen, (SELECT COUNT(*) FROM tasks t WHERE t.to_name = p.name "
    "AND t.status IN ('open', 'claimed')) AS open_tasks FROM participants p "
    "ORDER BY p.last_seen DESC"
)
HEARTBEAT = (
    "INSERT INTO workers VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"
)


async def touch_participant(c: Connection, name: str) -> None:
    await c.execute(TOUCH, (name, rows.now_ts()))


async def list_participants(c: Connection) -> list[Participant]:
    return [
        Participant(name=r["name"], last_seen=rows.dt(r["last_seen"]), open_tasks=r["open_tasks"])
        for r in await c.all(LIST_PARTICIPANTS)
    ]


async def heartbeat(c: Connection, worker_id: str, participant: str, pid: int, host: str) -> None:
    now = rows.now_ts()
    await c.execute(HEARTBEAT, (worker_id, participant, pid, host, now, now))


async def forget_worker(c: Connection, worker_id: str) -> None:
    await c.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


async def live_workers(c: Connection, seen_within_seconds: float) -> list[str]:
    found = await c.all(
        "SELECT id FROM workers WHERE last_seen >= ? ORDER BY id",
        (rows.now_ts() - seen_within_seconds,),
    )
    return [str(r["id"]) for r in found]
