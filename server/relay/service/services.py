"""The services one process offers its surfaces, each with one concern. The composition
root (`relay.bootstrap`) builds them; a surface calls one of them per request."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from relay.engine.engine import Engine
from relay.engine.runtime import Runtime
from relay.service.coordination import Coordination
from relay.service.events import Events
from relay.service.notifications import Notifications
from relay.service.presence import Presence
from relay.service.runs import Runs
from relay.service.triggers import Triggers
from relay.service.workflows import Workflows
from relay.store.base import Store


@dataclass(frozen=True)
class Services:
    workflows: Workflows
    runs: Runs
    events: Events
    coordination: Coordination
    notifications: Notifications
    presence: Presence
    triggers: Triggers

    @property
    def runtime(self) -> Runtime:
        """This process's runtime (its worker id, actions, store): for tests and tools."""
        return self.runs.host.rt

    @property
    def engine(self) -> Engine | None:
        """This process's engine, when it drives runs: for tests and tools."""
        return self.runs.host.engine

    @property
    def store(self) -> Store:
        """The store under the services: for tests and tools; surfaces use the services."""
        return self.runs.host.rt.store

    @property
    def participant(self) -> str:
        """Who this process is: who a call acts as unless it names another."""
        return self.runs.host.participant

    def changes(self, idle_seconds: float | Callable[[], float]) -> AsyncIterator[int]:
        """The store's changes, for a surface that shows live state: yields at once, then
        after each commit by any process, or every `idle_seconds` when none comes (see
        `ChangeFeed.changes`)."""
        return self.store.feed.changes(idle_seconds)
