"""This process as the services see it: its runtime (the store, the actions, its worker
id and lease) and its engine, when it drives runs."""

import time
from dataclasses import dataclass, field

from relay.engine.engine import Engine
from relay.engine.runtime import Runtime
from relay.model.run import Run
from relay.store.base import Store

# How often one process records that a participant is active, at most.
SEEN_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class Host:
    rt: Runtime
    engine: Engine | None = None
    _seen: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def store(self) -> Store:
        return self.rt.store

    @property
    def participant(self) -> str:
        """Who this process is: the participant a call acts as unless it names another."""
        return self.rt.participant

    def acting(self, by: str | None) -> str:
        """Who a call acts as: `by`, else this process's participant."""
        return by or self.rt.participant

    async def act(self, by: str | None) -> str:
        """Who a call acts as, recorded as active now (at most every few seconds)."""
        name = self.acting(by)
        now = time.monotonic()
        if now - self._seen.get(name, -1e9) >= SEEN_EVERY_SECONDS:
            self._seen[name] = now
            await self.store.presence.touch_participant(name)
        return name

    @property
    def owner(self) -> str | None:
        """The worker a decision may lease its run to at once: this process's, when it
        has an engine to drive the run on."""
        return self.rt.worker_id if self.engine is not None else None

    async def adopt_if_leased(self, run_id: str) -> Run:
        """The run, driven here when a decision just leased it to this process (it was
        parked)."""
        run = await self.store.runs.get_run(run_id)
        if self.engine is not None and run.lease_owner == self.rt.worker_id:
            self.engine.adopt([run_id])
        return run
