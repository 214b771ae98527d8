"""Who is around: participants seen recently (each surface says who calls), and the live
processes that drive runs."""

from collections import Counter

from relay.model.run import Participant, TaskStatus
from relay.service.host import Host


class Presence:
    def __init__(self, host: Host) -> None:
        self.host = host

    async def seen(self, participant: str | None = None) -> None:
        """Record that `participant` (default: this process's) is active now."""
        await self.host.act(participant)

    async def list_participants(self, *, addressed: bool = False) -> list[Participant]:
        """Those seen, then (with `addressed`) those that open tasks are addressed to and
        relay has never seen (a handoff to a chat that has not connected yet), with how
        many tasks wait for each."""
        store = self.host.store
        seen = await store.presence.list_participants()
        if not addressed:
            return seen
        waiting: Counter[str] = Counter()
        for status in (TaskStatus.OPEN, TaskStatus.CLAIMED):
            waiting.update(t.to for t in await store.coordination.list_tasks(None, status))
        known = {p.name for p in seen}
        unseen = [
            Participant(name=name, last_seen=None, open_tasks=count)
            for name, count in sorted(waiting.items())
            if name not in known
        ]
        return [*seen, *unseen]

    async def live_workers(self) -> list[str]:
        """The processes whose heartbeat is younger than three leases."""
        return await self.host.store.presence.live_workers(3 * self.host.rt.lease_seconds)
